"""Many records through one matcher, in order: bulk onboarding and replays.

The matcher's state is a few hundred thousand small, long-lived objects; Python's cyclic
garbage collector would scan them all again and again while nothing among them is ever
garbage. Freezing them out of its view every ``freeze_every`` records keeps collections as
cheap as at the start (about a quarter of the run time on 100,000 records otherwise). The
collector is unfrozen at the end, so nothing stays exempt after the run.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator

from streams.identity.matcher import Matcher, Resolution
from streams.identity.records import IdentityRecord

FREEZE_EVERY = 10_000


def resolve_all(
    matcher: Matcher, records: Iterable[IdentityRecord], freeze_every: int = FREEZE_EVERY
) -> Iterator[Resolution]:
    """Each record's resolution, one record at a time in the order given."""
    try:
        for count, record in enumerate(records, 1):
            yield matcher.resolve(record)
            if count % freeze_every == 0:
                gc.freeze()
    finally:
        gc.unfreeze()
