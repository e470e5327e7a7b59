"""Training subsets chosen by an integer program: nested stratified fractions and per-class undersampling.

Names (``train_subset`` of a run, file ``results/data/subsets/<name>.jsonl``):

- ``frac<P>``: P percent of the training records (``frac25``). Subsets of one chain of fractions are nested:
  each smaller subset lies inside every larger one, so a data-size curve adds records and never swaps them.
- ``balanced<K>``: every class undersampled to at most K clips (``balanced50``); smaller classes keep all.

How a subset is chosen (integer program, PuLP with its bundled CBC solver, runs offline):

1. Class counts are exact. Class ``c`` with ``N_c`` records gets ``n_c = floor(f * N_c + 0.5)`` records at
   fraction ``f`` (rounded half up, so the class proportions are exact up to this rounding; a class smaller
   than ``1 / (2 f)`` records gets none), or ``min(K, N_c)`` records for ``balanced<K>``.
2. Error labels are balanced: for every class and every error label of its records (``errors``; a record
   without errors counts under the label ``"none"``), the target count is ``n_c * count_{c,label} / N_c``,
   the label's share of the class in the full set. The program minimises the sum over (class, label) of the
   absolute deviations of the subset's counts from these targets. A record with two errors counts for both.
3. Nesting: fractions are solved from the largest to the smallest, each restricted to the records of the
   previous (larger) solution. A fraction of 1 is the whole set and constrains nothing.
4. Seeded tie-break: many subsets reach the same smallest deviation. A second program keeps the deviation at
   its optimum (plus 1e-6) and minimises a seeded random weight per record, so the choice among equal optima is
   reproducible from the seed and another seed may pick another (equally balanced) subset. Two stages rather
   than a small weight in one objective: the deviations are fractions with the class sizes as denominators,
   so no weight is small enough for every data set.

The result depends only on the records (as a set of ids: they are sorted by id first), the chain of fractions
and the seed. Records need ``id``, ``exercise`` (the class) and ``errors`` (a list, possibly empty); a record
without them raises :class:`~qvedbench.io.RecordError` naming the record and field.
"""
from __future__ import annotations

import math
import re
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from qvedbench.io import RecordError

NO_ERROR = "none"  # the label of a record annotated with no error
ROUNDING = "per class: floor(fraction * class count + 0.5) (round half up)"
SUBSET_NAME = re.compile(r"^(?:frac(?P<percent>\d+)|balanced(?P<per_class>\d+))$")
TIME_LIMIT_S = 120  # per solve; a subset problem of a few thousand records solves in well under a second
OPTIMUM_SLACK = 1e-6


@dataclass
class Solution:
    """One solved subset: the chosen ids (sorted), per (class, label) counts and targets, solver status."""

    ids: list[str]
    class_sizes: dict[str, int]
    cells: dict[tuple[str, str], dict] = field(default_factory=dict)  # (class, label) -> count, target, full
    status: str = ""

    @property
    def total_deviation(self) -> float:
        return float(sum(abs(c["count"] - c["target"]) for c in self.cells.values()))

    @property
    def max_deviation(self) -> float:
        return float(max((abs(c["count"] - c["target"]) for c in self.cells.values()), default=0.0))


# -- names ---------------------------------------------------------------------------------------------------

def parse_subset_name(name: str) -> tuple[str, float | int]:
    """``("fraction", 0.25)`` for ``frac25``, ``("balanced", 50)`` for ``balanced50``; ValueError otherwise."""
    match = SUBSET_NAME.match(name) if isinstance(name, str) else None
    if not match:
        raise ValueError(f"training subset {name!r}: expected frac<P> (P percent of the training set, 1-100) "
                         f"or balanced<K> (at most K clips per class, K >= 1)")
    if match["percent"] is not None:
        percent = int(match["percent"])
        if not 1 <= percent <= 100:
            raise ValueError(f"training subset {name!r}: the percentage must be 1-100")
        return "fraction", percent / 100
    per_class = int(match["per_class"])
    if per_class < 1:
        raise ValueError(f"training subset {name!r}: K must be at least 1")
    return "balanced", per_class


