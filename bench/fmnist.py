"""Fashion-MNIST IDX (.gz) loader shared by the Python peers in bench/.

Images stay uint8 in memory and are normalized per batch (x / 255), as nntrain does.
"""
import gzip
import os
import struct

import numpy as np

DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"


def _read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_train(directory=DEFAULT_DIR, subset=None):
    """Returns (images uint8 [n, 784], labels int64 [n]) of the first `subset` training samples."""
    def find(stem):
        for name in (stem + ".gz", stem):
            p = os.path.join(directory, name)
            if os.path.exists(p):
                return p
        raise FileNotFoundError(os.path.join(directory, stem + ".gz"))
    x = _read_idx(find("train-images-idx3-ubyte")).reshape(-1, 784)
    y = _read_idx(find("train-labels-idx1-ubyte")).astype(np.int64)
    if subset:
        x, y = x[:subset], y[:subset]
    return np.array(x, copy=True), np.array(y, copy=True)
