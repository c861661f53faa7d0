"""The read API: consent decides what a team sees, and every person read is audited."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from schemas.models import AgencyEvent
from streams.api.reads import read_router
from streams.store import Store
from streams.views import replay
from tests.samples import sample_consent_change, sample_contact, sample_referral

pytestmark = pytest.mark.asyncio

PERSON = "p-3f9a1c2e"
TOKENS = {"asc-token": "adult-social-care", "nursing-token": "district-nursing"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'backbone.db'}") as opened:
        yield opened


@pytest_asyncio.fixture
async def client(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    api = FastAPI()
    api.include_router(read_router(store, TOKENS.get))
    transport = httpx.ASGITransport(api)
    async with httpx.AsyncClient(transport=transport, base_url="http://backbone") as http:
        yield http


def _store_views(store: Store, events: list[AgencyEvent]) -> None:
    persons, places = replay([(PERSON, event) for event in events])
    store.views.apply_batch(persons, places, [(e.event_id, PERSON) for e in events])


def _withdrawn() -> AgencyEvent:
    grant = sample_consent_change()
    return grant.model_copy(
        update={
            "event_id": uuid.uuid4(),
            "granted": False,
            "occurred_at": grant.occurred_at + timedelta(hours=1),
        }
    )


async def _get(client: httpx.AsyncClient, path: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await client.get(path, headers=headers)


async def test_a_team_with_consent_sees_the_view_and_the_read_is_audited(
    client: httpx.AsyncClient, store: Store
) -> None:
    _store_views(store, [sample_referral(), sample_contact(), sample_consent_change()])
    response = await _get(client, f"/v1/persons/{PERSON}", "asc-token")
    assert response.status_code == 200
    body = response.json()
    assert body["basis"] == ["prevention"]
    assert body["view"]["person_key"] == PERSON
    (entry,) = store.audit.entries(person_key=PERSON)
    assert (entry.team, entry.what, entry.basis, entry.granted) == (
        "adult-social-care",
        "person_view",
        "prevention",
        True,
    )


async def test_a_team_without_a_basis_is_refused_and_the_refusal_audited(
    client: httpx.AsyncClient, store: Store
) -> None:
    _store_views(store, [sample_referral(), sample_contact(), sample_consent_change()])
    response = await _get(client, f"/v1/persons/{PERSON}", "nursing-token")
    assert response.status_code == 403
    assert "view" not in response.json()
    (entry,) = store.audit.entries(person_key=PERSON)
    assert (entry.team, entry.basis, entry.granted) == ("district-nursing", "none", False)


async def test_a_withdrawal_after_the_grant_closes_the_view(
    client: httpx.AsyncClient, store: Store
) -> None:
    _store_views(store, [sample_contact(), sample_consent_change(), _withdrawn()])
    response = await _get(client, f"/v1/persons/{PERSON}", "asc-token")
    assert response.status_code == 403


async def test_unknown_person_is_404_and_a_token_is_required(
    client: httpx.AsyncClient, store: Store
) -> None:
    assert (await _get(client, "/v1/persons/p-nobody", "asc-token")).status_code == 404
    missing = await _get(client, f"/v1/persons/{PERSON}", None)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    assert (await _get(client, f"/v1/persons/{PERSON}", "stolen")).status_code == 401
    assert store.audit.entries() == []


async def test_a_place_is_read_in_aggregate_without_person_keys(
    client: httpx.AsyncClient, store: Store
) -> None:
    referral = sample_referral()
    _store_views(store, [referral, sample_contact()])
    place = referral.place.place_id if referral.place else ""
    at = referral.occurred_at.isoformat()
    response = await client.get(
        f"/v1/places/{place}", params={"at": at}, headers={"Authorization": "Bearer asc-token"}
    )
    assert response.status_code == 200
    summary = response.json()
    assert summary["referrals_this_week"] == {str(n): 1 for n in sorted(referral.needs)}
    assert summary["contacts_this_week"] == 1
    assert summary["persons_with_open_needs"] == 1
    assert PERSON not in response.text
    assert (await _get(client, "/v1/places/E00000000", "asc-token")).status_code == 404
