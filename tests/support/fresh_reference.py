"""The speed layer's features computed from a whole event list, straight from their definitions
(``streaming/logic.py``), the reference the JVM operator and the job are held to.

Deliberately written differently from the job's incremental state (``FeatureLogic.java``: one key and micro-window
at a time), with whole-list passes, so that a test comparing the two, or comparing the job with this, checks the
definitions and not one implementation against itself. Only events the job could see are passed in: valid, and
within the allowed out-of-orderness.
"""

from __future__ import annotations

from collections.abc import Iterable

from streaming.config import StreamingConfig, StreamingSettings
from streaming.logic import HIDE, N_EVENT_TYPES, N_GENRES, Event, GenreLookup


def _decayed(times: list[int], at_ms: int, half_life_ms: int) -> list[float]:
    return [2.0 ** (-(at_ms - t) / half_life_ms) for t in times]


def reference_user_features(events: Iterable[Event], cfg: StreamingConfig,
                            genres: GenreLookup) -> dict[str, object]:
    """Features of one user after all of ``events``."""
    ordered = sorted(events)
    engaged = [e for e in ordered if e.event_type in cfg.engagement_type_values]
    last = max(e.event_time_ms for e in ordered)
    counts = {}
    for name, window in (("counts_1h", cfg.counts_short_ms), ("counts_1d", cfg.counts_long_ms)):
        c = [0] * N_EVENT_TYPES
        for e in ordered:
            if last - window < e.event_time_ms <= last:
                c[e.event_type] += 1
        counts[name] = c
    session: list[Event] = []
    for i, e in enumerate(engaged):
        if i == 0 or e.event_time_ms - engaged[i - 1].event_time_ms > cfg.session_gap_ms:
            session = []
        session.append(e)
    recent = list(reversed(engaged))[: cfg.recent_n]
    hidden: list[str] = []
    for e in reversed([e for e in ordered if e.event_type == HIDE]):
        if e.item_id not in hidden:
            hidden.append(e.item_id)
    if engaged:
        t_end = engaged[-1].event_time_ms
        weights = _decayed([e.event_time_ms for e in engaged], t_end, cfg.taste_half_life_ms)
        taste = [sum(w * genres(e.item_id)[g] for w, e in zip(weights, engaged, strict=True))
                 for g in range(N_GENRES)]
        total = sum(taste)
        taste = [v / total for v in taste]
        session_genres = [sum(genres(e.item_id)[g] for e in session) / len(session) for g in range(N_GENRES)]
    else:
        taste = [0.0] * N_GENRES
        session_genres = [0.0] * N_GENRES
    return {
        "recent_items": [e.item_id for e in recent],
        "recent_item_times_ms": [e.event_time_ms for e in recent],
        "session_start_ms": session[0].event_time_ms if session else 0,
        "session_items": [e.item_id for e in session],
        "session_genres": session_genres,
        "taste_genres": taste,
        **counts,
        "last_event_ms": last,
        "hidden_items": hidden[: cfg.hidden_n],
    }


def reference_item_features(times_ms: Iterable[int], cfg: StreamingConfig, popularity_half_life_ms: int
                            ) -> dict[str, object]:
    """Features of one item after all its engagement events, once every window has fired."""
    times = sorted(times_ms)
    last = times[-1]
    # The newest HOP window holding any event starts at the slide boundary at or before the newest event.
    end = last - last % cfg.trending_slide_ms + cfg.trending_window_ms
    start = end - cfg.trending_window_ms
    return {
        "trending_1h": sum(1 for t in times if start <= t < end),
        "trending_window_end_ms": end,
        "decayed_popularity": sum(_decayed(times, last, popularity_half_life_ms)),
        "last_event_ms": last,
    }


def reference_features(events: Iterable[tuple[str, Event]], settings: StreamingSettings, genres: GenreLookup
                       ) -> tuple[dict[str, dict[str, object]], dict[str, dict[str, object]]]:
    """(user_id → user_fresh, item_id → item_fresh) for ``(user_id, event)`` pairs, under ``settings``."""
    cfg = settings.streaming
    by_user: dict[str, list[Event]] = {}
    by_item: dict[str, list[int]] = {}
    for user_id, e in events:
        by_user.setdefault(user_id, []).append(e)
        if e.event_type in cfg.engagement_type_values:
            by_item.setdefault(e.item_id, []).append(e.event_time_ms)
    users = {u: reference_user_features(evs, cfg, genres) for u, evs in by_user.items()}
    items = {i: reference_item_features(ts, cfg, settings.features.popularity_half_life_ms)
             for i, ts in by_item.items()}
    return users, items


def mismatches(got: dict[str, object], expected: dict[str, object], rel: float = 1e-6) -> list[str]:
    """Names of features that differ: floats (and lists of floats) within ``rel``, everything else exact."""
    def close(a: object, b: object) -> bool:
        if isinstance(a, float) or isinstance(b, float):
            return isinstance(a, int | float) and isinstance(b, int | float) and \
                abs(a - b) <= rel * max(abs(a), abs(b), 1e-9)
        if isinstance(a, list | tuple) and isinstance(b, list | tuple):
            return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b, strict=True))
        return a == b

    return [f"{k}: got {got.get(k)!r}, expected {v!r}" for k, v in expected.items() if not close(got.get(k), v)]
