"""Rebuild fashion-mnist-subset.npz from Debian's `dataset-fashion-mnist` package.

Not run by the pipeline (the .npz is committed); kept so the subset's provenance is exact:
    apt-get install dataset-fashion-mnist && python data/demo/make_subset.py
11,647 training images (the size of the study's set) drawn without replacement from the
60,000 training images, and 2,000 held-out reference images from the 10,000 test images,
both with seed 0.
"""

import gzip
from pathlib import Path

import numpy as np

SOURCE = Path("/usr/share/datasets/fashion-mnist")
OUT = Path(__file__).with_name("fashion-mnist-subset.npz")
N_TRAIN, N_REFERENCE, SEED = 11_647, 2_000, 0
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def read_idx(name: str) -> np.ndarray:
    with gzip.open(SOURCE / name) as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def main() -> None:
    rng = np.random.default_rng(SEED)
    train_x, train_y = read_idx("train-images-idx3-ubyte.gz"), read_idx("train-labels-idx1-ubyte.gz")
    test_x, test_y = read_idx("t10k-images-idx3-ubyte.gz"), read_idx("t10k-labels-idx1-ubyte.gz")
    tr = np.sort(rng.choice(len(train_x), N_TRAIN, replace=False))
    te = np.sort(rng.choice(len(test_x), N_REFERENCE, replace=False))
    np.savez_compressed(
        OUT,
        images=np.concatenate([train_x[tr], test_x[te]]),                  # (N, 28, 28) uint8
        labels=np.concatenate([train_y[tr], test_y[te]]).astype(np.int64),
        split=np.array(["train"] * N_TRAIN + ["reference"] * N_REFERENCE),
        source=np.array([f"fashion-mnist/train/{i}" for i in tr] + [f"fashion-mnist/t10k/{i}" for i in te]),
        classes=np.array(CLASSES),
    )
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
