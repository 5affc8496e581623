"""What the control API puts in front of its routes: the request guard (origin, host,
content type, bounds) and the OpenAPI document. The routes themselves are in `service.api`."""

__all__: list[str] = []
