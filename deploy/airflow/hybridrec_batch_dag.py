"""Airflow DAG of the nightly batch layer: the same pipeline as ``hybridrec batch run``, one task per step.

Airflow is not a dependency of the project (nor needed by the tests); drop this file into an Airflow
``dags/`` folder on a host where the hybridrec package is installed. Each task is the CLI (or spark-submit
against the standalone cluster), so what Airflow runs is exactly what a developer runs by hand; the
pipeline itself is idempotent per ``--as-of`` date (it rewrites the features and adds a model version).

Order: wait for the day's archive → compact the hourly files of the days before it into monthly files
(``hybridrec batch compact``; the run would do it as its first stage, a task of its own makes it visible and
retryable) → (optional) standalone cluster up → batch run (ETL, features, ALS,
ranker, evaluation, FAISS, gates, registry, Feast materialization) → print the registry for the log.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow import DAG
from airflow.operators.bash import BashOperator
from airflow.sensors.filesystem import FileSensor

HYBRIDREC_HOME = os.environ.get("HYBRIDREC_HOME", "/opt/hybridrec")
VENV = f"{HYBRIDREC_HOME}/.venv/bin"
SPARK_MASTER = os.environ.get("HYBRIDREC_SPARK_MASTER", "spark://127.0.0.1:7077")
LAKE = os.environ.get("HYBRIDREC_LAKE_DIR", f"{HYBRIDREC_HOME}/data/lake")
FEATURES_JAR = (  # asked of the installed package on the host: the scheduler parsing this file may not have it
    f"{VENV}/python -c 'from hybridrec.config import get_settings; from hybridrec.fresh_spec import features_jar; "
    "print(features_jar(get_settings().paths.deps_dir))'"
)

with DAG(
    dag_id="hybridrec_nightly_batch",
    description="hybridrec batch layer: features, embeddings, multi-task ranker, gates, registry",
    schedule="30 2 * * *",  # after the day's last archive hour has been closed by the Flink job
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 1, "retry_delay": timedelta(minutes=10)},
    tags=["hybridrec", "batch"],
) as dag:
    archive_ready = FileSensor(
        task_id="archive_ready",
        filepath=f"{LAKE}/events/event_date={{{{ ds }}}}/event_hour=23",
        poke_interval=300,
        timeout=6 * 3600,
        mode="reschedule",
    )
    compaction = BashOperator(
        task_id="archive_compaction",
        bash_command=f"cd {HYBRIDREC_HOME} && {VENV}/hybridrec batch compact --until {{{{ macros.ds_add(ds, -1) }}}}",
    )
    cluster_up = BashOperator(
        task_id="spark_cluster_up",
        bash_command=f"cd {HYBRIDREC_HOME} && {VENV}/python -m batch.cluster up",
    )
    batch_run = BashOperator(
        task_id="batch_run",
        bash_command=(
            f"cd {HYBRIDREC_HOME} && PYSPARK_PYTHON={VENV}/python PYSPARK_DRIVER_PYTHON={VENV}/python "
            f"{VENV}/../lib/python3.11/site-packages/pyspark/bin/spark-submit --master {SPARK_MASTER} "
            f"--jars $({FEATURES_JAR}) "  # the fresh-feature fold training calls (the driver needs it at start)
            "batch/submit.py --as-of {{ ds }} --report /tmp/hybridrec-batch-{{ ds }}.json"
        ),
        execution_timeout=timedelta(hours=4),
    )
    registry_report = BashOperator(
        task_id="registry_report",
        bash_command=f"cd {HYBRIDREC_HOME} && {VENV}/hybridrec model list && {VENV}/hybridrec model show",
    )
    archive_ready >> compaction >> cluster_up >> batch_run >> registry_report
