"""The Overlord simulator: a real `aiohttp.web.Application` that answers as Druid does.

`Simulator` with `SimConfig`, `ClusterConfig` and `Faults`, served by `serve()` or
`druid-orch sim`; scenario files in `overlord/sim/scenarios/`. The cluster model (tasks,
locks, slots, supervisors) is in the modules named for them; the HTTP surface in
`server`, `http_tasks`, `http_cluster` and `supervisors`.
"""

from overlord.sim.faults import Faults
from overlord.sim.server import SimConfig, Simulator, serve
from overlord.sim.tasks import ClusterConfig

__all__ = ["ClusterConfig", "Faults", "SimConfig", "Simulator", "serve"]
