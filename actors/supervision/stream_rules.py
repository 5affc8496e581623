"""Rules, as data, that read an unhealthy streaming supervisor: transient or structural.

They live in the `[supervisor]` section of the failure rules file (`failure_rules.toml`), and
the first rule whose conditions all hold decides, as for task failures. The evidence is what
the Overlord reports (state, detailed state, `recentErrors`) and how long the supervisor has
been in that detailed state, so "cannot connect" can be transient for a minute and
structural after ten. A reading never acts: it is recorded, and a structural one alerts.
"""

from __future__ import annotations

import re
from typing import Annotated

import msgspec

from eventlog.events import Classification

__all__ = ["StreamDecision", "StreamEvidence", "StreamRule", "StreamRuleSet", "classify_stream"]


class StreamEvidence(msgspec.Struct, frozen=True, kw_only=True):
    state: str
    detailed_state: str | None = None
    recent_errors: tuple[str, ...] = ()
    unhealthy_for_s: float = 0.0  # in this detailed state, as the stream recorded it


class StreamRule(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    classification: Classification
    reason: str = ""
    state: list[str] | None = None
    detailed_state: list[str] | None = None
    # Regular expressions searched in each of `recentErrors` ("exceptionClass: message").
    message: list[str] | None = None
    # The detailed state has lasted at least this long.
    min_unhealthy_s: Annotated[float, msgspec.Meta(ge=0)] | None = None

    def match(self, ev: StreamEvidence) -> str | None:
        """None if the rule does not match; else the error line that matched ("" if none)."""
        if self.state is not None and ev.state not in self.state:
            return None
        if self.detailed_state is not None and ev.detailed_state not in self.detailed_state:
            return None
        if self.min_unhealthy_s is not None and ev.unhealthy_for_s < self.min_unhealthy_s:
            return None
        if not self.message:
            return ""
        for text in reversed(ev.recent_errors):  # newest first
            for pattern in self.message:
                if re.search(pattern, text):
                    return text[:300]
        return None


class StreamRuleSet(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    default: Classification = "transient"
    rule: list[StreamRule] = []


class StreamDecision(msgspec.Struct, frozen=True):
    classification: Classification
    rule: str
    reason: str


def classify_stream(evidence: StreamEvidence, rules: StreamRuleSet) -> StreamDecision:
    """The first matching rule's reading, or the rule set's default."""
    where = evidence.detailed_state or evidence.state
    for rule in rules.rule:
        matched = rule.match(evidence)
        if matched is not None:
            reason = rule.reason or rule.name
            detail = matched or f"{where} for {evidence.unhealthy_for_s:.0f}s"
            return StreamDecision(rule.classification, rule.name, f"{reason}: {detail}")
    latest = evidence.recent_errors[-1][:200] if evidence.recent_errors else "no recent error"
    return StreamDecision(rules.default, "default", f"no rule matched: {where}: {latest}")


def bad_patterns(rules: StreamRuleSet) -> list[tuple[str, str, str]]:
    """(rule, pattern, error) for every message pattern that does not compile."""
    bad: list[tuple[str, str, str]] = []
    for rule in rules.rule:
        for pattern in rule.message or []:
            try:
                re.compile(pattern)
            except re.error as exc:
                bad.append((rule.name, pattern, str(exc)))
    return bad
