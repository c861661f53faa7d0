"""The identity review queue, for integration engineers to see and settle.

A record whose match score fell in the grey band started a provisional person and waits
here. To decide, an engineer compares that person's records with each candidate's, so the
listing shows personal identifiers: every person whose records it returns is written to the
read audit (what ``identity_review``, basis ``review:<provisional key>``, the review that
showed them).

Keeping a review apart is settled here. A merge (into one of the review's candidates) and a
split (``POST /v1/identity/persons/{key}/split``, for records wrongly put together) re-key the
views, so they are carried out by the identity agent, in order with the events it resolves:
the API records the decision as pending, puts it on the identity queue and answers 202 with
its id; ``GET /v1/identity/decisions/{id}`` follows it to applied or rejected.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Protocol
from uuid import UUID, uuid4

from annotated_types import MinLen
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from schemas.models import IdentityDecision, IdentityDecisionKind, PersonLink
from streams.api.common import bearer_holder, problems
from streams.identity.records import IdentityRecord
from streams.store import Store
from streams.store.identity import Review

#: The ``what`` of the audit rows this API writes.
AUDITED_AS = "identity_review"

#: What ``?status=`` may ask for: the reviews in one status, or all of them.
_STATUSES = ("open", "merging", "kept", "merged", "all")


#: Puts a decision on the identity queue; returns once the broker holds it.
Publish = Callable[[IdentityDecision], Awaitable[None]]


class _Submit(Protocol):
    """Records a decision as pending, queues it for the identity agent, and answers 202."""

    def __call__(
        self,
        kind: IdentityDecisionKind,
        person_key: str,
        engineer: str,
        *,
        into: str | None = None,
        links: Sequence[PersonLink] = (),
    ) -> Awaitable[JSONResponse]: ...


class KeepApart(BaseModel):
    """Keep the provisional person apart from every candidate."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["keep"]


class MergeInto(BaseModel):
    """Merge the provisional person into ``into``, one of the review's candidates."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["merge"]
    into: str


ReviewDecision = Annotated[KeepApart | MergeInto, Field(discriminator="decision")]
_REVIEW_DECISION: TypeAdapter[KeepApart | MergeInto] = TypeAdapter(ReviewDecision)


class SplitRequest(BaseModel):
    """The links (agency, local id) to move from a person to a new one."""

    model_config = ConfigDict(extra="forbid")

    links: Annotated[list[PersonLink], MinLen(1)]


class DecisionStatus(BaseModel):
    """A merge or split, pending on the identity queue, applied or rejected."""

    decision_id: UUID
    status: Literal["pending", "applied", "rejected"]
    person_key: str
    #: Where the links moved: the person kept by a merge, the new person of a split.
    moved_to: str | None = None
    reason: str | None = None


class PersonRecord(BaseModel):
    """One agency's record of a person, as the identity store holds it."""

    agency: str
    local_id: str
    given_name: str | None
    family_name: str | None
    birth_date: str | None
    address: str | None
    postcode: str | None
    nhs_number: str | None


class Candidate(BaseModel):
    """A person the provisional one may be, with the match score (higher is likelier)."""

    person_key: str
    score: float


class ComparedCandidate(Candidate):
    """A candidate with its records, to compare."""

    records: list[PersonRecord]


class SettledReview(BaseModel):
    """A review after a decision."""

    person_key: str
    status: str
    resolution: str | None
    candidates: list[Candidate]


class ComparedReview(BaseModel):
    """A review with the provisional person's records and each candidate's."""

    person_key: str
    status: str
    resolution: str | None
    records: list[PersonRecord]
    candidates: list[ComparedCandidate]


class ReviewList(BaseModel):
    """The reviews asked for, oldest first."""

    reviews: list[ComparedReview]


class FieldProblem(BaseModel):
    """Why a request, or one of its fields, was refused."""

    loc: str
    msg: str


class Problem(BaseModel):
    """The body of every refusal."""

    detail: list[FieldProblem]


def _unauthorised() -> JSONResponse:
    return problems(
        401, ("header.authorization", "an integration engineer's bearer token is required")
    )


def _records(records: list[IdentityRecord]) -> list[PersonRecord]:
    return [PersonRecord(**record._asdict()) for record in records]


