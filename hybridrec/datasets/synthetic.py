"""A seeded synthetic world that streams any number of interaction events in global event-time order.

Why: MovieLens has ratings only, 100K of them; scale runs and tests need tens of millions of mixed events
(impressions, clicks, plays, ...) with realistic structure, reproducible from a seed and never held in
memory. The world is small (users, items, tastes); the event stream is generated on the fly.

How it stays fast and ordered: simulated time is cut into windows. In each window every user whose next
session starts before the window end gets a whole session generated at once with numpy (geometric length,
short gaps inside, at least ``session_gap_s`` between sessions). Events that fall past the window end are
carried to the next window, so each window's output can be sorted on its own and the concatenation is
globally non-decreasing in time. Memory is O(n_users + n_items + window), never O(n_events).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hybridrec.datasets.model import (
    Interaction,
    Item,
    archive_batch,
    check_batch_size,
    make_interaction,
    numeric,
    slices,
    string_scalar,
    strings,
)

if TYPE_CHECKING:
    from hybridrec.config import SyntheticConfig

MOVIELENS_GENRES: Final[tuple[str, ...]] = (
    "Drama",
    "Comedy",
    "Thriller",
    "Action",
    "Romance",
    "Adventure",
    "Crime",
    "Sci-Fi",
    "Horror",
    "Fantasy",
    "Children",
    "Animation",
    "Mystery",
    "Documentary",
    "War",
    "Musical",
    "Western",
    "Film-Noir",
)
"""The 18 MovieLens genres, most common first, so a small ``n_genres`` keeps the familiar ones."""

EVENT_MIX: Final[tuple[tuple[str, float], ...]] = (
    ("IMPRESSION", 0.50),
    ("CLICK", 0.18),
    ("PLAY", 0.18),
    ("RATING", 0.07),
    ("ADD_TO_LIST", 0.04),
    ("THUMBS", 0.03),
)
"""Share of each event type in the stream (they sum to 1)."""

DEVICE_MIX: Final[tuple[tuple[str, float], ...]] = (
    ("TV", 0.35),
    ("MOBILE", 0.30),
    ("WEB", 0.20),
    ("TABLET", 0.10),
    ("CONSOLE", 0.05),
)
COUNTRY_MIX: Final[tuple[tuple[str, float], ...]] = (
    ("US", 0.40),
    ("GB", 0.10),
    ("DE", 0.08),
    ("FR", 0.07),
    ("BR", 0.08),
    ("IN", 0.09),
    ("JP", 0.05),
    ("CA", 0.05),
    ("MX", 0.04),
    ("ES", 0.04),
)
TRENDING_SURFACE: Final = "homepage/trending_now"
PERSONAL_SURFACES: Final[tuple[str, ...]] = (
    "homepage/top_picks",
    "homepage/because_you_watched",
    "homepage/continue_watching",
    "search/results",
    "detail/more_like_this",
)

TASTE_ALPHA: Final = 0.3  # Dirichlet concentration: below 1 gives users a few strong favourite genres
INTRA_GAP_MEAN_MS: Final = 40_000.0  # mean pause between two events of one session
INTRA_GAP_MIN_MS: Final = 200
OFF_TIME_MEAN_MS: Final = 8 * 3600 * 1000.0  # mean extra time away after the session gap, for an average user
MAX_ROUNDS: Final = 32  # session rounds per window; bounds the per-window cost when users are few
WINDOW_EVENTS: Final = 32_768  # target events per generated window: big enough to vectorise, small in memory
_EVENT_NAMES: Final = tuple(name for name, _ in EVENT_MIX)
_IMPRESSION, _CLICK, _PLAY, _RATING, _ADD_TO_LIST, _THUMBS = range(len(EVENT_MIX))
_HAS_POSITION: Final = np.array([True, True, True, False, True, False])


def genre_names(n_genres: int) -> tuple[str, ...]:
    """MovieLens names while they last (n ≤ 18), else neutral ``Genre NN`` names."""
    if n_genres <= len(MOVIELENS_GENRES):
        return MOVIELENS_GENRES[:n_genres]
    return tuple(f"Genre {i:02d}" for i in range(1, n_genres + 1))


def _weights(mix: tuple[tuple[str, float], ...]) -> np.ndarray:
    w = np.array([p for _, p in mix], dtype=np.float64)
    return w / w.sum()


@dataclass(frozen=True, slots=True)
class _World:
    """Everything fixed for a seed: catalog, popularity, users. Read-only during generation."""

    item_ids: np.ndarray  # object array of str, for fast fancy-index lookups
    titles: list[str]
    item_genres: list[tuple[int, ...]]
    years: np.ndarray
    primary_genre: np.ndarray
    quality: np.ndarray
    duration_s: np.ndarray
    segment_cdf: np.ndarray  # per segment g: g + cumulative popularity share of its items
    segment_items: np.ndarray
    genre_segment: np.ndarray  # genre -> segment to sample from (the global one when a genre has no items)
    user_ids: np.ndarray  # object array of str
    taste0: np.ndarray  # (n_users, n_genres) float32, the starting tastes
    explore: np.ndarray  # per-user chance to pick from the global popularity instead of own taste
    activity: np.ndarray  # per-user session rate multiplier, mean 1
    device: np.ndarray  # object array of device names per user
    country: np.ndarray  # object array of country codes per user


def _zero_padded(n: int) -> int:
    return max(5, len(str(n)))


def _build_world(cfg: SyntheticConfig, rng: np.random.Generator) -> _World:
    n_items, n_users, n_genres = cfg.n_items, cfg.n_users, cfg.n_genres
    # Catalog: 1-3 distinct genres per item, common genres more likely (Gumbel top-k = weighted, no repeats).
    genre_weight = 1.0 / np.arange(1, n_genres + 1) ** 0.7
    n_per_item = np.minimum(rng.integers(1, 4, n_items), n_genres)
    item_genres: list[tuple[int, ...]] = []
    for start in range(0, n_items, 65_536):
        size = min(65_536, n_items - start)
        keys = np.log(genre_weight) + rng.gumbel(size=(size, n_genres))
        ranked = np.argsort(-keys, axis=1)[:, :3].tolist()
        counts = n_per_item[start : start + size].tolist()
        item_genres.extend(tuple(row[:k]) for row, k in zip(ranked, counts, strict=True))
    primary = np.fromiter((g[0] for g in item_genres), dtype=np.int64, count=n_items)
    # Zipf popularity over a random ranking, so popularity is unrelated to the item id.
    rank = rng.permutation(n_items)
    popularity = 1.0 / (rank + 1.0) ** cfg.popularity_exponent
    quality = rng.normal(0.0, 1.0, n_items)
    years = np.clip(2025 - np.floor(rng.exponential(12.0, n_items)), 1920, 2025).astype(np.int64)
    duration_s = rng.integers(20, 181, n_items) * 60
    # One flat sampling table: segment g holds genre g's items, segment n_genres holds all items.
    members: list[list[int]] = [[] for _ in range(n_genres)]
    for item, genres in enumerate(item_genres):
        for g in genres:
            members[g].append(item)
    members.append(list(range(n_items)))
    cdfs, items = [], []
    genre_segment = np.full(n_genres, n_genres, dtype=np.int64)
    for seg, idx in enumerate(members):
        if not idx:
            continue
        if seg < n_genres:
            genre_segment[seg] = seg
        arr = np.asarray(idx, dtype=np.int64)
        cum = np.cumsum(popularity[arr])
        cdfs.append(seg + cum / cum[-1])
        items.append(arr)
    width = _zero_padded(n_items)
    item_ids = np.array([str(i) for i in range(1, n_items + 1)], dtype=object)
    titles = [f"Synthetic Item {i:0{width}d}" for i in range(1, n_items + 1)]
    # Users.
    taste0 = rng.dirichlet(np.full(n_genres, TASTE_ALPHA), n_users).astype(np.float32)
    explore = rng.beta(2.0, 5.0, n_users)
    activity = rng.lognormal(0.0, 0.8, n_users)
    activity /= activity.mean()
    devices = np.array([d for d, _ in DEVICE_MIX], dtype=object)
    countries = np.array([c for c, _ in COUNTRY_MIX], dtype=object)
    return _World(
        item_ids=item_ids,
        titles=titles,
        item_genres=item_genres,
        years=years,
        primary_genre=primary,
        quality=quality,
        duration_s=duration_s,
        segment_cdf=np.concatenate(cdfs),
        segment_items=np.concatenate(items),
        genre_segment=genre_segment,
        user_ids=np.array([str(i) for i in range(1, n_users + 1)], dtype=object),
        taste0=taste0,
        explore=explore,
        activity=activity,
        device=devices[rng.choice(len(devices), n_users, p=_weights(DEVICE_MIX))],
        country=countries[rng.choice(len(countries), n_users, p=_weights(COUNTRY_MIX))],
    )


@dataclass(slots=True)
class _Events:
    """A batch of generated events as parallel columns."""

    time: np.ndarray
    user: np.ndarray
    item: np.ndarray
    kind: np.ndarray
    value: np.ndarray
    position: np.ndarray
    surface: np.ndarray

    @staticmethod
    def concat(parts: list[_Events]) -> _Events:
        return _Events(*(np.concatenate([getattr(p, f) for p in parts]) for f in _Events.__slots__))

    def take(self, index: np.ndarray) -> _Events:
        return _Events(*(getattr(self, f)[index] for f in _Events.__slots__))

    def rows(self, start: int, stop: int) -> _Events:
        """Rows ``start:stop`` as views, no copy."""
        return _Events(*(getattr(self, f)[start:stop] for f in _Events.__slots__))

    def __len__(self) -> int:
        return int(self.time.shape[0])


class SyntheticDataset:
    """``n_events`` events from the world described by ``cfg``; same seed and config, same stream.

    Users hold a Dirichlet genre taste that drifts by ``taste_drift`` toward a fresh draw at every session
    start, pick items by taste (or, sometimes, global trending) times Zipf popularity, and act in sessions.
    The stream for ``n`` events is a prefix of the stream for any larger ``n``. Session lengths are
    geometric, so a ``mean_session_events`` below 1 acts as 1.
    """

    name: Final = "synthetic"

    def __init__(self, cfg: SyntheticConfig, n_events: int, *, window_events: int = WINDOW_EVENTS) -> None:
        if n_events < 0:
            raise ValueError(f"n_events must be >= 0, got {n_events}")
        if window_events < 1:
            raise ValueError(f"window_events must be >= 1, got {window_events}")
        self.cfg = cfg
        self.n_events = n_events
        self.window_events = window_events
        self._world: _World | None = None

    @property
    def description(self) -> str:
        c = self.cfg
        return (
            f"synthetic world seed={c.seed}: {c.n_users} users, {c.n_items} items, {c.n_genres} genres, "
            f"Zipf exponent {c.popularity_exponent}, {self.n_events} events from {c.start_time_ms} ms"
        )

    @property
    def count_hint(self) -> int | None:
        return self.n_events

    def _rngs(self) -> tuple[np.random.Generator, np.random.Generator]:
        world_seq, event_seq = np.random.SeedSequence(self.cfg.seed).spawn(2)
        return np.random.default_rng(world_seq), np.random.default_rng(event_seq)

    def _ensure_world(self) -> _World:
        if self._world is None:
            self._world = _build_world(self.cfg, self._rngs()[0])
        return self._world

    def items(self) -> Iterator[Item]:
        """The catalog, ids ``"1"`` .. ``str(n_items)``."""
        w = self._ensure_world()
        names = genre_names(self.cfg.n_genres)
        years = w.years.tolist()
        for i, (item_id, title, genres) in enumerate(zip(w.item_ids, w.titles, w.item_genres, strict=True)):
            yield Item(item_id, title, tuple(names[g] for g in genres), years[i])

    def interactions(self) -> Iterator[Interaction]:
        """Events in non-decreasing time (ties by user), ids ``syn-<seed>-<index>``."""
        w = self._ensure_world()
        names = np.array(_EVENT_NAMES, dtype=object)
        surfaces = np.array((TRENDING_SURFACE, *PERSONAL_SURFACES), dtype=object)
        prefix = f"syn-{self.cfg.seed}-"
        make = make_interaction
        index = 0
        remaining = self.n_events
        if remaining == 0:
            return
        for ev in self._windows(w):
            n = min(len(ev), remaining)
            users = ev.user[:n]
            rows = zip(
                w.user_ids[users].tolist(),
                w.item_ids[ev.item[:n]].tolist(),
                names[ev.kind[:n]].tolist(),
                ev.value[:n].tolist(),
                ev.time[:n].tolist(),
                surfaces[ev.surface[:n]].tolist(),
                ev.position[:n].tolist(),
                w.device[users].tolist(),
                w.country[users].tolist(),
                strict=True,
            )
            for k, (user, item, kind, value, t, surface, pos, device, country) in enumerate(rows, index):
                yield make(f"{prefix}{k}", user, item, kind, value, t, surface, pos, device, country)
            index += n
            remaining -= n
            if remaining == 0:
                return

    def batches(self, size: int) -> Iterator[pa.RecordBatch]:
        """The rows of :meth:`interactions` (same order, same ids) as archive-schema batches of ≤ ``size`` rows.

        Each generated window is converted to arrow as a whole and sliced; rows short of a full batch wait
        for the next window, so memory stays O(window + size) however long the stream is.
        """
        size = check_batch_size(size)
        w = self._ensure_world()
        lookup = {
            "user_id": strings(w.user_ids.tolist()),
            "item_id": strings(w.item_ids.tolist()),
            "event_type": strings(list(_EVENT_NAMES)),
            "surface": strings([TRENDING_SURFACE, *PERSONAL_SURFACES]),
            "device": strings(w.device.tolist()),
            "country": strings(w.country.tolist()),
        }
        return self._batches(w, size, lookup)

    def _batches(self, w: _World, size: int, lookup: dict[str, pa.Array]) -> Iterator[pa.RecordBatch]:
        prefix, nothing = string_scalar(f"syn-{self.cfg.seed}-"), string_scalar("")
        index = 0  # number of the first pending row
        remaining = self.n_events
        pending: list[_Events] = []
        pending_rows = 0
        windows = self._windows(w)
        while remaining > 0:
            ev = next(windows)
            n = min(len(ev), remaining)
            pending.append(ev.rows(0, n) if n < len(ev) else ev)
            pending_rows += n
            remaining -= n
            if pending_rows < size and remaining > 0:
                continue
            buf = pending[0] if len(pending) == 1 else _Events.concat(pending)
            ready = pending_rows if remaining == 0 else pending_rows - pending_rows % size
            ev = buf.rows(0, ready)
            users, string = numeric(ev.user), pa.string()
            ids = pc.cast(numeric(np.arange(index, index + ready, dtype=np.int64)), string)
            columns = {
                "event_id": pc.binary_join_element_wise(prefix, ids, nothing),
                "user_id": lookup["user_id"].take(users),
                "item_id": lookup["item_id"].take(numeric(ev.item)),
                "event_type": lookup["event_type"].take(numeric(ev.kind)),
                "value": numeric(ev.value.astype(np.float64, copy=False)),
                "event_time_ms": numeric(ev.time.astype(np.int64, copy=False)),
                "surface": lookup["surface"].take(numeric(ev.surface)),
                "position": numeric(ev.position.astype(np.int32)),
                "device": lookup["device"].take(users),
                "country": lookup["country"].take(users),
            }
            yield from slices(archive_batch(columns), size)
            index += ready
            pending_rows -= ready
            pending = [buf.rows(ready, len(buf))] if pending_rows else []

    def _windows(self, w: _World) -> Iterator[_Events]:
        """Endless sorted windows of events; each window's times are >= every earlier window's."""
        cfg = self.cfg
        rng = self._rngs()[1]
        n_users = cfg.n_users
        taste = w.taste0.copy()
        gap_ms = cfg.session_gap_s * 1000
        intra_max = max(INTRA_GAP_MIN_MS, gap_ms // 2)
        mean_len = max(cfg.mean_session_events, 1.0)
        cycle_ms = gap_ms + OFF_TIME_MEAN_MS + mean_len * INTRA_GAP_MEAN_MS
        # Stagger the first sessions over one typical cycle so the stream starts in steady state.
        next_start = cfg.start_time_ms + (rng.random(n_users) * cycle_ms / w.activity).astype(np.int64)
        rate_per_ms = n_users * mean_len / cycle_ms
        window_ms = max(1.0, self.window_events / rate_per_ms)
        window_start = cfg.start_time_ms
        carry: _Events | None = None
        while True:
            window_end = window_start + max(1, round(window_ms))
            parts = [] if carry is None else [carry]
            starting = np.flatnonzero(next_start < window_end)
            for _ in range(MAX_ROUNDS):
                if not starting.size:
                    break
                ev, last = self._sessions(w, rng, taste, starting, next_start[starting], mean_len, intra_max)
                parts.append(ev)
                off = rng.exponential(OFF_TIME_MEAN_MS, starting.size) / w.activity[starting]
                next_start[starting] = last + gap_ms + off.astype(np.int64)
                starting = starting[next_start[starting] < window_end]
            else:
                # Few users with many sessions each: cut the window where the earliest pending session
                # starts, since every session before that point has been generated.
                window_end = min(window_end, int(next_start.min()))
            batch = _Events.concat(parts)
            due = batch.time < window_end
            carry = batch.take(np.flatnonzero(~due))
            out = batch.take(np.flatnonzero(due))
            out = out.take(np.lexsort((out.user, out.time)))
            if len(out):
                yield out
            # Steer the window length toward the target size; only world state decides it, never n_events.
            window_ms = (window_end - window_start) * min(2.0, max(0.5, self.window_events / max(len(out), 1)))
            window_start = window_end

    def _sessions(
        self,
        w: _World,
        rng: np.random.Generator,
        taste: np.ndarray,
        users: np.ndarray,
        starts: np.ndarray,
        mean_len: float,
        intra_max: int,
    ) -> tuple[_Events, np.ndarray]:
        """One whole session for each of ``users``; returns the events and each session's last time."""
        drift = self.cfg.taste_drift
        if drift > 0:
            fresh = rng.dirichlet(np.full(taste.shape[1], TASTE_ALPHA), users.size)
            taste[users] = ((1.0 - drift) * taste[users] + drift * fresh).astype(np.float32)
        lengths = rng.geometric(1.0 / mean_len, users.size)
        total = int(lengths.sum())
        user = np.repeat(users, lengths)
        first = np.zeros(total, dtype=bool)
        first_index = np.cumsum(lengths) - lengths
        first[first_index] = True
        gaps = np.clip(rng.exponential(INTRA_GAP_MEAN_MS, total), INTRA_GAP_MIN_MS, intra_max).astype(np.int64)
        gaps[first] = 0
        offsets = np.cumsum(gaps)
        offsets -= np.repeat(offsets[first_index], lengths)
        time = np.repeat(starts, lengths) + offsets
        last = time[np.cumsum(lengths) - 1]

        # Item choice: a taste genre (or the global segment when exploring), then Zipf popularity within it.
        # Tastes are fixed within a session, so their cumulative sums are taken once per session.
        session_cum = np.cumsum(taste[users], axis=1)
        session_cum /= session_cum[:, -1:]
        session = np.repeat(np.arange(users.size), lengths)
        draw = rng.random(total, dtype=np.float32)[:, None]
        genre = np.minimum((session_cum[session] < draw).sum(axis=1), taste.shape[1] - 1)
        trending = rng.random(total) < w.explore[user]
        segment = np.where(trending, len(w.genre_segment), w.genre_segment[genre])
        slot = np.searchsorted(w.segment_cdf, segment + rng.random(total), side="right")
        item = w.segment_items[np.minimum(slot, w.segment_items.size - 1)]

        # How much the user likes it, on a star scale: item quality plus taste match plus noise.
        affinity = taste[user, w.primary_genre[item]] * np.float64(taste.shape[1])
        score = 3.3 + 0.6 * w.quality[item] + 0.5 * np.log(np.clip(affinity, 0.05, 20.0))
        score += rng.normal(0.0, 0.7, total)
        kind = np.searchsorted(np.cumsum(_weights(EVENT_MIX)), rng.random(total), side="right")
        kind = np.minimum(kind, len(EVENT_MIX) - 1)
        completion = 1.0 / (1.0 + np.exp(-(score - 3.0 + rng.normal(0.0, 1.0, total))))
        value = np.select(
            [kind == _IMPRESSION, kind == _PLAY, kind == _RATING, kind == _THUMBS],
            [
                np.zeros(total),
                np.maximum(1.0, np.round(w.duration_s[item] * completion)),
                np.clip(np.round(score * 2.0) / 2.0, 0.5, 5.0),
                np.where(score >= 3.0, 1.0, -1.0),
            ],
            default=1.0,
        )
        position = np.where(_HAS_POSITION[kind], np.minimum(rng.geometric(0.2, total) - 1, 39), -1)
        surface = np.where(trending, 0, rng.integers(1, 1 + len(PERSONAL_SURFACES), total))
        events = _Events(time, user, item, kind, value, position, surface)
        return events, last
