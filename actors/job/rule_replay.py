"""`audit replay`: what would new failure rules have decided about the failures we recorded?

Each `FailureClassified` event keeps the evidence that decided it (the report excerpt: status
error, report error, row counts, log tail, HTTP status), so the evidence can be rebuilt
(`evidence_from_excerpt`) and classified again with a candidate rule set, before it is
deployed. The retry policy is re-run too: a transient failure is retried while attempts are
left (the job's recorded `max_attempts`, or `--max-attempts`; failures of rules with
`count_attempt = false` use none, up to `max_uncounted` per job), a structural one never is.
Every failure whose classification, rule or decision would change is reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal

import msgspec
from msgspec.structs import replace

from actors.errors import InvalidTransitionError
from actors.job.actor import JobPolicy
from actors.job.audit import JOB_PREFIX, recorded_events, unreplayable
from actors.job.evolve import evolve
from actors.job.fsm import decide
from actors.job.messages import RecordAnalysis
from actors.job.state import JobState
from actors.supervision.classification import RuleSet, classify, evidence_from_excerpt
from eventlog.events import FailureClassified, JobDied, RetryScheduled
from eventlog.records import Recorded

Decision = Literal["retry", "dead", "none"]


class Outcome(msgspec.Struct, frozen=True):
    classification: str
    rule: str
    decision: Decision


class Difference(msgspec.Struct, frozen=True, kw_only=True):
    job_id: str
    task_id: str
    attempt: int
    at: float
    recorded: Outcome
    replayed: Outcome
    reason: str  # the new rule's reason, with the evidence's first line

    @property
    def decision_changed(self) -> bool:
        return self.recorded.decision != self.replayed.decision


class ReplayReport(msgspec.Struct, frozen=True, kw_only=True):
    failures: int
    differences: list[Difference]

    @property
    def changed_decisions(self) -> int:
        return sum(1 for d in self.differences if d.decision_changed)


def _decision(events: Iterable[object]) -> Decision:
    """The decision among the events that follow a classification."""
    for event in events:
        if isinstance(event, RetryScheduled):
            return "retry"
        if isinstance(event, JobDied):
            return "dead"
    return "none"


def replay_failures(
    db: str | Path,
    rules: RuleSet,
    *,
    max_attempts: int | None = None,
    max_uncounted: int = JobPolicy().max_uncounted_failures,
) -> ReplayReport:
    """Classify every recorded failure again with `rules`; list what would change."""
    streams: dict[str, list[Recorded]] = {}
    for recorded in recorded_events(db):
        if recorded.stream_id.startswith(JOB_PREFIX):
            streams.setdefault(recorded.stream_id, []).append(recorded)
    failures = 0
    differences: list[Difference] = []
    for sid, history in streams.items():
        for difference in _stream_differences(
            sid, history, rules, max_attempts, max_uncounted, db=db
        ):
            failures += 1
            if difference is not None:
                differences.append(difference)
    differences.sort(key=lambda d: d.at)
    return ReplayReport(failures=failures, differences=differences)


def _stream_differences(
    sid: str,
    history: list[Recorded],
    rules: RuleSet,
    max_attempts: int | None,
    max_uncounted: int = JobPolicy().max_uncounted_failures,
    *,
    db: str | Path = "the event log",
) -> Iterator[Difference | None]:
    """One item per recorded failure: its difference, or None when nothing would change."""
    state = JobState()
    for index, recorded in enumerate(history):
        event = recorded.event
        if isinstance(event, FailureClassified):
            limit = max_attempts if max_attempts is not None else state.max_attempts
            excerpt = event.report_excerpt or {"source": event.evidence_source}
            new = classify(evidence_from_excerpt(excerpt), rules)
            old = Outcome(
                event.classification, event.rule, _decision(r.event for r in history[index + 1 :])
            )
            # The FSM itself decides, on the recorded state with the what-if limit.
            decided = decide(
                replace(state, max_attempts=limit),
                RecordAnalysis(
                    at=event.at,
                    task_id=event.task_id,
                    classification=new.classification,
                    rule=new.rule,
                    reason=new.reason,
                    count_attempt=new.count_attempt,
                    max_uncounted=max_uncounted,
                ),
            )
            replayed = Outcome(new.classification, new.rule, _decision(decided))
            if old == replayed:
                yield None
            else:
                yield Difference(
                    job_id=sid.removeprefix(JOB_PREFIX),
                    task_id=event.task_id,
                    attempt=state.attempt,
                    at=event.at,
                    recorded=old,
                    replayed=replayed,
                    reason=new.reason,
                )
        try:
            state = evolve(state, event)
        except InvalidTransitionError as exc:
            raise unreplayable(db, recorded, exc) from exc
