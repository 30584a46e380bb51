"""File names of a model version's artifacts: the contract between batch (writes) and serving (reads).

Formats: TorchScript ranker, JSON feature schema, ``.npy`` embeddings with JSON id lists, a FAISS index
file and a JSON popularity list, so serving loads a version without importing batch code.
"""

from typing import Final

RANKER: Final = "ranker.pt"
SCHEMA: Final = "feature_schema.json"
USER_VECS: Final = "user_embeddings.npy"
USER_IDS: Final = "user_ids.json"
ITEM_VECS: Final = "item_embeddings.npy"
ITEM_IDS: Final = "item_ids.json"
INDEX: Final = "faiss.index"
POPULAR: Final = "popularity.json"
