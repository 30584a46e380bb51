"""``Dataset.batches``: the columnar twin of ``interactions()``, row for row, in archive-schema batches."""

from __future__ import annotations

import dataclasses
import tracemalloc
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from hybridrec.config import Settings, SyntheticConfig
from hybridrec.contract import ARCHIVE_SCHEMA
from hybridrec.datasets import Dataset, Interaction, MovieLensDataset, SyntheticDataset
from hybridrec.datasets import movielens as movielens_module
from hybridrec.datasets.model import constant_strings, numeric, strings

SIZES = (1, 2, 3, 7, 64, 1_000, 100_000)


def interactions_table(ds: Dataset) -> pa.Table:
    """The reference: ``interactions()`` field by field; fields an Interaction lacks are empty strings."""
    events = list(ds.interactions())
    have = {f.name for f in dataclasses.fields(Interaction)}
    columns = {
        name: [getattr(e, name) for e in events] if name in have else [""] * len(events)
        for name in ARCHIVE_SCHEMA.names
    }
    return pa.table(columns, schema=ARCHIVE_SCHEMA)


def assert_batches_match(ds: Dataset, size: int, expected: pa.Table) -> None:
    batches = list(ds.batches(size))
    assert all(b.schema.equals(ARCHIVE_SCHEMA, check_metadata=True) for b in batches)
    rows = [b.num_rows for b in batches]
    assert all(0 < r <= size for r in rows), f"batch sizes {rows[:10]}... for size {size}"
    assert all(r == size for r in rows[:-1]), "only the last batch may be short"
    table = pa.Table.from_batches(batches, schema=ARCHIVE_SCHEMA)
    assert table.schema.equals(ARCHIVE_SCHEMA, check_metadata=True)
    assert table.num_rows == expected.num_rows
    for field in ARCHIVE_SCHEMA:  # every field of every row, values and types (nulls count as different)
        got, want = table.column(field.name), expected.column(field.name)
        if not got.equals(want):
            pairs = zip(got.to_pylist(), want.to_pylist(), strict=True)
            at = next((i for i, (g, w) in enumerate(pairs) if g != w), None)
            where = "in type" if at is None else f"at row {at}: {got[at]!r} != {want[at]!r}"
            pytest.fail(f"size {size}, column {field.name} differs {where}")
    assert table.equals(expected)


# --- MovieLens ------------------------------------------------------------------------------------------

# Shuffled, with time ties, half stars, and runs of exact (user, item, ts) duplicates of length 2 and 4.
ML_ROWS: list[tuple[int, int, float, int]] = [
    (10, 2, 4.0, 880000100),
    (9, 3, 3.0, 880000100),
    (5, 7, 3.5, 100),
    (9, 1, 5.0, 880000100),
    (5, 7, 4.5, 100),
    (1, 1, 4.0, 880000000),
    (5, 7, 0.5, 100),
    (2, 3, 1.0, 890000000),
    (5, 8, 1.0, 100),
    (1, 2, 2.0, 870000000),
    (5, 7, 2.5, 100),
    (3, 4, 5.0, 880000100),
    (3, 4, 1.5, 880000100),
    (123456, 98765, 3.0, 1600000000),
]


