"""The identity review queue: engineers compare records (every person shown audited), keep
reviews apart, and ask for merges and splits, which go to the identity agent; nobody else gets
in."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from backbone.runtime import token_to_id
from backbone.settings import Agency, Engineer, Settings, Team
from schemas.models import IdentityDecision, IdentityDecisionKind, PersonLink
from streams.api.identity import identity_router
from streams.api.reads import read_router
from streams.identity.matcher import Observation, Rekey
from streams.identity.records import IdentityRecord
from streams.store import Store

pytestmark = pytest.mark.asyncio

PROVISIONAL, CANDIDATE, ERASED = "p-provisional", "p-candidate", "p-erased"
MARGARET = IdentityRecord(
    "council", "c1", "Margaret", "Okafor", "1941-03-09", "4 Elm Row", "LS6 2AB", "9434765919"
)
PEGGY = IdentityRecord("gp", "g7", "Peggy", "Okafor", "09/03/1941", "4 Elm Row", "LS6 2AB")
MOVED = IdentityRecord("housing", "h2", "Margaret", "Okafor", "1941-03-09", "Flat 2", "LS6 4CD")
OTHER = IdentityRecord("council", "c9", "Tomasz", "Nowak", "1988-11-30", "12 Mill St", "LS9 8QP")


@pytest.fixture
def settings() -> Settings:
    return Settings(
        agencies=[Agency(id="council", token="agency-token")],
        teams=[Team(id="adult-social-care", agency="council", token="team-token")],
        engineers=[Engineer(id="ada", name="Ada", token="engineer-token")],
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'backbone.db'}") as opened:
        opened.identity.append(
            [
                Observation(PROVISIONAL, PEGGY),
                Observation(CANDIDATE, MARGARET),
                Observation(CANDIDATE, MOVED),
                Observation("p-other", OTHER),
            ]
        )
        opened.identity.add_review(PROVISIONAL, [(CANDIDATE, 4.25), (ERASED, 1.5)])
        yield opened


@pytest.fixture
def published() -> list[IdentityDecision]:
    """What the API put on the identity queue."""
    return []


@pytest_asyncio.fixture
async def client(
    store: Store, settings: Settings, published: list[IdentityDecision]
) -> AsyncIterator[httpx.AsyncClient]:
    """Both routers, with the tokens the backbone would give them, as ``assemble`` mounts them."""

    async def publish(decision: IdentityDecision) -> None:
        published.append(decision)

    api = FastAPI()
    api.include_router(read_router(store, token_to_id(settings.team_for_token)))
    api.include_router(identity_router(store, token_to_id(settings.engineer_for_token), publish))
    transport = httpx.ASGITransport(api)
    async with httpx.AsyncClient(transport=transport, base_url="http://backbone") as http:
        yield http


def _auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


async def _list(
    client: httpx.AsyncClient, status: str | None = None, token: str | None = "engineer-token"
) -> httpx.Response:
    params = {"status": status} if status else {}
    return await client.get("/v1/identity/reviews", params=params, headers=_auth(token))


async def _decide(
    client: httpx.AsyncClient,
    person_key: str,
    body: Any = None,
    token: str | None = "engineer-token",
    content: str | None = None,
) -> httpx.Response:
    path = f"/v1/identity/reviews/{person_key}"
    if content is not None:
        return await client.post(path, content=content, headers=_auth(token))
    return await client.post(path, json=body or {"decision": "keep"}, headers=_auth(token))


def _shown(record: IdentityRecord) -> dict[str, str | None]:
    return record._asdict()


async def test_the_queue_shows_every_persons_records_and_audits_each_shown(
    client: httpx.AsyncClient, store: Store
) -> None:
    response = await _list(client)
    assert response.status_code == 200
    assert response.json() == {
        "reviews": [
            {
                "person_key": PROVISIONAL,
                "status": "open",
                "resolution": None,
                "records": [_shown(PEGGY)],
                "candidates": [
                    {
                        "person_key": CANDIDATE,
                        "score": 4.25,
                        "records": [_shown(MARGARET), _shown(MOVED)],
                    },
                    {"person_key": ERASED, "score": 1.5, "records": []},
                ],
            }
        ]
    }
    audited = [(e.team, e.person_key, e.what, e.basis, e.granted) for e in store.audit.entries()]
    assert audited == [
        ("ada", PROVISIONAL, "identity_review", f"review:{PROVISIONAL}", True),
        ("ada", CANDIDATE, "identity_review", f"review:{PROVISIONAL}", True),
    ]


async def test_keep_settles_the_review_and_it_leaves_the_open_queue(
    client: httpx.AsyncClient, store: Store
) -> None:
    response = await _decide(client, PROVISIONAL)
    assert response.status_code == 200
    assert response.json() == {
        "person_key": PROVISIONAL,
        "status": "kept",
        "resolution": "kept apart by engineer ada",
        "candidates": [
            {"person_key": CANDIDATE, "score": 4.25},
            {"person_key": ERASED, "score": 1.5},
        ],
    }
    assert store.audit.entries() == []  # a decision shows no records
    assert (await _list(client)).json() == {"reviews": []}
    (kept,) = (await _list(client, "kept")).json()["reviews"]
    assert (kept["person_key"], kept["resolution"]) == (PROVISIONAL, "kept apart by engineer ada")
    assert [r["person_key"] for r in (await _list(client, "all")).json()["reviews"]] == [
        PROVISIONAL
    ]
    assert (await _list(client, "merged")).json() == {"reviews": []}


async def test_an_unknown_or_settled_review_is_404(client: httpx.AsyncClient) -> None:
    unknown = await _decide(client, "p-nobody")
    assert unknown.status_code == 404
    assert unknown.json() == {
        "detail": [{"loc": "path.person_key", "msg": "no open review for this person"}]
    }
    assert (await _decide(client, PROVISIONAL)).status_code == 200
    assert (await _decide(client, PROVISIONAL)).status_code == 404


@pytest.mark.parametrize(
    ("content", "loc", "msg"),
    [
        ('{"decision": "merge"}', "body.into", "Field required"),
        ('{"decision": "merge", "into": 3}', "body.into", "Input should be a valid string"),
        ('{"decision": "split"}', "body.decision", "should be one of keep, merge"),
        ("{}", "body.decision", "Field required"),
        ('{"decision": "keep", "note": "x"}', "body.note", "Extra inputs are not permitted"),
        ('["keep"]', "body", "Input should be an object"),
        ("{not json", "body", "Invalid JSON"),
    ],
)
async def test_a_bad_decision_is_422_with_the_field_and_the_review_stays_open(
    client: httpx.AsyncClient, store: Store, content: str, loc: str, msg: str
) -> None:
    response = await _decide(client, PROVISIONAL, content=content)
    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["loc"] == loc
    assert problem["msg"].startswith(msg)
    assert [review.status for review in store.identity.reviews()] == ["open"]


async def test_an_unknown_status_is_422(client: httpx.AsyncClient, store: Store) -> None:
    response = await _list(client, "closed")
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {"loc": "query.status", "msg": "should be one of open, merging, kept, merged, all"}
        ]
    }
    assert store.audit.entries() == []


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer stolen"},
        {"Authorization": "Bearer team-token"},  # a team reads person views, not the queue
        {"Authorization": "Basic engineer-token"},
    ],
)
async def test_only_an_engineers_bearer_token_opens_the_queue(
    client: httpx.AsyncClient, store: Store, headers: dict[str, str]
) -> None:
    listing = await client.get("/v1/identity/reviews", headers=headers)
    decision = await client.post(
        f"/v1/identity/reviews/{PROVISIONAL}", json={"decision": "keep"}, headers=headers
    )
    for response in (listing, decision):
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert response.json()["detail"][0]["loc"] == "header.authorization"
        assert "Okafor" not in response.text
    assert store.audit.entries() == []
    assert [review.status for review in store.identity.reviews()] == ["open"]


async def test_the_schema_offers_keep_and_merge(client: httpx.AsyncClient) -> None:
    openapi = (await client.get("/openapi.json")).json()
    operation = openapi["paths"]["/v1/identity/reviews/{person_key}"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body["discriminator"]["propertyName"] == "decision"
    assert set(body["discriminator"]["mapping"]) == {"keep", "merge"}
    listing = openapi["paths"]["/v1/identity/reviews"]["get"]
    (status,) = listing["parameters"]
    assert status["schema"]["enum"] == ["open", "merging", "kept", "merged", "all"]


# -- merges and splits go to the identity agent ---------------------------------------------


async def _status(client: httpx.AsyncClient, decision_id: str) -> httpx.Response:
    return await client.get(
        f"/v1/identity/decisions/{decision_id}", headers=_auth("engineer-token")
    )


async def test_a_merge_is_put_on_the_queue_and_the_review_waits_for_it(
    client: httpx.AsyncClient, store: Store, published: list[IdentityDecision]
) -> None:
    response = await _decide(client, PROVISIONAL, {"decision": "merge", "into": CANDIDATE})
    assert response.status_code == 202
    body = response.json()
    assert (body["status"], body["person_key"]) == ("pending", PROVISIONAL)
    (decision,) = published
    assert str(decision.decision_id) == body["decision_id"]
    assert (decision.kind, decision.person_key, decision.into, decision.engineer) == (
        IdentityDecisionKind.MERGE,
        PROVISIONAL,
        CANDIDATE,
        "ada",
    )
    assert (await _status(client, body["decision_id"])).json()["status"] == "pending"
    (waiting,) = (await _list(client, "merging")).json()["reviews"]
    assert waiting["resolution"] == f"merge into {CANDIDATE} asked by engineer ada"
    # Asked twice, the merge goes on the queue once.
    again = await _decide(client, PROVISIONAL, {"decision": "merge", "into": CANDIDATE})
    assert again.status_code == 404
    assert len(published) == 1


async def test_an_applied_merge_settles_the_review(
    client: httpx.AsyncClient, store: Store, published: list[IdentityDecision]
) -> None:
    response = await _decide(client, PROVISIONAL, {"decision": "merge", "into": CANDIDATE})
    (decision,) = published
    store.decisions.applied(decision, Rekey(PROVISIONAL, CANDIDATE, (("gp", "g7"),)), [])
    status = (await _status(client, response.json()["decision_id"])).json()
    assert (status["status"], status["moved_to"]) == ("applied", CANDIDATE)
    (merged,) = (await _list(client, "merged")).json()["reviews"]
    assert merged["resolution"] == f"merged into {CANDIDATE} by engineer ada"
    assert merged["records"] == []  # the provisional person's records are the candidate's now
    assert PEGGY in store.identity.records(CANDIDATE)


async def test_a_refused_merge_opens_the_review_again(
    client: httpx.AsyncClient, store: Store, published: list[IdentityDecision]
) -> None:
    response = await _decide(client, PROVISIONAL, {"decision": "merge", "into": CANDIDATE})
    (decision,) = published
    store.decisions.rejected(decision, f"no person has key {CANDIDATE}")
    status = (await _status(client, response.json()["decision_id"])).json()
    assert (status["status"], status["reason"]) == ("rejected", f"no person has key {CANDIDATE}")
    (review,) = (await _list(client)).json()["reviews"]
    assert review["resolution"] == f"merge refused: no person has key {CANDIDATE}"


async def test_a_merge_into_a_person_the_review_did_not_suggest_is_422(
    client: httpx.AsyncClient, store: Store, published: list[IdentityDecision]
) -> None:
    response = await _decide(client, PROVISIONAL, {"decision": "merge", "into": "p-other"})
    assert response.status_code == 422
    assert response.json() == {
        "detail": [{"loc": "body.into", "msg": "is not a candidate of this review"}]
    }
    assert published == []
    assert [review.status for review in store.identity.reviews()] == ["open"]


async def _split(
    client: httpx.AsyncClient, person_key: str, body: Any, token: str | None = "engineer-token"
) -> httpx.Response:
    return await client.post(
        f"/v1/identity/persons/{person_key}/split", json=body, headers=_auth(token)
    )


async def test_a_split_is_put_on_the_queue(
    client: httpx.AsyncClient, published: list[IdentityDecision]
) -> None:
    response = await _split(client, CANDIDATE, {"links": [{"agency": "housing", "local_id": "h2"}]})
    assert response.status_code == 202
    (decision,) = published
    assert (decision.kind, decision.person_key, decision.links, decision.into) == (
        IdentityDecisionKind.SPLIT,
        CANDIDATE,
        [PersonLink(agency="housing", local_id="h2")],
        None,
    )
    assert response.json()["decision_id"] == str(decision.decision_id)


@pytest.mark.parametrize(
    ("person_key", "body", "status", "problem"),
    [
        ("p-nobody", {"links": [{"agency": "housing", "local_id": "h2"}]}, 404, "path.person_key"),
        (CANDIDATE, {"links": [{"agency": "housing", "local_id": "h9"}]}, 422, "body.links.0"),
        (CANDIDATE, {"links": [{"agency": "housing"}]}, 422, "body.links.0.local_id"),
        (CANDIDATE, {"links": []}, 422, "body.links"),
        (
            CANDIDATE,
            {
                "links": [
                    {"agency": "council", "local_id": "c1"},
                    {"agency": "housing", "local_id": "h2"},
                ]
            },
            422,
            "body.links",
        ),
    ],
)
async def test_a_split_that_cannot_be_is_refused_with_the_field(
    client: httpx.AsyncClient,
    published: list[IdentityDecision],
    person_key: str,
    body: Any,
    status: int,
    problem: str,
) -> None:
    response = await _split(client, person_key, body)
    assert response.status_code == status
    assert [p["loc"] for p in response.json()["detail"]] == [problem]
    assert published == []


async def test_decisions_are_for_engineers_and_unknown_ones_are_404(
    client: httpx.AsyncClient, published: list[IdentityDecision]
) -> None:
    body = {"links": [{"agency": "housing", "local_id": "h2"}]}
    assert (await _split(client, CANDIDATE, body, token="team-token")).status_code == 401
    assert (await _split(client, CANDIDATE, "not even json", token=None)).status_code == 401
    assert published == []
    unknown = await _status(client, "00000000-0000-0000-0000-000000000001")
    assert unknown.status_code == 404
    assert (await _status(client, "not-a-uuid")).json() == {
        "detail": [{"loc": "path.decision_id", "msg": "should be a UUID"}]
    }
    anonymous = await client.get("/v1/identity/decisions/00000000-0000-0000-0000-000000000001")
    assert anonymous.status_code == 401
