"""The coverage calendar, drawn from views: a cell per chunk, the best news of its jobs."""

from __future__ import annotations

from datetime import UTC, datetime

from actors.job.view import JobView
from service.cli.calendar import build_cells, chunk_of, render


def day_of(month: int, day: int) -> str:
    return f"2024-{month:02d}-{day:02d}T00:00:00.000Z"


def view(day: int, phase: str, month: int = 1) -> JobView:
    return JobView(
        job_id=f"j{month}-{day}-{phase}",
        phase=phase,  # type: ignore[arg-type]
        datasource="d",
        interval=f"{day_of(month, day)}/{day_of(month, day + 1)}",
        attempt=1,
        task_id=None,
        terminal=phase in ("succeeded", "dead", "cancelled"),
    )


def test_a_month_a_line_with_gaps_as_dots_and_the_best_news_per_chunk() -> None:
    views = [
        view(1, "succeeded"),
        view(2, "dead"),
        view(2, "succeeded"),  # re-run under another spec: the chunk has its data
        view(3, "dead"),
        view(4, "retry_wait"),
        view(5, "running"),
        view(6, "cancelled"),
        view(1, "succeeded", month=2),
    ]
    start, end = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 3, tzinfo=UTC)
    chunk = chunk_of(views)
    assert chunk == "DAY"
    cells = build_cells(views, start, end, chunk)
    assert len(cells) == 33
    assert cells[1].jobs == ["j1-2-dead", "j1-2-succeeded"]
    lines = render(cells, chunk, colour=False)
    assert lines[0] == "2024-01  SSDFLC" + "." * 25
    assert lines[1] == "2024-02  S."
    assert lines[-1] == (
        "3 succeeded, 1 live, 1 failed, will retry, 1 dead, 1 cancelled, 26 never submitted"
    )
    coloured = render(cells, chunk, colour=True)
    assert "\x1b[31;1mD\x1b[0m" in coloured[0]
    assert "\x1b[" not in "".join(lines)


def test_chunks_that_are_not_days_go_in_rows_labelled_by_their_start() -> None:
    hourly = [
        JobView(
            job_id=f"h{h}",
            phase="succeeded",
            datasource="d",
            interval=f"2024-01-01T{h:02d}:00:00.000Z/2024-01-01T{h + 1:02d}:00:00.000Z",
            attempt=1,
            task_id=None,
            terminal=True,
        )
        for h in range(0, 23, 2)
    ]
    chunk = chunk_of(hourly)
    assert chunk == "HOUR"
    cells = build_cells(
        hourly, datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC), chunk
    )
    lines = render(cells, chunk, colour=False)
    assert lines[0] == "2024-01-01T00:00:00.000Z  " + "S." * 12
