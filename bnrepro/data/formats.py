"""Readers for the on-disk formats: IDX (MNIST, Fashion-MNIST) and CIFAR-10's python batches."""
from __future__ import annotations

import gzip
import hashlib
import pickle
from pathlib import Path

import numpy as np

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class FormatError(ValueError):
    pass


def md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzipped or not) as an array of its declared type and shape."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise FormatError(f"{path}: not an IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise FormatError(f"{path}: {len(raw)} bytes, the header promises {expected}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


class _ArraysOnly(pickle.Unpickler):
    """CIFAR batches are pickles; load only what they contain (dicts of numpy arrays)."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store bytes
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise FormatError(f"refusing to unpickle {module}.{name} from a CIFAR batch")
        return super().find_class(module, name)


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch: images uint8 [N, 3, 32, 32] and labels int64 [N]."""
    with open(path, "rb") as f:
        try:
            batch = _ArraysOnly(f, encoding="bytes").load()
        except (pickle.UnpicklingError, EOFError) as e:
            raise FormatError(f"{path}: not a CIFAR-10 batch ({e})") from e
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise FormatError(f"{path}: not a CIFAR-10 batch (no data/labels)")
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    labels = np.asarray(batch[b"labels"], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise FormatError(f"{path}: data shape {data.shape}, {len(labels)} labels")
    return data.reshape(-1, 3, 32, 32), labels
