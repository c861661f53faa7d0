"""The backbone's one configuration model: environment (``BACKBONE_``) over a YAML file.

Precedence, highest first: values given on the command line, ``BACKBONE_*`` environment
variables (nested with ``__``, e.g. ``BACKBONE_KAFKA__BOOTSTRAP_SERVERS``), the YAML file
named by ``--config`` or ``BACKBONE_CONFIG``, then the defaults here. Any section may be
absent; an unknown key is an error that names it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from schemas.errors import ConfigError
from schemas.topics import Topics

_config_file: ContextVar[Path | None] = ContextVar("backbone_config_file", default=None)

_Id = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TokenHolder(_Entry):
    """Authenticates with a bearer token: plain in development, hashed in production."""

    token: SecretStr | None = None
    token_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")

    @model_validator(mode="after")
    def _one_token(self) -> Self:
        if (self.token is None) == (self.token_sha256 is None):
            raise ValueError("give exactly one of token or token_sha256")
        return self

    def accepts(self, presented: str) -> bool:
        """Whether ``presented`` is this holder's token (compared in constant time)."""
        if self.token is not None:
            return hmac.compare_digest(presented.encode(), self.token.get_secret_value().encode())
        digest = hashlib.sha256(presented.encode()).hexdigest()
        return hmac.compare_digest(digest, self.token_sha256 or "")


class Agency(TokenHolder):
    """An agency or volunteer group that publishes events."""

    id: str = _Id
    name: str | None = None


class Team(TokenHolder):
    """A frontline team that reads feeds; it belongs to an agency."""

    id: str = _Id
    agency: str = _Id
    name: str | None = None


class Engineer(TokenHolder):
    """An integration engineer: resolves the identity review queue, reads no person's view."""

    id: str = _Id
    name: str | None = None


class ServiceEntry(_Entry):
    """A service in the directory (modelled on Open Referral HSDS)."""

    id: str = _Id
    name: str
    organisation: str


class KafkaSettings(_Entry):
    """How to reach Kafka. No bootstrap servers means the embedded broker."""

    bootstrap_servers: list[str] = []
    topic_prefix: str = Field(default="backbone", pattern=r"^[A-Za-z0-9._-]+$")
    partitions: int = Field(default=4, ge=1, le=1024)
    #: None picks a value for the broker kind: short for the embedded broker, whose
    #: group joins wait half the session timeout; Kafka's usual values otherwise.
    session_timeout: float | None = Field(default=None, gt=0)
    heartbeat_interval: float | None = Field(default=None, gt=0)
    fetch_max_wait: float | None = Field(default=None, gt=0)

    @property
    def embedded(self) -> bool:
        """Whether the backbone runs its own embedded broker."""
        return not self.bootstrap_servers

    @property
    def topics(self) -> Topics:
        """The topic names under the configured prefix."""
        return Topics(prefix=self.topic_prefix, partitions=self.partitions)

    def timings(self) -> tuple[float, float, float]:
        """Session timeout, heartbeat interval and fetch wait, in seconds."""
        defaults = (2.0, 0.5, 0.1) if self.embedded else (10.0, 3.0, 0.5)
        chosen = (self.session_timeout, self.heartbeat_interval, self.fetch_max_wait)
        session, heartbeat, fetch = (
            given if given is not None else default
            for given, default in zip(chosen, defaults, strict=True)
        )
        return session, heartbeat, fetch


class SchemaRegistrySettings(_Entry):
    """A Confluent-compatible schema registry; no URL means the embedded one."""

    url: str | None = None
    username: str | None = None
    password: SecretStr | None = None


class Settings(BaseSettings):
    """Everything the backbone is configured with."""

    model_config = SettingsConfigDict(
        env_prefix="BACKBONE_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    data_dir: Path = Path(".backbone")
    db_url: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    #: Worker and server log level; "info" shows every service starting and stopping.
    log_level: str = "warning"
    kafka: KafkaSettings = KafkaSettings()
    schema_registry: SchemaRegistrySettings = SchemaRegistrySettings()
    agencies: list[Agency] = []
    teams: list[Team] = []
    engineers: list[Engineer] = []
    services: list[ServiceEntry] = []
    #: The alert rule pack (YAML); None runs the shipped default pack.
    rules_file: Path | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Command line over environment over the YAML file."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_file.get()
        if path is not None:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=path))
        return tuple(sources)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _unique("agencies", [agency.id for agency in self.agencies])
        _unique("teams", [team.id for team in self.teams])
        _unique("engineers", [engineer.id for engineer in self.engineers])
        _unique("services", [service.id for service in self.services])
        known = {agency.id for agency in self.agencies}
        for index, team in enumerate(self.teams):
            if team.agency not in known:
                raise ValueError(f"teams.{index}.agency: unknown agency {team.agency!r}")
        # The read audit names teams and engineers alike by id: one id must mean one reader.
        team_ids = {team.id for team in self.teams}
        for index, engineer in enumerate(self.engineers):
            if engineer.id in team_ids:
                raise ValueError(f"engineers.{index}.id: {engineer.id!r} is also a team's id")
        return self

    @property
    def database_url(self) -> str:
        """The SQL store's URL: ``--db``, else a SQLite file in the data folder."""
        return self.db_url or f"sqlite:///{self.data_dir / 'backbone.db'}"

    def agency_for_token(self, token: str) -> Agency | None:
        """The agency whose token this is, if any."""
        return next((agency for agency in self.agencies if agency.accepts(token)), None)

    def team_for_token(self, token: str) -> Team | None:
        """The team whose token this is, if any."""
        return next((team for team in self.teams if team.accepts(token)), None)

    def engineer_for_token(self, token: str) -> Engineer | None:
        """The integration engineer whose token this is, if any."""
        return next((engineer for engineer in self.engineers if engineer.accepts(token)), None)


def _unique(section: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for index, entry_id in enumerate(ids):
        if entry_id in seen:
            raise ValueError(f"{section}.{index}.id: {entry_id!r} appears twice")
        seen.add(entry_id)


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Read the settings; ``config`` (or ``BACKBONE_CONFIG``) names the YAML file.

    Raises ``ConfigError`` naming every bad key, without echoing values (they may be tokens).
    """
    path = config or (Path(env) if (env := os.environ.get("BACKBONE_CONFIG")) else None)
    if path is not None and not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    given = {key: value for key, value in overrides.items() if value is not None}
    reset = _config_file.set(path)
    try:
        return Settings(**given)
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc, source=str(path or "environment"))) from exc
    finally:
        _config_file.reset(reset)


def describe_errors(exc: ValidationError, source: str) -> str:
    """One line per invalid key: its dotted path and the reason, never the value."""
    lines = [f"invalid configuration in {source}:"]
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        lines.append(f"  {where}: {error['msg']}")
    return "\n".join(lines)
