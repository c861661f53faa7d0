"""Identity resolution: which person an agency's ``(agency, local_id)`` is about.

The library behind the identity stream agent and ``backbone identity resolve``: a streaming
matcher (:class:`Matcher`) that links each record deterministically on a valid NHS number or
probabilistically (Fellegi-Sunter) on names, birth date, postcode and address, and hands out
pseudonymous person keys that carry no identifier.
"""

from __future__ import annotations

from streams.identity.errors import IdentityError
from streams.identity.matcher import (
    Candidate,
    Learned,
    Matcher,
    Observation,
    Outcome,
    Rekey,
    Resolution,
    Snapshot,
)
from streams.identity.records import IdentityRecord, Link
from streams.identity.scoring import DEFAULT_FIELDS, FieldModel, Fields, MatchConfig

__all__ = [
    "DEFAULT_FIELDS",
    "Candidate",
    "FieldModel",
    "Fields",
    "IdentityError",
    "IdentityRecord",
    "Learned",
    "Link",
    "MatchConfig",
    "Matcher",
    "Observation",
    "Outcome",
    "Rekey",
    "Resolution",
    "Snapshot",
]
