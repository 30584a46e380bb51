"""MovieLens loaders on tiny hand-written fixtures in each on-disk format (the real data is never copied)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hybridrec.config import PathsConfig, Settings
from hybridrec.datasets import (
    DATASET_NAMES,
    Dataset,
    DatasetFormatError,
    DatasetNotFound,
    Interaction,
    Item,
    MovieLensDataset,
    SyntheticDataset,
    detect_format,
    load_dataset,
    open_movielens,
    parse_year,
)
from hybridrec.datasets.movielens import time_order

REAL_ML100K = Path("/work/shared/datasets/ml-100k")

# (user, item, rating, unix seconds) in deliberately shuffled order, with ties on time to test the tie order.
RATINGS: list[tuple[int, int, float, int]] = [
    (10, 2, 4.0, 880000100),
    (9, 3, 3.0, 880000100),
    (9, 1, 5.0, 880000100),
    (1, 1, 4.0, 880000000),
    (2, 3, 1.0, 890000000),
    (1, 2, 2.0, 870000000),
]
EXPECTED_ORDER = [(1, 2), (1, 1), (9, 1), (9, 3), (10, 2), (2, 3)]


def write_ml100k(directory: Path, *, with_genre_file: bool = True) -> Path:
    """ML-100K layout: tab-separated u.data, Latin-1 pipe-separated u.item with 19 genre flags."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "u.data").write_text("".join(f"{u}\t{i}\t{int(r)}\t{t}\n" for u, i, r, t in RATINGS))

    def flags(*on: int) -> str:
        return "|".join("1" if k in on else "0" for k in range(19))

    lines = [
        f"1|Café Lumière (2003)|01-Jan-2003||http://example.invalid/1|{flags(8, 14)}",
        f"2|Nameless Picture|01-Jan-1977||http://example.invalid/2|{flags(1)}",
        f"3|unknown||||{flags(0)}",
    ]
    (directory / "u.item").write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    if with_genre_file:
        genres = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime"]
        genres += ["Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery"]
        genres += ["Romance", "Sci-Fi", "Thriller", "War", "Western"]
        text = "".join(f"{g}|{k}\n" for k, g in enumerate(genres)) + "\n"
        (directory / "u.genre").write_text(text, encoding="latin-1")
    return directory


def write_csv_release(directory: Path) -> Path:
    """ml-latest / ML-20M / ML-25M layout: UTF-8 CSV with header, quoted titles that contain commas."""
    directory.mkdir(parents=True, exist_ok=True)
    rows = "".join(f"{u},{i},{r},{t}\n" for u, i, r, t in RATINGS)
    (directory / "ratings.csv").write_text("userId,movieId,rating,timestamp\n" + rows, encoding="utf-8")
    movies = (
        "movieId,title,genres\n"
        '1,"Lost City, The (Cité perdue, La) (1995)",Adventure|Drama\n'
        "2,Some Show (2006–2007),(no genres listed)\n"
        "3,Trailing Space Film (1999) ,Comedy\n"
    )
    (directory / "movies.csv").write_text(movies, encoding="utf-8")
    return directory


def write_dat_release(directory: Path, encoding: str = "latin-1") -> Path:
    """ML-1M / ML-10M layout: ``::`` separated, Latin-1 movie titles in ML-1M."""
    directory.mkdir(parents=True, exist_ok=True)
    rows = "".join(f"{u}::{i}::{r:g}::{t}\n" for u, i, r, t in RATINGS)
    (directory / "ratings.dat").write_text(rows, encoding="ascii")
    movies = "1::Amélie (2001)::Comedy|Romance\n2::Heat (1995)::Action|Crime|Thriller\n3::Untitled::Drama\n"
    (directory / "movies.dat").write_bytes(movies.encode(encoding))
    return directory


WRITERS = {"ml-100k": write_ml100k, "ml-latest-small": write_csv_release, "ml-1m": write_dat_release}


