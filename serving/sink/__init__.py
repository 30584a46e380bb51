"""Where served slates go: one interface (:class:`serving.sink.base.ImpressionSink`), one backend per file."""
