"""Sources of interaction events: MovieLens releases read from disk or downloaded, and a synthetic world.

Every source implements :class:`Dataset`: a catalog of :class:`Item` and a replayable, time-ordered stream
of :class:`Interaction`. Use :func:`load_dataset` to get one by name.
"""

from typing import Final

from hybridrec.datasets.download import GROUPLENS_BASE_URL, DownloadFailed, dataset_url, download
from hybridrec.datasets.model import EVENT_TYPES, Dataset, Interaction, Item, make_interaction
from hybridrec.datasets.movielens import (
    DEFAULT_SYNTHETIC_EVENTS,
    MOVIELENS_NAMES,
    DatasetFormatError,
    DatasetNotFound,
    MovieLensDataset,
    detect_format,
    load_dataset,
    open_movielens,
    parse_year,
)
from hybridrec.datasets.synthetic import SyntheticDataset

DATASET_NAMES: Final[tuple[str, ...]] = (
    "ml-100k",
    "ml-latest-small",
    "ml-1m",
    "ml-20m",
    "ml-25m",
    "synthetic",
)

__all__ = [
    "DATASET_NAMES",
    "DEFAULT_SYNTHETIC_EVENTS",
    "EVENT_TYPES",
    "GROUPLENS_BASE_URL",
    "MOVIELENS_NAMES",
    "Dataset",
    "DatasetFormatError",
    "DatasetNotFound",
    "DownloadFailed",
    "Interaction",
    "Item",
    "MovieLensDataset",
    "SyntheticDataset",
    "dataset_url",
    "detect_format",
    "download",
    "load_dataset",
    "make_interaction",
    "open_movielens",
    "parse_year",
]
