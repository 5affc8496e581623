"""What the control API puts around its routes: the request guard (origin, host, content
type, bounds), the OpenAPI document and the Unix socket. The routes are in `service.api`."""

__all__: list[str] = []
