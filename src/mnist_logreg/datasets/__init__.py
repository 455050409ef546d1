"""Data sources: the bundled MNIST copy, OpenML, and IDX files from mirrors."""

from .idx import IDXFormatError, read_idx, write_idx
from .mnist import MNIST, CacheWarning, DataSourceError, default_cache_dir, load_mnist

__all__ = [
    "MNIST",
    "CacheWarning",
    "DataSourceError",
    "IDXFormatError",
    "default_cache_dir",
    "load_mnist",
    "read_idx",
    "write_idx",
]
