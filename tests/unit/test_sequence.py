"""The sequence-aware next-item model on tiny hand-made sequences: it learns an order a bag of items cannot."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hybridrec import sequence


def test_windows_cut_from_the_newest_end_overlapping_by_one() -> None:
    got = sequence.windows([[0, 1, 2, 3, 4], [7], [5, 6]], max_len=3)
    # shifted by one (0 is padding); [7] alone has no next item and gives no window
    assert got.tolist() == [[2, 3, 4, 5], [0, 0, 1, 2], [0, 0, 6, 7]]


def test_pad_newest_keeps_the_newest_items_right_aligned() -> None:
    x = sequence.pad_newest([[4, 5, 6], [1], []], max_len=2)
    assert x.tolist() == [[6, 7], [0, 2], [0, 0]]
    assert sequence.pad_newest([[1]], max_len=3).tolist() == [[0, 0, 2]]  # the full width, as in training


@pytest.mark.parametrize("encoder", sequence.ENCODERS)
def test_learns_what_comes_next_in_an_order(encoder: str) -> None:
    # every user walks the cycle 0 → 1 → 2 → 3 → 4 → 5 → 0 from a different start: each item co-occurs with every
    # other one, only the order tells that 3 follows 2
    seqs = [[(s + n) % 6 for n in range(12)] for s in range(6) for _ in range(5)]
    cfg = sequence.SequenceConfig(encoder=encoder, dim=16, blocks=1, max_len=8, dropout=0.0, epochs=60, lr=1e-2)
    torch.manual_seed(0)
    model = sequence.train(seqs, 6, cfg)
    scores = sequence.score(model, [[0, 1, 2], [4, 5], [5, 0, 1, 2, 3]])
    assert scores.shape == (3, 6)
    assert np.argmax(scores, axis=1).tolist() == [3, 0, 4]


def test_rejects_an_unknown_encoder() -> None:
    with pytest.raises(ValueError, match="encoder"):
        sequence.SequenceConfig(encoder="lstm")


def test_a_saved_model_loads_and_scores_the_same(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = sequence.SequenceConfig(dim=8, blocks=1, max_len=4, epochs=2)
    model = sequence.train([[0, 1, 2, 3], [3, 2, 1]], 5, cfg)
    sequence.save(model, cfg, tmp_path / "next_item.pt")
    again = sequence.load(tmp_path / "next_item.pt")
    histories = [[0, 1], [4], []]
    assert np.allclose(sequence.score(model, histories), sequence.score(again, histories))
    # one user at a time (serving) scores as in a batch of users (the offline evaluation)
    assert np.allclose(sequence.score(model, histories[1:2]), sequence.score(model, histories)[1:2], atol=1e-5)
    assert model.fit_stats["windows"] == 2 and model.fit_stats["epochs"] == 2


def test_the_batch_sections_own_keys_stay_out_of_the_artifact(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from batch.config import NextItemConfig

    cfg = NextItemConfig(dim=8, blocks=1, max_len=4, epochs=1, threads=1)
    sequence.save(sequence.train([[0, 1, 2]], 3, cfg), cfg, tmp_path / "next_item.pt")
    assert sequence.load(tmp_path / "next_item.pt").max_len == 4


def test_blend_scales_each_score_to_the_unengaged_items_range() -> None:
    i2i = np.array([0.0, 2.0, 1.0, 9.0])  # item 3 is engaged: its 9.0 must not set the scale
    seq = np.array([-1.0, 1.0, 3.0, 5.0])
    got = sequence.blend(i2i, seq, weight=0.25, exclude=[3])
    assert got == pytest.approx([0.0, 0.25 * 1.0 + 0.75 * 0.5, 0.25 * 0.5 + 0.75 * 1.0, 0.0])
    assert sequence.blend(i2i, seq, weight=1.0).argmax() == 3  # nothing excluded: co-occurrence alone
    flat = sequence.blend(np.zeros(3), np.array([1.0, 2.0, 3.0]), weight=0.5)  # a user with no neighbours
    assert flat == pytest.approx([0.0, 0.25, 0.5])


def test_blend_many_fuses_several_parts_and_skips_unscored_items() -> None:
    cooc = np.array([0.0, 4.0, 2.0, 9.0])
    ease = np.array([-np.inf, 1.0, 3.0, 0.0])  # item 0 outside EASE's vocabulary: 0 after scaling, not -inf
    recent = np.array([5.0, 5.0, 5.0, 5.0])  # no spread: every item 0
    got = sequence.blend_many((cooc, ease, recent), (0.5, 0.3, 0.2), exclude=[3])
    assert got == pytest.approx([0.0, 0.5 * 1.0 + 0.3 * 0.0, 0.5 * 0.5 + 0.3 * 1.0, 0.0])
    assert sequence.blend(cooc, ease, 0.5, [3]) == pytest.approx(sequence.blend_many((cooc, ease), (0.5, 0.5), [3]))
    with pytest.raises(ValueError, match="one weight per part"):
        sequence.blend_many((cooc,), (0.5, 0.5))
