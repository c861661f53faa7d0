"""The shared view: pure folds of agency events into a person's and a place's view.

Nothing here does I/O: the Faust agents keep the views in tables and the SQL store
(:mod:`streams.store.views`) keeps copies, and both are checked against :func:`replay`.
"""

from streams.views.common import ErasureNotFoldedError, dump_json
from streams.views.consent import basis_for, purposes_for, visible_view
from streams.views.entries import Relationship, RelationshipKind
from streams.views.erasure import erase_person
from streams.views.person import PersonView, apply_handoff, apply_person
from streams.views.place import PlaceView, apply_place, renote_place, week_of
from streams.views.replay import replay

__all__ = [
    "ErasureNotFoldedError",
    "PersonView",
    "PlaceView",
    "Relationship",
    "RelationshipKind",
    "apply_handoff",
    "apply_person",
    "apply_place",
    "basis_for",
    "dump_json",
    "erase_person",
    "purposes_for",
    "renote_place",
    "replay",
    "visible_view",
    "week_of",
]
