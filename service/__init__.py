"""How people drive it: the `druid-orch` CLI, the daemon and its control API, configuration,
metrics, logging setup and the demo. Depends on `actors`; nothing depends on it."""

__all__: list[str] = []
