"""Batch features into Feast: the offline Parquet tables of ``user_batch``/``item_batch`` and their
materialization into the Redis online store, through Feast itself so the online rows are exactly what
Feast would serve from the offline store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from feast import FeatureStore
from pyspark.sql import DataFrame

from batch import io
from hybridrec.config import Settings
from hybridrec.contract import ITEM_BATCH_VIEW, USER_BATCH_VIEW
from hybridrec.feature_store import apply_definitions


def _source_path(store: FeatureStore, view: str) -> Path:
    return Path(store.get_feature_view(view).batch_source.path)


def publish(
    settings: Settings, user_features: DataFrame, item_features: DataFrame, as_of_ms: int, materialize: bool = True
) -> dict[str, int]:
    """Register the definitions built for ``settings``, write both offline tables where their Feast
    sources point (atomic directory swap), materialize the rows stamped ``as_of_ms``."""
    store = apply_definitions(settings)
    counts: dict[str, int] = {}
    for view, df in ((USER_BATCH_VIEW, user_features), (ITEM_BATCH_VIEW, item_features)):
        target = io.features_dir(settings.paths.lake_dir, view)
        declared = _source_path(store, view)
        if declared.resolve() != target.resolve():  # the definitions and batch.io disagree on the layout
            raise RuntimeError(f"Feast source of {view} is {declared}, but this run writes {target}")
        io.write_parquet_atomic(df, target)
        counts[view] = df.count()
    if materialize:
        at = datetime.fromtimestamp(as_of_ms / 1000, tz=UTC)
        store.materialize(
            start_date=at - timedelta(days=1),
            end_date=at + timedelta(seconds=1),
            feature_views=[USER_BATCH_VIEW, ITEM_BATCH_VIEW],
        )
    return counts
