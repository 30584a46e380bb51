"""Writing a model bundle as registry artifacts and reading one back (for evaluating the current model).

The artifacts are plain formats serving can load without this package: TorchScript, JSON, ``.npy`` and a
FAISS index file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import torch

from batch import ann
from batch.embeddings import Embeddings
from batch.evaluate import Bundle
from batch.ranker import Vocab
from hybridrec import fusion, sequence
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
)
from hybridrec.neighbours import Neighbours
from hybridrec.registry import ModelVersion


def write_artifacts(
    out: Path,
    bundle: Bundle,
    schema: dict[str, Any],
    index: faiss.Index,
    similar_index: faiss.Index,
    popular_counts: list[tuple[str, int]],
    neighbours: Neighbours,
    next_item: tuple[sequence.NextItemModel, sequence.SequenceConfig] | None = None,
    ease: Neighbours | None = None,
    learned: fusion.Learned | None = None,
) -> dict[str, Path]:
    """Files of one version in ``out``; returns name → path for :meth:`ModelRegistry.publish`."""
    out.mkdir(parents=True, exist_ok=True)
    scripted = bundle.ranker if isinstance(bundle.ranker, torch.jit.ScriptModule) else torch.jit.script(bundle.ranker)
    scripted.save(str(out / RANKER))
    (out / SCHEMA).write_text(json.dumps(schema, indent=2))
    np.save(out / USER_VECS, bundle.emb.user_vecs)
    (out / USER_IDS).write_text(json.dumps(bundle.emb.user_ids))
    np.save(out / ITEM_VECS, bundle.emb.item_vecs)
    (out / ITEM_IDS).write_text(json.dumps(bundle.emb.item_ids))
    ann.save(index, str(out / INDEX))
    ann.save(similar_index, str(out / SIMILAR_INDEX))
    (out / POPULAR).write_text(json.dumps([{"item_id": i, "count": c} for i, c in popular_counts]))
    neighbours.save(out / NEIGHBOURS)
    if ease is not None:
        ease.save(out / EASE_NEIGHBOURS)
    if next_item is not None:
        sequence.save(*next_item, out / NEXT_ITEM)
    if learned is not None:
        learned.save(out / FUSION)
    return {p.name: p for p in out.iterdir()}


def load_bundle(version: ModelVersion) -> Bundle:
    """A registered version as a :class:`Bundle`; every artifact is checksum-verified on the way."""
    ranker = torch.jit.load(str(version.artifact(RANKER)))
    ranker.eval()
    schema = json.loads(version.artifact(SCHEMA).read_text())
    vocab_of = {i["name"]: i.get("vocabulary") for i in schema["inputs"]}
    emb = Embeddings(
        json.loads(version.artifact(USER_IDS).read_text()),
        np.load(version.artifact(USER_VECS)),
        json.loads(version.artifact(ITEM_IDS).read_text()),
        np.load(version.artifact(ITEM_VECS)),
    )
    popular = [r["item_id"] for r in json.loads(version.artifact(POPULAR).read_text())]
    return Bundle(ranker, emb, Vocab(vocab_of["surface"], vocab_of["device"]), popular)