def settings_for(tmp_path: Path) -> Settings:
    return Settings(paths=PathsConfig(datasets_dir=tmp_path / "shared", data_dir=tmp_path / "data"))


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_each_format_loads_ratings_in_time_order(tmp_path: Path, fmt: str) -> None:
    ds = MovieLensDataset(WRITERS[fmt](tmp_path / fmt), name=fmt)
    assert ds.format == fmt
    assert isinstance(ds, Dataset)
    events = list(ds.interactions())
    assert [(int(e.user_id), int(e.item_id)) for e in events] == EXPECTED_ORDER
    times = [e.event_time_ms for e in events]
    assert times == sorted(times)
    first = events[0]
    assert first == Interaction(
        event_id=f"{fmt}:1:2:870000000",
        user_id="1",
        item_id="2",
        event_type="RATING",
        value=2.0,
        event_time_ms=870_000_000_000,
        surface="movielens",
    )
    assert all(isinstance(e.value, float) and e.event_type == "RATING" for e in events)
    assert len({e.event_id for e in events}) == len(events)
    assert list(ds.interactions()) == events, "a second replay must be identical"


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_count_hint_known_before_and_after_load(tmp_path: Path, fmt: str) -> None:
    ds = MovieLensDataset(WRITERS[fmt](tmp_path / fmt))
    assert ds.count_hint == len(RATINGS)
    assert sum(1 for _ in ds.interactions()) == len(RATINGS)
    assert ds.count_hint == len(RATINGS)


def test_ml100k_items_latin1_genres_and_year_fallback(tmp_path: Path) -> None:
    items = {i.item_id: i for i in MovieLensDataset(write_ml100k(tmp_path / "ml-100k")).items()}
    assert items["1"] == Item("1", "Café Lumière (2003)", ("Drama", "Romance"), 2003)
    assert items["2"] == Item("2", "Nameless Picture", ("Action",), 1977), "year from the release date"
    assert items["3"] == Item("3", "unknown", (), 0), "the 'unknown' genre flag means no genre"


def test_ml100k_without_genre_file_uses_standard_list(tmp_path: Path) -> None:
    ds = MovieLensDataset(write_ml100k(tmp_path / "ml-100k", with_genre_file=False))
    assert next(iter(ds.items())).genres == ("Drama", "Romance")


def test_csv_items_quoted_commas_no_genres_and_ranges(tmp_path: Path) -> None:
    items = list(MovieLensDataset(write_csv_release(tmp_path / "small")).items())
    assert items == [
        Item("1", "Lost City, The (Cité perdue, La) (1995)", ("Adventure", "Drama"), 1995),
        Item("2", "Some Show (2006–2007)", (), 2006),
        Item("3", "Trailing Space Film (1999)", ("Comedy",), 1999),
    ]


@pytest.mark.parametrize("encoding", ["latin-1", "utf-8"])
def test_dat_items_in_either_encoding(tmp_path: Path, encoding: str) -> None:
    items = list(MovieLensDataset(write_dat_release(tmp_path / "ml-1m", encoding)).items())
    assert items[0] == Item("1", "Amélie (2001)", ("Comedy", "Romance"), 2001)
    assert items[2] == Item("3", "Untitled", ("Drama",), 0)


def test_half_star_ratings_and_duplicate_rows_get_unique_ids(tmp_path: Path) -> None:
    d = tmp_path / "dups"
    d.mkdir()
    rows = "userId,movieId,rating,timestamp\n5,7,3.5,100\n5,7,4.5,100\n5,7,0.5,100\n5,8,1.0,100\n"
    (d / "ratings.csv").write_text(rows)
    (d / "movies.csv").write_text("movieId,title,genres\n7,A (2000),Drama\n8,B (2001),Drama\n")
    events = list(MovieLensDataset(d, name="x").interactions())
    assert [e.event_id for e in events] == ["x:5:7:100", "x:5:7:100:1", "x:5:7:100:2", "x:5:8:100"]
    assert sorted(e.value for e in events[:3]) == [0.5, 3.5, 4.5]