#: Pydantic's errors about the discriminator itself, which it places at the body's root.
_TAG_ERRORS = {
    "union_tag_not_found": "Field required: one of keep, merge",
    "union_tag_invalid": "should be one of keep, merge",
}


def _body_problems(exc: ValidationError) -> JSONResponse:
    """422 naming each failing field as ``body.<field>``, without the union's tag in the
    path (pydantic puts a tagged union's errors under the tag: ``merge.into``)."""
    found = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = [str(part) for part in error["loc"]]
        if error["type"] in _TAG_ERRORS:
            found.append(("body.decision", _TAG_ERRORS[error["type"]]))
            continue
        if loc and loc[0] in {"keep", "merge"}:
            loc = loc[1:]
        found.append((".".join(["body", *loc]), error["msg"]))
    return problems(422, *found)


def _accepted(decision: IdentityDecision) -> JSONResponse:
    body = DecisionStatus(
        decision_id=decision.decision_id, status="pending", person_key=decision.person_key
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=202)


def _documented(success: type[BaseModel], *refusals: int) -> dict[int | str, dict[str, Any]]:
    documented: dict[int | str, dict[str, Any]] = {200: {"model": success}}
    documented.update({refusal: {"model": Problem} for refusal in refusals})
    return documented


def identity_router(
    store: Store, engineer_for_token: Callable[[str], str | None], publish: Publish
) -> APIRouter:
    """The review queue, its decisions, splits and their outcomes, for integration engineers'
    tokens; ``publish`` puts merges and splits on the identity queue."""
    router = APIRouter(tags=["identity review"])

    def engineer_of(request: Request) -> str | None:
        return bearer_holder(request, engineer_for_token)

    def compared(engineer: str, status: str | None) -> ReviewList:
        """The reviews with everyone's records, each person shown audited before any leaves."""
        listed = []
        for review in store.identity.reviews(status):
            keys = [review.person_key, *(key for key, _ in review.candidates)]
            records = {key: store.identity.records(key) for key in keys}
            for key in keys:
                if records[key]:  # erased or merged away: nothing shown
                    store.audit.record(
                        engineer, key, AUDITED_AS, f"review:{review.person_key}", granted=True
                    )
            listed.append(
                ComparedReview(
                    person_key=review.person_key,
                    status=review.status,
                    resolution=review.resolution,
                    records=_records(records[review.person_key]),
                    candidates=[
                        ComparedCandidate(
                            person_key=key, score=score, records=_records(records[key])
                        )
                        for key, score in review.candidates
                    ],
                )
            )
        return ReviewList(reviews=listed)

    def keep(person_key: str, resolution: str) -> Review | None:
        """The review kept apart, or None if it was not open (unknown, or settled already)."""
        review = store.identity.review(person_key)
        if review is None or not store.identity.settle(person_key, "kept", resolution):
            return None
        return Review(review.person_key, review.candidates, "kept", resolution)

    @router.get("/v1/identity/reviews", responses=_documented(ReviewList, 401, 422))
    async def reviews(
        request: Request,
        status: Annotated[str, Query(json_schema_extra={"enum": list(_STATUSES)})] = "open",
    ) -> JSONResponse:
        """The review queue, oldest first, with the records to compare; every person shown
        is audited."""
        engineer = engineer_of(request)
        if engineer is None:
            return _unauthorised()
        if status not in _STATUSES:
            return problems(422, ("query.status", f"should be one of {', '.join(_STATUSES)}"))
        listing = await asyncio.to_thread(compared, engineer, None if status == "all" else status)
        return JSONResponse(listing.model_dump(mode="json"))

    async def submit(
        kind: IdentityDecisionKind,
        person_key: str,
        engineer: str,
        *,
        into: str | None = None,
        links: Sequence[PersonLink] = (),
    ) -> JSONResponse:
        """Record a decision as pending, put it on the identity queue, and answer 202."""
        decision = IdentityDecision(
            decision_id=uuid4(),
            kind=kind,
            person_key=person_key,
            into=into,
            links=list(links),
            engineer=engineer,
            decided_at=datetime.now(UTC),
        )
        await asyncio.to_thread(store.decisions.submitted, decision)
        await publish(decision)
        return _accepted(decision)

    async def merge(review: Review, into: str, engineer: str) -> JSONResponse:
        if into not in {key for key, _ in review.candidates}:
            return problems(422, ("body.into", "is not a candidate of this review"))
        claimed = await asyncio.to_thread(
            store.identity.settle,
            review.person_key,
            "merging",
            f"merge into {into} asked by engineer {engineer}",
        )
        if not claimed:
            return problems(404, ("path.person_key", "no open review for this person"))
        return await submit(IdentityDecisionKind.MERGE, review.person_key, engineer, into=into)

    @router.post(
        "/v1/identity/reviews/{person_key}",
        responses=_documented(SettledReview, 401, 404, 422) | {202: {"model": DecisionStatus}},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _REVIEW_DECISION.json_schema()}},
            }
        },
    )
    async def decide(person_key: str, request: Request) -> JSONResponse:
        """Settle an open review: ``keep`` keeps the provisional person apart (200); ``merge``
        into a candidate goes to the identity agent (202, with the decision to follow)."""
        engineer = engineer_of(request)
        if engineer is None:
            return _unauthorised()
        try:
            asked = _REVIEW_DECISION.validate_json(await request.body())
        except ValidationError as exc:
            return _body_problems(exc)
        if isinstance(asked, MergeInto):
            review = await asyncio.to_thread(store.identity.review, person_key)
            if review is None or review.status != "open":
                return problems(404, ("path.person_key", "no open review for this person"))
            return await merge(review, asked.into, engineer)
        resolution = f"kept apart by engineer {engineer}"
        settled = await asyncio.to_thread(keep, person_key, resolution)
        if settled is None:
            return problems(404, ("path.person_key", "no open review for this person"))
        candidates = [Candidate(person_key=key, score=score) for key, score in settled.candidates]
        body = SettledReview(
            person_key=settled.person_key,
            status=settled.status,
            resolution=settled.resolution,
            candidates=candidates,
        )
        return JSONResponse(body.model_dump(mode="json"))

    _add_decision_routes(router, store, engineer_of, submit)
    return router


