"""Where the speed layer and the batch layer meet: the raw-event archive format and the genre vocabulary.

The Flink job writes the archive; Spark reads it; tests may write it directly with :func:`archive_table`.
The feature views both layers fill are defined in ``feature_repo/`` (Feast is the feature contract) and
their names are repeated here only as constants, so no deployable has to import the Feast repo.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

# --- archive -------------------------------------------------------------------------------------------

ARCHIVE_SUBDIR = "events"
"""Archive root is ``<lake_dir>/events``; Hive-style partitions ``event_date=YYYY-MM-DD/event_hour=HH``."""

ARCHIVE_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("user_id", pa.string()),
        ("item_id", pa.string()),
        ("event_type", pa.string()),  # EventType enum *name*, e.g. "RATING"
        ("value", pa.float64()),
        ("event_time_ms", pa.int64()),  # epoch milliseconds UTC; no timestamp type, so no INT96/tz ambiguity
        ("surface", pa.string()),
        ("position", pa.int32()),
        ("request_id", pa.string()),
        ("variant", pa.string()),
        ("device", pa.string()),  # Device enum name
        ("country", pa.string()),
    ]
)
PARTITION_COLUMNS = ("event_date", "event_hour")


def partition_of(event_time_ms: int) -> tuple[str, str]:
    """(event_date, event_hour) partition values of an event time, in UTC."""
    t = datetime.fromtimestamp(event_time_ms / 1000, tz=UTC)
    return t.strftime("%Y-%m-%d"), t.strftime("%H")


def archive_table(rows: list[dict[str, object]]) -> pa.Table:
    """An archive-schema table from dicts (missing optional fields get their proto defaults)."""
    defaults: dict[str, object] = {
        "surface": "",
        "position": -1,
        "request_id": "",
        "variant": "",
        "device": "DEVICE_UNSPECIFIED",
        "country": "",
        "value": 0.0,
    }
    columns = {f.name: [r.get(f.name, defaults.get(f.name)) for r in rows] for f in ARCHIVE_SCHEMA}
    return pa.table(columns, schema=ARCHIVE_SCHEMA)


# --- genres --------------------------------------------------------------------------------------------

GENRES: tuple[str, ...] = (
    "Action",
    "Adventure",
    "Animation",
    "Children",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "IMAX",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
    "Other",
)
"""Fixed genre axis of every genre vector (session taste, decayed taste, profiles); unknown genres → Other."""

GENRE_ALIASES = {"Children's": "Children", "unknown": "Other", "(no genres listed)": "Other"}
"""Dataset spellings of a genre on the axis (ML-100K's "Children's", ml-latest's "(no genres listed)")."""
_INDEX = {g: i for i, g in enumerate(GENRES)}


def genre_index(name: str) -> int:
    return _INDEX.get(GENRE_ALIASES.get(name, name), _INDEX["Other"])


def genre_vector(genres: tuple[str, ...] | list[str]) -> list[float]:
    """One item's genres as a vector on the fixed axis, summing to 1 (all mass on Other when none)."""
    vec = [0.0] * len(GENRES)
    idx = [genre_index(g) for g in genres] or [_INDEX["Other"]]
    for i in idx:
        vec[i] += 1.0 / len(idx)
    return vec


# --- feature views (defined in feature_repo/, named here) ----------------------------------------------

FEAST_PROJECT = "hybridrec"
USER_FRESH_VIEW = "user_fresh"  # speed layer, per user
ITEM_FRESH_VIEW = "item_fresh"  # speed layer, per item
USER_BATCH_VIEW = "user_batch"  # batch layer, per user
ITEM_BATCH_VIEW = "item_batch"  # batch layer, per item
