"""The shapes of Druid's documents: msgspec models of ingestion tasks and supervisors
(dataSchema, input sources and formats, aggregators, filters, tuning, partitioning), the
cross-field rules Druid checks at submission, and the passthrough for extension types.
`specs.model` is the public face of this room."""

__all__: list[str] = []
