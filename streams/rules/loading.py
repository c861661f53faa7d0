"""Reading a rule pack from YAML, with errors an integration engineer can act on.

Each problem names the rule by index and id and the key path inside it, such as
``rules[2] (gone-quiet).silence.quiet_for: expected a duration such as 10d``, and every
problem is reported at once so that a pack is fixed in one pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Final

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from schemas.errors import BackboneError
from streams.rules.pack import RulePack

#: The default pack, shipped in this package.
DEFAULT_PACK: Final = "default_rules.yaml"
_VALUE_ERROR: Final = "Value error, "


class RulePackError(BackboneError, ValueError):
    """A rule pack that is not valid YAML or not a valid pack; ``problems`` lists each."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("invalid rule pack:\n" + "\n".join(f"  {p}" for p in problems))
        self.problems = tuple(problems)


def load_rule_pack(source: Path | str) -> RulePack:
    """The pack in the file ``source`` (a Path) or in the YAML text ``source`` (a str).

    Raises :class:`RulePackError` naming every problem, and OSError for an unreadable file.
    """
    text = source.read_text(encoding="utf-8") if isinstance(source, Path) else source
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        where = "" if exc.problem_mark is None else f" at line {exc.problem_mark.line + 1}"
        raise RulePackError([f"not valid YAML{where}: {exc.problem}"]) from exc
    try:
        return RulePack.model_validate(data)
    except ValidationError as exc:
        raise RulePackError([_problem(error, data) for error in exc.errors()]) from exc


@cache
def default_rule_pack() -> RulePack:
    """The rule pack shipped with the backbone (ids fixed, thresholds from issue 5)."""
    return load_rule_pack(files("streams.rules").joinpath(DEFAULT_PACK).read_text("utf-8"))


def _problem(error: ErrorDetails, data: object) -> str:
    """One validation error as ``path: message``, the rule named by its id where known."""
    message = str(error["msg"]).removeprefix(_VALUE_ERROR)
    location: tuple[int | str, ...] = tuple(error["loc"])
    if not location:
        return message
    return f"{_path(location, data)}: {message}"


def _path(location: tuple[int | str, ...], data: object) -> str:
    parts: list[str] = []
    for index, part in enumerate(location):
        if isinstance(part, int):
            parts.append(f"[{part}]")
            if location[:index] == ("rules",):
                parts.append(_rule_name(data, part))
        else:
            parts.append(("." if parts else "") + part)
    return "".join(parts)


def _rule_name(data: object, index: int) -> str:
    """`` (id)`` of the rule at ``index`` in the raw data, or nothing if it has none."""
    rules = data.get("rules") if isinstance(data, dict) else None
    if isinstance(rules, list) and index < len(rules) and isinstance(rules[index], dict):
        rule_id = rules[index].get("id")
        if isinstance(rule_id, str):
            return f" ({rule_id})"
    return ""
