import numpy as np

from batch.topk import top_k_unseen


def test_top_k_unseen_masks_seen_items_and_orders_by_score() -> None:
    rng = np.random.default_rng(1)
    users, items = rng.normal(size=(5, 4)), rng.normal(size=(30, 4))
    seen = [np.array([0, 3, 7]), np.array([], dtype=np.int64), np.arange(25), np.array([29]), np.arange(30)]
    top, scores = top_k_unseen(users, seen, items, 8)
    full = users @ items.T
    for r in range(5):
        unseen = [i for i in range(30) if i not in set(seen[r].tolist())]
        want = sorted(unseen, key=lambda i: -full[r, i])[:8]
        got = [int(i) for i in top[r] if i >= 0]
        assert got == want
        assert np.allclose(scores[r][: len(got)], full[r, want], atol=1e-5)
    assert (top[2] >= 0).sum() == 5 and (top[4] == -1).all()  # fewer unseen items than k: padded
