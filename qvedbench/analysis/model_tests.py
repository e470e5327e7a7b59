"""Tests across models: do several models score differently on the same test samples?

Per-sample scores of each model are joined on the sample id. A sample that any model failed on (no score, or
absent from its file) is dropped from the paired test and counted in ``dropped``, never imputed.

The test is chosen from stated assumptions:

- binary per-sample scores (e.g. exercise-ID correctness, 0/1): two models -> exact McNemar test (binomial test
  on the discordant pairs), more -> Cochran's Q. Normality cannot hold for 0/1 scores, so no t-test or ANOVA.
- continuous scores, two models -> Shapiro-Wilk on the paired differences; normal (p > alpha) -> paired t-test,
  otherwise (or with fewer than 3 pairs, where normality cannot be checked) the Wilcoxon signed-rank test.
- continuous scores, more models -> Shapiro-Wilk on the residuals of the subject + model additive model;
  normal -> one-way repeated-measures ANOVA with the Greenhouse-Geisser correction for non-sphericity,
  otherwise the Friedman test.

Every result carries the test name, statistic, degrees of freedom where there are some, p-value, n, dropped,
the assumption checks and a sentence saying why the test was chosen. No torch, no model code.
"""
from __future__ import annotations

from typing import Any, Hashable, Mapping

import numpy as np
from scipy import stats

from qvedbench.stats import is_failure

ALPHA = 0.05


def join_scores(scores: Mapping[str, Mapping[Hashable, Any]]) -> tuple[list[str], list[Hashable], np.ndarray, int]:
    """Join per-sample scores of several models on the sample id.

    Returns ``(models, ids, matrix, dropped)``: ``matrix`` has one row per id scored by every model (in the
    order of first appearance) and one column per model; ``dropped`` counts ids that some model lacks or
    failed on."""
    models = list(scores)
    all_ids: dict[Hashable, None] = {}
    for model in models:
        for key in scores[model]:
            all_ids.setdefault(key, None)
    ids, rows = [], []
    for key in all_ids:
        values = [scores[m].get(key) for m in models]
        if any(is_failure(v) for v in values):
            continue
        try:
            rows.append([float(v) for v in values])
        except (TypeError, ValueError):
            raise ValueError(f"sample '{key}': scores must be numbers, None or NaN, got {values!r}") from None
        ids.append(key)
    matrix = np.asarray(rows, dtype=float).reshape(len(rows), len(models))
    return models, ids, matrix, len(all_ids) - len(ids)


def _is_binary(matrix: np.ndarray) -> bool:
    return matrix.size > 0 and bool(np.isin(matrix, (0.0, 1.0)).all())


def _shapiro(values: np.ndarray, alpha: float) -> dict:
    values = np.asarray(values, dtype=float)
    if len(values) < 3:
        return {"check": "Shapiro-Wilk", "applicable": False, "reason": f"only {len(values)} value(s); needs 3"}
    if np.ptp(values) == 0:
        return {"check": "Shapiro-Wilk", "applicable": False, "reason": "all values equal"}
    result = stats.shapiro(values)
    return {"check": "Shapiro-Wilk", "applicable": True, "statistic": float(result.statistic),
            "p_value": float(result.pvalue), "normal": bool(result.pvalue > alpha)}


def _result(test: str, statistic, p_value, *, df=None, reason: str, assumptions: list[dict], **extra) -> dict:
    def num(x):
        return None if x is None or (isinstance(x, float) and np.isnan(x)) else float(x)
    return {"test": test, "statistic": num(statistic), "df": df, "p_value": num(p_value), "reason": reason,
            "assumptions": assumptions, **extra}


def mcnemar_exact(a: np.ndarray, b: np.ndarray) -> dict:
    """Exact McNemar test of paired 0/1 outcomes: binomial test of the discordant pairs against 1/2."""
    only_a = int(np.sum((a == 1) & (b == 0)))
    only_b = int(np.sum((a == 0) & (b == 1)))
    discordant = only_a + only_b
    p = 1.0 if discordant == 0 else stats.binomtest(only_a, discordant, 0.5).pvalue
    return _result("McNemar (exact)", min(only_a, only_b), p,
                   reason="binary per-sample scores of two models: exact McNemar test on the discordant pairs",
                   assumptions=[{"check": "binary scores", "applicable": True, "discordant_pairs": discordant}])


def cochran_q(matrix: np.ndarray) -> dict:
    """Cochran's Q for k related 0/1 samples (rows: subjects, columns: models); chi-square with k-1 df."""
    n, k = matrix.shape
    col = matrix.sum(axis=0)
    row = matrix.sum(axis=1)
    total = row.sum()
    denom = k * total - np.sum(row ** 2)
    if denom == 0:  # every subject all-0 or all-1: the models cannot differ on these samples
        q, p = 0.0, 1.0
    else:
        q = (k - 1) * (k * np.sum(col ** 2) - total ** 2) / denom
        p = float(stats.chi2.sf(q, k - 1))
    return _result("Cochran's Q", q, p, df=k - 1,
                   reason=f"binary per-sample scores of {k} models: Cochran's Q",
                   assumptions=[{"check": "binary scores", "applicable": True}])


