"""Alerts from findings: a deterministic id, so that a replay raises the same alert again
rather than a second one, and feeds can drop what they already have."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from hashlib import sha256

from schemas.models import Alert, AlertEvidence, AlertSubjectKind
from streams.rules.conditions import Finding
from streams.rules.pack import Rule


def alert_id(rule_id: str, subject: str, event_ids: Iterable[str]) -> str:
    """A hash of the rule, the subject and the triggering events (in any order)."""
    parts = (rule_id, subject, *sorted(set(event_ids)))
    return sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def make_alert(
    rule: Rule,
    subject_kind: AlertSubjectKind,
    subject: str,
    finding: Finding,
    *,
    teams: list[str],
    raised_at: datetime,
) -> Alert:
    """The alert ``rule`` raises about ``subject`` on ``finding``."""
    return Alert(
        alert_id=alert_id(rule.id, subject, finding.event_ids),
        rule_id=rule.id,
        subject_kind=subject_kind,
        subject=subject,
        severity=rule.severity,
        teams=teams,
        explanation=finding.explanation,
        evidence=AlertEvidence(
            event_ids=list(finding.event_ids),
            counts=finding.counts,
            window_start=finding.window_start,
            window_end=finding.window_end,
        ),
        raised_at=raised_at,
    )
