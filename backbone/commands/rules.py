"""``backbone rules``: validate an alert rule pack, and backtest it over recorded events.

``backbone rules test [RULES.yaml] --replay EVENTS.jsonl`` shows what a pack would have
raised, for whom and when, so that a threshold is tuned on history before it goes live. It
takes the agents' own path, offline: each event's person through an in-memory matcher (as
the identity agent resolves it), then :func:`streams.rules.replay_alerts`.

The events file is JSON Lines: one agency event per line as the HTTP API takes it, plus
``kind`` (``contact``, ``referral``, ...), in the order the events arrived; blank lines are
skipped. Each line is validated by its kind's contract, as at ingest, and every bad line is
reported at once, by line number and field. An ``event_id`` seen before is a repeat, taken
once, if the body is the same, and an error otherwise.

The matcher's secret is a hash of the events file: the same file gives the same person keys,
hence the same alert ids, run after run (so two packs' alerts can be compared by id), and
nobody without the file can check a key against an identifier. These are not the
installation's person keys.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Final, NoReturn
from uuid import UUID

import typer
from rich.console import Console
from rich.text import Text

from connectors.errors import FieldError, InvalidEventError
from connectors.validation import parse_event
from schemas.errors import BackboneError
from schemas.models import AgencyEvent, Alert, ErasureRequest, PersonEvent
from schemas.topics import EventKind
from streams.agents.identity import identity_record
from streams.identity import Matcher
from streams.rules import (
    Rule,
    RulePack,
    RulePackError,
    default_rule_pack,
    load_rule_pack,
    replay_alerts,
)

app = typer.Typer(
    help="Alert rule packs: validate one, or backtest it over recorded events.",
    no_args_is_help=True,
)
console = Console()
errors = Console(stderr=True)

#: What RULES.yaml may also be, like omitting it: the pack shipped with the backbone.
DEFAULT: Final = "default"
_KINDS: Final = {kind.value: kind for kind in EventKind}
_BOM: Final = b"\xef\xbb\xbf"

RulesArgument = Annotated[
    str | None,
    typer.Argument(
        metavar="RULES.yaml",
        help=f"The rule pack; omitted or '{DEFAULT}': the pack shipped with the backbone.",
        show_default=False,
    ),
]


class EventsFileError(BackboneError):
    """An events file with bad lines; ``problems`` names each line and field."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("invalid events:\n" + "\n".join(f"  {p}" for p in problems))
        self.problems = tuple(problems)


def _instant(value: str) -> datetime:
    """An ISO time with its offset: event times are instants, so a naive one is ambiguous."""
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter("expected an ISO time such as 2024-07-01T09:00Z") from None
    if at.tzinfo is None:
        raise typer.BadParameter("give the offset too, such as 2024-07-01T09:00Z or +01:00")
    return at


@app.command()
def check(rules: RulesArgument = None) -> None:
    """Validate a rule pack, naming every problem by rule and key; exit 1 if any."""
    pack = _pack(rules)
    ids = ", ".join(rule.id for rule in pack.rules)
    console.print(Text(f"rule pack {rules or DEFAULT}: valid, {len(pack.rules)} rules ({ids})"))