def write_csv(directory: Path, rows: list[tuple[int, int, float, int]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    body = "".join(f"{u},{i},{r},{t}\n" for u, i, r, t in rows)
    (directory / "ratings.csv").write_text("userId,movieId,rating,timestamp\n" + body)
    (directory / "movies.csv").write_text("movieId,title,genres\n")
    return directory


def write_dat(directory: Path, rows: list[tuple[int, int, float, int]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ratings.dat").write_text("".join(f"{u}::{i}::{r:g}::{t}\n" for u, i, r, t in rows))
    (directory / "movies.dat").write_text("")
    return directory


@pytest.mark.parametrize("writer", [write_csv, write_dat])
@pytest.mark.parametrize("size", SIZES)
def test_movielens_batches_equal_interactions(tmp_path: Path, writer, size: int) -> None:
    ds = MovieLensDataset(writer(tmp_path / "ml", ML_ROWS), name="ml-x")
    expected = interactions_table(ds)
    assert expected.num_rows == len(ML_ROWS)
    assert "ml-x:5:7:100:3" in expected.column("event_id").to_pylist()
    assert_batches_match(ds, size, expected)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8])
def test_movielens_duplicate_numbering_carries_across_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    # Tiny conversion blocks, so runs of duplicates straddle block (and batch) boundaries.
    monkeypatch.setattr(movielens_module, "_BATCH_BLOCK", 4)
    rng = np.random.default_rng(5)
    rows = [(int(u), int(i), 3.0, int(t)) for u, i, t in rng.integers(1, 4, size=(300, 3))]
    ds = MovieLensDataset(write_csv(tmp_path / "dups", rows), name="d")
    expected = interactions_table(ds)
    assert max(len(e.split(":")) for e in expected.column("event_id").to_pylist()) == 5
    assert_batches_match(ds, size, expected)


def test_movielens_real_ml100k_if_present() -> None:
    path = Settings().paths.datasets_dir / "ml-100k"
    if not (path / "u.data").is_file():
        pytest.skip(f"no ml-100k copy in {path.parent} (paths.datasets_dir)")
    ds = MovieLensDataset(path)
    expected = interactions_table(ds)
    for size in (16_384, 9_999):
        assert_batches_match(ds, size, expected)


def test_movielens_batches_stream(tmp_path: Path) -> None:
    n = 400_000
    body = "".join(f"{1 + k // 50},{1 + k % 977},4.0,{900000000 + k}\n" for k in range(n))
    directory = tmp_path / "big"
    directory.mkdir()
    (directory / "ratings.csv").write_text("userId,movieId,rating,timestamp\n" + body)
    ds = MovieLensDataset(directory)
    ds.ratings()
    peak_arrow, rows, full = 0, 0, 0
    tracemalloc.start()
    try:
        for batch in ds.batches(1_000):
            rows += batch.num_rows
            full += batch.nbytes
            peak_arrow = max(peak_arrow, pa.total_allocated_bytes())
        peak_numpy = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert rows == n
    assert peak_arrow + peak_numpy < full / 3, f"{peak_arrow} + {peak_numpy} bytes held for {full} bytes of rows"


# --- synthetic ------------------------------------------------------------------------------------------

SYNTHETIC = [
    (SyntheticConfig(n_users=40, n_items=60, n_genres=5, seed=11), 5_003, 700),
    (SyntheticConfig(n_users=1, n_items=1, n_genres=1, mean_session_events=0.5, session_gap_s=1), 997, 64),
    (SyntheticConfig(seed=2**40), 2_500, 32_768),
]


@pytest.mark.parametrize(("cfg", "n_events", "window"), SYNTHETIC)
@pytest.mark.parametrize("size", SIZES)
def test_synthetic_batches_equal_interactions(cfg: SyntheticConfig, n_events: int, window: int, size: int) -> None:
    ds = SyntheticDataset(cfg, n_events, window_events=window)
    expected = interactions_table(ds)
    assert expected.num_rows == n_events
    assert_batches_match(ds, size, expected)


def test_synthetic_empty_stream_has_no_batches() -> None:
    assert list(SyntheticDataset(SyntheticConfig(), 0).batches(10)) == []


def test_synthetic_batches_replay_identically() -> None:
    ds = SyntheticDataset(SyntheticConfig(seed=4), 3_000)
    first = pa.Table.from_batches(list(ds.batches(333)))
    assert pa.Table.from_batches(list(ds.batches(333))).equals(first)
    assert first.column("event_id")[2_999].as_py() == "syn-4-2999"


def test_synthetic_batches_stream() -> None:
    def peak(n: int) -> int:
        ds = SyntheticDataset(SyntheticConfig(), n)
        arrow = 0
        tracemalloc.start()
        try:
            for _ in ds.batches(1_000):
                arrow = max(arrow, pa.total_allocated_bytes())
            return arrow + tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(40_000), peak(160_000)
    assert large < 1.5 * small + 2_000_000, f"peak {large} bytes for 160k events vs {small} for 40k"


# --- shared ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, -1, 2.5, True])
def test_bad_sizes_rejected(tmp_path: Path, size: object) -> None:
    for ds in (SyntheticDataset(SyntheticConfig(), 10), MovieLensDataset(write_csv(tmp_path / "m", ML_ROWS))):
        with pytest.raises(ValueError, match="batch size"):
            next(iter(ds.batches(size)))  # type: ignore[arg-type]


def test_column_builders() -> None:
    assert constant_strings("ab", 3).to_pylist() == ["ab", "ab", "ab"]
    assert constant_strings("", 0).to_pylist() == []
    assert strings(["é", "", "xyz"]).to_pylist() == ["é", "", "xyz"]
    assert numeric(np.array([True, False, True])).to_pylist() == [True, False, True]
    assert numeric(np.arange(5, dtype=np.int32)[1:4]).to_pylist() == [1, 2, 3]
    assert numeric(np.array([0.5], dtype=np.float64)).type == pa.float64()
