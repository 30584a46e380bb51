"""The multi-task ranker on plain arrays: it learns a planted signal, and TorchScript matches eager."""

import numpy as np
import torch

from batch import ranker
from batch.config import RankerConfig


def _inputs(n: int, rank: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "user_num": rng.integers(0, 50, (n, 4)).astype(np.float32),
        "user_genres": rng.dirichlet(np.ones(20), n).astype(np.float32),
        "item_num": np.abs(rng.normal(size=(n, 5))).astype(np.float32),
        "item_genres": rng.dirichlet(np.ones(20), n).astype(np.float32),
        "session_genres": np.zeros((n, 20), dtype=np.float32),
        "user_vec": rng.normal(size=(n, rank)).astype(np.float32),
        "item_vec": rng.normal(size=(n, rank)).astype(np.float32),
        "recent_vec": rng.normal(size=(n, rank)).astype(np.float32),
        "surface": rng.integers(0, 3, n),
        "device": rng.integers(0, 2, n),
        "hour": rng.integers(0, 24, n).astype(np.float32),
    }


def test_learns_planted_signal_and_exports() -> None:
    rng = np.random.default_rng(1)
    rank, n = 4, 4000
    x = _inputs(n, rank, rng)
    als = (x["user_vec"] * x["item_vec"]).sum(1)
    engage = (als > 0).astype(np.float64)  # engagement is planted in the ALS score
    sat = np.where(rng.random(n) < 0.3, (x["item_num"][:, 2] > 0.7).astype(np.float64), np.nan)
    vocab = ranker.Vocab(["<unk>", "a", "b"], ["<unk>", "TV"])
    model, stats = ranker.train(x, engage, sat, vocab, rank, RankerConfig(epochs=4, threads=1))
    assert stats["train_loss_last_epoch"] < stats["train_loss_first_epoch"]
    test = _inputs(1000, rank, np.random.default_rng(2))
    p, s = ranker.score(model, test)
    truth = (test["user_vec"] * test["item_vec"]).sum(1) > 0
    assert ((p > 0.5) == truth).mean() > 0.8
    assert ((s >= 0) & (s <= 1)).all()
    scripted = ranker.export(model)
    p2, _ = ranker.score(scripted, test)
    assert np.allclose(p, p2, atol=1e-6)
    schema = ranker.feature_schema(vocab, rank, model)
    assert [i["name"] for i in schema["inputs"]] == list(ranker.INPUT_ORDER)
    assert isinstance(scripted, torch.jit.ScriptModule)
