"""Every JVM class the Python side uses, named once: the operators and UDFs of the job's jar (``streaming/java``,
built by Maven), the Flink plugin the job configures, and the drivers of the test jar that the parity tests run.
A renamed Java class is then one edit here, and ``tests/unit/streaming/test_jvm_names.py`` finds it in the jars."""

from __future__ import annotations

from typing import Any

# The job's jar (streaming/java/src/main).
PROTO_EVENT_TIME = "io.hybridrec.streaming.ProtoEventTime"  # SQL UDF: event time of a serialized event
PROTO_DECODE = "io.hybridrec.streaming.ProtoDecode"  # SQL table function: decode, or a DLQ row
FRESH_FEATURES = "io.hybridrec.streaming.FreshFeatures"  # keyed operator folding the declared aggregations
REDIS_FEATURE_SINK = "io.hybridrec.streaming.RedisFeatureSink"  # Feast-layout writer, retries, checkpointed rows
# Flink's own (flink-metrics-prometheus, in the Flink distribution).
PROMETHEUS_REPORTER = "org.apache.flink.metrics.prometheus.PrometheusReporterFactory"
# The test jar (streaming/java/src/test): drivers the Python parity tests run as plain `java -cp`.
FRESH_FOLD_DRIVER = "io.hybridrec.features.FreshFoldDriver"
PROTO_DECODE_DRIVER = "io.hybridrec.streaming.ProtoDecodeDriver"
REDIS_SINK_DRIVER = "io.hybridrec.streaming.RedisSinkDriver"

JOB_JAR_CLASSES = (PROTO_EVENT_TIME, PROTO_DECODE, FRESH_FEATURES, REDIS_FEATURE_SINK)
TEST_JAR_CLASSES = (FRESH_FOLD_DRIVER, PROTO_DECODE_DRIVER, REDIS_SINK_DRIVER)


def jvm_class(name: str) -> Any:
    """The class ``name`` through the Py4J gateway of this process's PyFlink (the job's jar on its classpath)."""
    from pyflink.java_gateway import get_gateway

    found: Any = get_gateway().jvm
    for part in name.split("."):
        found = getattr(found, part)
    return found
