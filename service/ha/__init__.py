"""High availability on PostgreSQL: replicas of which one leads under a lease (docs/ha.md)."""

from __future__ import annotations

from service.ha.replica import Replica

__all__ = ["Replica"]
