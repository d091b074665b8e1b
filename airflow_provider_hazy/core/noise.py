"""Where the noise of every privacy mechanism comes from: fresh OS entropy on every training.

Two mechanisms read source data in this package (DESIGN.md, "Privacy accounting"):

- discrete Laplace on integer count vectors (`NoiseSource.discrete_laplace`): the conditionals' joint count
  tables, degree tables, foreign-key null counts and every DP preprocessing count. P(k) is proportional to
  exp(-|k| / scale); with L1 sensitivity s it is (s / scale)-DP, as the continuous Laplace mechanism, but
  its output is an integer, so no floating-point artefact of the noise can leak the true count (Mironov,
  CCS 2012).
- report noisy max with exponential noise (`NoiseSource.noisy_max`), the selection of the structure search:
  argmax(score + Exponential(scale)), with scale = 2 * sensitivity / epsilon for epsilon-DP (the
  permute-and-flip mechanism, McKenna and Sheldon 2020; never worse than the exponential mechanism).

`FreshNoise` (the default, private) draws from OpenDP's samplers, which run in Rust on the operating
system's cryptographic RNG with exact arithmetic. OpenDP's discrete Laplace costs about 10 microseconds a
cell (measured by `bench/noise_bench.py`), so a count vector of more than `OPENDP_MAX_CELLS` cells is
drawn instead as the difference of two geometric variables from a NumPy `Generator` (Philox) keyed with
128 bits of fresh OS entropy for that one vector, which costs about 40 ns a cell: a 1M x 15 table at the
default epsilon has tens of millions of cells, which would take minutes with OpenDP. The key is never
stored or reused, so the draws cannot be replayed; NumPy's geometric sampler works in floating point, a
difference in the tails far below the budget's precision. Nothing in it depends on `random_state`.

`ReproducibleNoise` is for tests only: the same samplers' distributions drawn from a `Generator` seeded by
the caller, so a model can be reproduced byte for byte. It is not private (anyone with the seed can replay
and subtract the noise); the ledger records it and `hazy inspect` flags the model. Training uses it only when
the environment variable `HAZY_REPRODUCIBLE_NOISE` is set (`noise_for_training`).
"""

from __future__ import annotations

import math
from typing import Mapping, Optional, Sequence

import numpy as np

OPENDP_MAX_CELLS = 10_000
"""Count vectors up to this many cells are noised by OpenDP (0.1-0.2 s at most); larger ones by NumPy from fresh
OS entropy (module docstring, `bench/noise_bench.py`)."""
REPRODUCIBLE_NOISE_ENV = "HAZY_REPRODUCIBLE_NOISE"
"""Test-only switch: set to 1 to draw the mechanisms' noise from `random_state` (the model is then recorded
as `noise: reproducible (not private)`)."""
FRESH_DESCRIPTION = "fresh (OS entropy, OpenDP samplers)"
REPRODUCIBLE_DESCRIPTION = "reproducible (not private)"
_CACHED_MEASUREMENTS = 64
"""OpenDP measurements kept per sampler, by scale (building one costs about 0.2 ms; a model uses a few)."""
_NOISE_STREAM = 0x4E015E
"""spawn key separating the reproducible noise stream from every other use of `random_state`."""


def _check_scale(scale: float) -> float:
    scale = float(scale)
    if not (math.isfinite(scale) and scale >= 0):
        raise ValueError(f"noise scale must be a finite number >= 0, got {scale}")
    return scale


def _integer_counts(counts: np.ndarray) -> np.ndarray:
    values = np.asarray(counts)
    if values.size and not np.issubdtype(values.dtype, np.integer):
        if not np.all(np.isfinite(values)) or not np.all(values == np.round(values)):
            raise ValueError("discrete Laplace noise is added to integer counts only")
    return values.astype(np.int64)


def geometric_discrete_laplace(shape: Sequence[int], scale: float, rng: np.random.Generator) -> np.ndarray:
    """Discrete Laplace noise (P(k) proportional to exp(-|k| / scale)) as the difference of two geometric
    variables with success probability 1 - exp(-1 / scale); zeros for scale 0."""
    if scale == 0:
        return np.zeros(shape, dtype=np.int64)
    success = -math.expm1(-1.0 / scale)
    return rng.geometric(success, size=shape).astype(np.int64) - rng.geometric(success, size=shape)


def noisy_max_scale(sensitivity: float, epsilon: float) -> float:
    """The exponential-noise scale that makes report noisy max epsilon-DP for scores of this L-infinity
    sensitivity (scores may move in both directions): 2 * sensitivity / epsilon."""
    return 2.0 * sensitivity / epsilon