def check_fraction(fraction: float) -> float:
    """``fraction`` as a float in (0, 1] that is a whole number of percent (so it has a ``frac<P>`` name)."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
        raise ValueError(f"subset fraction must be a number in (0, 1], got {fraction!r}")
    if not math.isclose(fraction * 100, round(fraction * 100), abs_tol=1e-9):
        raise ValueError(f"subset fraction must be a whole number of percent (0.25, not 0.255), got {fraction!r}")
    return round(fraction * 100) / 100


def fraction_name(fraction: float) -> str | None:
    """``frac25`` for 0.25; None for 1.0, the whole training set (``train_subset: null``)."""
    fraction = check_fraction(fraction)
    return None if fraction == 1 else f"frac{round(fraction * 100)}"


def fraction_chain(fractions: Iterable[float], subset_names: Iterable[str | None] = ()) -> list[float]:
    """The nested chain: ``fractions`` plus those of the ``frac<P>`` names among ``subset_names``, largest first,
    without 1.0 (the whole set constrains nothing, so listing it or not changes no subset)."""
    chain = {check_fraction(f) for f in fractions}
    for name in subset_names:
        if name is not None and parse_subset_name(name)[0] == "fraction":
            chain.add(parse_subset_name(name)[1])
    return sorted((f for f in chain if f < 1), reverse=True)


def class_target(fraction: float, class_size: int) -> int:
    """Records of a class of ``class_size`` at ``fraction``: rounded half up (see :data:`ROUNDING`)."""
    return int(math.floor(fraction * class_size + 0.5))


# -- records ----------------------------------------------------------------------------------------------

def _checked(records: Sequence[dict], source: str) -> list[dict]:
    """The records sorted by id, after checking ``id``, ``exercise`` and ``errors`` of each."""
    seen: set[str] = set()
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise RecordError(source, i, None, f"expected an object, got {type(record).__name__}")
        for name in ("id", "exercise"):
            if not isinstance(record.get(name), str) or not record[name]:
                raise RecordError(source, i, name, f"missing or not a non-empty string (got {record.get(name)!r})")
        if "errors" not in record:
            raise RecordError(source, i, "errors", f"missing on record {record['id']!r}: error-balanced subsets "
                                                   f"need error annotations ([] for a clip without errors)")
        errors = record["errors"]
        if not isinstance(errors, list) or not all(isinstance(e, str) and e for e in errors):
            raise RecordError(source, i, "errors", f"expected a list of error ids on record {record['id']!r}, "
                                                   f"got {errors!r}")
        if record["id"] in seen:
            raise RecordError(source, i, "id", f"duplicate id {record['id']!r}")
        seen.add(record["id"])
    if not records:
        raise ValueError(f"{source}: no records to choose a subset from")
    return sorted(records, key=lambda r: r["id"])


def _labels(record: dict) -> list[str]:
    return sorted(set(record["errors"])) or [NO_ERROR]


def _tie_break_weights(ids: Sequence[str], seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    return dict(zip(ids, rng.random(len(ids))))


# -- the integer program ------------------------------------------------------------------------------------

def _solve(records: list[dict], sizes: dict[str, int], allowed: set[str], weights: dict[str, float],
           what: str) -> Solution:
    """Choose ``sizes[c]`` records of each class among ``allowed`` with the smallest error-label deviation."""
    with warnings.catch_warnings():
        # PuLP 3.x announces API changes of 4.0 (pinned below 3.4 through Snakemake) on every variable
        warnings.filterwarnings("ignore", message=r".*PuLP 4\.0", category=DeprecationWarning)
        return _solve_quietly(records, sizes, allowed, weights, what)


def _solve_quietly(records: list[dict], sizes: dict[str, int], allowed: set[str], weights: dict[str, float],
                   what: str) -> Solution:
    import pulp

    by_class: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        by_class[record["exercise"]].append(record)
    full = {(c, label): n for c, rows in by_class.items()
            for label, n in Counter(lb for r in rows for lb in _labels(r)).items()}
    targets = {(c, label): sizes[c] * n / len(by_class[c]) for (c, label), n in full.items()}
    candidates = [r for r in records if r["id"] in allowed]
    variables = {r["id"]: pulp.LpVariable(f"x{i}", cat="Binary") for i, r in enumerate(candidates)}

    def program(name: str) -> tuple[pulp.LpProblem, dict]:
        problem = pulp.LpProblem(name, pulp.LpMinimize)
        for c, rows in by_class.items():
            problem += pulp.lpSum(variables[r["id"]] for r in rows if r["id"] in variables) == sizes[c]
        deviation = {}
        for k, (cell, target) in enumerate(sorted(targets.items())):
            c, label = cell
            count = pulp.lpSum(variables[r["id"]] for r in by_class[c] if r["id"] in variables and label in _labels(r))
            deviation[cell] = pulp.LpVariable(f"d{k}", lowBound=0)
            problem += deviation[cell] >= count - target
            problem += deviation[cell] >= target - count
        return problem, deviation

    solver = pulp.PULP_CBC_CMD(msg=False, timeLimit=TIME_LIMIT_S, threads=1)
    balance, deviation = program("balance")
    balance += pulp.lpSum(deviation.values())
    _run(balance, solver, what)
    optimum = pulp.value(balance.objective) or 0.0
    tie_break, deviation = program("tie_break")
    tie_break += pulp.lpSum(deviation.values()) <= optimum + OPTIMUM_SLACK
    tie_break += pulp.lpSum(weights[i] * x for i, x in variables.items())
    status = _run(tie_break, solver, what)
    chosen = sorted(i for i, x in variables.items() if x.value() is not None and x.value() > 0.5)
    solution = Solution(chosen, dict(sorted(sizes.items())), status=status)
    chosen_set = set(chosen)
    for cell in sorted(targets):
        c, label = cell
        count = sum(1 for r in by_class[c] if r["id"] in chosen_set and label in _labels(r))
        solution.cells[cell] = {"count": count, "target": targets[cell], "full": full[cell]}
    return solution


def _run(problem, solver, what: str) -> str:
    import pulp

    problem.solve(solver)
    status = pulp.LpStatus[problem.status]
    if problem.status != pulp.LpStatusOptimal or problem.sol_status not in (pulp.LpSolutionOptimal,
                                                                            pulp.LpSolutionIntegerFeasible):
        raise RuntimeError(f"subset integer program for {what} was not solved: status {status}, "
                           f"solution {pulp.LpSolution.get(problem.sol_status, problem.sol_status)}")
    return pulp.LpSolution.get(problem.sol_status, status)


def _class_sizes(records: list[dict]) -> dict[str, int]:
    return dict(sorted(Counter(r["exercise"] for r in records).items()))


def solve_chain(records: Sequence[dict], fractions: Iterable[float], seed: int, *,
                source: str = "training records") -> dict[float, Solution]:
    """Every fraction of the chain solved, largest first, each inside the previous: ``{fraction: Solution}``
    (1.0, if asked, is the whole set)."""
    rows = _checked(records, source)
    wanted = {check_fraction(f) for f in fractions}
    if not wanted:
        raise ValueError("no subset fractions given")
    sizes = _class_sizes(rows)
    weights = _tie_break_weights([r["id"] for r in rows], seed)
    allowed = {r["id"] for r in rows}
    out: dict[float, Solution] = {}
    for fraction in sorted(wanted, reverse=True):
        if fraction == 1:
            out[fraction] = _whole(rows, source)
            continue
        target = {c: class_target(fraction, n) for c, n in sizes.items()}
        out[fraction] = _solve(rows, target, allowed, weights, f"fraction {fraction:g} of {source}")
        allowed = set(out[fraction].ids)
    return out


def nested_subsets(records: Sequence[dict], fractions: Iterable[float], seed: int, *,
                   source: str = "training records") -> dict[float, list[str]]:
    """``{fraction: [record ids]}``: nested, class counts exact up to rounding, error labels balanced (module
    docstring). Deterministic from (the records, all ``fractions``, ``seed``): compute a chain in one call."""
    return {f: s.ids for f, s in solve_chain(records, fractions, seed, source=source).items()}


def balanced_subset(records: Sequence[dict], samples_per_class: int, seed: int, *,
                    source: str = "training records") -> list[str]:
    """Record ids with at most ``samples_per_class`` clips per class, error labels balanced within each class."""
    return _balanced(records, samples_per_class, seed, source).ids


def _balanced(records: Sequence[dict], samples_per_class: int, seed: int, source: str) -> Solution:
    if isinstance(samples_per_class, bool) or not isinstance(samples_per_class, int) or samples_per_class < 1:
        raise ValueError(f"samples_per_class must be a positive integer, got {samples_per_class!r}")
    rows = _checked(records, source)
    sizes = {c: min(samples_per_class, n) for c, n in _class_sizes(rows).items()}
    weights = _tie_break_weights([r["id"] for r in rows], seed)
    return _solve(rows, sizes, {r["id"] for r in rows}, weights, f"{samples_per_class} per class of {source}")


# -- one named subset and its manifest ---------------------------------------------------------------------

def subset_records(name: str, records: Sequence[dict], seed: int, *, fractions: Iterable[float] = (),
                   source: str = "training records") -> tuple[list[dict], dict]:
    """The records of subset ``name`` (in their input order) and its manifest.

    ``frac<P>`` is solved within the chain ``fractions`` (P is added to it when missing; pass every fraction
    that has its own file so that the files are nested); ``balanced<K>`` ignores ``fractions``.
    """
    kind, value = parse_subset_name(name)
    full_sizes = _class_sizes(_checked(records, source))
    if kind == "fraction":
        chain = fraction_chain([*fractions, value])
        solution = solve_chain(records, chain + [1.0], seed, source=source)[value]  # 1.0: the whole set
        parameters = {"fraction": value, "chain": chain, "rounding": ROUNDING}
    else:
        solution = _balanced(records, value, seed, source)
        parameters = {"samples_per_class": value, "rounding": "per class: min(K, class count)"}
    chosen = set(solution.ids)
    subset = [r for r in records if r["id"] in chosen]
    return subset, manifest(name, kind, parameters, seed, records, subset, solution, full_sizes)


def _whole(records: Sequence[dict], source: str) -> Solution:
    rows = _checked(records, source)
    solution = Solution([r["id"] for r in rows], _class_sizes(rows), status="whole set (nothing to solve)")
    for c in solution.class_sizes:
        for label, n in Counter(lb for r in rows if r["exercise"] == c for lb in _labels(r)).items():
            solution.cells[(c, label)] = {"count": n, "target": float(n), "full": n}
    return solution


def manifest(name: str, kind: str, parameters: dict, seed: int, records: Sequence[dict], subset: Sequence[dict],
             solution: Solution, full_sizes: dict[str, int]) -> dict:
    """What a subset file holds and how it was chosen: counts per class and per error label against the full
    set, the deviation from the error-label targets, the parameters, seed and solver status."""
    full_labels = Counter(lb for r in records for lb in _labels(r))
    sub_labels = Counter(lb for r in subset for lb in _labels(r))
    n, n_full = len(subset), len(records)
    per_error = {label: {"n": sub_labels[label], "full": full_labels[label],
                         "share": sub_labels[label] / n if n else None, "full_share": full_labels[label] / n_full}
                 for label in sorted(full_labels)}
    shares = [abs(v["share"] - v["full_share"]) for v in per_error.values() if v["share"] is not None]
    cells = [{"class": c, "label": label, "count": v["count"], "target": round(v["target"], 6), "full": v["full"],
              "deviation": round(v["count"] - v["target"], 6)} for (c, label), v in sorted(solution.cells.items())]
    return {
        "name": name, "kind": kind, **parameters, "seed": seed, "n": n, "n_full": n_full,
        "per_class": {c: {"n": solution.class_sizes.get(c, 0), "full": full_sizes[c]} for c in full_sizes},
        "per_error": per_error,
        "deviation": {"total_abs": round(solution.total_deviation, 6), "max_abs": round(solution.max_deviation, 6),
                      "max_share_abs": round(max(shares, default=0.0), 6),
                      "objective": "sum over (class, error label) of |count - class subset size * label share "
                                   "of the class in the full set|",
                      "cells": cells},
        "solver": {"name": "CBC (PuLP)", "status": solution.status, "tie_break": "seeded random weight per record, "
                   "minimised at the optimal deviation"},
    }


def write_subset(train_path, name: str, out_records, out_manifest, *, seed: int,
                 fractions: Iterable[float] = ()) -> dict:
    """Read the training split, choose subset ``name`` (see :func:`subset_records`) and write its records
    (JSONL, same format as the split) and manifest (JSON); return the manifest. Errors name ``train_path``."""
    from qvedbench.data.records import read_records
    from qvedbench.io import write_json, write_jsonl

    records = read_records(train_path)
    subset, info = subset_records(name, records, seed, fractions=fractions, source=str(train_path))
    write_jsonl(out_records, subset)
    write_json(out_manifest, {**info, "source": str(train_path)})
    return info
