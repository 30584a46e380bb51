"""Pure DataFrame → DataFrame transforms of the nightly pipeline: no reads, no writes, no actions.

Point-in-time correctness rests on one idea used everywhere: per user (and per item) a *state table* holds
the features **after** each event, and :func:`asof_join` attaches to a query ``(key, time)`` the last state
strictly before that time. Training examples, evaluation queries and the Feast batch features all go
through it, so a feature can never include the event it is asked about, or any later one.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from hybridrec.contract import GENRE_ALIASES, GENRES
from hybridrec.fresh_features import EVERY_EVENT, USER_FRESH, FreshView, LastN, Session
from hybridrec.fresh_spec import SNAPSHOT_FOLD, fold_spec_text
from hybridrec_pb.events_pb2 import EventType

N_GENRES = len(GENRES)
DAY_MS = 86_400_000
_EVENT_ORDER = ("event_time_ms", "event_id")


# --- ETL -----------------------------------------------------------------------------------------------


def clean_events(raw: DataFrame, start_ms: int, end_ms: int, positive_types: Sequence[str]) -> DataFrame:
    """Events of ``[start_ms, end_ms)``, one row per ``event_id`` (the earliest copy wins; Flink may write a
    duplicate on retry and a late copy lands in a later partition), with ``engaged``/``is_rating`` flags."""
    valid = raw.filter(
        (F.col("event_time_ms") >= start_ms)
        & (F.col("event_time_ms") < end_ms)
        & F.col("event_id").isNotNull()
        & (F.length("user_id") > 0)
        & (F.length("item_id") > 0)
    )
    first = Window.partitionBy("event_id").orderBy("event_time_ms", "event_date", "event_hour", "event_type")
    deduped = (
        valid.withColumn("_copy", F.row_number().over(first))
        .filter(F.col("_copy") == 1)
        .drop("_copy", "event_date", "event_hour")
    )
    return deduped.withColumn("engaged", F.col("event_type").isin(list(positive_types))).withColumn(
        "is_rating", F.col("event_type") == F.lit("RATING")
    )


def genre_vectors(catalog: DataFrame) -> DataFrame:
    """``item_id, genre_vec``: each item's genres on the fixed axis ``GENRES``, summing to 1 (as
    :func:`hybridrec.contract.genre_vector`, done in Spark so it scales with the catalog)."""
    alias = F.create_map(*[F.lit(x) for kv in GENRE_ALIASES.items() for x in kv])
    known = F.array(*[F.lit(g) for g in GENRES])
    norm = F.transform(
        F.coalesce("genres", F.array().cast("array<string>")),
        lambda g: F.when(F.array_contains(known, g), g).otherwise(F.coalesce(alias[g], F.lit("Other"))),
    )
    norm = F.when(F.size(norm) > 0, norm).otherwise(F.array(F.lit("Other")))
    vec = F.array(*[(F.size(F.filter(norm, _equals(g))) / F.size(norm)).cast("float") for g in GENRES])
    return catalog.select("item_id", vec.alias("genre_vec"))


def _equals(value: str):  # one-argument lambda: Spark reads the arity (two arguments = with index)
    return lambda x: x == F.lit(value)


def _sum_arrays(col: str, n: int, window: Window) -> Column:
    return F.array(*[F.sum(F.col(col)[i]).over(window) for i in range(n)])


# --- point-in-time state tables ------------------------------------------------------------------------


FEAST_TO_SPARK = {
    "Int64": "bigint",
    "Float64": "double",
    "Array(String)": "array<string>",
    "Array(Int64)": "array<bigint>",
    "Array(Float32)": "array<float>",
}
"""Spark's type of each Feast dtype a fresh feature has (Float32 as the online store keeps it)."""
_EVENT_TYPE_NUMBERS = {name: EventType.Value(name) for name in EVERY_EVENT}


