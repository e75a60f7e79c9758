"""Drawing the next pair to rate: two different methods, random seeds, indices and sides."""

from __future__ import annotations

import threading
from collections.abc import Mapping

import numpy as np

from gencurate.rate.samples import ImageRef, ModelKey


class PairSampler:
    """Draw (left, right) image pairs uniformly over unordered method pairs.

    Each call picks two *different* methods uniformly (so every method pair is shown
    equally often, whatever its number of seeds), then a seed of each uniformly, then a
    sample index of each uniformly; which method lands on the left is random, so a
    side bias of the rater cannot favour a method. Thread-safe (the web server draws
    from worker threads); deterministic for a fixed `seed`.
    """

    def __init__(self, *, sizes: Mapping[ModelKey, int], seed: int | None = None) -> None:
        self._seeds: dict[str, list[int]] = {}
        for method, model_seed in sizes:
            self._seeds.setdefault(method, []).append(model_seed)
        if len(self._seeds) < 2:
            raise ValueError(f"pairs need samples of at least two methods, got {sorted(self._seeds)}")
        self._methods = list(self._seeds)
        self._sizes = dict(sizes)
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()

    @property
    def methods(self) -> list[str]:
        return list(self._methods)

    def draw(self) -> tuple[ImageRef, ImageRef]:
        with self._lock:
            # choice without replacement returns the two methods in random order = random sides.
            picked = self._rng.choice(len(self._methods), size=2, replace=False)
            refs = []
            for i in picked:
                method = self._methods[int(i)]
                seeds = self._seeds[method]
                seed = seeds[int(self._rng.integers(len(seeds)))]
                index = int(self._rng.integers(self._sizes[(method, seed)]))
                refs.append(ImageRef(method=method, seed=seed, index=index))
        return refs[0], refs[1]