def _add_decision_routes(
    router: APIRouter,
    store: Store,
    engineer_of: Callable[[Request], str | None],
    submit: _Submit,
) -> None:
    """``POST /v1/identity/persons/{key}/split`` and ``GET /v1/identity/decisions/{id}``."""

    @router.post(
        "/v1/identity/persons/{person_key}/split",
        status_code=202,
        responses=_documented(DecisionStatus, 401, 404, 422),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": SplitRequest.model_json_schema()}},
            }
        },
    )
    async def split(person_key: str, request: Request) -> JSONResponse:
        """Move some of a person's links to a new person (records wrongly put together); the
        identity agent carries it out and re-keys the views (202, with the decision)."""
        engineer = engineer_of(request)
        if engineer is None:
            return _unauthorised()
        try:
            asked = SplitRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            return _body_problems(exc)
        records = await asyncio.to_thread(store.identity.records, person_key)
        if not records:
            return problems(404, ("path.person_key", "no person has this key"))
        own = {(record.agency, record.local_id) for record in records}
        strangers = [
            (f"body.links.{index}", "is not a link of this person")
            for index, link in enumerate(asked.links)
            if (link.agency, link.local_id) not in own
        ]
        if strangers:
            return problems(422, *strangers)
        if own <= {(link.agency, link.local_id) for link in asked.links}:
            return problems(422, ("body.links", "a split must leave the person a link"))
        return await submit(IdentityDecisionKind.SPLIT, person_key, engineer, links=asked.links)

    @router.get(
        "/v1/identity/decisions/{decision_id}",
        responses=_documented(DecisionStatus, 401, 404, 422),
    )
    async def decision_status(decision_id: str, request: Request) -> JSONResponse:
        """Where a merge or a split is: pending on the identity queue, applied, or rejected."""
        if engineer_of(request) is None:
            return _unauthorised()
        try:
            wanted = UUID(decision_id)
        except ValueError:
            return problems(422, ("path.decision_id", "should be a UUID"))
        outcome = await asyncio.to_thread(store.decisions.outcome, wanted)
        if outcome is None:
            return problems(404, ("path.decision_id", "no decision has this id"))
        body = DecisionStatus(
            decision_id=wanted,
            status=outcome.status,
            person_key=outcome.person_key,
            moved_to=outcome.moved_to,
            reason=outcome.reason,
        )
        return JSONResponse(body.model_dump(mode="json"))