class NoiseSource:
    """The samplers of the mechanisms. Subclasses say whether the noise is private."""

    private: bool = True
    description: str = ""

    def discrete_laplace(self, counts: np.ndarray, scale: float) -> np.ndarray:
        """`counts` (integers) plus independent discrete Laplace(`scale`) noise on every cell, as int64."""
        raise NotImplementedError

    def noisy_max(self, scores: np.ndarray, scale: float) -> int:
        """The index of the largest score plus independent Exponential(`scale`) noise."""
        raise NotImplementedError

    def uniform_index(self, n: int) -> int:
        """A uniform index in 0..n-1 (ties of data-independent scores)."""
        raise NotImplementedError


class FreshNoise(NoiseSource):
    """OpenDP's samplers on fresh OS entropy; large count vectors from a freshly keyed NumPy Philox."""

    private = True
    description = FRESH_DESCRIPTION

    def __init__(self, opendp_max_cells: int = OPENDP_MAX_CELLS) -> None:
        self.opendp_max_cells = int(opendp_max_cells)
        self._laplace: dict[float, object] = {}
        self._noisy_max: dict[float, object] = {}

    @staticmethod
    def _dp():
        import opendp.prelude as dp

        dp.enable_features("contrib")
        return dp

    def discrete_laplace(self, counts: np.ndarray, scale: float) -> np.ndarray:
        values = _integer_counts(counts)
        scale = _check_scale(scale)
        if scale == 0 or values.size == 0:
            return values.copy()
        if values.size > self.opendp_max_cells:
            rng = np.random.Generator(np.random.Philox(np.random.SeedSequence()))
            return values + geometric_discrete_laplace(values.shape, scale, rng)
        measurement = self._laplace.get(scale)
        if measurement is None:
            dp = self._dp()
            space = dp.vector_domain(dp.atom_domain(T="i64")), dp.l1_distance(T="i64")
            measurement = dp.m.make_laplace(*space, scale=scale)
            if len(self._laplace) < _CACHED_MEASUREMENTS:
                self._laplace[scale] = measurement
        noisy = measurement(values.ravel().tolist())  # type: ignore[operator]
        return np.asarray(noisy, dtype=np.int64).reshape(values.shape)

    def noisy_max(self, scores: np.ndarray, scale: float) -> int:
        values = np.asarray(scores, dtype=np.float64)
        scale = _check_scale(scale)
        if scale == 0:
            return int(np.argmax(values))
        measurement = self._noisy_max.get(scale)
        if measurement is None:
            dp = self._dp()
            space = dp.vector_domain(dp.atom_domain(T="f64", nan=False)), dp.linf_distance(T="f64")
            measurement = dp.m.make_noisy_max(*space, dp.max_divergence(), scale=scale)
            if len(self._noisy_max) < _CACHED_MEASUREMENTS:
                self._noisy_max[scale] = measurement
        return int(measurement(values.tolist()))  # type: ignore[operator]

    def uniform_index(self, n: int) -> int:
        import secrets

        return secrets.randbelow(int(n))


class ReproducibleNoise(NoiseSource):
    """Test-only: the same distributions from a seeded NumPy Generator. Not private."""

    private = False
    description = REPRODUCIBLE_DESCRIPTION

    def __init__(self, seed: Optional[int]) -> None:
        self.rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_NOISE_STREAM,)))

    def discrete_laplace(self, counts: np.ndarray, scale: float) -> np.ndarray:
        values = _integer_counts(counts)
        return values + geometric_discrete_laplace(values.shape, _check_scale(scale), self.rng)

    def noisy_max(self, scores: np.ndarray, scale: float) -> int:
        values = np.asarray(scores, dtype=np.float64)
        return int(np.argmax(values + self.rng.exponential(_check_scale(scale), size=values.shape)))

    def uniform_index(self, n: int) -> int:
        return int(self.rng.integers(n))


def reproducible_noise_requested(environ: Mapping[str, str]) -> bool:
    """Whether `HAZY_REPRODUCIBLE_NOISE` is set to a true value in `environ`."""
    return environ.get(REPRODUCIBLE_NOISE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def noise_for_training(random_state: Optional[int], environ: Mapping[str, str]) -> NoiseSource:
    """The noise of one training run: fresh (private) unless the test-only switch is set in `environ`, in
    which case the noise is drawn from `random_state` and the model says it is not private."""
    if reproducible_noise_requested(environ):
        return ReproducibleNoise(random_state)
    return FreshNoise()
