"""The base of every event, shared by the modules that define them (`eventlog.events`,
`eventlog.supervisor_events`)."""

from __future__ import annotations

from typing import Literal

import msgspec

Classification = Literal["transient", "structural"]


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Base of every event. `at` is wall-clock seconds from the writer's injected clock."""

    at: float
