"""The tiny interface every connector publishes through (after quix-streams' sinks).

A connector ``add``s messages, which start on their way at once, and ``flush``es when it
needs them gone; each ``add`` returns a :class:`Delivery` to learn whether the broker took
the message. Connectors never touch a Kafka client themselves.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence


class Delivery(ABC):
    """The fate of one added message."""

    @abstractmethod
    def result(self, timeout: float) -> None:
        """Block until the broker acknowledged the message; raise ``PublishError`` if not."""

    @abstractmethod
    def on_done(self, callback: Callable[[BaseException | None], None]) -> None:
        """Call ``callback`` (from any thread) with None on acknowledgement, or the error."""


class EventSink(ABC):
    """Where connectors put encoded messages."""

    @abstractmethod
    def add(
        self, topic: str, key: bytes, value: bytes, headers: Sequence[tuple[str, bytes]] = ()
    ) -> Delivery:
        """Start sending one message."""

    @abstractmethod
    def flush(self, timeout: float | None = None) -> None:
        """Send everything added so far without waiting for linger."""

    @abstractmethod
    def close(self) -> None:
        """Send what is pending, then release the client."""


async def delivered(deliveries: Sequence[Delivery]) -> list[BaseException | None]:
    """Wait for every delivery on the running loop; None for each acknowledged one."""
    loop = asyncio.get_running_loop()
    futures: list[asyncio.Future[BaseException | None]] = []
    for delivery in deliveries:
        future: asyncio.Future[BaseException | None] = loop.create_future()

        def settle(
            error: BaseException | None, future: asyncio.Future[BaseException | None] = future
        ) -> None:
            loop.call_soon_threadsafe(_settle, future, error)

        delivery.on_done(settle)
        futures.append(future)
    return list(await asyncio.gather(*futures))


def _settle(future: asyncio.Future[BaseException | None], error: BaseException | None) -> None:
    if not future.done():
        future.set_result(error)
