"""Confidence intervals for per-sample scores: percentile bootstrap, paired bootstrap differences, Wilson.

Missing values (``None`` or NaN) are failures: they are left out of every estimate and counted, never imputed.
All resampling uses ``numpy.random.default_rng(seed)``, so results are deterministic for a seed.
"""
from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any, Callable, Mapping, Sequence

import numpy as np

Statistic = Callable[..., Any]

# Resample in chunks so memory stays bounded for long score lists (n_boot x n would not fit otherwise).
_MAX_CHUNK_ELEMENTS = 4_000_000


def is_failure(value: Any) -> bool:
    """A score that could not be computed: ``None`` or NaN."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def split_failures(values: Sequence[Any]) -> tuple[np.ndarray, int]:
    """Return the valid values as a float array and the number of failures."""
    valid = [v for v in values if not is_failure(v)]
    try:
        array = np.asarray(valid, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"scores must be numbers, None or NaN: {exc}") from exc
    if array.ndim != 1:
        raise ValueError("scores must be a flat sequence of numbers")
    array = array[~np.isnan(array)]  # NaN from numpy scalars, which is_failure does not see as floats
    return array, len(values) - len(array)


def _apply(statistic: Statistic, samples: np.ndarray) -> np.ndarray:
    """``statistic`` over the rows of ``samples``, vectorised when it accepts ``axis``."""
    try:
        result = np.asarray(statistic(samples, axis=1), dtype=float)
        if result.shape == (samples.shape[0],):
            return result
    except TypeError:
        pass
    return np.array([float(statistic(row)) for row in samples])


def _bootstrap_distribution(
    columns: Sequence[np.ndarray], combine: Callable[..., np.ndarray], n_boot: int, seed: int
) -> np.ndarray:
    """Resample row indices shared by all ``columns`` and reduce each resample with ``combine``."""
    n = len(columns[0])
    rng = np.random.default_rng(seed)
    chunk = max(1, _MAX_CHUNK_ELEMENTS // max(n, 1))
    out = []
    for start in range(0, n_boot, chunk):
        idx = rng.integers(0, n, size=(min(chunk, n_boot - start), n))
        out.append(combine(*(column[idx] for column in columns)))
    return np.concatenate(out)


def _interval(distribution: np.ndarray, ci: float) -> tuple[float, float]:
    if not 0 < ci < 1:
        raise ValueError(f"ci must be between 0 and 1, got {ci}")
    tail = (1 - ci) / 2
    low, high = np.quantile(distribution, [tail, 1 - tail])
    return float(low), float(high)


def bootstrap_ci(
    values: Sequence[Any],
    *,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
    statistic: Statistic = np.mean,
) -> dict:
    """Percentile bootstrap interval of ``statistic`` over the valid values.

    Returns ``{"mean", "ci_low", "ci_high", "n", "failures"}``: ``mean`` is ``statistic`` of the valid values
    (the mean by default), ``n`` their count and ``failures`` the count of ``None``/NaN values left out. With no
    valid value, ``mean`` and the bounds are ``None``.
    """
    valid, failures = split_failures(values)
    n = len(valid)
    if n == 0:
        return {"mean": None, "ci_low": None, "ci_high": None, "n": 0, "failures": failures}
    distribution = _bootstrap_distribution([valid], lambda s: _apply(statistic, s), n_boot, seed)
    low, high = _interval(distribution, ci)
    return {"mean": float(statistic(valid)), "ci_low": low, "ci_high": high, "n": n, "failures": failures}


def _as_mapping(values: Mapping[Any, Any] | Sequence[Any]) -> Mapping[Any, Any]:
    return values if isinstance(values, Mapping) else dict(enumerate(values))


def paired_bootstrap_diff(
    a: Mapping[Any, Any] | Sequence[Any],
    b: Mapping[Any, Any] | Sequence[Any],
    *,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
    statistic: Statistic = np.mean,
) -> dict:
    """Bootstrap the difference ``statistic(a) - statistic(b)`` over samples scored in both.

    ``a`` and ``b`` map sample ids to scores (sequences are paired by position). Ids present in both with a
    valid score in both are resampled jointly. Returns ``{"diff", "ci_low", "ci_high", "n", "failures",
    "p_value"}`` where ``failures`` counts shared ids with a missing score on either side and ``p_value`` is
    the share of resampled differences ``<= 0`` (a one-sided bootstrap p-value for "a is higher than b").
    """
    a, b = _as_mapping(a), _as_mapping(b)
    shared = [key for key in a if key in b]
    pairs = [(a[key], b[key]) for key in shared if not (is_failure(a[key]) or is_failure(b[key]))]
    failures = len(shared) - len(pairs)
    if not pairs:
        return {"diff": None, "ci_low": None, "ci_high": None, "n": 0, "failures": failures, "p_value": None}
    left = np.array([p[0] for p in pairs], dtype=float)
    right = np.array([p[1] for p in pairs], dtype=float)
    distribution = _bootstrap_distribution(
        [left, right], lambda x, y: _apply(statistic, x) - _apply(statistic, y), n_boot, seed
    )
    low, high = _interval(distribution, ci)
    return {
        "diff": float(statistic(left) - statistic(right)),
        "ci_low": low,
        "ci_high": high,
        "n": len(pairs),
        "failures": failures,
        "p_value": float(np.mean(distribution <= 0)),
    }


def wilson_ci(successes: int, n: int, ci: float = 0.95) -> tuple[float | None, float | None]:
    """Wilson score interval for a proportion; ``(None, None)`` when ``n`` is 0."""
    if n == 0:
        return None, None
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be within 0..n, got {successes} of {n}")
    z = NormalDist().inv_cdf(1 - (1 - ci) / 2)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # Exact ends at 0 and n, where floating-point rounding would otherwise leave e.g. 1e-17.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high
