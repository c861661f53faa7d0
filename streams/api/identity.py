"""The identity review queue, for integration engineers to see and settle.

A record whose match score fell in the grey band started a provisional person and waits
here. To decide, an engineer compares that person's records with each candidate's, so the
listing shows personal identifiers: every person whose records it returns is written to the
read audit (what ``identity_review``, basis ``review:<provisional key>``, the review that
showed them). Only keeping a review apart is offered: a merge must re-key the views through
the identity agent, and the request model accepts exactly the decisions there are.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, ValidationError

from streams.api.common import bearer_holder, problems
from streams.identity.records import IdentityRecord
from streams.store import Store
from streams.store.identity import Review

#: The ``what`` of the audit rows this API writes.
AUDITED_AS = "identity_review"

#: What ``?status=`` may ask for: the reviews in one status, or all of them.
_STATUSES = ("open", "kept", "merged", "all")


class Decision(BaseModel):
    """An engineer's decision on an open review; ``keep`` keeps the person apart."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["keep"]


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


def _documented(success: type[BaseModel], *refusals: int) -> dict[int | str, dict[str, Any]]:
    documented: dict[int | str, dict[str, Any]] = {200: {"model": success}}
    documented.update({refusal: {"model": Problem} for refusal in refusals})
    return documented


def identity_router(store: Store, engineer_for_token: Callable[[str], str | None]) -> APIRouter:
    """``GET /v1/identity/reviews`` and ``POST /v1/identity/reviews/{person_key}`` for
    integration engineers' tokens."""
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

    @router.post(
        "/v1/identity/reviews/{person_key}",
        responses=_documented(SettledReview, 401, 404, 422),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": Decision.model_json_schema()}},
            }
        },
    )
    async def decide(person_key: str, request: Request) -> JSONResponse:
        """Settle an open review: ``keep`` keeps the provisional person apart."""
        engineer = engineer_of(request)
        if engineer is None:
            return _unauthorised()
        try:
            Decision.model_validate_json(await request.body())
        except ValidationError as exc:
            return problems(
                422,
                *(
                    (".".join(["body", *(str(part) for part in error["loc"])]), error["msg"])
                    for error in exc.errors(include_input=False, include_url=False)
                ),
            )
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

    return router
