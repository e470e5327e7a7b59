import math

import numpy as np
import pytest

from qvedbench.stats import bootstrap_ci, paired_bootstrap_diff, split_failures, wilson_ci


def test_ci_contains_the_mean_and_is_percentile_bounded():
    rng = np.random.default_rng(1)
    values = rng.normal(0.5, 0.2, size=200).tolist()
    r = bootstrap_ci(values, n_boot=500, seed=3)
    assert r["mean"] == pytest.approx(np.mean(values))
    assert r["ci_low"] < r["mean"] < r["ci_high"]
    assert min(values) <= r["ci_low"] and r["ci_high"] <= max(values)
    assert r["n"] == 200 and r["failures"] == 0


def test_ci_narrows_with_more_samples():
    rng = np.random.default_rng(0)
    small = bootstrap_ci(rng.random(30).tolist(), n_boot=500)
    large = bootstrap_ci(rng.random(3000).tolist(), n_boot=500)
    assert (large["ci_high"] - large["ci_low"]) < (small["ci_high"] - small["ci_low"]) / 4


def test_failures_are_excluded_and_counted_not_imputed():
    r = bootstrap_ci([1.0, None, 0.0, float("nan"), np.float32("nan"), 1.0], n_boot=200)
    assert r["n"] == 3 and r["failures"] == 3
    assert r["mean"] == pytest.approx(2 / 3)


def test_all_failures_give_no_mean():
    assert bootstrap_ci([None, float("nan")]) == {"mean": None, "ci_low": None, "ci_high": None, "n": 0,
                                                   "failures": 2}
    assert bootstrap_ci([])["n"] == 0


def test_deterministic_for_a_seed_and_seed_matters():
    values = np.random.default_rng(5).random(50).tolist()
    assert bootstrap_ci(values, seed=7) == bootstrap_ci(values, seed=7)
    assert bootstrap_ci(values, seed=7)["ci_low"] != bootstrap_ci(values, seed=8)["ci_low"]


def test_wider_confidence_level_gives_wider_interval():
    values = np.random.default_rng(2).random(100).tolist()
    narrow, wide = bootstrap_ci(values, ci=0.5), bootstrap_ci(values, ci=0.99)
    assert wide["ci_low"] < narrow["ci_low"] and narrow["ci_high"] < wide["ci_high"]


def test_custom_statistic_with_and_without_axis_support():
    values = [0.0, 0.0, 1.0, 5.0, 9.0]
    assert bootstrap_ci(values, statistic=np.median)["mean"] == 1.0
    r = bootstrap_ci(values, statistic=lambda x: float(np.max(x)), n_boot=100)
    assert r["mean"] == 9.0 and r["ci_high"] == 9.0


def test_non_numeric_values_are_rejected():
    with pytest.raises(ValueError, match="numbers"):
        bootstrap_ci([1.0, "high"])


def test_constant_values_give_a_zero_width_interval():
    r = bootstrap_ci([0.25] * 10)
    assert r["ci_low"] == r["ci_high"] == 0.25


def test_paired_difference_uses_shared_ids_only():
    a = {"x": 1, "y": 1, "z": 1, "only_a": 0, "w": None}
    b = {"x": 0, "y": 0, "z": 1, "only_b": 1, "w": 1}
    r = paired_bootstrap_diff(a, b, n_boot=300, seed=1)
    assert r["n"] == 3 and r["failures"] == 1
    assert r["diff"] == pytest.approx(2 / 3)
    assert r["ci_low"] <= r["diff"] <= r["ci_high"]


def test_paired_difference_detects_a_real_improvement():
    rng = np.random.default_rng(0)
    base = rng.random(300) < 0.3
    better = base | (rng.random(300) < 0.5)
    r = paired_bootstrap_diff(better.astype(int).tolist(), base.astype(int).tolist(), n_boot=500)
    assert r["ci_low"] > 0 and r["p_value"] < 0.01
    same = paired_bootstrap_diff(base.astype(int).tolist(), base.astype(int).tolist())
    assert same["diff"] == 0 and same["p_value"] == 1.0


def test_paired_difference_without_overlap():
    r = paired_bootstrap_diff({"a": 1}, {"b": 1})
    assert r["n"] == 0 and r["diff"] is None


def test_wilson_interval():
    low, high = wilson_ci(5, 10)
    assert low < 0.5 < high
    assert wilson_ci(10, 10)[1] == 1.0 and wilson_ci(0, 10)[0] == 0.0
    assert 0.0 < wilson_ci(10, 10)[0] < 1.0
    assert wilson_ci(0, 0) == (None, None)
    # Known value: 95% Wilson interval for 8/10 is about [0.490, 0.943].
    assert wilson_ci(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-3)
    with pytest.raises(ValueError):
        wilson_ci(11, 10)


def test_split_failures():
    values, failures = split_failures([1, None, 2.5, math.nan])
    assert values.tolist() == [1.0, 2.5] and failures == 2
