"""One registry version loaded for serving: TorchScript ranker, embeddings, FAISS indexes, popularity, and the
nightly item features held in memory beside them (they change only when the model does).

Every artifact is read through :meth:`ModelVersion.artifact` with checksum verification, so a corrupted or
truncated file raises :class:`hybridrec.registry.CorruptArtifact` and the version is never served. The file
names and formats are the registry contract written by the batch layer (see batch/bundle.py); serving reads
the plain files and never imports batch code.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import faiss
import numpy as np
import torch

from hybridrec import fresh_features, seen, sequence
from hybridrec.contract import GENRES
from hybridrec.fusion import Learned
from hybridrec.model_artifacts import (
    EASE_NEIGHBOURS,
    FUSION,
    INDEX,
    ITEM_IDS,
    ITEM_VECS,
    NEIGHBOURS,
    NEXT_ITEM,
    POPULAR,
    RANKER,
    SCHEMA,
    SIMILAR_INDEX,
    USER_IDS,
    USER_VECS,
    unit_rows,
)
from hybridrec.neighbours import Neighbours
from hybridrec.registry import ModelVersion
from serving.features.base import ItemFeatures
from serving.model import fast_ranker
from serving.model import inputs as mi
from serving.model.fast_ranker import FastRanker, FastUser

log = logging.getLogger("hybridrec.serving")


@dataclass
class LoadedModel:
    version: str
    ranker: torch.jit.ScriptModule
    surfaces: dict[str, int]
    devices: dict[str, int]
    user_pos: dict[str, int]
    user_vecs: np.ndarray
    item_ids: list[str]
    item_pos: dict[str, int]
    item_vecs: np.ndarray
    index: faiss.Index | None
    popular: list[str]
    item_num: np.ndarray = field(default_factory=lambda: np.zeros((0, len(mi.ITEM_NUM)), np.float32))
    item_genres: np.ndarray = field(default_factory=lambda: np.zeros((0, mi.N_GENRES), np.float32))
    item_features_loaded: bool = False
    genre_items: list[np.ndarray] = field(default_factory=list)  # per genre: item positions, most popular first
    genre_ids: list[list[str]] = field(default_factory=list)  # per genre: the ids of ``genre_items``
    popular_genres: list[int] = field(default_factory=list)
    popular_pos: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # positions of ``popular``
    similar_index: faiss.Index | None = None  # over unit item vectors; None for versions published without it
    neighbours: Neighbours | None = None  # co-occurrence lists by position; None for versions published without
    next_item: sequence.NextItemModel | None = None  # over the item positions; None for versions published without
    ease: Neighbours | None = None  # EASE's lists by position (FOR_YOU's prior); None for versions published without
    prior_weights: tuple[float, float] | None = None  # (EASE, recent popularity) the batch chose; None: not chosen
    recent_half_life_ms: int | None = None  # the recent popularity's half-life the batch chose; None: not chosen
    fusion: Learned | None = None  # FOR_YOU's learned re-ranking of the prior's candidates; None: without
    _item_t: tuple | None = field(default=None, repr=False)  # (the item arrays, their tensor views)
    fast_weights: FastRanker | None = field(default=None, repr=False)  # the ranker's layers read for numpy
    fast: FastRanker | None = field(default=None, repr=False)  # over the current item matrices, checked
    _similar: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, init=False, repr=False)

    SIMILAR_CACHE: ClassVar[int] = 4096
    """Seeds whose neighbour lists :meth:`similar` keeps: ≈ 11 MB per worker at 220 neighbours each."""

    def __post_init__(self) -> None:
        self.popular_pos = np.fromiter((self.item_pos.get(i, -1) for i in self.popular), np.int64, len(self.popular))

    @property
    def rank(self) -> int:
        return int(self.item_vecs.shape[1])

    def user_vec(self, user_id: str) -> np.ndarray | None:
        p = self.user_pos.get(user_id)
        return None if p is None else self.user_vecs[p]

    def item_vecs_of(self, item_ids: Sequence[str]) -> np.ndarray:
        """Vectors in order, zeros for unknown items (as training did)."""
        out = np.zeros((len(item_ids), self.rank), dtype=np.float32)
        for k, i in enumerate(item_ids):
            p = self.item_pos.get(i)
            if p is not None:
                out[k] = self.item_vecs[p]
        return out

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Inner-product neighbours of user-side query vectors (scores, positions; -1 pads)."""
        q = np.ascontiguousarray(queries, dtype=np.float32)
        return _neighbours(self.index, q, lambda: self.item_vecs, min(k, len(self.item_ids)))

    @functools.cached_property
    def item_hash(self) -> np.ndarray:
        """Seen-set hash of every model item (:mod:`hybridrec.seen`), by position."""
        return seen.hashes(self.item_ids)

    @functools.cached_property
    def item_unit(self) -> np.ndarray:
        """Unit item vectors for exact item-to-item search when the version has no similar-items index."""
        return unit_rows(self.item_vecs)

    def similar(self, positions: Sequence[int], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Cosine neighbours of the items at ``positions`` (scores, positions; -1 pads; each seed is its own
        first neighbour). Not :meth:`search`: by inner product every seed's neighbours would be the same most
        popular items.

        An item's neighbours are the same for every user of this version, and the "Because you watched" rows
        of a page ask for a few popular seeds again and again: each seed's list is kept (the longest asked for,
        at most :attr:`SIMILAR_CACHE` seeds, the oldest dropped first) and a shorter ask reads its prefix."""
        k = min(k, len(self.item_ids))
        if not len(positions):
            return np.zeros((0, k), np.float32), np.zeros((0, k), np.int64)
        cache = self._similar
        lists = {p: cache[p] for p in positions if p in cache and len(cache[p][0]) >= k}
        missing = [p for p in dict.fromkeys(positions) if p not in lists]
        if missing:
            seeds = unit_rows(self.item_vecs[np.asarray(missing, dtype=np.int64)])
            scores, found = _neighbours(self.similar_index, seeds, lambda: self.item_unit, k)
            for p, s_row, p_row in zip(missing, scores, found, strict=True):
                lists[p] = (s_row, p_row)
                cache.pop(p, None)
                cache[p] = lists[p]
            while len(cache) > self.SIMILAR_CACHE:
                del cache[next(iter(cache))]
        return np.stack([lists[p][0][:k] for p in positions]), np.stack([lists[p][1][:k] for p in positions])

    def attach_item_features(self, feats: dict[str, ItemFeatures], catalog_genres: dict[str, Sequence[str]]) -> None:
        """Hold ``item_batch`` in memory; build the per-genre popularity lists the genre rows use."""
        self.item_num, self.item_genres = mi.item_matrices(self.item_ids, feats, catalog_genres)
        self.item_features_loaded = bool(feats)
        rank_of = {i: r for r, i in enumerate(self.popular)}
        by_pop = sorted(
            range(len(self.item_ids)),
            key=lambda p: (rank_of.get(self.item_ids[p], len(rank_of)), -float(self.item_num[p, 0])),
        )
        order = np.asarray(by_pop, dtype=np.int64)
        self.genre_items = [order[self.item_genres[order, g] > 0] for g in range(len(GENRES))]
        self.genre_ids = [[self.item_ids[p] for p in pos.tolist()] for pos in self.genre_items]  # once, not per row
        mass = (
            self.item_genres[[self.item_pos[i] for i in self.popular if i in self.item_pos][:200]].sum(0)
            if self.popular
            else self.item_genres.sum(0)
        )
        self.popular_genres = [int(g) for g in np.argsort(-mass, kind="stable") if mass[g] > 0]
        self.use_fast(self.fast_weights)

    def use_fast(self, weights: FastRanker | None) -> None:
        """Score with ``weights`` over this model's item matrices from now on if they score like TorchScript
        (:func:`fast_matches`), else with TorchScript."""
        self.fast_weights, fast = weights, None
        if weights is not None and self.item_ids:
            fast = weights.with_items(self.item_num, self.item_genres, self.item_vecs)
            if not fast_matches(self, fast):
                fast = None
        self.fast = fast

    def score(
        self, user: dict[str, np.ndarray] | UserTensors, item_positions: np.ndarray, surfaces: np.ndarray, device: str
    ) -> np.ndarray:
        """Engagement probability of each (item, surface) pair for one user: through the numpy forward with
        the item side precomputed (:mod:`serving.model.fast_ranker`) when it was checked at load, else in one
        TorchScript batch."""
        u = user if isinstance(user, UserTensors) else self.user_tensors(user)
        fast = self.fast
        if fast is not None:
            fu = u.fast if u.fast is not None else fast.user(u.inputs)
            positions = np.asarray(item_positions, dtype=np.int64)
            return fast.score(fu, positions, np.asarray(surfaces, dtype=np.int64), self.devices.get(device, 0))
        return self.script_score(u, item_positions, surfaces, device)

    def script_score(self, u: UserTensors, item_positions: np.ndarray, surfaces: np.ndarray, device: str) -> np.ndarray:
        """The TorchScript forward over this model's items (:func:`script_forward`)."""
        return script_forward(
            self.ranker, u, self._item_tensors(), item_positions, surfaces, self.devices.get(device, 0)
        )

    def user_tensors(self, user: dict[str, np.ndarray]) -> UserTensors:
        """A request's user inputs prepared once for every scoring call of its page (the numpy forward's user
        part of the first layer, or TorchScript's tensors on first use)."""
        return UserTensors(user, self.fast.user(user) if self.fast is not None else None)

    def _item_tensors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Tensor views of the item matrices (rebuilt when item features attach)."""
        arrays = (self.item_num, self.item_genres, self.item_vecs)
        cached = self._item_t
        if cached is None or any(a is not b for a, b in zip(cached[0], arrays, strict=True)):
            cached = self._item_t = (
                arrays,
                tuple(torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)) for a in arrays),
            )
        return cached[1]


@dataclass
class UserTensors:
    inputs: dict[str, np.ndarray]
    fast: FastUser | None = None
    _tensors: dict[str, torch.Tensor] | None = field(default=None, repr=False)

    @property
    def tensors(self) -> dict[str, torch.Tensor]:
        if self._tensors is None:
            self._tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in self.inputs.items()}
        return self._tensors


def fast_matches(model: LoadedModel, fast: FastRanker, pairs: int = 256) -> bool:
    """Whether ``fast`` scores like the TorchScript ranker: on sampled inputs on the model's training scale
    (:func:`fast_ranker.sample_inputs`: varied users, items, every device and surface), then on the model's own
    items; within float32 rounding of a different summation order."""
    rng = np.random.default_rng(0)
    users, sample_items = fast_ranker.sample_inputs(fast, rng)
    tables = [
        (fast.with_items(*sample_items), sample_items),
        (fast, (model.item_num, model.item_genres, model.item_vecs)),
    ]
    devices = list(model.devices) or [""]
    surfaces = rng.integers(0, max(1, len(model.surfaces)), pairs)
    for f, items in tables:
        tensors = tuple(torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)) for a in items)
        positions = rng.integers(0, len(items[0]), pairs)
        for k, user in enumerate(users):
            device = model.devices.get(devices[k % len(devices)], 0)
            want = script_forward(model.ranker, UserTensors(user), tensors, positions, surfaces, device)
            got = f.score(f.user(user), positions, surfaces, device)
            if not np.allclose(got, want, rtol=1e-4, atol=1e-5):
                log.warning(
                    "%s: the numpy ranker differs from TorchScript (max |Δ| %.2e); scoring with TorchScript",
                    model.version,
                    float(np.max(np.abs(got - want))),
                )
                return False
    return True


def script_forward(
    ranker: torch.jit.ScriptModule,
    u: UserTensors,
    items: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    item_positions: np.ndarray,
    surfaces: np.ndarray,
    device: int,
) -> np.ndarray:
    """One TorchScript forward pass: the user's inputs broadcast (``expand``, no copy), the item inputs
    (num, genres, vectors) gathered from tensors that share the model's arrays (``index_select``)."""
    n = len(item_positions)
    num, gen, vec = items
    idx = torch.from_numpy(np.asarray(item_positions, dtype=np.int64))
    t = {
        **{k: v.expand(n, *v.shape[1:]) for k, v in u.tensors.items()},
        "item_num": num.index_select(0, idx),
        "item_genres": gen.index_select(0, idx),
        "item_vec": vec.index_select(0, idx),
        "surface": torch.from_numpy(np.asarray(surfaces).astype(np.int64, copy=False)),
        "device": torch.tensor([device], dtype=torch.long).expand(n),
    }
    with torch.inference_mode():
        engagement, _satisfaction = ranker(*[t[k] for k in mi.INPUT_ORDER])
    return engagement.numpy()


