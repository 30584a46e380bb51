"""The gRPC ranker (issue 6): answers homepage calls from fresh and batch features and the promoted model."""

# prometheus_client picks how it stores metric values when ``prometheus_client.values`` is first imported, and
# importing feast (its protobuf types are read here) first sets PROMETHEUS_MULTIPROC_DIR for its own Gunicorn
# workers: every counter of the ranker would then be an mmap write behind a pid check. Each ranker worker has
# its own metrics port, so plain in-process values are what it needs; importing the package first settles it.
import prometheus_client.values  # noqa: F401
