"""Datasets: MNIST, Fashion-MNIST and CIFAR-10 from a local mirror or the official sources.

``prepare_dataset`` looks in the mirror first (argument ``mirror``, else the environment
variable REPGEOM_DATA_MIRROR) under ``<mirror>/mnist/``, ``<mirror>/fashion-mnist/`` or
``<mirror>/cifar-10/``; if that folder is missing it downloads the official archives
(several mirrors, retries, md5 verified) into ``cache_dir``. Files are validated strictly
(a corrupt or truncated file is a DataError naming it), hashed into the provenance, and
converted to one uint8 tensor file that ``load_dataset`` loads onto a device.
"""

from .errors import DataError
from .prepare import load_dataset, prepare_dataset
from .sources import DATASETS, MIRROR_CONFIG_KEY, MIRROR_ENV, DatasetSpec, FileSpec

__all__ = [
    "DATASETS",
    "DataError",
    "DatasetSpec",
    "FileSpec",
    "MIRROR_CONFIG_KEY",
    "MIRROR_ENV",
    "load_dataset",
    "prepare_dataset",
]
