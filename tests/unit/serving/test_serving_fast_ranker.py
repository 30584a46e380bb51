"""The numpy ranker (item side of the first layer precomputed) against the TorchScript forward it replaces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from batch import ranker  # the real model class (tests may import batch)
from hybridrec.registry import ModelRegistry
from serving.model import fast_ranker
from serving.model.bundle import UserTensors, fast_matches, load_version, script_forward
from tests.support import serving_kit as kit

RANK, SURFACES, DEVICES = 8, 3, 4


def _trained_like(model: ranker.MultiTaskRanker, seed: int = 0) -> ranker.MultiTaskRanker:
    """Non-trivial normalisation buffers and weights, as a trained model has (zeros/ones would hide a mistake)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name in ("user", "item", "derived"):
            mean, std = getattr(model, f"{name}_mean"), getattr(model, f"{name}_std")
            mean.copy_(torch.randn(mean.shape, generator=g))
            std.copy_(0.5 + torch.rand(std.shape, generator=g))
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return model.eval()


def _exported(cls: type[ranker.MultiTaskRanker] = ranker.MultiTaskRanker) -> torch.jit.ScriptModule:
    return ranker.export(_trained_like(cls(RANK, SURFACES, DEVICES, [16, 8], 4)))


def test_numpy_forward_equals_torchscript() -> None:
    scripted = _exported()
    fast = fast_ranker.build(scripted, RANK)
    assert fast is not None
    rng = np.random.default_rng(3)
    users, items = fast_ranker.sample_inputs(fast, rng, n_users=8, n_items=50)
    fast = fast.with_items(*items)
    tensors = tuple(torch.from_numpy(a) for a in items)
    positions = rng.integers(0, 50, 300)
    surfaces = rng.integers(0, SURFACES, 300)
    outs = []
    for k, user in enumerate(users):
        want = script_forward(scripted, UserTensors(user), tensors, positions, surfaces, k % DEVICES)
        got = fast.score(fast.user(user), positions, surfaces, k % DEVICES)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        outs.append(want)
    assert np.std(np.concatenate(outs)) > 0.05, "outputs spread out: the comparison is not between saturated 0/1s"


class _OtherSimilarity(ranker.MultiTaskRanker):
    """Same parameters, different arithmetic: recent_similarity without the cosine's normalisation."""

    def derived(
        self,
        user_genres: Tensor,
        item_genres: Tensor,
        session_genres: Tensor,
        user_vec: Tensor,
        item_vec: Tensor,
        recent_vec: Tensor,
    ) -> Tensor:
        genre_aff = (user_genres * item_genres).sum(1)
        session_aff = (session_genres * item_genres).sum(1)
        als = (user_vec * item_vec).sum(1)
        rnorm = torch.sqrt((recent_vec * recent_vec).sum(1))
        sim = (recent_vec * item_vec).sum(1)  # the cosine's normalisation left out
        has_session = (session_genres.sum(1) > 0).float()
        return torch.stack([genre_aff, session_aff, als, sim, has_session, (rnorm > 0).float()], 1)


class _TanhBackbone(ranker.MultiTaskRanker):
    def __init__(self, *a: object) -> None:
        super().__init__(*a)  # type: ignore[arg-type]
        first = self.backbone[0]
        self.backbone = nn.Sequential(first, nn.Tanh(), nn.Linear(16, 8), nn.Tanh())


def test_other_layouts_are_refused_and_a_differing_forward_falls_back(tmp_path: Path) -> None:
    assert fast_ranker.build(_exported(_TanhBackbone), RANK) is None
    assert fast_ranker.build(torch.jit.script(nn.Linear(3, 1)), RANK) is None
    w = kit.world()
    model = load_version(kit.publish(ModelRegistry(tmp_path / "registry"), w, tmp_path))
    model.attach_item_features(w.item_features(), {})
    assert model.fast is not None, "the exported MultiTaskRanker gets the numpy forward"
    user = fast_ranker.sample_inputs(model.fast, np.random.default_rng(1))[0][1]
    positions, surfaces = np.arange(40) % len(model.item_ids), np.zeros(40, np.int64)
    want = model.script_score(UserTensors(user), positions, surfaces, "TV")
    np.testing.assert_allclose(model.score(user, positions, surfaces, "TV"), want, rtol=1e-5, atol=1e-6)
    # Same parameter layout, other arithmetic: build() cannot tell, the equality check does.
    scripted = ranker.export(_trained_like(_OtherSimilarity(8, len(kit.SURFACES), len(kit.DEVICES), [16], 4), 5))
    weights = fast_ranker.build(scripted, 8)
    assert weights is not None
    model.ranker = scripted
    assert not fast_matches(model, weights.with_items(model.item_num, model.item_genres, model.item_vecs))
    model.use_fast(weights)
    assert model.fast is None
    np.testing.assert_allclose(
        model.score(user, positions, surfaces, "TV"), model.script_score(UserTensors(user), positions, surfaces, "TV")
    )


@pytest.mark.parametrize("n", [1, 20, 700])
def test_sizes_of_a_page(n: int) -> None:
    scripted = _exported()
    fast = fast_ranker.build(scripted, RANK)
    assert fast is not None
    rng = np.random.default_rng(n)
    users, items = fast_ranker.sample_inputs(fast, rng, n_users=1, n_items=30)
    fast = fast.with_items(*items)
    positions, surfaces = rng.integers(0, 30, n), rng.integers(0, SURFACES, n)
    want = script_forward(
        scripted, UserTensors(users[0]), tuple(torch.from_numpy(a) for a in items), positions, surfaces, 1
    )
    got = fast.score(fast.user(users[0]), positions, surfaces, 1)
    assert got.shape == (n,)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