def fresh_fold(events: DataFrame, catalog: DataFrame, view: FreshView, features: Sequence[str]) -> DataFrame:
    """Per event of each of ``view``'s entities, its ``features`` after that event: ``<join key>, state_tb`` (the
    event id) and one column per feature, computed by the speed layer's own fold (``SnapshotFold`` of the features
    jar, through ``reflect``) over the entity's events, in event-time order, so training reads what the job computes.

    One call per entity with all its events: an entity's events are folded in one task, as the job keeps one
    entity's state in one place."""
    key = view.join_key
    dtypes = {o.name: o.dtype for o in view.outputs()}
    schema = ", ".join(f"`{f}`: {FEAST_TO_SPARK[dtypes[f]]}" for f in features)
    types = F.create_map(*[F.lit(x) for kv in _EVENT_TYPE_NUMBERS.items() for x in kv])
    genre_names = F.transform(F.coalesce("genres", F.array().cast("array<string>")), F.hex)
    line = F.concat_ws(
        " ",
        F.col("event_time_ms").cast("string"),
        F.hex("event_id"),
        F.hex("item_id"),
        F.coalesce(types[F.col("event_type")], F.lit(0)).cast("string"),  # 0: no aggregation reads it
        F.concat_ws(",", genre_names),
    )
    per_entity = (
        events.join(catalog.select("item_id", "genres"), "item_id", "left")
        .groupBy(key)
        .agg(F.concat_ws("\n", F.collect_list(line)).alias("_events"))
    )
    folded = per_entity.select(
        key,
        F.reflect(
            F.lit(SNAPSHOT_FOLD),
            F.lit("fold"),
            F.lit(fold_spec_text()),
            F.lit(view.name),
            F.lit(",".join(features)),
            F.col("_events"),
        ).alias("_json"),
    )
    rows = folded.select(key, F.explode(F.split(F.col("_json"), "\n")).alias("_row")).filter(F.col("_row") != "")
    parsed = rows.select(
        key, F.from_json("_row", f"state_ms bigint, event_id string, features struct<{schema}>").alias("_r")
    )
    return parsed.select(
        key, F.col("_r.event_id").alias("state_tb"), *[F.col("_r.features")[f].alias(f) for f in features]
    )


def user_state(events: DataFrame, genres: DataFrame, catalog: DataFrame, view: FreshView = USER_FRESH) -> DataFrame:
    """Per user event, the user's features *after* it: counts, rating sum, engaged genre mass, and the fresh
    features training reads, from the speed layer's own fold of ``view`` (:func:`fresh_fold`): the current
    session's start (null before the first session) and mean genre vector, and the last N items of the ``LastN``
    aggregation, newest first. The user view reads every event type, so there is a fold row for every event."""
    session: Session = view.one(Session)  # type: ignore[assignment]
    recent: LastN = view.one(LastN)  # type: ignore[assignment]
    fresh = {
        "u_session_start_ms": session.start_ms,
        "u_session_genres": session.genre_mean,
        "u_recent_items": recent.item_ids,
    }
    if None in fresh.values():
        raise ValueError(f"{view.name} does not store every fresh feature training reads: {fresh}")
    folded = fresh_fold(events, catalog, view, list(fresh.values())).select(  # type: ignore[arg-type]
        F.col(view.join_key).alias("user_id"),
        "state_tb",
        *[F.col(name).alias(col) for col, name in fresh.items()],
    )
    return (
        user_batch_state(events, genres)
        .join(folded, ["user_id", "state_tb"])
        .withColumn("u_session_start_ms", F.nullif(F.col("u_session_start_ms"), F.lit(0)))
    )


