"""Which rows a page gets, in which order, with their titles: the titles are the explanations (ADR-001's
"explanation by design"), so each plan carries the title and the reason shown to the member."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from serving.domain import HOMEPAGE_ORDER, RowKind


@dataclass(frozen=True)
class RowPlan:
    kind: RowKind
    row_id: str
    title: str
    reason: str
    seed_item: str | None = None  # BECAUSE_YOU_WATCHED
    genre: int | None = None  # TOP_GENRE: position on the genre axis


def plan_rows(
    *,
    personalized: bool,
    has_profile: bool,
    recent_items: Sequence[str],
    user_genres: Sequence[int],
    popular_genres: Sequence[int],
    genre_names: Sequence[str],
    title_of: Callable[[str], str],
    n_rows: int,
    only: RowKind | None = None,
    spare: int = 2,
    can_seed: Callable[[str], bool] = lambda _: True,
    trending: bool = True,
) -> list[RowPlan]:
    """Up to ``n_rows + spare`` rows (spares replace rows that end up empty after filtering).

    Profiling rows only when ``personalized``; FOR_YOU needs a profile (ALS vector or a session), BECAUSE
    YOU WATCHED needs recent items that ``can_seed`` (the model has a vector for: a title released after the
    last training run has no neighbours, and a row titled after it would be filled with popular items); genre
    rows use the user's genres, else the globally popular ones. "Trending now" only when ``trending`` (the
    speed layer has counts): a popularity list under that title would be a false explanation, and it would
    duplicate "Popular right now", which the page's de-duplication would then empty.
    """
    profiling = personalized and (has_profile or bool(recent_items))
    seeds = [i for i in dict.fromkeys(recent_items) if can_seed(i)][:3] if personalized else []
    genres = list(user_genres) if profiling else []
    genres += [g for g in popular_genres if g not in genres]
    per_kind: dict[RowKind, list[RowPlan]] = {k: [] for k in RowKind}
    if profiling:
        per_kind[RowKind.FOR_YOU].append(
            RowPlan(RowKind.FOR_YOU, "for_you", "Top picks for you", "close to your long-term taste and this session")
        )
    for i, item in enumerate(seeds):
        name = title_of(item)
        per_kind[RowKind.BECAUSE_YOU_WATCHED].append(
            RowPlan(
                RowKind.BECAUSE_YOU_WATCHED,
                f"because_you_watched:{i}",
                f"Because you watched {name}",
                f"similar to {name}",
                seed_item=item,
            )
        )
    if trending:
        per_kind[RowKind.TRENDING].append(
            RowPlan(RowKind.TRENDING, "trending", "Trending now", "most watched in the last hour")
        )
    for g in genres[:4]:
        mine = profiling and g in user_genres
        per_kind[RowKind.TOP_GENRE].append(
            RowPlan(
                RowKind.TOP_GENRE,
                f"genre:{genre_names[g]}",
                f"{genre_names[g]} for you" if mine else f"Popular in {genre_names[g]}",
                "one of your most watched genres" if mine else "popular in this genre",
                genre=g,
            )
        )
    per_kind[RowKind.POPULAR].append(RowPlan(RowKind.POPULAR, "popular", "Popular right now", "most watched recently"))
    if only is not None:
        return per_kind[only][:1]
    # Interleave: one of each kind in homepage order, then further rows of kinds that have more.
    out: list[RowPlan] = []
    depth = 0
    while len(out) < n_rows + spare and any(len(v) > depth for v in per_kind.values()):
        out.extend(per_kind[k][depth] for k in HOMEPAGE_ORDER if len(per_kind[k]) > depth)
        depth += 1
    return out[: n_rows + spare]
