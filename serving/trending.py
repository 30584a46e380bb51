""" "Trending now" and the no-model popularity lists, rebuilt in the background from ``item_fresh``.

Time here is the stream's time: the newest window end (or event time) the speed layer has written, never the
server's wall clock. A replay of 2018 data, or a speed layer that lags, keeps the windows of its own "now";
only windows that ended more than ``max_age_ms`` before the newest one are dropped (an item's last-ever
window, written years ago, no longer trends because the stream has moved on, not because the server's clock
says so). :func:`build` is pure; the engine reads the store and swaps the result in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from hybridrec.contract import GENRES
from hybridrec.fusion import HALF_LIVES_MS
from serving.features.base import Trending
from serving.model import inputs as mi


@dataclass
class Trend:
    """Trending items, most first, refreshed in the background from ``item_fresh`` (speed layer).

    Without a model (fresh install, no batch run yet) it is read for the catalog's items and also carries the
    speed layer's decayed popularity, overall and per genre: the only honest popularity signal left.
    """

    items: list[str] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    pos: np.ndarray | None = None  # model positions of ``items``, computed at refresh for ``version``
    version: str = ""
    stream_ms: int = 0  # the stream's time at the refresh: newest window end / event written
    recent: np.ndarray | None = None  # FOR_YOU's recent popularity of every item of ``version`` (by position)
    recent_order: np.ndarray | None = None  # positions of ``recent``'s items engaged with, most first ("Popular")
    recent_all: tuple[np.ndarray, ...] = ()  # the recent popularity at each of fusion.HALF_LIVES_MS (by position)
    item_last_ms: np.ndarray | None = None  # each model item's newest engagement the speed layer has (0: none)
    cold_order: np.ndarray | None = None  # "Popular right now" of a version with a learned fusion (prior.cold_order)
    popular: list[str] = field(default_factory=list)  # by decayed popularity now, most first
    popular_scores: list[float] = field(default_factory=list)
    genre_popular: dict[int, list[str]] = field(default_factory=dict)  # genre axis position → ``popular`` order
    popular_genres: list[int] = field(default_factory=list)  # genres by the popularity of their items


def stream_time(got: Mapping[str, Trending]) -> int:
    """The newest point in time the speed layer has written: its latest window end or event time."""
    return max((max(t.window_end_ms, t.last_event_ms) for t in got.values()), default=0)


def build(
    got: Mapping[str, Trending],
    *,
    max_age_ms: int,
    item_pos: Mapping[str, int] | None,
    version: str,
    catalog_genres: Mapping[str, Sequence[str]],
    half_life_ms: float,
    recent_half_life_ms: float,
) -> Trend:
    """The trending list (windows within ``max_age_ms`` of the stream's time, by count, ties by id) and the
    model items' recent popularity, or, when no model is loaded (``item_pos`` None), the decayed-popularity lists
    overall and per genre."""
    now = stream_time(got)
    fresh = [(i, t.count) for i, t in got.items() if t.count > 0 and now - t.window_end_ms <= max_age_ms]
    fresh.sort(key=lambda x: (-x[1], x[0]))
    items = [i for i, _ in fresh]
    counts = [c for _, c in fresh]
    if item_pos is not None:
        pos = np.fromiter((item_pos.get(i, -1) for i in items), np.int64, len(items))
        every = {h: recent_popularity(got, item_pos, now, h) for h in {*HALF_LIVES_MS, int(recent_half_life_ms)}}
        recent = every[int(recent_half_life_ms)]
        last = np.zeros(len(item_pos), np.int64)
        for i, t in got.items():
            if i in item_pos:
                last[item_pos[i]] = t.last_event_ms
        return Trend(
            items,
            counts,
            pos,
            version,
            stream_ms=now,
            recent=recent,
            recent_order=popular_order(recent),
            recent_all=tuple(every[h] for h in HALF_LIVES_MS),
            item_last_ms=last,
        )
    trend = Trend(items, counts, stream_ms=now)
    # Decayed to the stream's time with the speed layer's half-life, so items last seen at different times compare.
    pop = [
        (i, t.decayed_popularity * 2.0 ** (-max(0, now - t.last_event_ms) / half_life_ms))
        for i, t in got.items()
        if t.decayed_popularity > 0
    ]
    pop.sort(key=lambda x: (-x[1], x[0]))
    trend.popular, trend.popular_scores = [i for i, _ in pop], [s for _, s in pop]
    mass = np.zeros(len(GENRES))
    for i, s in pop:
        genres = catalog_genres.get(i)
        if not genres:
            continue
        vec = mi.genre_vector(genres)
        mass += s * vec
        for g in np.flatnonzero(vec).tolist():
            trend.genre_popular.setdefault(g, []).append(i)
    trend.popular_genres = [int(g) for g in np.argsort(-mass, kind="stable") if mass[g] > 0]
    return trend


def recent_popularity(
    got: Mapping[str, Trending], item_pos: Mapping[str, int], now: int, half_life_ms: float
) -> np.ndarray:
    """log(1 + the count kept at ``half_life_ms``) of every model item, decayed from its newest engagement to the
    stream's time ``now`` (0 for items nobody engaged with): the recent-popularity part of FOR_YOU's prior, as the
    batch's prior choice and the offline ensemble compute it (``hybridrec.prior_choice.decayed_popularity``; a unit
    test holds the two to the declared count)."""
    out = np.zeros(len(item_pos), np.float32)
    hit = [(item_pos[i], t.recent_at(int(half_life_ms)), t) for i, t in got.items() if i in item_pos]
    hit = [h for h in hit if h[1] > 0]
    if hit:
        pos = np.fromiter((p for p, _, _ in hit), np.int64, len(hit))
        value = np.fromiter((v for _, v, _ in hit), np.float64, len(hit))
        age = np.fromiter((max(0, now - t.last_event_ms) for _, _, t in hit), np.float64, len(hit))
        out[pos] = np.log1p(value * np.exp2(-age / half_life_ms))
    return out


def popular_order(recent: np.ndarray) -> np.ndarray:
    """Positions of the items with a recent popularity, most first (ties by position): "Popular right now" of a
    loaded model. The batch's counts over its whole window order what was popular then; on ML-100K a user's first
    engagement is far more often among the recently popular (the replay's cold-start targets: NDCG@10 0.22 vs 0.06,
    docs/benchmarks.md, session 10)."""
    order = np.flatnonzero(recent > 0)
    return order[np.argsort(-recent[order], kind="stable")]


def keep_trending_place(scores: np.ndarray, known: np.ndarray) -> None:
    """Items of a trending row (in trending order) that the model cannot score yet take the score of the known
    item trending just above them (the row's best for the top), so a new release that trends keeps its place
    among its neighbours instead of sinking to the end."""
    if known.all() or not known.any():
        return
    above = float(scores[known].max())
    for k in range(len(scores)):
        if known[k]:
            above = float(scores[k])
        else:
            scores[k] = above
