"""Schema registries: an embedded one for development, a client for production.

Both follow the Confluent model (global ids, versions per subject), so that code, data and the
compatibility check behave the same on a laptop and against a Confluent-compatible registry.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from schemas.errors import SchemaNotFoundError, SchemaRegistryError
from schemas.types import SchemaRegistry, record_subject

__all__ = [
    "ConfluentSchemaRegistry",
    "EmbeddedSchemaRegistry",
    "SchemaRegistry",
    "record_subject",
]

_DDL = (
    """CREATE TABLE IF NOT EXISTS schemas (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        text TEXT NOT NULL UNIQUE
    )""",
    """CREATE TABLE IF NOT EXISTS versions (
        subject TEXT NOT NULL,
        version INTEGER NOT NULL,
        schema_id INTEGER NOT NULL REFERENCES schemas (id),
        PRIMARY KEY (subject, version),
        UNIQUE (subject, schema_id)
    )""",
)


class EmbeddedSchemaRegistry(SchemaRegistry):
    """A registry in one SQLite file, so development needs no registry server.

    Several processes may share the file: each write runs in an immediate (write-locked)
    transaction, and unique constraints keep one id per text and one version per schema and
    subject, so concurrent registrations of the same schema agree on its id.
    """

    #: Seconds to wait for another process's write lock before giving up.
    LOCK_TIMEOUT = 30.0

    def __init__(self, path: Path) -> None:
        self.path = path
        self._created = False

    def register(self, subject: str, schema_text: str) -> int:
        with self._transaction(write=True) as db:
            db.execute("INSERT OR IGNORE INTO schemas (text) VALUES (?)", (schema_text,))
            (schema_id,) = db.execute(
                "SELECT id FROM schemas WHERE text = ?", (schema_text,)
            ).fetchone()
            db.execute(
                "INSERT OR IGNORE INTO versions (subject, version, schema_id)"
                " SELECT ?, COALESCE(MAX(version), 0) + 1, ? FROM versions WHERE subject = ?",
                (subject, schema_id, subject),
            )
        return int(schema_id)

    def schema(self, schema_id: int) -> str:
        with self._transaction() as db:
            row = db.execute("SELECT text FROM schemas WHERE id = ?", (schema_id,)).fetchone()
        if row is None:
            raise SchemaNotFoundError(f"no schema with id {schema_id} in {self.path}")
        return str(row[0])

    def versions(self, subject: str) -> list[str]:
        with self._transaction() as db:
            rows = db.execute(
                "SELECT s.text FROM versions AS v JOIN schemas AS s ON s.id = v.schema_id"
                " WHERE v.subject = ? ORDER BY v.version",
                (subject,),
            ).fetchall()
        return [str(text) for (text,) in rows]

    @contextmanager
    def _transaction(self, *, write: bool = False) -> Iterator[sqlite3.Connection]:
        """A connection in one transaction, committed on success; errors become ours."""
        try:
            if not self._created:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: we issue BEGIN ourselves, to take the write lock up front.
            # Closing without COMMIT (on any error) rolls the transaction back.
            with closing(
                sqlite3.connect(self.path, timeout=self.LOCK_TIMEOUT, isolation_level=None)
            ) as db:
                db.execute("BEGIN IMMEDIATE" if write or not self._created else "BEGIN")
                if not self._created:
                    for statement in _DDL:
                        db.execute(statement)
                yield db
                db.execute("COMMIT")
                self._created = True
        except (OSError, sqlite3.Error) as exc:
            raise SchemaRegistryError(f"embedded schema registry {self.path}: {exc}") from exc


#: The media type of the Confluent Schema Registry REST API.
CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
#: Confluent error codes that mean "the registry does not have it".
_NOT_FOUND_CODES = frozenset({40401, 40402, 40403})


class ConfluentSchemaRegistry(SchemaRegistry):
    """A client of the Confluent-compatible Schema Registry REST API.

    Works with Confluent's registry and compatible ones (Redpanda, Karapace, Apicurio's
    compatibility API). The password is a ``SecretStr`` so that it never shows in logs.
    """

    def __init__(
        self,
        url: str,
        username: str | None = None,
        password: SecretStr | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 10.0,
    ) -> None:
        secret = password.get_secret_value() if password is not None else ""
        self._http = httpx.Client(
            base_url=url,
            auth=httpx.BasicAuth(username, secret) if username is not None else None,
            headers={"Accept": CONTENT_TYPE, "Content-Type": CONTENT_TYPE},
            transport=transport,
            timeout=timeout,
        )

    def register(self, subject: str, schema_text: str) -> int:
        path = f"/subjects/{_quote(subject)}/versions"
        return int(self._call("POST", path, {"schema": schema_text}, field="id"))

    def schema(self, schema_id: int) -> str:
        return str(self._call("GET", f"/schemas/ids/{schema_id}", field="schema"))

    def versions(self, subject: str) -> list[str]:
        path = f"/subjects/{_quote(subject)}/versions"
        try:
            numbers = self._call("GET", path)
        except SchemaNotFoundError:
            return []
        return [str(self._call("GET", f"{path}/{n}", field="schema")) for n in sorted(numbers)]

    def close(self) -> None:
        self._http.close()

    def _call(
        self, method: str, path: str, body: dict[str, str] | None = None, *, field: str = ""
    ) -> Any:
        """One request's JSON answer, or its ``field``; every failure a SchemaRegistryError."""
        try:
            response = self._http.request(method, path, json=body)
            response.raise_for_status()
            answer = response.json()
            return answer[field] if field else answer
        except httpx.HTTPStatusError as exc:
            raise _refusal(method, path, exc) from exc
        except httpx.HTTPError as exc:
            raise SchemaRegistryError(f"schema registry: {method} {path} failed: {exc}") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise SchemaRegistryError(
                f"schema registry: unexpected answer to {method} {path}"
            ) from exc


def _quote(subject: str) -> str:
    return quote(subject, safe="")


def _refusal(method: str, path: str, exc: httpx.HTTPStatusError) -> SchemaRegistryError:
    """The registry's own ``error_code`` and ``message`` when it gave them, else the status."""
    try:
        body = exc.response.json()
        code, message = int(body["error_code"]), str(body["message"])
    except (ValueError, KeyError, TypeError):
        code, message = None, exc.response.reason_phrase
    error = SchemaNotFoundError if code in _NOT_FOUND_CODES else SchemaRegistryError
    detail = message if code is None else f"error {code}: {message}"
    return error(
        f"schema registry refused {method} {path}: HTTP {exc.response.status_code}, {detail}"
    )
