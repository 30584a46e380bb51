"""Quality gates: whether a candidate may replace the promoted model, per surface, with the reasons.

Pure logic on metric dictionaries, so the rule is unit-tested without any model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from batch.config import BatchConfig


@dataclass
class GateDecision:
    passed: bool
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"passed": self.passed, "reasons": self.reasons}


def decide(
    cfg: BatchConfig,
    candidate: Mapping[str, Mapping[str, float]],
    popularity: Mapping[str, float],
    current: Mapping[str, Mapping[str, float]] | None,
    min_recall: float | None = None,
    ann_recall: float | None = None,
) -> GateDecision:
    """``candidate``/``current``: surface → metrics; ``popularity``: metrics (surface-independent).

    A surface passes when the candidate beats popularity by the surface's ``min_lift_over_popularity``
    (relative) and is no more than ``tolerance`` (absolute) below the current model; all surfaces must pass.
    """
    reasons: list[str] = []
    ok = True
    for surface, cand in candidate.items():
        gate = cfg.gate_for(surface)
        m = gate.metric
        value, pop = cand[m], popularity[m]
        need = pop * (1.0 + gate.min_lift_over_popularity)
        if not value > need:
            ok = False
            reasons.append(f"{surface}: {m} {value:.4f} does not beat popularity {pop:.4f} (needs > {need:.4f})")
        else:
            reasons.append(f"{surface}: {m} {value:.4f} beats popularity {pop:.4f}")
        if current is not None and surface in current:
            cur = current[surface][m]
            if value < cur - gate.tolerance:
                ok = False
                reasons.append(
                    f"{surface}: {m} {value:.4f} is worse than current {cur:.4f} beyond tolerance {gate.tolerance}"
                )
            else:
                reasons.append(f"{surface}: {m} {value:.4f} vs current {cur:.4f} within tolerance {gate.tolerance}")
    if min_recall is not None and ann_recall is not None and ann_recall < min_recall:
        ok = False
        reasons.append(f"ANN recall {ann_recall:.3f} below the required {min_recall:.3f}")
    return GateDecision(ok, reasons)
