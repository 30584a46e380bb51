# hybridrec: every service and dependency is installed and started from here; nothing is assumed present.
# `make demo` and `make test` are the two entry points; the rest are their steps.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.9
DEPS := .deps
PROTOS := $(wildcard protos/hybridrec_pb/*.proto)
PB_STAMP := hybridrec_pb/.stamp
VENV_STAMP := $(VENV)/.stamp
JARS_STAMP := $(DEPS)/.jars-stamp
PYTEST_ARGS ?=

.PHONY: help install venv proto jars redis-server up down status topics test test-fast unit lint demo bench bench-replay bench-soak clean

help:
	@echo "make demo     install, start everything, run the whole lambda loop on ml-latest-small, write a report"
	@echo "make test     install what is needed, start the services, run lint and the whole test suite"
	@echo "make test-fast  the same without the tests marked slow or chaos (pytest -m \"not slow and not chaos\")"
	@echo "make install  venv + generated protobuf code + Kafka/Flink jars (Maven Central) + redis-server (Debian)"
	@echo "make up|down|status   start / stop / inspect the local Kafka broker (KRaft) and Redis"
	@echo "make kafka-cluster[-down|-status]   a three-broker KRaft cluster on loopback (replication factor 3)"
	@echo "make chaos    kill -9 each part under load; prints the table of docs/reliability.md"
	@echo "make bench    benchmarks; figures go to docs/benchmarks.md"

install: $(VENV_STAMP) $(PB_STAMP) $(JARS_STAMP) redis-server stream-jar

$(VENV_STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(VENV)/bin/uv pip install --python $(PY) --quiet -e '.[dev]' --config-settings editable_mode=compat
	@# the numba kernels compiled once into __pycache__ (≈ 8 s), not at a server's first start
	$(PY) -c "import hybridrec.neighbours, hybridrec.sequence, hybridrec.diversity, serving.logic.filters"
	@touch $@

$(PB_STAMP): $(PROTOS) $(VENV_STAMP)
	@mkdir -p hybridrec_pb
	$(PY) -m grpc_tools.protoc -I protos --python_out=. --pyi_out=. --grpc_python_out=. $(PROTOS)
	@touch hybridrec_pb/__init__.py $@

proto: $(PB_STAMP)

$(JARS_STAMP): deploy/pom.xml
	@command -v java >/dev/null || { echo "error: Java 17+ is needed for Kafka and Flink: apt-get install openjdk-17-jdk" >&2; exit 1; }
	@command -v mvn >/dev/null || { echo "error: Maven is needed to fetch the Kafka and Flink jars: apt-get install maven" >&2; exit 1; }
	rm -rf $(DEPS).new
	cd deploy && mvn --batch-mode --quiet package -Ddeps.dir=$(CURDIR)/$(DEPS).new && rm -rf target
	@# Swap whole directories so a running broker keeps its (open) jars and no stale version lingers.
	@mkdir -p $(DEPS) && for d in $(DEPS).new/*; do n=$$(basename $$d); rm -rf $(DEPS)/$$n; mv $$d $(DEPS)/$$n; done
	@rm -rf $(DEPS).new && touch $@

jars: $(JARS_STAMP)

redis-server:
	@command -v redis-server >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian's redis-server"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null); \
	  else echo "error: redis-server missing: run 'sudo apt-get install redis-server'" >&2; exit 1; fi; }

up: install
	$(PY) deploy/local_services.py up
	$(VENV)/bin/hybridrec topics create

down:
	@if [ -x $(PY) ]; then $(PY) deploy/local_services.py down; else echo "nothing to stop (no venv)"; fi

status:
	@$(PY) deploy/local_services.py status

topics: up

lint: $(VENV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

unit: install
	$(VENV)/bin/pytest tests/unit -q $(PYTEST_ARGS)

test: install lint test-java up
	$(VENV)/bin/pytest -q $(PYTEST_ARGS)

test-fast: install lint up  ## the suite without the tests marked slow or chaos (a few minutes instead of ~15)
	$(VENV)/bin/pytest -q -m "not slow and not chaos" $(PYTEST_ARGS)

DEMO_DATASET ?= ml-latest-small
demo: install up  ## the whole loop: history → Flink → archive → batch → ranker → live stream; .run/demo/report.html
	$(PY) -m demo --dataset $(DEMO_DATASET) $(DEMO_ARGS)

bench: bench-replay bench-stream bench-batch bench-serving bench-quality  ## every benchmark; figures go to docs/benchmarks.md

bench-soak: install up stream-jar  ## 30 min of replay + ranker load at half the calibrated capacity: RSS, p99, lag slopes
	$(PY) benchmarks/soak.py --duration 1800

bench-replay: install up
	$(PY) benchmarks/replay_throughput.py

# --- recommendation quality (evaluation/, issue 15) ------------------------------------------------------
.PHONY: bench-quality
QUALITY_FRACTION ?= 0.9
bench-quality: install up  ## replay evaluation through the running services: served modes vs baselines (docs/evaluation.md)
	$(VENV)/bin/hybridrec eval replay --dataset ml-100k --history-fraction $(QUALITY_FRACTION) --workdir .run/eval/ml-100k
	$(VENV)/bin/hybridrec eval replay --dataset ml-latest-small --history-fraction $(QUALITY_FRACTION) --workdir .run/eval/ml-latest-small

clean: down kafka-cluster-down
	rm -rf .run hybridrec_pb $(STREAM_JAVA)/target

# --- three-broker Kafka (replication, broker failures, the chaos suite) --------------------------------------
.PHONY: kafka-cluster kafka-cluster-down kafka-cluster-status
CLUSTER_ENV = $(shell $(PY) deploy/local_services.py cluster-env)

kafka-cluster: install  ## KRaft nodes of kafka.local_cluster (broker + controller each); topics with its RF, min ISR 2
	$(PY) deploy/local_services.py up kafka-cluster
	env $(CLUSTER_ENV) $(VENV)/bin/hybridrec topics create
	@echo "point hybridrec at it: export $(CLUSTER_ENV)"

kafka-cluster-down:
	@if [ -x $(PY) ]; then $(PY) deploy/local_services.py down kafka-cluster; else echo "nothing to stop (no venv)"; fi

kafka-cluster-status:
	@$(PY) deploy/local_services.py status kafka-cluster

.PHONY: chaos
chaos: install up stream-jar  ## every fault of tests/chaos under load (make test runs its CI-sized subset); prints the table
	$(VENV)/bin/pytest tests/chaos -q --chaos full $(PYTEST_ARGS)

# --- batch layer (Spark; owned by batch/) ---------------------------------------------------------------
.PHONY: spark-cluster spark-cluster-down batch batch-submit bench-batch
AS_OF ?= $(shell date -u +%F)
SPARK_BIN = $(VENV)/lib/python3.11/site-packages/pyspark/bin
SPARK_MASTER = $(shell $(PY) -c 'from batch.cluster import master_url; from batch.config import load_batch_config; print(master_url(load_batch_config().spark))')

spark-cluster: install
	$(PY) -m batch.cluster up

spark-cluster-down:
	$(PY) -m batch.cluster down

batch: install up
	$(VENV)/bin/hybridrec batch run --as-of $(AS_OF)

batch-submit: spark-cluster up $(FEATURES_JAR)
	PYSPARK_PYTHON=$(CURDIR)/$(PY) PYSPARK_DRIVER_PYTHON=$(CURDIR)/$(PY) \
	  $(SPARK_BIN)/spark-submit --master $(SPARK_MASTER) --jars $(FEATURES_JAR) batch/submit.py --as-of $(AS_OF)

bench-batch: install up  ## ml-latest-small pipeline per stage, synthetic scaling curve, FAISS at 1M items
	$(PY) benchmarks/batch_pipeline.py --dataset ml-latest-small
	$(PY) benchmarks/batch_pipeline.py --dataset synthetic --events 1000000 --driver-memory 4g
	$(PY) benchmarks/batch_pipeline.py --dataset synthetic --events 5000000 --driver-memory 6g
	$(PY) benchmarks/faiss_ann.py --items 1000000

# --- speed layer (streaming/, issue 4) -------------------------------------------------------------------
STREAM_JAR := $(DEPS)/streaming/hybridrec-streaming.jar
# io.hybridrec.features alone (JDK-only): the batch layer's Spark folds training features with it (hybridrec/fresh_spec.py)
FEATURES_JAR := $(DEPS)/features/hybridrec-features.jar
STREAM_JAVA := streaming/java
STREAM_JAVA_SRC := $(STREAM_JAVA)/pom.xml $(shell find $(STREAM_JAVA)/src -name '*.java') $(PROTOS)
MVN := mvn --batch-mode --quiet

.PHONY: stream-jar features-jar test-java stream flink-cluster flink-cluster-down stream-submit bench-stream

# The JVM half of the job, a Maven module (streaming/java): the event-time UDF of the Kafka source, the decoder
# (ProtoDecode), the generic fresh-feature operator and the Redis sink, with the event contract's classes generated
# from the .proto; built, never committed. The test jar holds the drivers the Python tests run; the features jar
# is the fresh-feature core the batch layer calls from Spark.
$(STREAM_JAR) $(FEATURES_JAR) &: $(STREAM_JAVA_SRC)
	@command -v mvn >/dev/null || { echo "error: Maven is needed to build the speed layer's jar: apt-get install maven" >&2; exit 1; }
	cd $(STREAM_JAVA) && $(MVN) package -DskipTests
	@mkdir -p $(DEPS)/streaming $(DEPS)/features
	cp $(STREAM_JAVA)/target/hybridrec-streaming.jar $(STREAM_JAVA)/target/hybridrec-streaming-tests.jar $(DEPS)/streaming/
	cp $(STREAM_JAVA)/target/hybridrec-streaming-features.jar $(FEATURES_JAR)

stream-jar: $(STREAM_JAR) $(FEATURES_JAR)

features-jar: $(FEATURES_JAR)  ## the fresh-feature core on the batch layer's Spark classpath

test-java:   ## JUnit tests of the speed layer's JVM module
	cd $(STREAM_JAVA) && rm -rf target/surefire-reports && $(MVN) test && cat target/surefire-reports/*.txt | grep -h "Tests run"

stream: install up stream-jar   ## the speed-layer job on the local MiniCluster (Ctrl-C: stop with a savepoint)
	$(PY) -m streaming.main run

# --- serving
.PHONY: serve bench-serving ghz

GHZ_VERSION := v0.120.0
GHZ := $(DEPS)/bin/ghz

serve: install up  ## the gRPC ranker (settings: HYBRIDREC_SERVING__*, HYBRIDREC_CONFIG)
	$(VENV)/bin/hybridrec serve

ghz: $(GHZ)  ## the open-loop gRPC load generator of the serving benchmark, built from its Go module
$(GHZ):
	@command -v go >/dev/null || { echo "error: Go is needed to build ghz (apt-get install golang-go)" >&2; exit 1; }
	GOBIN=$(CURDIR)/$(DEPS)/bin go install github.com/bojand/ghz/cmd/ghz@$(GHZ_VERSION)

bench-serving: install up ghz  ## the ranker with a real batch model under ghz (figures: docs/benchmarks.md)
	$(PY) benchmarks/serving_feature_read.py
	$(PY) benchmarks/serving_load.py --dataset ml-100k --cpu 1000
	$(PY) benchmarks/serving_load.py --dataset ml-100k --rates 100,200,300,400,500,600 --duration 30
	$(PY) benchmarks/serving_load.py --dataset ml-latest-small --rates 100,200,300,400,500,600 --duration 30

flink-cluster: install stream-jar   ## standalone session cluster from the pyflink distribution (ports: StreamingConfig)
	$(PY) -m streaming.cluster up

flink-cluster-down:
	$(PY) -m streaming.cluster down

stream-submit: flink-cluster up   ## submit the job to the session cluster with `flink run -py`
	$(PY) -m streaming.cluster submit

ML_LATEST_SMALL ?= ../shared/datasets/ml-latest-small
STREAM_BENCH_EVENTS ?= 200000

bench-stream: install up stream-jar   ## speed-layer throughput (p=1, 2; world, ml-latest-small, 10M synthetic), freshness to Feast and to the homepage
	$(PY) benchmarks/streaming_throughput.py --parallelism 1 --events $(STREAM_BENCH_EVENTS)
	$(PY) benchmarks/streaming_throughput.py --parallelism 2 --events $(STREAM_BENCH_EVENTS)
	$(PY) benchmarks/streaming_throughput.py --parallelism 1 --dataset ml-latest-small --path $(ML_LATEST_SMALL)
	$(PY) benchmarks/streaming_throughput.py --parallelism 2 --dataset ml-latest-small --path $(ML_LATEST_SMALL)
	$(PY) benchmarks/streaming_throughput.py --parallelism 1 --dataset synthetic --events 10000000
	$(PY) benchmarks/streaming_throughput.py --parallelism 2 --dataset synthetic --events 10000000
	$(PY) benchmarks/streaming_freshness.py --rate 5000 --duration 60 --warmup 30
	$(PY) benchmarks/streaming_freshness.py --homepage