@app.command("test")
def backtest(
    replay: Annotated[
        Path,
        typer.Option(
            metavar="EVENTS.jsonl",
            help="Recorded agency events, one JSON object per line with its 'kind' "
            "(contact, referral, ...), in arrival order.",
            show_default=False,
        ),
    ],
    rules: RulesArgument = None,
    until: Annotated[
        datetime | None,
        typer.Option(
            parser=_instant,
            metavar="TIME",
            help="Advance the event-time clock to this ISO time (with its offset) at the end. "
            "Default: the last event's time plus the pack's longest silence and its allowed "
            "lateness, so that every absence the events can show is judged.",
            show_default=False,
        ),
    ] = None,
    coordinator: Annotated[
        list[str] | None,
        typer.Option(
            metavar="PLACE=TEAM",
            help="A place's coordinator team, for place alerts and persons without teams "
            "(repeatable).",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the alerts as JSON, per rule.")
    ] = False,
) -> None:
    """Backtest a rule pack: the alerts it would have raised over recorded events.

    Runs the agents' code offline and prints, per rule, each alert's subject (person key or
    place id), when, severity, teams and explanation. Person keys come from a secret hashed
    from the events file: the same file gives the same keys and alert ids every run. Exit 1
    for an invalid pack or events file.
    """
    coordinators = _coordinators(coordinator or [])
    pack = _pack(rules)
    try:
        content = replay.read_bytes()
        events = parse_events(content, now=datetime.now(UTC))
    except OSError as exc:
        _fail(f"cannot read {replay}: {exc.strerror}")
    except EventsFileError as exc:
        _fail(f"{replay}: invalid events", exc.problems)
    last = max((event.occurred_at for event in events), default=None)
    if until is not None and last is not None and until < last:
        raise typer.BadParameter(
            f"before the last event ({_time(last)}): the event-time clock never goes back",
            param_hint="--until",
        )
    person_events = resolve_persons(events, hashlib.sha256(content).digest())
    end = until or default_until(last, pack)
    alerts = replay_alerts(person_events, pack, until=end, coordinators=coordinators)
    summary = _Summary(
        pack=rules or DEFAULT,
        events=len(events),
        persons=len({event.person_key for event in person_events}),
        until=end,
    )
    if as_json:
        typer.echo(json.dumps(_as_json(summary, pack, alerts), indent=2))
    else:
        _print(summary, pack, alerts)


@dataclass(frozen=True)
class _Summary:
    """What a backtest ran over: the pack, the events, and where the clock ended."""

    pack: str
    events: int
    persons: int
    until: datetime | None


def parse_events(content: bytes, *, now: datetime) -> list[AgencyEvent]:
    """The events of a JSON Lines file in file order, each validated as the ingest does.

    Raises :class:`EventsFileError` naming every bad line and field (never a value).
    """
    events: list[AgencyEvent] = []
    problems: list[str] = []
    first: dict[UUID, tuple[int, AgencyEvent]] = {}
    for number, line in enumerate(content.removeprefix(_BOM).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            event = _event(line, now)
        except InvalidEventError as exc:
            problems.extend(f"line {number}: {error.loc}: {error.msg}" for error in exc.errors)
            continue
        seen, earlier = first.setdefault(event.event_id, (number, event))
        if earlier is event:
            events.append(event)
        elif earlier != event:
            problems.append(f"line {number}: event_id: that of line {seen}, with another body")
    if problems:
        raise EventsFileError(problems)
    return events


def _event(line: bytes, now: datetime) -> AgencyEvent:
    try:
        body = json.loads(line)
    except ValueError:
        raise InvalidEventError([FieldError("(line)", "not valid JSON")]) from None
    if not isinstance(body, dict):
        raise InvalidEventError([FieldError("(line)", "not a JSON object")])
    kind = body.pop("kind", None)
    if not isinstance(kind, str) or kind not in _KINDS:
        raise InvalidEventError([FieldError("kind", f"expected one of {', '.join(_KINDS)}")])
    return parse_event(_KINDS[kind], body, now=now)


def resolve_persons(events: Iterable[AgencyEvent], secret: bytes) -> list[PersonEvent]:
    """Each event for its person, as the identity agent resolves it; an erasure makes the
    matcher forget the person, and one naming a link nobody had goes no further."""
    matcher = Matcher(secret)
    resolved: list[PersonEvent] = []
    for event in events:
        if isinstance(event, ErasureRequest):
            key = matcher.person_key((event.agency, event.person.local_id))
            if key is None:
                continue
            matcher.forget(key)
        else:
            key = matcher.resolve(identity_record(event)).person_key
        resolved.append(PersonEvent.of(key, event))
    return resolved


def default_until(last: datetime | None, pack: RulePack) -> datetime | None:
    """When the clock has passed every deadline events up to ``last`` can set: ``last`` plus
    the pack's longest silence and its allowed lateness (None without events)."""
    if last is None:
        return None
    silences = (rule.silence.quiet_for for rule in pack.rules if rule.silence is not None)
    return last + max(silences, default=timedelta(0)) + pack.allowed_lateness


def _coordinators(pairs: list[str]) -> dict[str, str]:
    coordinators: dict[str, str] = {}
    for pair in pairs:
        place, _, team = pair.partition("=")
        if not place or not team:
            raise typer.BadParameter(
                f"expected PLACE=TEAM, got {pair!r}", param_hint="--coordinator"
            )
        if place in coordinators:
            raise typer.BadParameter(f"place {place!r} given twice", param_hint="--coordinator")
        coordinators[place] = team
    return coordinators


def _pack(rules: str | None) -> RulePack:
    """The pack ``rules`` names; exits 1 naming every problem."""
    if rules is None or rules == DEFAULT:
        return default_rule_pack()
    path = Path(rules)
    try:
        return load_rule_pack(path)
    except OSError as exc:
        _fail(f"cannot read {path}: {exc.strerror}")
    except RulePackError as exc:
        _fail(f"{path}: invalid rule pack", exc.problems)


def _fail(headline: str, problems: Sequence[str] = ()) -> NoReturn:
    errors.print(Text(headline, style="red"))
    for problem in problems:
        errors.print(Text(f"  {problem}"))
    raise typer.Exit(1)


def _by_rule(pack: RulePack, alerts: Sequence[Alert]) -> list[tuple[Rule, list[Alert]]]:
    """Every rule of the pack, in pack order, with the alerts it raised in the order raised."""
    return [(rule, [alert for alert in alerts if alert.rule_id == rule.id]) for rule in pack.rules]


def _print(summary: _Summary, pack: RulePack, alerts: Sequence[Alert]) -> None:
    clock = "" if summary.until is None else f", clock advanced to {_time(summary.until)}"
    console.print(
        Text(
            f"rule pack {summary.pack} over {_many(summary.events, 'event')} "
            f"({_many(summary.persons, 'person')}){clock}: {_many(len(alerts), 'alert')}"
        )
    )
    for rule, raised in _by_rule(pack, alerts):
        console.print()
        console.print(Text(f"{rule.id} ({rule.severity}): {_many(len(raised), 'alert')}", "bold"))
        for alert in raised:
            teams = ", ".join(alert.teams) or "no team"
            console.print(
                Text.assemble(
                    "  ",
                    (alert.subject, "cyan"),
                    f"  {_time(alert.raised_at)}  {alert.severity}  to ",
                    (teams, "magenta" if alert.teams else "red"),
                )
            )
            console.print(Text(f"    {alert.explanation}"))


def _as_json(summary: _Summary, pack: RulePack, alerts: Sequence[Alert]) -> dict[str, Any]:
    return {
        "pack": summary.pack,
        "events": summary.events,
        "persons": summary.persons,
        "until": None if summary.until is None else summary.until.isoformat(),
        "rules": [
            {
                "rule_id": rule.id,
                "severity": rule.severity.value,
                "alerts": [alert.model_dump(mode="json") for alert in raised],
            }
            for rule, raised in _by_rule(pack, alerts)
        ],
    }


def _time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _many(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
