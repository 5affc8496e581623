"""Failure classification: transient (retry) or structural (stop and alert), by rules as data.

Rules live in a TOML file (the built-in set is `failure_rules.toml` beside this module); the
first rule whose conditions all hold decides, and its name is recorded in the
`FailureClassified` event, so an audit shows which rule made each decision and `audit replay`
can re-run new rules over recorded failures.
"""

from __future__ import annotations

import re
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

import msgspec

from actors.errors import ConfigError
from actors.supervision.stream_rules import StreamRuleSet, bad_patterns
from eventlog.events import Classification

MAX_EXCERPT = 2000


class FailureEvidence(msgspec.Struct, frozen=True, kw_only=True):
    """Everything known about one failure, as recorded in the event log."""

    source: str = "status"
    error_msg: str | None = None
    report: dict[str, Any] | None = None  # the ingestionStatsAndErrors payload
    log_tail: str | None = None
    http_status: int | None = None
    error_code: str | None = None
    deadline: bool = False

    @property
    def report_error(self) -> str | None:
        value = (self.report or {}).get("errorMsg")
        return str(value) if value is not None else None

    @property
    def ingestion_state(self) -> str | None:
        value = (self.report or {}).get("ingestionState")
        return str(value) if value is not None else None

    def row_total(self, counter: str) -> int:
        """Sum of a row counter over every phase, whatever the report's rowStats shape."""
        stats = (self.report or {}).get("rowStats") or {}
        return _sum_counter(stats.get("totals", stats), counter)

    def texts(self) -> list[str]:
        return [t for t in (self.error_msg, self.report_error, self.log_tail) if t]


def _sum_counter(node: Any, counter: str) -> int:
    if not isinstance(node, dict):
        return 0
    if counter in node and isinstance(node[counter], int):
        return int(node[counter])
    return sum(_sum_counter(v, counter) for v in node.values())


