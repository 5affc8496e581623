"""The leader's Overlord client, refusing every call once its lease may have run out.

The event log's fence refuses a deposed leader's appends; this refuses its Overlord calls,
reads included, on the process's own monotonic clock (which runs on through a SIGSTOP), so
a leader that wakes after its lease sends nothing before it has stepped down.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from typing import Any

from overlord.errors import OverlordUnavailableError


class FencedOverlord:
    """Delegates to `inner` while `leading()` holds; raises `OverlordUnavailableError` else."""

    def __init__(self, inner: Any, leading: Callable[[], bool]) -> None:
        self._inner = inner
        self._leading = leading

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if not inspect.iscoroutinefunction(value):
            return value

        @functools.wraps(value)
        async def guarded(*args: Any, **kwargs: Any) -> Any:
            if not self._leading():
                raise OverlordUnavailableError(
                    f"not sent ({name}): this replica's lease may have expired "
                    f"(at {time.monotonic():.1f}); it is stepping down to standby"
                )
            return await value(*args, **kwargs)

        return guarded
