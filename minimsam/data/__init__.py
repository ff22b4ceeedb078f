"""Data: IDX files, datasets (MNIST-1D, Fashion-MNIST, MNIST) and seeded batching."""

from minimsam.data import landscapes
from minimsam.data.batching import epoch_batches, epoch_order, iterate_batches, num_batches
from minimsam.data.datasets import (
    DATASETS,
    Dataset,
    DatasetNotFoundError,
    DownloadError,
    cache_dir,
    canonical_name,
    download,
    flip_labels,
    load,
    search_dirs,
    subset_indices,
)
from minimsam.data.idx import IDXFormatError, read_idx, read_idx_pair, write_idx

__all__ = [
    "landscapes",
    "DATASETS",
    "Dataset",
    "DatasetNotFoundError",
    "DownloadError",
    "IDXFormatError",
    "cache_dir",
    "canonical_name",
    "download",
    "epoch_batches",
    "epoch_order",
    "flip_labels",
    "iterate_batches",
    "load",
    "num_batches",
    "read_idx",
    "read_idx_pair",
    "search_dirs",
    "subset_indices",
    "write_idx",
]