class Rule(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    classification: Classification
    reason: str = ""
    source: list[str] | None = None
    deadline: bool | None = None
    http_status: list[int] | None = None
    error_code: list[str] | None = None
    ingestion_state: list[str] | None = None
    message: list[str] | None = None
    min_unparseable: int | None = None
    min_processed_with_error: int | None = None
    # False: a retry after this failure does not use up one of the job's attempts (the task
    # was lost to the cluster, not failed by its own doing), up to the job policy's
    # `max_uncounted_failures`; like a Kubernetes podFailurePolicy rule with `Ignore`.
    count_attempt: bool = True

    def match(self, ev: FailureEvidence) -> str | None:
        """None if the rule does not match; else the line that matched ("" if no pattern)."""
        if self.source is not None and ev.source not in self.source:
            return None
        if self.deadline is not None and ev.deadline != self.deadline:
            return None
        if self.http_status is not None and ev.http_status not in self.http_status:
            return None
        if self.error_code is not None and ev.error_code not in self.error_code:
            return None
        if self.ingestion_state is not None and ev.ingestion_state not in self.ingestion_state:
            return None
        if self.min_unparseable is not None and ev.row_total("unparseable") < self.min_unparseable:
            return None
        if (
            self.min_processed_with_error is not None
            and ev.row_total("processedWithError") < self.min_processed_with_error
        ):
            return None
        if not self.message:
            return ""
        for text in ev.texts():
            for source in self.message:
                found = _pattern(source).search(text)
                if found:
                    start = text.rfind("\n", 0, found.start()) + 1
                    end = text.find("\n", found.end())
                    return text[start : end if end != -1 else None].strip()[:300]
        return None


@lru_cache(maxsize=512)
def _pattern(source: str) -> re.Pattern[str]:
    return re.compile(source, re.MULTILINE)


class RuleSet(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    default: Classification = "transient"
    rule: list[Rule] = []
    # The `[supervisor]` section: readings of unhealthy streaming supervisors.
    supervisor: StreamRuleSet = StreamRuleSet()


class Decision(msgspec.Struct, frozen=True):
    classification: Classification
    rule: str
    reason: str
    count_attempt: bool = True


def classify(evidence: FailureEvidence, rules: RuleSet) -> Decision:
    """The first matching rule's decision, or the rule set's default."""
    for rule in rules.rule:
        matched = rule.match(evidence)
        if matched is not None:
            detail = matched or _first_line(evidence)
            reason = rule.reason or rule.name
            return Decision(
                rule.classification,
                rule.name,
                f"{reason}: {detail}" if detail else reason,
                rule.count_attempt,
            )
    detail = _first_line(evidence) or "no error message"
    return Decision(rules.default, "default", f"no rule matched: {detail}")


def _first_line(ev: FailureEvidence) -> str:
    for text in ev.texts():
        line = text.strip().splitlines()[0] if text.strip() else ""
        if line:
            return line[:200]
    return ""


def load_rules(path: str | Path | None = None) -> RuleSet:
    """Decode a rules file (the built-in set when `path` is None), checking every regex."""
    source = Path(path) if path is not None else Path(__file__).with_name("failure_rules.toml")
    try:
        data = tomllib.loads(source.read_text())
        rules = msgspec.convert(data, RuleSet)
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read failure rules: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from exc
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {exc}") from exc
    for rule in rules.rule:
        for pattern in rule.message or []:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(
                    f"{source}: rule {rule.name!r}: bad regular expression {pattern!r}: {exc}"
                ) from exc
    if "supervisor" not in data and path is not None:
        # A rules file written for task failures alone keeps the built-in supervisor rules:
        # it should not silence every structural reading of a stream.
        rules = msgspec.structs.replace(rules, supervisor=load_rules().supervisor)
    for name, pattern, error in bad_patterns(rules.supervisor):
        raise ConfigError(
            f"{source}: supervisor rule {name!r}: bad regular expression {pattern!r}: {error}"
        )
    return rules


def report_excerpt(ev: FailureEvidence) -> dict[str, Any]:
    """What we keep of the evidence: Druid purges reports and logs, our audit must not care."""
    excerpt: dict[str, Any] = {"source": ev.source}
    if ev.error_msg:
        excerpt["status_error"] = ev.error_msg[:MAX_EXCERPT]
    if ev.report is not None:
        excerpt["ingestion_state"] = ev.ingestion_state
        if ev.report_error:
            excerpt["report_error"] = ev.report_error[:MAX_EXCERPT]
        excerpt["unparseable"] = ev.row_total("unparseable")
        excerpt["processed_with_error"] = ev.row_total("processedWithError")
        excerpt["processed"] = ev.row_total("processed")
    if ev.log_tail:
        excerpt["log_tail"] = ev.log_tail[-MAX_EXCERPT:]
    if ev.http_status is not None:
        excerpt["http_status"] = ev.http_status
    if ev.error_code:
        excerpt["error_code"] = ev.error_code
    if ev.deadline:
        excerpt["deadline"] = True
    return excerpt


def evidence_from_excerpt(excerpt: dict[str, Any]) -> FailureEvidence:
    """Rebuild evidence from a recorded excerpt (for `audit replay` with new rules)."""
    report: dict[str, Any] | None = None
    if "ingestion_state" in excerpt:
        report = {
            "ingestionState": excerpt.get("ingestion_state"),
            "errorMsg": excerpt.get("report_error"),
            "rowStats": {
                "totals": {
                    "all": {
                        "unparseable": excerpt.get("unparseable", 0),
                        "processedWithError": excerpt.get("processed_with_error", 0),
                        "processed": excerpt.get("processed", 0),
                    }
                }
            },
        }
    return FailureEvidence(
        source=str(excerpt.get("source", "status")),
        error_msg=excerpt.get("status_error"),
        report=report,
        log_tail=excerpt.get("log_tail"),
        http_status=excerpt.get("http_status"),
        error_code=excerpt.get("error_code"),
        deadline=bool(excerpt.get("deadline", False)),
    )
