"""Pure parts of the client and simulator: URL credentials, the retry decision, report
shapes, worker slots, status truncation, and streaming durations."""

from __future__ import annotations

import pytest

from overlord.auth import BasicAuth
from overlord.endpoints import LEADER, STATUS, SUBMIT, Endpoint
from overlord.errors import (
    OverlordError,
    OverlordProtocolError,
    OverlordRejectedError,
    OverlordUnavailableError,
)
from overlord.models import IngestionPayload, TaskLocation, Worker, WorkerInfo
from overlord.sim.catalog import FAILURE_KINDS, stack_trace, status_error, truncate_error
from overlord.sim.periods import standard_seconds
from overlord.transport import RequestRetryPolicy, Transport, split_credentials


def test_credentials_in_a_url_move_into_basic_auth() -> None:
    url, auth = split_credentials("https://druid:s3cret@router.example.com:8888/")
    assert url == "https://router.example.com:8888"
    assert isinstance(auth, BasicAuth)
    assert auth.user == "druid"
    assert "s3cret" not in repr(auth)
    assert split_credentials("http://o:8090") == ("http://o:8090", None)


def transport(attempts: int = 4) -> Transport:
    return Transport(
        "http://o",
        coordinator_url=None,
        auth=None,
        timeout_s=1,
        verify_tls=True,
        ca_bundle=None,
        retry=RequestRetryPolicy(attempts=attempts),
        session=None,
        max_connections=1,
        rng=None,
    )


@pytest.mark.parametrize(
    ("endpoint", "error", "attempt", "retried"),
    [
        (STATUS, OverlordUnavailableError("x", maybe_applied=True), 0, True),
        (STATUS, OverlordUnavailableError("x"), 3, False),  # out of attempts
        (STATUS, OverlordRejectedError("x"), 0, False),
        (SUBMIT, OverlordUnavailableError("x", maybe_applied=True), 0, False),
        (SUBMIT, OverlordUnavailableError("x", status=503), 0, True),
        (STATUS, OverlordProtocolError("x", status=200), 0, False),  # a bad body stays bad
        (STATUS, OverlordProtocolError("x", status=502), 0, True),
        (LEADER, OverlordUnavailableError("x"), 1, True),
    ],
)
async def test_the_retry_decision(
    endpoint: Endpoint, error: OverlordError, attempt: int, retried: bool
) -> None:
    t = transport()
    assert t._may_retry(endpoint, error, attempt) is retried
    await t.close()


def test_phase_totals_read_all_three_row_stats_shapes() -> None:
    totals = {"processed": 5, "unparseable": 1}
    sequential = IngestionPayload(
        "COMPLETED", row_stats={"determinePartitions": totals, "buildSegments": totals}
    )
    parallel = IngestionPayload("COMPLETED", row_stats={"totals": {"buildSegments": totals}})
    live = IngestionPayload(
        "BUILD_SEGMENTS",
        row_stats={
            "movingAverages": {"buildSegments": {"1m": {}}},
            "totals": {"buildSegments": totals},
        },
    )
    assert set(sequential.phase_totals()) == {"determinePartitions", "buildSegments"}
    assert parallel.phase_totals()["buildSegments"].processed == 5
    assert live.phase_totals()["buildSegments"].unparseable == 1


def test_free_slots_ignore_disabled_and_blacklisted_workers() -> None:
    worker = Worker(host="mm:8091", capacity=4)
    assert WorkerInfo(worker=worker, curr_capacity_used=1).free_slots == 3
    disabled = Worker(host="mm:8091", capacity=4, disabled=True)
    assert WorkerInfo(worker=disabled, curr_capacity_used=0).free_slots == 0
    blacklisted = WorkerInfo(worker=worker, curr_capacity_used=0, blacklisted_until="2030-01-01")
    assert blacklisted.free_slots == 0
    assert TaskLocation(host="h", port=-1, tls_port=8101).describe() == "h:8101"


def test_long_status_errors_keep_their_first_and_last_512_characters() -> None:
    trace = stack_trace("java.lang.RuntimeException: boom")
    assert len(trace) > 1024
    cut = truncate_error(trace)
    omitted = len(trace) - 1024
    assert cut == f"{trace[:512]}...{omitted} characters omitted...{trace[-512:]}"
    assert truncate_error("short") == "short"
    assert status_error(FAILURE_KINDS["lost_worker"], parallel=False).startswith("The worker")
    assert status_error(FAILURE_KINDS["s3_throttle"], parallel=True).startswith("Failed in phase")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("PT1H", 3600), ("PT30M", 1800), ("PT0.5S", 0.5), ("PT1H2M3S", 3723), ("P1D", 86400)],
)
def test_task_durations_are_read_from_iso_periods(text: str, seconds: float) -> None:
    assert standard_seconds(text) == seconds


def test_a_period_of_months_has_no_fixed_length_and_is_refused() -> None:
    # Joda's toStandardDuration, which Druid applies to taskDuration, refuses months.
    with pytest.raises(ValueError, match="P1M"):
        standard_seconds("P1M")
