"""FOR_YOU's learned fusion, fit per version on the window's own next-item cases (:mod:`hybridrec.fusion`).

The cases are the prior choice's validation targets (:func:`hybridrec.prior_choice.validation_targets`) after
each configured cut: both lists fit again on what is before the cut, every feature built at the target's time from
the engagements before it, as serving builds it at request time (one definition: ``hybridrec.fusion``). Pure
numpy and torch on the driver; the batch passes the window's engagements in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, replace
from typing import Any

import numpy as np
import torch

from batch.config import FusionConfig, PriorConfig
from hybridrec import fusion, neighbours, prior_choice

log = logging.getLogger(__name__)

ListBuilder = Callable[[Sequence[np.ndarray]], neighbours.Neighbours | None]


def spec_of(choice: prior_choice.Choice | None, prior: PriorConfig, cfg: FusionConfig) -> fusion.Spec:
    """How serving draws the candidates: the prior weights the batch chose (else the spec's defaults, serving's)."""
    chosen: dict[str, Any] = {}
    if choice is not None and choice.half_life_ms in fusion.HALF_LIVES_MS:
        chosen = {
            "ease_weight": choice.ease_weight,
            "recent_weight": choice.recent_popularity_weight,
            "half_life_ms": choice.half_life_ms,
        }
    return fusion.Spec(**chosen, seeds=prior.seeds, decay=prior.decay, candidates=cfg.candidates)


def _recent(e: prior_choice.Engagements, targets: Sequence[prior_choice.Target], n_items: int, chunk: int) -> Iterator:
    for lo in range(0, len(targets), chunk):
        batch = targets[lo : lo + chunk]
        yield [prior_choice.decayed_popularity(e, batch, n_items, h) for h in fusion.HALF_LIVES_MS]


def training_cases(
    e: prior_choice.Engagements,
    n_items: int,
    co_occurrence: ListBuilder,
    ease: ListBuilder,
    genres: np.ndarray,
    spec: fusion.Spec,
    prior: PriorConfig,
    cfg: FusionConfig,
) -> fusion.Cases | None:
    """The cases of every cut (users kept apart per cut: a user's cases of two cuts share a group), or None."""
    got: list[fusion.Cases] = []
    for k, share in enumerate(cfg.validation_fractions):
        cut = int(len(e) * (1.0 - share))
        while 0 < cut < len(e) and e.times[cut] == e.times[cut - 1]:
            cut += 1
        targets = prior_choice.validation_targets(e, cut, prior.max_targets_per_user, cfg.max_targets)
        if not targets or cut == 0:
            continue
        seqs = e.slice(0, cut).sequences()
        history = fusion.ItemHistory.of(e.items[:cut], e.times[:cut], n_items)
        c = fusion.cases(
            e.times,
            e.items,
            targets,
            history,
            co_occurrence(seqs),
            ease(seqs),
            _recent(e, targets, n_items, 500),
            genres,
            spec,
        )
        got.append(replace(c, users=[u * len(cfg.validation_fractions) + k for u in c.users]))
    if not got:
        return None
    return fusion.concat(got)


def fit(
    e: prior_choice.Engagements,
    n_items: int,
    co_occurrence: ListBuilder,
    ease: ListBuilder,
    genres: np.ndarray,
    choice: prior_choice.Choice | None,
    prior: PriorConfig,
    cfg: FusionConfig,
) -> tuple[fusion.Learned | None, dict[str, Any]]:
    """The version's fusion and what its fit measured; None (with the reason) when there are no cases or the
    scorers do not beat the prior's order on their held-out users."""
    spec = spec_of(choice, prior, cfg)
    c = training_cases(e, n_items, co_occurrence, ease, genres, spec, prior, cfg)
    if c is None or not (c.target >= 0).any():
        return None, {"published": False, "reason": "no training cases"}
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        groups = [str(u) for u in c.users]
        fits = [fusion.fit(c.x, c.target, groups, hidden=cfg.hidden, epochs=cfg.epochs, seed=s) for s in cfg.seeds]
    finally:
        torch.set_num_threads(threads)
    learned = np.mean([f.dev_ndcg for f in fits])
    prior_ndcg = np.mean([f.dev_prior_ndcg for f in fits])
    stats: dict[str, Any] = {
        "cases": len(c.target),
        "target_among_candidates": round(float((c.target >= 0).mean()), 4),
        "held_out_ndcg@10": round(float(learned), 5),
        "held_out_prior_ndcg@10": round(float(prior_ndcg), 5),
        "best_epochs": [f.best_epoch for f in fits],
        "spec": asdict(spec),
    }
    if learned <= prior_ndcg:
        log.warning("fusion not published: held-out NDCG@10 %.4f <= the prior's %.4f", learned, prior_ndcg)
        return None, {**stats, "published": False, "reason": "does not beat the prior on held-out users"}
    held = fits[0].held  # out of sample for the first scorer: its confidence there is what serving will see
    sub = fusion.subset(c, held)
    scorer = fits[0].fusion
    weight, table = fusion.diversity_choice(
        scorer.score(sub.x),
        scorer.score(sub.cold_x),
        sub,
        genres,
        cfg.diversity_weights,
        cfg.temperature,
        margin=cfg.diversity_margin,
        head=cfg.diversity_head,
    )
    stats["diversity"] = {
        "weight": weight,
        "head": cfg.diversity_head,
        "temperature": cfg.temperature,
        "by_weight": [{k: round(v, 5) for k, v in t.items()} for t in table],
    }
    log.info("fusion: genre re-rank weight %.2f (%s)", weight, stats["diversity"]["by_weight"])
    history = fusion.ItemHistory.of(e.items, e.times, n_items)
    learned_fusion = fusion.Learned(
        tuple(f.fusion for f in fits), spec, history, genres, weight, cfg.temperature, cfg.diversity_head
    )
    return learned_fusion, {**stats, "published": True}
