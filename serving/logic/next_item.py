"""FOR_YOU's prior from what the user engaged with just now: the item-to-item co-occurrence scores of their newest
engagements blended with the sequence model's next-item scores (``hybridrec.sequence.blend``, the blend the
offline try measured: benchmarks/sequence_quality.py). Pure: the loaded model and the user's fresh features in,
a score for every model item out; no I/O.

The sequence model reads the user's newest engagements oldest first (the speed layer's ``engaged_items``, else
``recent_items``; hidden items left out), so an event streamed a second ago moves the row on the next request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hybridrec import neighbours, sequence

if TYPE_CHECKING:
    from serving.features.base import UserFeatures
    from serving.model.bundle import LoadedModel


def engaged_positions(model: LoadedModel, user: UserFeatures, hidden: frozenset[str], n: int) -> list[int]:
    """Model positions of the user's ``n`` newest distinct engagements, newest first (unknown items left out)."""
    engaged = user.engaged_items or tuple(dict.fromkeys(user.recent_items))
    pos = (model.item_pos.get(i, -1) for i in engaged if i not in hidden)
    return [p for p in pos if p >= 0][:n]


def prior(
    model: LoadedModel,
    user: UserFeatures | None,
    hidden: frozenset[str],
    seeds: int,
    decay: float,
    next_item_weight: float,
) -> np.ndarray | None:
    """Every model item's FOR_YOU prior: ``next_item_weight`` × the sequence model's score + the rest × the
    item-to-item score of the ``seeds`` newest engagements, each min-max scaled over the items the user has not
    engaged with (as far as ``engaged_items`` tells). None when the version has no sequence model, the weight is
    0 or the user has no engagement the model knows; the caller then keeps the item-to-item lists alone."""
    if model.next_item is None or user is None or next_item_weight <= 0.0:
        return None
    engaged = engaged_positions(model, user, hidden, max(model.next_item.max_len, seeds))
    if not engaged:
        return None
    i2i = (
        neighbours.score_all(model.neighbours, engaged[:seeds], decay)
        if model.neighbours is not None and seeds > 0
        else np.zeros(len(model.item_ids), np.float32)
    )
    seq = sequence.score(model.next_item, [engaged[: model.next_item.max_len][::-1]])[0]
    return sequence.blend(i2i, seq, 1.0 - next_item_weight, engaged)
