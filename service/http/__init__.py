"""The control API's HTTP pieces. The routes by resource: `jobs`, `datasources`, `reconcile`,
`supervisors`. What surrounds them: the request guard (origin, host, content type, bounds),
the error middleware, the JSON answers, the probes, the OpenAPI document and the Unix socket.
The application that assembles them is `service.api`."""

__all__: list[str] = []
