"""The ``.avsc`` files and the pydantic models are one contract and cannot drift apart."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
from fastavro import schemaless_reader, schemaless_writer
from fastavro.schema import load_schema
from hypothesis import given
from hypothesis import strategies as st
from pydantic import AwareDatetime, BaseModel, ValidationError

from schemas import models
from schemas.catalog import NAMESPACE, SCHEMA_DIR, Catalog, Contract
from schemas.errors import ContractError
from schemas.models import (
    AGENCY_EVENTS,
    MESSAGES,
    MODEL_OF_KIND,
    NAMED_TYPES,
    AgencyEvent,
    Contact,
    ContractModel,
    IdentityDecision,
    IdentityDecisionKind,
    PersonLink,
)
from schemas.topics import RECORD_OF_KIND
from tests.samples import (
    at,
    sample_contact,
    sample_handoff,
    sample_identity_decision,
    sample_messages,
    sample_referral,
    sample_split,
)

CATALOG = Catalog.load()
RECORDS = sorted(CATALOG.records.values(), key=lambda contract: contract.name)
ENUMS = [cls for cls in NAMED_TYPES if issubclass(cls, StrEnum)]


def _by_name(contract: Contract) -> str:
    return contract.name.rsplit(".", 1)[-1]


def _round_trip(model: BaseModel) -> BaseModel:
    """``model`` written with fastavro under its schema, read back and validated."""
    contract = CATALOG.contract(type(model))
    buffer = io.BytesIO()
    schemaless_writer(buffer, contract.parsed, CATALOG.to_avro(model))
    buffer.seek(0)
    datum = schemaless_reader(buffer, contract.parsed)
    assert buffer.tell() == len(buffer.getvalue())
    assert isinstance(datum, dict)
    return CATALOG.from_avro(contract.name, datum)


def _without_optional(model: BaseModel) -> BaseModel:
    """A copy of ``model``, and of the models in it, with every optional field left out."""

    def strip(value: object) -> object:
        if isinstance(value, BaseModel):
            return _without_optional(value)
        if isinstance(value, list):
            return [strip(item) for item in value]
        return value

    fields = type(model).model_fields
    required = {name: strip(getattr(model, name)) for name, f in fields.items() if f.is_required()}
    return type(model)(**required)


# -- the models and the .avsc files describe the same types --------------------------------


@pytest.mark.parametrize("contract", RECORDS, ids=_by_name)
def test_model_fields_are_the_avro_fields_in_order(contract: Contract) -> None:
    assert list(contract.model.model_fields) == [f["name"] for f in contract.schema["fields"]]


@pytest.mark.parametrize("contract", RECORDS, ids=_by_name)
def test_optional_means_a_union_with_null_first_and_default_null(contract: Contract) -> None:
    for field in contract.schema["fields"]:
        info = contract.model.model_fields[field["name"]]
        avro_optional = isinstance(field["type"], list) and field["type"][0] == "null"
        assert avro_optional == ("default" in field), field["name"]
        assert avro_optional == (not info.is_required()), field["name"]
        if avro_optional:
            assert field["default"] is None
            assert info.default is None


@pytest.mark.parametrize("enum", ENUMS, ids=lambda enum: enum.__name__)
def test_enum_symbols_are_the_strenum_values(enum: type[StrEnum]) -> None:
    schema = load_schema(str(SCHEMA_DIR / f"{NAMESPACE}.{enum.__name__}.avsc"))
    assert isinstance(schema, dict)
    assert schema["symbols"] == [member.value for member in enum]


@pytest.mark.parametrize("path", sorted(SCHEMA_DIR.glob("*.avsc")), ids=lambda path: path.stem)
def test_every_named_type_and_field_has_a_doc(path: Path) -> None:
    schema = json.loads(path.read_text())
    assert schema["namespace"] == NAMESPACE
    assert f"{NAMESPACE}.{schema['name']}.avsc" == path.name
    assert schema.get("doc"), "the type has no doc"
    undocumented = [field["name"] for field in schema.get("fields", []) if not field.get("doc")]
    assert not undocumented


def test_every_model_class_is_a_named_type() -> None:
    defined = {
        value
        for value in vars(models).values()
        if isinstance(value, type)
        and issubclass(value, ContractModel | StrEnum)
        and value.__module__ == models.__name__
    }
    assert defined - {ContractModel, AgencyEvent} == set(NAMED_TYPES)
    assert len(NAMED_TYPES) == len(list(SCHEMA_DIR.glob("*.avsc")))


def test_each_event_kind_has_its_model() -> None:
    assert all(MODEL_OF_KIND[kind].__name__ == record for kind, record in RECORD_OF_KIND.items())
    assert set(MODEL_OF_KIND.values()) == set(AGENCY_EVENTS)
    assert all(issubclass(event, AgencyEvent) for event in AGENCY_EVENTS)


@pytest.mark.parametrize("name", ["Alert", "Handoff"])
def test_outputs_carry_no_personal_identifiers(name: str) -> None:
    text = CATALOG.contract(name).text
    assert f"{NAMESPACE}.PersonRef" not in text
    assert "nhs_number" not in text


def test_registered_schemas_are_self_contained_and_keep_docs_and_defaults() -> None:
    schema = CATALOG.contract("Contact").schema
    person = next(field for field in schema["fields"] if field["name"] == "person")
    assert person["type"]["name"] == f"{NAMESPACE}.PersonRef"
    assert person["type"]["doc"]
    place = next(field for field in schema["fields"] if field["name"] == "place")
    assert place["default"] is None
    assert json.loads(CATALOG.contract("Contact").text) == schema


def test_a_schema_without_a_model_fails_at_load(tmp_path: Path) -> None:
    for path in SCHEMA_DIR.glob("*.avsc"):
        (tmp_path / path.name).write_text(path.read_text())
    orphan = {"type": "record", "name": "Orphan", "namespace": NAMESPACE, "fields": []}
    (tmp_path / f"{NAMESPACE}.Orphan.avsc").write_text(json.dumps(orphan))
    with pytest.raises(ContractError, match="Orphan"):
        Catalog(tmp_path)


def test_a_model_without_a_schema_fails_at_load(tmp_path: Path) -> None:
    for path in SCHEMA_DIR.glob("*.avsc"):
        if path.stem != f"{NAMESPACE}.Severity":
            (tmp_path / path.name).write_text(path.read_text())
    with pytest.raises(ContractError, match="Severity"):
        Catalog(tmp_path)


def test_an_unknown_record_has_no_contract() -> None:
    with pytest.raises(ContractError, match="Nothing"):
        CATALOG.contract("Nothing")


# -- every instance survives Avro unchanged ------------------------------------------------


@pytest.mark.parametrize("model", sample_messages(), ids=lambda model: type(model).__name__)
def test_a_fully_populated_sample_round_trips(model: BaseModel) -> None:
    assert _round_trip(model) == model


# A merge needs its optional ``into``; a split is the decision that does without it.
_MINIMAL_SAMPLES = [
    sample_split() if isinstance(model, IdentityDecision) else model for model in sample_messages()
]


@pytest.mark.parametrize("model", _MINIMAL_SAMPLES, ids=lambda model: type(model).__name__)
def test_a_sample_without_optional_fields_round_trips(model: BaseModel) -> None:
    minimal = _without_optional(model)
    assert _round_trip(minimal) == minimal


def _nones(value: object, path: str) -> list[str]:
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in _nones(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [p for index, item in enumerate(value) for p in _nones(item, f"{path}[{index}]")]
    return [path] if value is None else []


@pytest.mark.parametrize("model", sample_messages(), ids=lambda model: type(model).__name__)
def test_samples_set_every_optional_field(model: BaseModel) -> None:
    unset = _nones(model.model_dump(), type(model).__name__)
    # A PersonEvent's person reference is emptied by design: identifiers stay in the
    # identity store; everything else in it is set.
    scrubbed = "PersonEvent.event.person."
    assert [path for path in unset if not path.startswith(scrubbed)] == []


# Instants anywhere in a wide range, with any whole-minute offset an agency might send.
_OFFSETS = st.integers(min_value=-18 * 60, max_value=18 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
st.register_type_strategy(
    AwareDatetime,
    st.datetimes(
        min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=_OFFSETS
    ),
)
# Generate optional fields too, not only the required ones ``st.builds`` fills by default.
for _model in NAMED_TYPES:
    if issubclass(_model, BaseModel):
        _optional = {name: ... for name, f in _model.model_fields.items() if not f.is_required()}
        st.register_type_strategy(_model, st.builds(_model, **_optional))
# A decision's fields must fit its kind: a merge names into and no links, a split the reverse.
st.register_type_strategy(
    IdentityDecision,
    st.one_of(
        st.builds(
            IdentityDecision,
            kind=st.just(IdentityDecisionKind.MERGE),
            person_key=st.text(min_size=1, max_size=100).map("away-".__add__),
            into=st.text(min_size=1, max_size=100).map("kept-".__add__),
            links=st.just([]),
        ),
        st.builds(
            IdentityDecision,
            kind=st.just(IdentityDecisionKind.SPLIT),
            into=st.none(),
            links=st.lists(st.from_type(PersonLink), min_size=1, max_size=3),
        ),
    ),
)


@pytest.mark.parametrize("model_type", MESSAGES, ids=lambda model: model.__name__)
@given(data=st.data())
def test_any_valid_instance_round_trips(model_type: type[BaseModel], data: st.DataObject) -> None:
    model = data.draw(st.from_type(model_type))
    assert _round_trip(model) == model


# -- what agencies send ---------------------------------------------------------------------


def _contact_json(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(sample_contact().model_dump_json())
    document.update(changes)
    return document


def test_an_iso_8601_offset_decodes_to_the_same_instant() -> None:
    document = _contact_json(occurred_at="2024-06-03T11:00:00.123456+01:00")
    contact = Contact.model_validate_json(json.dumps(document))
    assert contact.occurred_at == datetime(2024, 6, 3, 10, 0, 0, 123000, tzinfo=UTC)
    assert contact.occurred_at.utcoffset() == timedelta(0)
    assert contact.occurred_at == at(3, 11).replace(microsecond=123000)


def test_times_are_truncated_to_the_millisecond_avro_keeps() -> None:
    referral = sample_referral()
    document = json.loads(referral.model_dump_json())
    document["occurred_at"] = "2024-06-03T10:00:00.999999Z"
    truncated = type(referral).model_validate(document)
    assert truncated.occurred_at.microsecond == 999000
    assert _round_trip(truncated) == truncated


def test_a_naive_datetime_is_rejected_naming_the_field() -> None:
    document = _contact_json(occurred_at="2024-06-03T11:00:00")
    with pytest.raises(ValidationError) as caught:
        Contact.model_validate_json(json.dumps(document))
    (error,) = caught.value.errors()
    assert error["loc"] == ("occurred_at",)
    assert error["type"] == "timezone_aware"


def test_a_naive_datetime_deep_in_a_model_is_rejected_naming_its_path() -> None:
    document = json.loads(sample_handoff().model_dump_json())
    document["context"]["recent_contacts"][0]["occurred_at"] = "2024-06-02T11:00:00"
    with pytest.raises(ValidationError) as caught:
        type(sample_handoff()).model_validate(document)
    (error,) = caught.value.errors()
    assert error["loc"] == ("context", "recent_contacts", 0, "occurred_at")


@pytest.mark.parametrize(
    ("changes", "loc"),
    [
        ({"nickname": "Ada"}, ("nickname",)),
        ({"person": {"local_id": "x", "nickname": "Ada"}}, ("person", "nickname")),
    ],
)
def test_an_unknown_field_is_rejected_naming_it(changes: dict[str, Any], loc: tuple[str]) -> None:
    with pytest.raises(ValidationError) as caught:
        Contact.model_validate(_contact_json(**changes))
    (error,) = caught.value.errors()
    assert error["loc"] == loc
    assert error["type"] == "extra_forbidden"


@pytest.mark.parametrize(
    ("changes", "loc"),
    [
        ({"needs": []}, ("needs",)),
        ({"referral_id": ""}, ("referral_id",)),
        ({"note": "x" * 4001}, ("note",)),
        ({"person": {"local_id": "x", "postcode": "x" * 257}}, ("person", "postcode")),
        ({"urgency": "whenever"}, ("urgency",)),
    ],
)
def test_out_of_contract_values_are_rejected(changes: dict[str, Any], loc: tuple[str]) -> None:
    document = json.loads(sample_referral().model_dump_json()) | changes
    with pytest.raises(ValidationError) as caught:
        type(sample_referral()).model_validate(document)
    assert [error["loc"] for error in caught.value.errors()] == [loc]


def test_models_are_immutable() -> None:
    contact = sample_contact()
    with pytest.raises(ValidationError, match="frozen"):
        contact.team = "someone-else"  # type: ignore[misc]  # reason: the point of the test


# -- identity decisions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"into": None}, "a merge names the person kept (into) and no links"),
        ({"links": [PersonLink(agency="a", local_id="1")]}, "a merge names the person kept"),
        ({"into": "pk-77b0d4e1"}, "a person cannot be merged into itself"),
    ],
)
def test_a_merge_that_does_not_fit_its_kind_is_refused(
    changes: dict[str, Any], reason: str
) -> None:
    document = {**sample_identity_decision().model_dump(), **changes}
    with pytest.raises(ValidationError, match=re.escape(reason)):
        IdentityDecision.model_validate(document)


@pytest.mark.parametrize("changes", [{"links": []}, {"into": "pk-77b0d4e1"}])
def test_a_split_that_does_not_fit_its_kind_is_refused(changes: dict[str, Any]) -> None:
    document = {**sample_split().model_dump(), **changes}
    with pytest.raises(ValidationError, match="a split names the links that move and no into"):
        IdentityDecision.model_validate(document)
