import numpy as np
import pytest
from scipy import stats

from qvedbench.analysis.model_tests import cochran_q, compare_models, join_scores, rm_anova


def as_scores(matrix, models=("a", "b", "c", "d")):
    matrix = np.asarray(matrix, dtype=float)
    return {m: {f"s{i}": v for i, v in enumerate(matrix[:, j])} for j, m in enumerate(models[: matrix.shape[1]])}


def test_join_drops_failed_and_missing_samples_and_counts_them():
    scores = {"a": {"x": 1.0, "y": None, "z": 0.5, "w": 0.1}, "b": {"x": 0.5, "y": 0.2, "z": float("nan")}}
    models, ids, matrix, dropped = join_scores(scores)
    assert models == ["a", "b"] and ids == ["x"] and matrix.tolist() == [[1.0, 0.5]]
    assert dropped == 3  # y failed in a, z failed in b, w absent from b


def test_two_models_normal_differences_give_paired_t_test():
    rng = np.random.default_rng(0)
    a = rng.normal(0.6, 0.1, 40)
    b = a - 0.05 + rng.normal(0, 0.02, 40)
    out = compare_models(as_scores(np.c_[a, b]))
    ref = stats.ttest_rel(a, b)
    assert out["test"] == "paired t-test" and out["df"] == 39
    assert out["statistic"] == pytest.approx(ref.statistic) and out["p_value"] == pytest.approx(ref.pvalue)
    assert out["assumptions"][0]["normal"] and out["differ"] and out["n"] == 40 and out["dropped"] == 0


def test_two_models_skewed_differences_give_wilcoxon():
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 1, 30)
    b = a - rng.exponential(0.2, 30) ** 3
    out = compare_models(as_scores(np.c_[a, b]))
    ref = stats.wilcoxon(a, b)
    assert out["test"] == "Wilcoxon signed-rank" and not out["assumptions"][0]["normal"]
    assert out["p_value"] == pytest.approx(ref.pvalue) and "not normal" in out["reason"]


def test_binary_two_models_exact_mcnemar():
    # 8 clips only a is right on, 2 clips only b is right on, 10 concordant
    a = [1] * 8 + [0] * 2 + [1] * 5 + [0] * 5
    b = [0] * 8 + [1] * 2 + [1] * 5 + [0] * 5
    out = compare_models(as_scores(np.c_[a, b]))
    assert out["test"] == "McNemar (exact)" and out["binary"]
    assert out["p_value"] == pytest.approx(stats.binomtest(8, 10, 0.5).pvalue)  # 0.109375
    assert out["p_value"] == pytest.approx(0.109375) and out["differ"] is False


def test_cochran_q_reference_and_mcnemar_identity():
    # 12 subjects x 3 conditions; the expected Q is the textbook formula written out here
    m = np.array([[1, 1, 0], [1, 0, 0], [1, 1, 1], [0, 0, 0], [1, 0, 0], [1, 1, 0],
                  [1, 0, 1], [0, 1, 0], [1, 0, 0], [1, 1, 0], [0, 0, 0], [1, 0, 0]])
    col, row = m.sum(0), m.sum(1)
    k, total = 3, m.sum()
    expected = (k - 1) * (k * (col ** 2).sum() - total ** 2) / (k * total - (row ** 2).sum())
    q = cochran_q(m)
    assert q["statistic"] == pytest.approx(expected) and q["df"] == 2
    assert q["p_value"] == pytest.approx(stats.chi2.sf(expected, 2))
    # with two conditions Cochran's Q is McNemar's chi-square without continuity correction
    two = m[:, :2]
    b_, c_ = np.sum((two[:, 0] == 1) & (two[:, 1] == 0)), np.sum((two[:, 0] == 0) & (two[:, 1] == 1))
    assert cochran_q(two)["statistic"] == pytest.approx((b_ - c_) ** 2 / (b_ + c_))
    out = compare_models(as_scores(m))
    assert out["test"] == "Cochran's Q" and out["n"] == 12


def _anova_by_regression(matrix):
    """F for the model effect from nested least-squares fits (subject dummies vs subject + model dummies)."""
    n, k = matrix.shape
    y = matrix.ravel()
    subj = np.kron(np.eye(n), np.ones((k, 1)))
    cond = np.tile(np.eye(k)[:, 1:], (n, 1))
    rss = [np.sum((y - X @ np.linalg.lstsq(X, y, rcond=None)[0]) ** 2) for X in (subj, np.c_[subj, cond])]
    df1, df2 = k - 1, (n - 1) * (k - 1)
    return ((rss[0] - rss[1]) / df1) / (rss[1] / df2)


def test_rm_anova_matches_regression_and_t_squared():
    rng = np.random.default_rng(3)
    m = rng.normal(0, 1, (15, 1)) + rng.normal([0.0, 0.3, 0.5], 0.4, (15, 3))
    a = rm_anova(m)
    assert a["F"] == pytest.approx(_anova_by_regression(m))
    assert a["df"] == [2, 28] and a["p_value"] == pytest.approx(stats.f.sf(a["F"], 2, 28))
    assert 0.5 <= a["epsilon_gg"] <= 1.0 and a["p_value_gg"] >= a["p_value"]
    two = m[:, :2]
    assert rm_anova(two)["F"] == pytest.approx(stats.ttest_rel(two[:, 0], two[:, 1]).statistic ** 2)
    assert rm_anova(two)["epsilon_gg"] == pytest.approx(1.0)


def test_many_models_normal_gives_rm_anova_else_friedman():
    rng = np.random.default_rng(4)
    m = rng.normal(0, 1, (30, 1)) + rng.normal([0.0, 0.5, 1.0], 0.3, (30, 3))
    out = compare_models(as_scores(m))
    assert out["test"].startswith("repeated-measures ANOVA") and out["df"] == [2, 58] and out["differ"]
    skewed = rng.exponential(1.0, (30, 3)) ** 3 + np.array([0.0, 0.0, 2.0])
    out = compare_models(as_scores(skewed))
    ref = stats.friedmanchisquare(*skewed.T)
    assert out["test"] == "Friedman" and out["p_value"] == pytest.approx(ref.pvalue)


def test_degenerate_inputs():
    assert compare_models({"a": {"x": 0.5}, "b": {"x": 0.4}})["test"] == "none"
    same = compare_models({"a": {"x": 0.5, "y": 0.7, "z": 0.2}, "b": {"x": 0.5, "y": 0.7, "z": 0.2}})
    assert same["test"] == "none" and same["differ"] is False
    with pytest.raises(ValueError, match="at least two"):
        compare_models({"a": {"x": 1}})
    with pytest.raises(ValueError, match="sample 'x'"):
        compare_models({"a": {"x": "high"}, "b": {"x": 1}})