def user_batch_state(events: DataFrame, genres: DataFrame) -> DataFrame:
    """Per user event, the user's batch features after it (:func:`user_state` without the fresh ones)."""
    zero = F.array(*[F.lit(0.0).cast("float")] * N_GENRES)
    ev = events.join(genres, "item_id", "left").withColumn(
        "g", F.when(F.col("engaged") & F.col("genre_vec").isNotNull(), F.col("genre_vec")).otherwise(zero)
    )
    upto = (
        Window.partitionBy("user_id").orderBy(*_EVENT_ORDER).rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    return ev.select(
        "user_id",
        F.col("event_time_ms").alias("state_ms"),
        F.col("event_id").alias("state_tb"),
        F.count(F.lit(1)).over(upto).alias("u_n_events"),
        F.sum(F.col("is_rating").cast("long")).over(upto).alias("u_n_ratings"),
        F.sum(F.when(F.col("is_rating"), F.col("value")).otherwise(0.0)).over(upto).alias("u_rating_sum"),
        _sum_arrays("g", N_GENRES, upto).alias("u_genre_sum"),
        F.min("event_time_ms").over(upto).alias("u_first_ms"),
    )


def item_state(events: DataFrame) -> DataFrame:
    """Per item event, the item's features after it: engaged events, ratings, rating sum, first seen."""
    upto = (
        Window.partitionBy("item_id").orderBy(*_EVENT_ORDER).rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    return events.select(
        "item_id",
        F.col("event_time_ms").alias("state_ms"),
        F.col("event_id").alias("state_tb"),
        F.sum(F.col("engaged").cast("long")).over(upto).alias("i_n_engaged"),
        F.sum(F.col("is_rating").cast("long")).over(upto).alias("i_n_ratings"),
        F.sum(F.when(F.col("is_rating"), F.col("value")).otherwise(0.0)).over(upto).alias("i_rating_sum"),
        F.min("event_time_ms").over(upto).alias("i_first_ms"),
    )


def global_state(events: DataFrame) -> DataFrame:
    """Engaged events of the whole archive after each event, the denominator of item popularity.

    One partition on purpose: it is a running total over time. Only (time, id) pairs are sorted, so it
    stays cheap next to the per-user work."""
    upto = Window.orderBy(*_EVENT_ORDER).rowsBetween(Window.unboundedPreceding, Window.currentRow)
    return events.select(
        F.col("event_time_ms").alias("state_ms"),
        F.col("event_id").alias("state_tb"),
        F.sum(F.col("engaged").cast("long")).over(upto).alias("g_n_engaged"),
    )


def asof_join(queries: DataFrame, state: DataFrame, keys: Sequence[str], query_time: str) -> DataFrame:
    """Attach to each query row the last state row of the same keys with ``state_ms < query_time`` (strictly
    before: a state at the query's own time is excluded), as its columns plus ``state_ms``; nulls when the
    key has no earlier state. Works as one sort per key: queries and states are unioned and ordered by
    (time, queries first, tie-break), and the last non-null state before each query is carried forward."""
    value_cols = [c for c in state.columns if c not in (*keys, "state_tb")]
    clash = set(value_cols) & set(queries.columns)
    if clash:
        raise ValueError(f"asof_join: query already has state columns {sorted(clash)}")
    const = not keys
    part = ["_k"] if const else list(keys)
    packed = state.select(
        *(F.lit(0).alias("_k") if const else F.col(k) for k in part),
        F.col("state_ms").alias("_t"),
        F.lit(1).alias("_side"),
        F.col("state_tb").alias("_tb"),
        F.struct(*value_cols).alias("_state"),
    )
    state_type = packed.schema["_state"].dataType
    q = queries.withColumn("_qid", F.monotonically_increasing_id())
    tagged = q.select(
        "*",
        *([F.lit(0).alias("_k")] if const else []),
        F.col(query_time).cast("long").alias("_t"),
        F.lit(0).alias("_side"),
        F.lit(None).cast("string").alias("_tb"),
        F.lit(None).cast(state_type).alias("_state"),
    )
    unioned = tagged.unionByName(packed, allowMissingColumns=True)
    before = Window.partitionBy(*part).orderBy("_t", "_side", "_tb").rowsBetween(Window.unboundedPreceding, -1)
    carried = unioned.withColumn("_last", F.last("_state", ignorenulls=True).over(before))
    out = carried.filter(F.col("_side") == 0)
    return out.select(*queries.columns, *[F.col("_last")[c].alias(c) for c in value_cols])


# --- batch features (Feast views user_batch / item_batch) ---------------------------------------------


def user_batch_features(
    events: DataFrame, genres: DataFrame, as_of_ms: int, state: DataFrame | None = None
) -> DataFrame:
    """The ``user_batch`` view as of ``as_of_ms``: the user state strictly before it, so it agrees with the
    features the ranker was trained on, plus ``active_days``. ``state``: the run's :func:`user_state` of the
    same events, reused instead of recomputed (the as-of join ignores its states at or after ``as_of_ms``; the
    view has no fresh feature)."""
    if state is None:
        state = user_batch_state(events.filter(F.col("event_time_ms") < as_of_ms), genres)
    users = (
        events.filter(F.col("event_time_ms") < as_of_ms)
        .groupBy("user_id")
        .agg(F.countDistinct(F.floor(F.col("event_time_ms") / DAY_MS)).alias("active_days"))
    )
    q = users.withColumn("query_ms", F.lit(as_of_ms).cast("long"))
    s = asof_join(q, state.drop("u_session_start_ms", "u_session_genres", "u_recent_items"), ["user_id"], "query_ms")
    total = F.aggregate("u_genre_sum", F.lit(0.0), lambda acc, x: acc + x)
    profile = F.transform("u_genre_sum", lambda x: F.when(total > 0, x / total).otherwise(0.0).cast("float"))
    return s.select(
        "user_id",
        profile.alias("genre_profile"),
        F.col("u_n_events").cast("long").alias("n_events"),
        F.col("u_n_ratings").cast("long").alias("n_ratings"),
        F.when(F.col("u_n_ratings") > 0, F.col("u_rating_sum") / F.col("u_n_ratings"))
        .otherwise(0.0)
        .alias("mean_rating"),
        F.col("active_days").cast("long"),
        F.col("u_first_ms").cast("long").alias("first_event_ms"),
        (F.lit(as_of_ms) / 1000).cast("timestamp").alias("event_timestamp"),
    )


def item_batch_features(events: DataFrame, catalog: DataFrame, as_of_ms: int) -> DataFrame:
    """The ``item_batch`` view as of ``as_of_ms`` for every catalog item (unseen items: zeros)."""
    past = events.filter(F.col("event_time_ms") < as_of_ms)
    total = past.agg(F.sum(F.col("engaged").cast("long")).alias("_total"))
    agg = past.groupBy("item_id").agg(
        F.sum(F.col("engaged").cast("long")).alias("_n"),
        F.sum(F.col("is_rating").cast("long")).alias("n_ratings"),
        F.sum(F.when(F.col("is_rating"), F.col("value")).otherwise(0.0)).alias("_rsum"),
        F.min("event_time_ms").alias("_first"),
    )
    j = catalog.join(agg, "item_id", "left").crossJoin(F.broadcast(total))
    return j.select(
        "item_id",
        F.when(F.col("_total") > 0, F.coalesce("_n", F.lit(0)) / F.col("_total")).otherwise(0.0).alias("popularity"),
        F.coalesce("n_ratings", F.lit(0)).cast("long").alias("n_ratings"),
        F.when(F.col("n_ratings") > 0, F.col("_rsum") / F.col("n_ratings")).otherwise(0.0).alias("mean_rating"),
        F.col("genres"),
        F.col("year").cast("int"),
        F.when(F.col("_first").isNotNull(), F.floor((F.lit(as_of_ms) - F.col("_first")) / DAY_MS))
        .otherwise(0)
        .cast("long")
        .alias("age_days"),
        (F.lit(as_of_ms) / 1000).cast("timestamp").alias("event_timestamp"),
    )


# --- embeddings input ----------------------------------------------------------------------------------


def implicit_feedback(events: DataFrame, weights: dict[str, float]) -> DataFrame:
    """``user_id, item_id, strength``: summed per-type event weights, the implicit signal ALS factorises."""
    w = F.create_map(*[F.lit(x) for kv in weights.items() for x in kv])
    return (
        events.withColumn("_w", F.coalesce(w[F.col("event_type")], F.lit(0.0)))
        .filter(F.col("_w") > 0)
        .groupBy("user_id", "item_id")
        .agg(F.sum("_w").alias("strength"))
    )


def item_counts(events: DataFrame) -> DataFrame:
    """``item_id, n``: engaged events per item, the popularity baseline and the negative sampler's prior."""
    return events.filter("engaged").groupBy("item_id").agg(F.count(F.lit(1)).alias("n"))


# --- training examples ---------------------------------------------------------------------------------


def _satisfaction() -> Column:
    """Satisfaction label in [0, 1]: stars / 5 for ratings, thumbs up 1 / down 0; null for other events."""
    return F.when(F.col("event_type") == "RATING", F.col("value") / 5.0).when(
        F.col("event_type") == "THUMBS", (F.col("value") + 1.0) / 2.0
    )


def labelled_queries(
    events: DataFrame,
    catalog_items: DataFrame,
    prior: DataFrame,
    start_ms: int,
    end_ms: int,
    negatives_per_positive: int,
    seed: int,
    *,
    popularity_share: float = 0.0,
    impression_negatives: bool = True,
) -> DataFrame:
    """Examples ``(user_id, item_id, query_ms, surface, device, engage, satisfaction)`` of ``[start, end)``.

    Positives: engaged events. Negatives: impressions with no later engagement of the same user and item
    before ``end_ms`` (labels come only from events after the query), plus ``negatives_per_positive``
    sampled items per positive in the same request context: each catalog item gets one sampling slot plus
    slots in proportion to its ``prior`` count (counted before ``start_ms`` by the caller) so that about
    ``popularity_share`` of the draws follow popularity and the rest are uniform. ``source`` says which
    rule made the example (``positive``, ``impression``, ``sampled``)."""
    period = events.filter((F.col("event_time_ms") >= start_ms) & (F.col("event_time_ms") < end_ms))
    cols = ["user_id", "item_id", F.col("event_time_ms").alias("query_ms"), "surface", "device"]
    pos = period.filter("engaged").select(
        *cols, F.lit(1.0).alias("engage"), _satisfaction().alias("satisfaction"), F.lit("positive").alias("source")
    )
    last_engaged = (
        period.filter("engaged").groupBy("user_id", "item_id").agg(F.max("event_time_ms").alias("_last_engaged"))
    )
    imp = (
        period.filter(F.col("event_type") == "IMPRESSION")
        .join(last_engaged, ["user_id", "item_id"], "left")
        .filter(F.col("_last_engaged").isNull() | (F.col("_last_engaged") <= F.col("event_time_ms")))
        .select(
            *cols,
            F.lit(0.0).alias("engage"),
            F.lit(None).cast("double").alias("satisfaction"),
            F.lit("impression").alias("source"),
        )
    )
    n_items = catalog_items.agg(F.count(F.lit(1)).alias("_n_items"))
    weighted = (
        catalog_items.join(prior, "item_id", "left")
        .crossJoin(F.broadcast(n_items))
        .crossJoin(F.broadcast(prior.agg(F.sum("n").alias("_total"))))
    )
    ratio = popularity_share / max(1e-9, 1.0 - popularity_share)
    slots = weighted.withColumn(
        "_slots",
        1
        + F.floor(F.coalesce(F.col("n"), F.lit(0)) * F.col("_n_items") * ratio / F.greatest(F.col("_total"), F.lit(1))),
    )
    slots = (
        slots.select("item_id", F.explode(F.sequence(F.lit(1), F.col("_slots").cast("int"))).alias("_s"))
        .withColumn("_slot", F.row_number().over(Window.orderBy("item_id", "_s")) - 1)
        .select(F.col("item_id").alias("_neg_item"), "_slot")
    )
    m = slots.agg(F.count(F.lit(1)).alias("_m"))
    draws = (
        pos.select(
            "user_id",
            "item_id",
            "query_ms",
            "surface",
            "device",
            F.explode(F.sequence(F.lit(1), F.lit(negatives_per_positive))).alias("_d"),
        )
        .crossJoin(F.broadcast(m))
        .withColumn("_slot", F.floor(F.rand(seed) * F.col("_m")).cast("long"))
    )
    sampled = (
        draws.join(F.broadcast(slots), "_slot")
        .filter(F.col("_neg_item") != F.col("item_id"))
        .select(
            "user_id",
            F.col("_neg_item").alias("item_id"),
            "query_ms",
            "surface",
            "device",
            F.lit(0.0).alias("engage"),
            F.lit(None).cast("double").alias("satisfaction"),
            F.lit("sampled").alias("source"),
        )
    )
    out = pos.unionByName(sampled)
    return out.unionByName(imp) if impression_negatives else out


def attach_user_features(queries: DataFrame, ustate: DataFrame) -> DataFrame:
    """Queries ``(user_id, query_ms, ...)`` with the user state strictly before ``query_ms``."""
    return asof_join(queries, ustate, ["user_id"], "query_ms").withColumnRenamed("state_ms", "u_last_ms")


def attach_item_features(
    queries: DataFrame, istate: DataFrame, gstate: DataFrame, genres: DataFrame, catalog: DataFrame
) -> DataFrame:
    """Queries ``(item_id, query_ms, ...)`` with the item and global state strictly before ``query_ms`` and
    the item's static catalog attributes."""
    q = asof_join(queries, istate, ["item_id"], "query_ms").withColumnRenamed("state_ms", "i_last_ms")
    q = asof_join(q, gstate, [], "query_ms").drop("state_ms")
    static = catalog.select("item_id", F.col("year").cast("int").alias("i_year")).join(genres, "item_id", "left")
    return q.join(static, "item_id", "left")


def attach_features(
    queries: DataFrame, ustate: DataFrame, istate: DataFrame, gstate: DataFrame, genres: DataFrame, catalog: DataFrame
) -> DataFrame:
    """Each query with everything the ranker sees, in training and in evaluation alike."""
    return attach_item_features(attach_user_features(queries, ustate), istate, gstate, genres, catalog)


def last_device(events: DataFrame) -> DataFrame:
    """``user_id, device``: the device of each user's latest event, the context used for offline scoring."""
    return events.groupBy("user_id").agg(F.max_by("device", F.struct(*_EVENT_ORDER)).alias("device"))
