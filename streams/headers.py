"""The Kafka headers the agents put on what they pass on to each other.

They carry transport facts, not contract data: where a forwarded event was on person-events
(so the place agent can skip what it has folded), and which identity decision replayed an
event (so places do not count it twice).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The partition and offset a forwarded event had on person-events.
SOURCE_PARTITION = "person-partition"
SOURCE_OFFSET = "person-offset"
#: The id of the merge or split that replayed an event under a new key.
REPLAYED_BY = "replayed-by"


def header(message: Any, name: str) -> bytes | None:
    """The value of header ``name`` on a Faust message, or None; Faust gives headers as a
    list of pairs or as a mapping."""
    headers = message.headers
    pairs = headers.items() if isinstance(headers, Mapping) else headers or []
    for key, value in pairs:
        if key == name:
            found: bytes = value
            return found
    return None