def rm_anova(matrix: np.ndarray) -> dict:
    """One-way repeated-measures ANOVA (rows: subjects, columns: conditions) with the Greenhouse-Geisser
    epsilon; returns F, the uncorrected and corrected p-values and both degrees of freedom."""
    n, k = matrix.shape
    grand = matrix.mean()
    ss_cond = n * np.sum((matrix.mean(axis=0) - grand) ** 2)
    ss_subj = k * np.sum((matrix.mean(axis=1) - grand) ** 2)
    ss_total = np.sum((matrix - grand) ** 2)
    ss_error = ss_total - ss_cond - ss_subj
    df1, df2 = k - 1, (k - 1) * (n - 1)
    if ss_error <= 1e-15 * max(ss_total, 1.0):
        f, p = (np.inf, 0.0) if ss_cond > 0 else (np.nan, np.nan)
        eps = 1.0
    else:
        f = (ss_cond / df1) / (ss_error / df2)
        p = float(stats.f.sf(f, df1, df2))
        cov = np.cov(matrix, rowvar=False)
        centre = np.eye(k) - np.ones((k, k)) / k
        dc = centre @ cov @ centre
        eps = float(np.trace(dc) ** 2 / ((k - 1) * np.trace(dc @ dc))) if np.trace(dc @ dc) > 0 else 1.0
        eps = min(1.0, max(1.0 / (k - 1), eps))
    p_gg = float(stats.f.sf(f, eps * df1, eps * df2)) if np.isfinite(f) else p
    return {"F": float(f), "df": [df1, df2], "p_value": float(p), "epsilon_gg": eps, "p_value_gg": p_gg}


def _residuals(matrix: np.ndarray) -> np.ndarray:
    return (matrix - matrix.mean(axis=1, keepdims=True) - matrix.mean(axis=0, keepdims=True) + matrix.mean()).ravel()


def compare_models(scores: Mapping[str, Mapping[Hashable, Any]], *, alpha: float = ALPHA) -> dict:
    """Test whether the models in ``scores`` (model -> {sample id -> score}) differ on the shared samples.

    Returns a dict: ``models``, ``test``, ``statistic``, ``df``, ``p_value``, ``n`` (samples in the test),
    ``dropped`` (samples some model lacks or failed on), ``binary``, ``assumptions`` (the checks made),
    ``reason`` (why this test) and ``differ`` (p < alpha; None when no test could run)."""
    if len(scores) < 2:
        raise ValueError(f"need scores of at least two models, got {len(scores)}")
    models, _, matrix, dropped = join_scores(scores)
    n, k = matrix.shape
    base = {"models": models, "n": n, "dropped": dropped, "alpha": alpha, "binary": _is_binary(matrix)}
    if n < 2:
        out = _result("none", None, None, reason=f"only {n} sample(s) scored by every model: no test",
                      assumptions=[])
    elif base["binary"]:
        out = mcnemar_exact(matrix[:, 0], matrix[:, 1]) if k == 2 else cochran_q(matrix)
    elif k == 2:
        diff = matrix[:, 0] - matrix[:, 1]
        check = _shapiro(diff, alpha)
        if not np.any(diff):
            out = _result("none", None, None, reason="the paired differences are all zero: the models do not "
                          "differ on these samples", assumptions=[check])
            out["differ"] = False
        elif check.get("normal"):
            t = stats.ttest_rel(matrix[:, 0], matrix[:, 1])
            out = _result("paired t-test", t.statistic, t.pvalue, df=n - 1, assumptions=[check],
                          reason=f"paired differences look normal (Shapiro-Wilk p={check['p_value']:.3g} > {alpha})")
        else:
            w = stats.wilcoxon(matrix[:, 0], matrix[:, 1])
            why = (f"paired differences not normal (Shapiro-Wilk p={check['p_value']:.3g} <= {alpha})"
                   if check["applicable"] else f"normality cannot be checked ({check['reason']})")
            out = _result("Wilcoxon signed-rank", w.statistic, w.pvalue, assumptions=[check],
                          reason=f"{why}: non-parametric test")
    else:
        check = _shapiro(_residuals(matrix), alpha)
        check["of"] = "residuals of the subject + model additive model"
        if check.get("normal"):
            a = rm_anova(matrix)
            sphericity = {"check": "sphericity (Greenhouse-Geisser epsilon)", "applicable": True,
                          "epsilon": a["epsilon_gg"]}
            out = _result("repeated-measures ANOVA (Greenhouse-Geisser)", a["F"], a["p_value_gg"], df=a["df"],
                          assumptions=[check, sphericity], p_value_uncorrected=a["p_value"],
                          reason=f"residuals look normal (Shapiro-Wilk p={check['p_value']:.3g} > {alpha}); "
                                 "p corrected for non-sphericity")
        else:
            f = stats.friedmanchisquare(*matrix.T)
            why = (f"residuals not normal (Shapiro-Wilk p={check['p_value']:.3g} <= {alpha})"
                   if check["applicable"] else f"normality cannot be checked ({check['reason']})")
            out = _result("Friedman", f.statistic, f.pvalue, df=k - 1, assumptions=[check],
                          reason=f"{why}: non-parametric test")
    out = {**base, **out}
    if "differ" not in out:
        out["differ"] = None if out["p_value"] is None else bool(out["p_value"] < alpha)
    return out
