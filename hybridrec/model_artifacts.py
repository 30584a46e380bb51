"""File names of a model version's artifacts: the contract between batch (writes) and serving (reads).

Formats: TorchScript ranker, JSON feature schema, ``.npy`` embeddings with JSON id lists, two FAISS index
files (user → item and item → item), a JSON popularity list, co-occurrence and EASE neighbour lists (``.npz``) and the
next-item sequence model (tensors and config, read by ``hybridrec.sequence.load``), so serving loads a version
without importing batch code.
"""

from typing import Final

import numpy as np

RANKER: Final = "ranker.pt"
SCHEMA: Final = "feature_schema.json"
USER_VECS: Final = "user_embeddings.npy"
USER_IDS: Final = "user_ids.json"
ITEM_VECS: Final = "item_embeddings.npy"
ITEM_IDS: Final = "item_ids.json"
INDEX: Final = "faiss.index"  # item vectors, inner product: user → item retrieval (the ALS score)
SIMILAR_INDEX: Final = "faiss_similar.index"  # unit_rows(item vectors), inner product = cosine: item → item
POPULAR: Final = "popularity.json"
NEIGHBOURS: Final = "item_neighbours.npz"  # hybridrec.neighbours CSR lists over the item_ids positions
EASE_NEIGHBOURS: Final = "ease_neighbours.npz"  # hybridrec.neighbours.ease lists, the same format
FUSION: Final = "fusion.npz"  # hybridrec.fusion.Learned: FOR_YOU's learned re-ranking of the prior's candidates
NEXT_ITEM: Final = "next_item.pt"  # hybridrec.sequence model over the item_ids positions (tensors + config)


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (zero rows stay zero), float32: what the item-to-item index holds and is queried
    with. By raw inner product every seed's nearest items would be the ones with the longest vectors, which
    with ALS are the most popular titles, so "Because you watched X" would show the same blockbusters for any X."""
    x = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(np.divide(x, norms, out=np.zeros_like(x), where=norms > 0))
