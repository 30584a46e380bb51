"""FOR_YOU's genre-entropy guardrail, kept on the traffic served (ADR-001: the personal row no narrower than the
popular one, on average).

The batch chooses the genre re-rank's weight on held-out cases of its window, against its own estimate of the
popular row: the cold fused order. The row users get as "Popular right now" is that order re-scored by the ranker
for each of them, over another period, so the estimate missed by −0.10 … +0.07 bits in session 14's replays, its
sign depending on the dataset: one cut fell short of the guardrail, another paid relevance for variety nobody
asked for. Serving sees both rows as it serves them, so it keeps the guardrail itself: it follows the genre entropy
of the popular rows it serves to users with a history (a moving average), and after each fused FOR_YOU row moves
the weight by ``step`` times the gap between that average and the row's entropy (a dual ascent on the average
constraint: every request trades relevance for genres at one price, the least at which the average holds). The
version's weight is where it starts. It aims a small ``margin`` above the popular rows' average: held exactly at it,
the promise is a coin flip on any comparison whose rows differ a little from its moving average (a replay's
targets: −0.002 … +0.04 bits over seven replays).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hybridrec import diversity


@dataclass
class EntropyGuardrail:
    """The fused FOR_YOU's current re-rank weight for one model version, moved by each served row's entropy against
    the served popular rows' moving average (``popular_bits``: None until the first one)."""

    version: str
    weight: float
    step: float
    margin: float = 0.0  # bits above the popular rows' average the fused rows aim at
    smoothing: float = 0.01  # each popular row's share of the moving average (about the last 100 rows)
    low: float = 0.0
    high: float = 1.0
    popular_bits: float | None = None

    def saw_popular(self, bits: float) -> None:
        """A popular row was served with ``bits`` of genre entropy."""
        p = self.popular_bits
        self.popular_bits = bits if p is None else p + self.smoothing * (bits - p)

    def saw_fused(self, bits: float) -> float:
        """A fused FOR_YOU row was served with ``bits``: the weight rises when it was narrower than the popular
        rows' average plus ``margin``, falls when it was wider (``step`` per bit), within [``low``, ``high``];
        unchanged before any popular row."""
        if self.popular_bits is not None:
            moved = self.weight + self.step * (self.popular_bits + self.margin - bits)
            self.weight = min(self.high, max(self.low, moved))
        return self.weight


def entropy_of(genres: np.ndarray) -> float:
    """Genre entropy (bits) of one row from its items' genre vectors (items × genres: the genres the re-rank saw,
    :func:`serving.logic.assembly.genres_of`)."""
    return float(diversity.entropy_bits(np.arange(len(genres))[None, :], genres)[0])
