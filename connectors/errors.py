"""Errors of the connectors, under the backbone's root exception."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.errors import BackboneError


class ConnectorError(BackboneError):
    """A connector could not take or publish an event."""


class PublishError(ConnectorError):
    """The broker did not acknowledge an event in time: it was not accepted."""


@dataclass(frozen=True)
class FieldError:
    """One invalid field: its dotted path and why (never its value: it may be personal)."""

    loc: str
    msg: str


class InvalidEventError(ConnectorError):
    """An event that does not satisfy its contract, with every invalid field named."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{error.loc}: {error.msg}" for error in errors))
