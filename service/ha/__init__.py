"""High availability on PostgreSQL: replicas of which one leads under a lease (docs/ha.md).

`Replica` loads on first use (PEP 562): `service.config` checks the HA keys with
`service.ha.settings`, and must not load the replica (which imports the configuration).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from service.ha.replica import Replica


def __getattr__(name: str) -> Any:
    if name != "Replica":
        raise AttributeError(f"module 'service.ha' has no attribute {name!r}")
    from service.ha.replica import Replica

    globals()[name] = Replica
    return Replica


__all__ = ["Replica"]
