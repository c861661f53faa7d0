"""Writing to the store from an agent: off the event loop, and never giving up on an event.

An agent that cannot write must not move on (the event would be committed past and lost),
nor crash (Faust would acknowledge it anyway). It waits: the stream stalls, the lag grows,
``/healthz`` reports the store down, and the write goes through when the store is back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

_FIRST_DELAY = 0.1
_MAX_DELAY = 5.0


async def until_stored(what: str, write: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``write(*args, **kwargs)`` in a thread, retried with backoff until it succeeds."""
    delay = _FIRST_DELAY
    while True:
        try:
            return await asyncio.to_thread(write, *args, **kwargs)
        except Exception:
            log.exception("%s failed; retrying in %.1fs", what, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_DELAY)