def test_malformed_ratings_raise_format_error(tmp_path: Path) -> None:
    d = write_csv_release(tmp_path / "bad")
    (d / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,2,great,3\n")
    with pytest.raises(DatasetFormatError, match="does not parse"):
        list(MovieLensDataset(d).interactions())


@pytest.mark.parametrize("presorted", [False, True])
@pytest.mark.parametrize("ts_scale", [1, 10**9, 2**60])
def test_time_order_matches_lexsort(presorted: bool, ts_scale: int) -> None:
    rng = np.random.default_rng(ts_scale % 1000 + presorted)
    for n in (0, 1, 2, 57, 3_000):
        user = rng.integers(0, 6, n).astype(np.int32)
        item = rng.integers(0, 6, n).astype(np.int32)
        ts = rng.integers(0, 5, n).astype(np.int64) * ts_scale
        if presorted:
            by_pair = np.lexsort((item, user))
            user, item, ts = user[by_pair], item[by_pair], ts[by_pair]
        assert time_order(user, item, ts).tolist() == np.lexsort((item, user, ts)).tolist()


@pytest.mark.parametrize(
    ("title", "year"),
    [
        ("Toy Story (1995)", 1995),
        ("Toy Story (1995) ", 1995),
        ("Death Note (2006–2007)", 2006),
        ("Show (2015-)", 2015),
        ("City of Lost Children, The (Cité des enfants perdus, La) (1995)", 1995),
        ("Babylon 5", 0),
        ("1984 (1984)", 1984),
        ("Brazil (1985) extra", 0),
    ],
)
def test_parse_year(title: str, year: int) -> None:
    assert parse_year(title) == year


def test_detect_format_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFound):
        detect_format(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetFormatError, match=r"ratings\.csv"):
        detect_format(tmp_path / "empty")


def test_load_dataset_search_order(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    explicit = write_ml100k(tmp_path / "elsewhere")
    downloaded = write_ml100k(settings.paths.downloads_dir / "ml-100k")
    parent = load_dataset("ml-100k", downloaded.parent, settings)  # a folder holding the release folder
    assert isinstance(parent, MovieLensDataset)
    assert parent.path == downloaded
    chosen = load_dataset("ml-100k", explicit, settings)
    assert isinstance(chosen, MovieLensDataset)
    assert (chosen.path, chosen.name) == (explicit, "ml-100k")
    via_downloads = load_dataset("ml-100k", None, settings)
    assert isinstance(via_downloads, MovieLensDataset)
    assert via_downloads.path == downloaded
    shared = write_ml100k(settings.paths.datasets_dir / "ml-100k")
    via_shared = load_dataset("ml-100k", None, settings)
    assert isinstance(via_shared, MovieLensDataset)
    assert via_shared.path == shared, "the shared datasets folder wins over downloads"


def test_load_dataset_not_found_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFound) as err:
        load_dataset("ml-1m", None, settings_for(tmp_path))
    message = str(err.value)
    assert "hybridrec download ml-1m" in message
    assert "--path" in message


def test_load_dataset_other_names(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    synthetic = load_dataset("synthetic", None, settings, n_events=10)
    assert isinstance(synthetic, SyntheticDataset)
    assert synthetic.count_hint == 10
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("ml-7", None, settings)
    assert set(DATASET_NAMES) == {"ml-100k", "ml-latest-small", "ml-1m", "ml-20m", "ml-25m", "synthetic"}


def test_open_movielens_by_path_or_name(tmp_path: Path) -> None:
    path = write_dat_release(tmp_path / "any-folder")
    ds = open_movielens(path)
    assert (ds.name, ds.format) == ("any-folder", "ml-1m")
    settings = settings_for(tmp_path)
    write_csv_release(settings.paths.datasets_dir / "ml-latest-small")
    assert open_movielens("ml-latest-small", settings).format == "ml-latest-small"


@pytest.mark.skipif(not (REAL_ML100K / "u.data").is_file(), reason="shared MovieLens 100K copy not present")
def test_real_ml100k_counts_and_order() -> None:
    ds = MovieLensDataset(REAL_ML100K)
    users: set[str] = set()
    items: set[str] = set()
    ids: set[str] = set()
    last = 0
    for e in ds.interactions():
        assert e.event_time_ms >= last
        last = e.event_time_ms
        users.add(e.user_id)
        items.add(e.item_id)
        ids.add(e.event_id)
    assert (len(ids), len(users), len(items)) == (100_000, 943, 1_682)
    assert sum(1 for _ in ds.items()) == 1_682
