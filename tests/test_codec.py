"""The Confluent wire format: models out and back, and one typed error for any bad bytes."""

from __future__ import annotations

import io
import json
import struct
import traceback
from pathlib import Path

import pytest
from fastavro import parse_schema, schemaless_writer
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, create_model

from schemas.catalog import Catalog
from schemas.codec import AvroCodec
from schemas.errors import ContractError, MalformedEventError, SchemaRegistryError
from schemas.models import MESSAGES, Contact, PersonEvent, PersonRef, Referral
from schemas.registry import EmbeddedSchemaRegistry
from schemas.types import record_subject
from tests.samples import (
    sample_alert,
    sample_contact,
    sample_events,
    sample_messages,
    sample_referral,
)

CATALOG = Catalog.load()
REASONS = {
    "short",
    "magic_byte",
    "unknown_schema_id",
    "truncated",
    "invalid_body",
    "unexpected_record",
}


class CountingRegistry(EmbeddedSchemaRegistry):
    """Counts the calls the codec makes, to show it caches."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.calls: list[str] = []

    def register(self, subject: str, schema_text: str) -> int:
        self.calls.append("register")
        return super().register(subject, schema_text)

    def schema(self, schema_id: int) -> str:
        self.calls.append("schema")
        return super().schema(schema_id)


@pytest.fixture
def registry(tmp_path: Path) -> CountingRegistry:
    return CountingRegistry(tmp_path / "registry.sqlite")


@pytest.fixture
def codec(registry: CountingRegistry) -> AvroCodec:
    return AvroCodec(registry, CATALOG)


def _header(schema_id: int) -> bytes:
    return struct.pack(">bI", 0, schema_id)


def _malformed(codec: AvroCodec, data: bytes) -> MalformedEventError:
    with pytest.raises(MalformedEventError) as caught:
        codec.decode(data)
    return caught.value


@pytest.mark.parametrize("model", sample_messages(), ids=lambda model: type(model).__name__)
def test_every_sample_decodes_to_itself(codec: AvroCodec, model: BaseModel) -> None:
    data = codec.encode(model)
    assert data[0] == 0
    assert codec.decode(data) == model
    assert codec.decode_as(data, type(model)) == model


def test_the_header_carries_the_registered_schema_id(
    codec: AvroCodec, registry: CountingRegistry
) -> None:
    data = codec.encode(sample_referral())
    contract = CATALOG.contract(Referral)
    (schema_id,) = struct.unpack(">I", data[1:5])
    assert registry.schema(schema_id) == contract.text
    assert registry.versions(record_subject(contract.name)) == [contract.text]


def test_schemas_are_registered_and_fetched_once(
    codec: AvroCodec, registry: CountingRegistry
) -> None:
    data = [codec.encode(sample_referral()) for _ in range(3)]
    assert registry.calls == ["register"]
    fresh = AvroCodec(registry, CATALOG)
    for message in data:
        fresh.decode(message)
    assert registry.calls == ["register", "schema"]


@pytest.mark.parametrize("data", [b"", b"\x00", b"\x00\x00\x00\x01"])
def test_fewer_than_five_bytes_are_short(codec: AvroCodec, data: bytes) -> None:
    error = _malformed(codec, data)
    assert error.reason == "short"
    assert error.schema_id is None


def test_a_wrong_magic_byte_is_reported(codec: AvroCodec) -> None:
    data = codec.encode(sample_referral())
    assert _malformed(codec, b"\x01" + data[1:]).reason == "magic_byte"


def test_an_unknown_schema_id_is_reported_with_the_id(codec: AvroCodec) -> None:
    data = codec.encode(sample_referral())
    error = _malformed(codec, _header(9999) + data[5:])
    assert (error.reason, error.schema_id) == ("unknown_schema_id", 9999)


@pytest.mark.parametrize("model", sample_messages(), ids=lambda model: type(model).__name__)
def test_every_cut_short_body_is_truncated(codec: AvroCodec, model: BaseModel) -> None:
    data = codec.encode(model)
    reasons = {_malformed(codec, data[:end]).reason for end in range(5, len(data))}
    assert reasons == {"truncated"}


def test_bytes_after_the_record_are_an_invalid_body(codec: AvroCodec) -> None:
    data = codec.encode(sample_referral())
    assert _malformed(codec, data + b"\x00").reason == "invalid_body"


def test_garbage_in_the_body_is_an_invalid_body(codec: AvroCodec) -> None:
    data = codec.encode(sample_referral())
    # The body opens with the 36-character event id: make it 36 characters of no UUID.
    garbage = data[:6] + b"z" * 36 + data[42:]
    assert len(garbage) == len(data)
    error = _malformed(codec, garbage)
    assert error.reason == "invalid_body"
    assert error.schema_id == struct.unpack(">I", data[1:5])[0]


def _encode_unchecked(codec: AvroCodec, model: BaseModel, **changes: object) -> bytes:
    """``model`` with ``changes`` written as Avro without pydantic checking them first."""
    header = codec.encode(model)[:5]
    datum = CATALOG.to_avro(model) | changes
    buffer = io.BytesIO(header)
    buffer.seek(5)
    schemaless_writer(buffer, CATALOG.contract(type(model)).parsed, datum)
    return buffer.getvalue()


def test_a_body_that_breaks_the_model_names_the_field_but_not_the_value(
    codec: AvroCodec,
) -> None:
    person = CATALOG.to_avro(sample_referral())["person"] | {"given_name": "Margaret" * 40}
    data = _encode_unchecked(codec, sample_referral(), person=person, from_team="")
    error = _malformed(codec, data)
    assert error.reason == "invalid_body"
    assert "person.given_name" in str(error)
    assert "from_team" in str(error)
    assert "Margaret" not in "".join(traceback.format_exception(error))


def test_decode_as_another_record_is_unexpected(codec: AvroCodec) -> None:
    data = codec.encode(sample_contact())
    with pytest.raises(MalformedEventError) as caught:
        codec.decode_as(data, Referral)
    assert caught.value.reason == "unexpected_record"


def test_a_record_we_have_no_contract_for_is_unexpected(
    codec: AvroCodec, registry: CountingRegistry
) -> None:
    stranger = {"type": "record", "name": "org.elsewhere.Thing", "fields": []}
    schema_id = registry.register("org.elsewhere.Thing", json.dumps(stranger))
    assert _malformed(codec, _header(schema_id)).reason == "unexpected_record"


def test_bytes_written_with_an_older_schema_decode_with_the_current_contract(
    codec: AvroCodec, registry: CountingRegistry
) -> None:
    contract = CATALOG.contract(Contact)
    old = contract.schema
    old["fields"] = [field for field in old["fields"] if field["name"] != "needs_observed"]
    old_text = json.dumps(old)
    old_id = registry.register(record_subject(contract.name), old_text)
    current = sample_contact()
    datum = CATALOG.to_avro(current)
    del datum["needs_observed"]
    buffer = io.BytesIO(_header(old_id))
    buffer.seek(5)
    schemaless_writer(buffer, parse_schema(old), datum)

    decoded = codec.decode_as(buffer.getvalue(), Contact)

    assert decoded == current.model_copy(update={"needs_observed": None})
    codec.encode(current)
    assert registry.versions(record_subject(contract.name)) == [old_text, contract.text]


def test_a_registry_outage_is_not_a_malformed_message(tmp_path: Path) -> None:
    """Dead-lettering on an outage would throw good events away: it must be retried."""

    class Unreachable(EmbeddedSchemaRegistry):
        def schema(self, schema_id: int) -> str:
            raise SchemaRegistryError("registry unreachable")

    data = AvroCodec(EmbeddedSchemaRegistry(tmp_path / "r.sqlite"), CATALOG).encode(
        sample_contact()
    )
    with pytest.raises(SchemaRegistryError, match="unreachable"):
        AvroCodec(Unreachable(tmp_path / "r.sqlite"), CATALOG).decode(data)


def test_only_models_of_the_catalog_are_encoded(codec: AvroCodec) -> None:
    look_alike = create_model("Referral", referral_id=(str, ...))
    with pytest.raises(ContractError, match="Referral"):
        codec.encode(look_alike(referral_id="ref-1"))


@pytest.fixture(scope="module")
def shared_codec(tmp_path_factory: pytest.TempPathFactory) -> AvroCodec:
    """A codec whose registry holds one schema per message, under ids 1 to len(MESSAGES)."""
    registry = EmbeddedSchemaRegistry(tmp_path_factory.mktemp("codec") / "registry.sqlite")
    codec = AvroCodec(registry, CATALOG)
    headers = {codec.encode(model)[:5] for model in sample_messages()}
    assert headers == {_header(schema_id) for schema_id in range(1, len(MESSAGES) + 1)}
    return codec


def _decodes_or_is_malformed(codec: AvroCodec, data: bytes) -> None:
    reason = None
    try:
        codec.decode(data)
    except MalformedEventError as error:
        reason = error.reason
    assert reason is None or reason in REASONS


@given(data=st.binary(max_size=200))
def test_random_bytes_raise_nothing_but_malformed_event_error(
    shared_codec: AvroCodec, data: bytes
) -> None:
    _decodes_or_is_malformed(shared_codec, data)


@given(schema_id=st.integers(min_value=1, max_value=8), body=st.binary(max_size=300))
def test_random_bodies_under_real_schema_ids_raise_nothing_but_malformed_event_error(
    shared_codec: AvroCodec, schema_id: int, body: bytes
) -> None:
    _decodes_or_is_malformed(shared_codec, _header(schema_id) + body)


@given(flips=st.lists(st.tuples(st.integers(min_value=5), st.integers(0, 255)), max_size=4))
def test_corrupted_messages_raise_nothing_but_malformed_event_error(
    shared_codec: AvroCodec, flips: list[tuple[int, int]]
) -> None:
    data = bytearray(shared_codec.encode(sample_alert()))
    for position, value in flips:
        data[position % len(data)] = value
    _decodes_or_is_malformed(shared_codec, bytes(data))


def test_person_events_keep_their_kind_and_lose_identifiers(tmp_path: Path) -> None:
    """Each kind in the PersonEvent union decodes as itself, with only the local id left."""
    codec = AvroCodec(EmbeddedSchemaRegistry(tmp_path / "registry.sqlite"))
    for event in sample_events():
        wrapped = PersonEvent.of("p-key", event)
        decoded = codec.decode_as(codec.encode(wrapped), PersonEvent)
        assert type(decoded.event) is type(event)
        assert decoded.event.person == PersonRef(local_id=event.person.local_id)
        assert decoded.event.model_copy(update={"person": event.person}) == event
