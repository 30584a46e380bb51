"""FOR_YOU's genre-entropy guardrail, kept on the traffic served (ADR-001: a personal row no narrower than the
popular one, on average).

The batch chooses the genre re-rank's weight on held-out cases of its window, against its estimate of the popular
row's entropy. That estimate drifts with the period served: in session 14's replays it was off by −0.10 … +0.07
bits, its sign depending on the dataset, so one cut fell short of the guardrail and another paid relevance for
variety nobody asked for. Serving knows both rows at each request, so it keeps the guardrail itself: after each
fused FOR_YOU row, the weight moves by ``step`` times the gap between the user's "Popular right now" entropy and
the row's own (a dual ascent on the average constraint: every request trades relevance for genres at one price,
the least at which the average holds). The version's weight is where it starts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hybridrec import diversity


@dataclass
class EntropyGuardrail:
    """The fused FOR_YOU's current re-rank weight for one model version, moved by each served row's entropy gap."""

    version: str
    weight: float
    step: float
    low: float = 0.0
    high: float = 1.0

    def update(self, popular_bits: float, row_bits: float) -> float:
        """After one served row: the weight rises when the row was narrower than the user's popular row, falls
        when it was wider (by ``step`` per bit), within [``low``, ``high``]."""
        self.weight = min(self.high, max(self.low, self.weight + self.step * (popular_bits - row_bits)))
        return self.weight


def entropy_of(positions: np.ndarray, genres: np.ndarray) -> float:
    """Genre entropy (bits) of one row of model positions (−1: an item the model does not know, no genres)."""
    return float(diversity.entropy_bits(np.asarray(positions, np.int64)[None, :], genres)[0])
