"""How every agent takes events off a source topic: decode, or dead-letter and go on.

Faust commits past a value that fails to decode, and acknowledges an event whose handler
raised, so a bad message would vanish silently. Agents therefore read raw bytes, decode them
here against the contract their topic carries, and dead-letter whatever fails with the
original bytes and error headers; one bad event never stops the stream.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar, overload

from pydantic import BaseModel

from schemas.codec import AvroCodec
from schemas.deadletter import DeadLetter
from schemas.errors import MalformedEventError
from schemas.models import MODEL_OF_KIND, AgencyEvent
from schemas.topics import EventKind, Topics

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
N = TypeVar("N", bound=BaseModel)


@dataclass(frozen=True)
class Intake:
    """An agency event decoded from a source topic, with where it came from."""

    kind: EventKind
    event: AgencyEvent
    topic: str
    partition: int
    offset: int
    #: The message as it came, to pass on unchanged.
    key: bytes | None
    value: bytes


class DeadLetters:
    """Publishes failed messages, untouched, to the dead-letter topic.

    ``target`` is any Faust channel: the dead-letter topic in production (see
    ``app.raw_topic(topics.dead_letters)``), an in-memory channel in agent unit tests.
    """

    def __init__(self, target: Any, connector: str) -> None:
        self._target = target
        self._connector = connector

    async def send(self, message: Any, error: BaseException) -> None:
        """Dead-letter ``message`` (a Faust message) because of ``error``.

        A message replayed from the dead-letter topic carries its earlier letter's headers;
        failing again counts as one more attempt since the first failure.
        """
        previous = _previous_letter(message)
        letter = DeadLetter(
            source_topic=message.topic,
            source_partition=message.partition,
            source_offset=message.offset,
            connector=self._connector,
            error_class=type(error).__name__,
            error_message=_describe(error),
            schema_id=getattr(error, "schema_id", None),
            attempts=previous.attempts + 1 if previous else 1,
            first_failure=previous.first_failure if previous else datetime.now(UTC),
        )
        await self._target.send(key=message.key, value=message.value, headers=letter.headers())
        log.warning(
            "dead-lettered %s[%d]@%d: %s",
            message.topic,
            message.partition,
            message.offset,
            letter.error_class,
        )


def _previous_letter(message: Any) -> DeadLetter | None:
    headers = message.headers
    pairs = list(headers.items() if isinstance(headers, dict) else headers or [])
    try:
        return DeadLetter.from_headers(pairs)
    except (KeyError, ValueError):
        return None


def _describe(error: BaseException) -> str:
    """The error's message, led by its machine-readable reason when it has one."""
    reason = getattr(error, "reason", None)
    return f"{reason}: {error}" if reason else str(error)


class Decoder:
    """Decodes a batch of Faust events from source topics; failures go to dead letters."""

    def __init__(self, codec: AvroCodec, topics: Topics, dead_letters: DeadLetters) -> None:
        self._codec = codec
        self._topics = topics
        self._dead_letters = dead_letters

    async def decode(self, events: Sequence[Any]) -> list[Intake]:
        """The events that decode to their topic's contract, in order."""
        decoded: list[Intake] = []
        for event in events:
            message = event.message
            try:
                kind = self._topics.kind_of(message.topic)
                value = self._codec.decode_as(message.value, MODEL_OF_KIND[kind])
            except (MalformedEventError, KeyError) as exc:
                await self._dead_letters.send(message, exc)
                continue
            decoded.append(
                Intake(
                    kind,
                    value,
                    message.topic,
                    message.partition,
                    message.offset,
                    message.key,
                    message.value,
                )
            )
        return decoded


@overload
async def decode_each(
    events: Sequence[Any], codec: AvroCodec, model: type[M], dead_letters: DeadLetters
) -> list[tuple[Any, M]]: ...


@overload
async def decode_each(
    events: Sequence[Any],
    codec: AvroCodec,
    model: tuple[type[M], type[N]],
    dead_letters: DeadLetters,
) -> list[tuple[Any, M | N]]: ...


async def decode_each(
    events: Sequence[Any],
    codec: AvroCodec,
    model: type[BaseModel] | tuple[type[BaseModel], ...],
    dead_letters: DeadLetters,
) -> list[tuple[Any, Any]]:
    """Each Faust event of a backbone topic with the ``model`` (or one of the models) its
    value holds, in order; one that does not decode as such goes to ``dead_letters``."""
    wanted = model if isinstance(model, tuple) else (model,)
    decoded: list[tuple[Any, BaseModel]] = []
    for event in events:
        try:
            value = codec.decode(event.message.value)
            if not isinstance(value, wanted):
                names = " or ".join(cls.__name__ for cls in wanted)
                raise MalformedEventError(
                    "unexpected_record", f"expected {names}, got {type(value).__name__}"
                )
            decoded.append((event, value))
        except MalformedEventError as exc:
            await dead_letters.send(event.message, exc)
    return decoded
