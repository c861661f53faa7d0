"""The configuration model: YAML under environment, unknown keys named, secrets kept secret."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from backbone.settings import Settings, load_settings
from schemas.errors import ConfigError

_YAML = """\
http_port: 9001
kafka:
  topic_prefix: county
agencies:
  - id: council
    token: council-secret
  - id: allotment-group
    token_sha256: {digest}
teams:
  - id: adult-social-care
    agency: council
    token: asc-secret
engineers:
  - id: ada
    name: Ada
    token: ada-secret
  - id: grace
    token_sha256: {engineer_digest}
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "backbone.yaml"
    digest = hashlib.sha256(b"allotment-secret").hexdigest()
    engineer_digest = hashlib.sha256(b"grace-secret").hexdigest()
    path.write_text(_YAML.format(digest=digest, engineer_digest=engineer_digest))
    return path


def test_defaults_without_any_file() -> None:
    settings = load_settings()
    assert settings.kafka.embedded
    assert settings.http_port == 8080
    assert settings.database_url == "sqlite:///.backbone/backbone.db"
    assert settings.agencies == []


def test_yaml_file_is_read(config: Path) -> None:
    settings = load_settings(config)
    assert settings.http_port == 9001
    assert settings.kafka.topics.alerts == "county.alerts"
    assert [team.id for team in settings.teams] == ["adult-social-care"]


def test_environment_overrides_yaml_and_command_line_overrides_both(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKBONE_HTTP_PORT", "9002")
    monkeypatch.setenv("BACKBONE_KAFKA__BOOTSTRAP_SERVERS", '["kafka-1:9092"]')
    assert load_settings(config).http_port == 9002
    assert load_settings(config).kafka.bootstrap_servers == ["kafka-1:9092"]
    assert load_settings(config, http_port=9003).http_port == 9003


def test_config_file_from_environment(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKBONE_CONFIG", str(config))
    assert load_settings().http_port == 9001


def test_plain_and_hashed_tokens_authenticate(config: Path) -> None:
    settings = load_settings(config)
    council = settings.agency_for_token("council-secret")
    allotment = settings.agency_for_token("allotment-secret")
    assert council is not None
    assert council.id == "council"
    assert allotment is not None
    assert allotment.id == "allotment-group"
    assert settings.agency_for_token("wrong") is None
    team = settings.team_for_token("asc-secret")
    assert team is not None
    assert team.id == "adult-social-care"


def test_engineers_authenticate_with_their_own_tokens_only(config: Path) -> None:
    settings = load_settings(config)
    ada = settings.engineer_for_token("ada-secret")
    grace = settings.engineer_for_token("grace-secret")
    assert ada is not None
    assert (ada.id, ada.name) == ("ada", "Ada")
    assert grace is not None
    assert grace.id == "grace"
    assert settings.engineer_for_token("asc-secret") is None  # a team's token
    assert settings.engineer_for_token("wrong") is None
    assert settings.team_for_token("ada-secret") is None
    assert "ada-secret" not in repr(settings)


def test_engineer_ids_are_unique_and_apart_from_team_ids(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("engineers:\n  - id: ada\n    token: x\n  - id: ada\n    token: y\n")
    with pytest.raises(ConfigError, match=r"engineers\.1\.id: 'ada' appears twice"):
        load_settings(path)
    path.write_text(
        "agencies:\n  - id: council\n    token: a\n"
        "teams:\n  - id: ada\n    agency: council\n    token: t\n"
        "engineers:\n  - id: ada\n    token: e\n"
    )
    with pytest.raises(ConfigError, match=r"engineers\.0\.id: 'ada' is also a team's id"):
        load_settings(path)


def test_an_engineer_needs_exactly_one_token_and_it_is_never_echoed(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("engineers:\n  - id: ada\n    token: very-secret\n    token_sha256: bad\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert "engineers.0.token_sha256" in str(caught.value)
    assert "very-secret" not in str(caught.value)
    path.write_text("engineers:\n  - id: ada\n")
    with pytest.raises(ConfigError, match="exactly one of token or token_sha256"):
        load_settings(path)


def test_unknown_keys_are_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "kafka:\n  partitionz: 3\nagencies:\n  - id: a\n    token: t\n    colour: red\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert "kafka.partitionz" in message
    assert "agencies.0.colour" in message


def test_errors_never_echo_token_values(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "agencies:\n  - id: a\n    token: very-secret-value\n    token_sha256: nothex\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert "very-secret-value" not in str(caught.value)
    assert "agencies.0.token_sha256" in str(caught.value)


def test_exactly_one_token_form(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("agencies:\n  - id: a\n")
    with pytest.raises(ConfigError, match="exactly one of token or token_sha256"):
        load_settings(path)


def test_team_of_unknown_agency_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("teams:\n  - id: t\n    agency: nobody\n    token: x\n")
    with pytest.raises(ConfigError, match=r"teams\.0\.agency: unknown agency 'nobody'"):
        load_settings(path)


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "absent.yaml")


def test_settings_are_frozen() -> None:
    settings = load_settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.http_port = 1  # type: ignore[misc] # reason: proving assignment is refused


def test_embedded_broker_gets_fast_join_timings() -> None:
    embedded = Settings().kafka
    assert embedded.timings() == (2.0, 0.5, 0.1)
    external = embedded.model_copy(update={"bootstrap_servers": ["k:9092"]})
    assert external.timings() == (10.0, 3.0, 0.5)
