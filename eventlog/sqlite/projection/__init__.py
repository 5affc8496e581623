"""The job-summary projection of the SQLite log: its table, the writer's upsert, the queries.

`schema` is what the writer and the migrations need (and all the writer process imports);
`queries` runs on the readers' connection and on offline connections alike.
"""

from __future__ import annotations

__all__: list[str] = []