def _read_neighbours(version: ModelVersion, name: str, n_items: int) -> Neighbours | None:
    """A version's neighbour lists ``name``, None when it was published without them."""
    if name not in version.manifest["artifacts"]:
        return None
    out = Neighbours.load(version.artifact(name))
    if out.n_items != n_items:
        raise ValueError(f"{version.version}: {name} covers {out.n_items} items, the model {n_items}")
    return out


def _neighbours(
    index: faiss.Index | None, queries: np.ndarray, vectors: Callable[[], np.ndarray], k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` by inner product through ``index``; exact numpy over ``vectors()`` when the version has no such
    index or it fails (a broken index costs speed, not answers)."""
    if index is not None:
        try:
            return index.search(queries, k)
        except Exception:
            log.exception("faiss search failed; exact search")
    s = queries @ vectors().T
    top = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(s, top, 1), top


def _read_index(version: ModelVersion, name: str, item_shape: tuple[int, ...]) -> faiss.Index:
    """A FAISS artifact, refused unless it holds one vector per item of the embeddings' width."""
    index = faiss.read_index(str(version.artifact(name)))
    if (index.ntotal, index.d) != item_shape:
        raise ValueError(
            f"{version.version}: {name} has {index.ntotal}×{index.d}, embeddings {item_shape[0]}×{item_shape[1]}"
        )
    return index


def load_version(version: ModelVersion) -> LoadedModel:
    """Every artifact of ``version``, checksum-verified; raises on any mismatch, missing file or bad schema."""
    schema = json.loads(version.artifact(SCHEMA).read_text())
    mi.check_schema(schema)
    vocab = {i["name"]: i.get("vocabulary") or [] for i in schema["inputs"]}
    ranker = torch.jit.load(str(version.artifact(RANKER)), map_location="cpu")
    ranker.eval()
    user_ids = json.loads(version.artifact(USER_IDS).read_text())
    item_ids = json.loads(version.artifact(ITEM_IDS).read_text())
    user_vecs = np.load(version.artifact(USER_VECS)).astype(np.float32)
    item_vecs = np.load(version.artifact(ITEM_VECS)).astype(np.float32)
    if len(user_ids) != len(user_vecs) or len(item_ids) != len(item_vecs) or user_vecs.shape[1] != item_vecs.shape[1]:
        raise ValueError(f"{version.version}: embedding ids and matrices disagree in shape")
    index = _read_index(version, INDEX, item_vecs.shape)
    similar_index = (
        _read_index(version, SIMILAR_INDEX, item_vecs.shape) if SIMILAR_INDEX in version.manifest["artifacts"] else None
    )
    popular = [r["item_id"] for r in json.loads(version.artifact(POPULAR).read_text())]
    neighbours, ease = (_read_neighbours(version, name, len(item_ids)) for name in (NEIGHBOURS, EASE_NEIGHBOURS))
    next_item = sequence.load(version.artifact(NEXT_ITEM)) if NEXT_ITEM in version.manifest["artifacts"] else None
    if next_item is not None and next_item.n_items != len(item_ids):
        raise ValueError(f"{version.version}: {NEXT_ITEM} covers {next_item.n_items} items, the model {len(item_ids)}")
    learned = Learned.load(version.artifact(FUSION)) if FUSION in version.manifest["artifacts"] else None
    if learned is not None and len(learned.history.count) != len(item_ids):
        n = len(learned.history.count)
        raise ValueError(f"{version.version}: {FUSION} covers {n} items, the model {len(item_ids)}")
    model = LoadedModel(
        version=version.version,
        ranker=ranker,
        surfaces={s: k for k, s in enumerate(vocab["surface"])},
        devices={d: k for k, d in enumerate(vocab["device"])},
        user_pos={u: k for k, u in enumerate(user_ids)},
        user_vecs=user_vecs,
        item_ids=item_ids,
        item_pos={i: k for k, i in enumerate(item_ids)},
        item_vecs=item_vecs,
        index=index,
        popular=popular,
        similar_index=similar_index,
        neighbours=neighbours,
        next_item=next_item,
        ease=ease,
        prior_weights=prior_weights(version.manifest),
        recent_half_life_ms=recent_half_life_ms(version.manifest),
        fusion=learned,
    )
    model.attach_item_features({}, {})
    warm_up(model)
    exported = model.ranker
    model.ranker = optimized(model)
    model.use_fast(fast_ranker.build(exported, model.rank))
    _ = model.item_hash  # at load, not on the first request
    return model


def prior_weights(manifest: dict) -> tuple[float, float] | None:
    """FOR_YOU's (EASE, recent popularity) weights the batch chose on its validation cut (``hybridrec.prior_choice``),
    or None for a version without them."""
    chosen = manifest.get("prior") or {}
    try:
        e, r = float(chosen["ease_weight"]), float(chosen["recent_popularity_weight"])
    except (KeyError, TypeError, ValueError):
        return None
    return (e, r) if e >= 0 and r >= 0 and e + r <= 1 else None


def recent_half_life_ms(manifest: dict) -> int | None:
    """The half-life of FOR_YOU's recent popularity the batch chose with the weights, or None for a version
    without one or with one the speed layer does not keep (a stored decayed count cannot be re-decayed)."""
    chosen = (manifest.get("prior") or {}).get("recent_popularity_half_life_ms")
    return chosen if isinstance(chosen, int) and chosen in fresh_features.recent_popularity_values() else None


def optimized(model: LoadedModel) -> torch.jit.ScriptModule:
    """The ranker frozen and optimised for inference (constants folded, ops fused: about 30 % less CPU per
    page on the serving batch sizes), kept only if it scores a page exactly like the exported one."""
    try:
        fast = torch.jit.optimize_for_inference(torch.jit.freeze(model.ranker.eval()))
    except Exception as exc:  # an export TorchScript cannot freeze still serves, just slower
        log.warning("%s: ranker not optimisable for inference (%s); serving it as exported", model.version, exc)
        return model.ranker
    user = mi.user_side(None, np.ones(model.rank, np.float32), model.item_vecs_of, 0, 1)
    positions = np.arange(min(len(model.item_ids), 256))
    surfaces = np.zeros(len(positions), dtype=np.int64)
    reference = model.score(user, positions, surfaces, "")
    exported, model.ranker = model.ranker, fast
    try:
        for _ in range(3):  # the profiling executor specialises the new graph on its first runs
            same = np.allclose(model.score(user, positions, surfaces, ""), reference, rtol=1e-4, atol=1e-6)
    finally:
        model.ranker = exported
    if not same:
        log.warning("%s: optimised ranker scores differ from the export; serving it as exported", model.version)
        return exported
    return fast


def warm_up(model: LoadedModel, batch: int = 512, runs: int = 3) -> None:
    """Score a page-sized batch a few times: refuses a model that loads but cannot run, and lets TorchScript's
    profiling executor specialise before the first request (its first runs are many times slower)."""
    if not model.item_ids:
        return
    user = mi.user_side(None, np.zeros(model.rank, np.float32), model.item_vecs_of, 0, 1)
    positions = np.arange(batch) % len(model.item_ids)
    for _ in range(runs):
        out = model.score(user, positions, np.zeros(batch, dtype=np.int64), "")
        if out.shape != (batch,) or not np.isfinite(out).all():
            raise ValueError(f"{model.version}: ranker smoke test returned {out[:4]!r}…")
        if model.next_item is not None:
            seq = sequence.score(model.next_item, [list(range(min(len(model.item_ids), model.next_item.max_len)))])
            if seq.shape != (1, len(model.item_ids)) or not np.isfinite(seq).all():
                raise ValueError(f"{model.version}: next-item smoke test returned {seq[0, :4]!r}…")
