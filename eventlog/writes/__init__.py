"""What both backends' writers share: the items an append becomes and the outcomes it gets
(`items`), the pure planning of a batch with its chain hashes and concurrency checks
(`plan`), and the job-summary row as the writers store it (`summary_rows`)."""

from __future__ import annotations

__all__: list[str] = []
