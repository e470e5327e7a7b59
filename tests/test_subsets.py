"""Training subsets chosen by the integer program: exact class counts, nesting, error-label balance, seeds, bad
input, the run plan of RQ1.1.3 and the train rule's input."""
import random
from collections import Counter

import pytest

from qvedbench.data.subsets import (NO_ERROR, balanced_subset, class_target, fraction_chain, nested_subsets,
                                    parse_subset_name, solve_chain, subset_records, write_subset)
from qvedbench.io import RecordError, read_json, read_jsonl, write_jsonl
from qvedbench.runs import plan_runs, question_run_names

FRACTIONS = [0.25, 0.5, 0.75, 1.0]


def skewed_records(seed: int = 0) -> list[dict]:
    """Three classes of unequal size whose error labels are skewed (most clips clean, one error rare, a few
    clips with two errors), in a shuffled order."""
    rng = random.Random(seed)
    records = []
    for cls, n in (("squat", 83), ("lunge", 41), ("plank", 17)):
        for i in range(n):
            r = rng.random()
            a, b = f"a_{cls}", f"b_{cls}"
            errors = [] if r < 0.6 else [a] if r < 0.85 else [b] if r < 0.95 else [a, b]
            records.append({"id": f"{cls}/{cls}_{i:03d}", "exercise": cls, "errors": errors})
    rng.shuffle(records)
    return records


def split_record(rid: str, cls: str, errors: list) -> dict:
    """A complete normalised training record (results/data/train.jsonl format)."""
    return {"id": rid, "video": f"v/{rid}.mp4", "video_rel": f"{rid}.mp4", "exercise": cls, "label": cls,
            "feedback": "ok", "reference": f"{cls} - ok", "prompt": "p", "split": "train", "errors": errors,
            "num_frames": 16, "fps": 8.0, "width": 32, "height": 32, "source": "a.json", "index": 0}


def cell_counts(records, ids) -> Counter:
    chosen = set(ids)
    return Counter((r["exercise"], e) for r in records if r["id"] in chosen
                   for e in (sorted(set(r["errors"])) or [NO_ERROR]))


def test_exact_class_counts_nesting_and_error_balance():
    records = skewed_records()
    subsets = nested_subsets(records, FRACTIONS, seed=0)
    assert sorted(subsets) == FRACTIONS
    sizes = Counter(r["exercise"] for r in records)
    full_cells = cell_counts(records, [r["id"] for r in records])
    by_id = {r["id"]: r for r in records}
    for fraction, ids in subsets.items():
        assert len(ids) == len(set(ids))
        counts = Counter(by_id[i]["exercise"] for i in ids)
        # exact class counts, rounded half up: 0.25 * 17 = 4.25 -> 4, 0.5 * 41 = 20.5 -> 21, 0.75 * 83 = 62.25 -> 62
        assert counts == {c: class_target(fraction, n) for c, n in sizes.items()}
        # error labels: each (class, label) count within 1 clip of its target (class subset size x label share)
        cells = cell_counts(records, ids)
        for (cls, label), n_full in full_cells.items():
            target = counts[cls] * n_full / sizes[cls]
            assert abs(cells[(cls, label)] - target) < 1.0, (fraction, cls, label)
    assert class_target(0.5, 41) == 21 and class_target(0.25, 17) == 4
    assert len(subsets[1.0]) == len(records)
    for small, large in zip(FRACTIONS, FRACTIONS[1:]):
        assert set(subsets[small]) <= set(subsets[large])


def test_the_program_balances_better_than_a_random_stratified_draw():
    records = skewed_records(1)
    solution = solve_chain(records, [0.25], seed=0)[0.25]
    rng = random.Random(0)
    random_ids = []
    for cls in sorted({r["exercise"] for r in records}):
        rows = [r["id"] for r in records if r["exercise"] == cls]
        random_ids += rng.sample(rows, solution.class_sizes[cls])
    sizes = Counter(r["exercise"] for r in records)
    full_cells = cell_counts(records, [r["id"] for r in records])
    random_cells = cell_counts(records, random_ids)
    random_deviation = sum(abs(random_cells[cell] - solution.class_sizes[cell[0]] * n / sizes[cell[0]])
                           for cell, n in full_cells.items())
    assert solution.total_deviation <= random_deviation
    assert solution.max_deviation < 1.0
    assert solution.status == "Optimal Solution Found"


def test_deterministic_under_a_seed_and_independent_of_record_order():
    records = skewed_records()
    first = nested_subsets(records, FRACTIONS, seed=3)
    assert nested_subsets(list(reversed(records)), FRACTIONS, seed=3) == first
    other = nested_subsets(records, FRACTIONS, seed=4)
    assert other[0.25] != first[0.25]  # another seed picks another subset among the equally balanced ones ...
    by_id = {r["id"]: r for r in records}
    for fraction in FRACTIONS:  # ... with the same class counts and as good a balance
        classes = [Counter(by_id[i]["exercise"] for i in ids[fraction]) for ids in (first, other)]
        assert classes[0] == classes[1]
    a, b = solve_chain(records, [0.5], seed=3)[0.5], solve_chain(records, [0.5], seed=4)[0.5]
    assert a.total_deviation == pytest.approx(b.total_deviation, abs=1e-6)


def test_balanced_subset_undersamples_large_classes_only():
    records = skewed_records()
    ids = balanced_subset(records, 20, seed=0)
    counts = Counter(r["exercise"] for r in records if r["id"] in set(ids))
    assert counts == {"squat": 20, "lunge": 20, "plank": 17}
    sizes = Counter(r["exercise"] for r in records)
    cells, full = cell_counts(records, ids), cell_counts(records, [r["id"] for r in records])
    assert all(abs(cells[(c, e)] - counts[c] * n / sizes[c]) < 1.0 for (c, e), n in full.items())
    assert balanced_subset(records, 20, seed=0) == ids


def test_names_and_chain():
    assert parse_subset_name("frac25") == ("fraction", 0.25)
    assert parse_subset_name("balanced50") == ("balanced", 50)
    for bad in ("frac0", "frac101", "balanced0", "half", "frac25x"):
        with pytest.raises(ValueError, match="frac<P>|1-100|at least 1"):
            parse_subset_name(bad)
    assert fraction_chain([0.5, 1.0, 0.25], ["frac10", None, "balanced5"]) == [0.5, 0.25, 0.1]
    with pytest.raises(ValueError, match="whole number of percent"):
        fraction_chain([0.255])


def test_named_subset_and_manifest(tmp_path):
    records = skewed_records()
    subset, manifest = subset_records("frac50", records, 0, fractions=FRACTIONS)
    assert [r["id"] for r in subset] == [r["id"] for r in records if r in subset]  # input order kept
    assert manifest["n"] == len(subset) == 72 and manifest["chain"] == [0.75, 0.5, 0.25]
    assert manifest["per_class"]["lunge"] == {"n": 21, "full": 41}
    assert manifest["deviation"]["max_abs"] < 1 and manifest["solver"]["status"] == "Optimal Solution Found"
    assert "round half up" in manifest["rounding"]
    # the same file whether or not the other fractions were asked for in the same call (the chain decides)
    assert subset_records("frac50", records, 0, fractions=[0.25, 0.75])[0] == subset
    whole, info = subset_records("frac100", records, 0, fractions=FRACTIONS)
    assert whole == records and info["deviation"]["total_abs"] == 0
    assert subset_records("balanced10", records, 0)[1]["per_class"]["plank"] == {"n": 10, "full": 17}


def test_bad_input_names_record_and_field(tmp_path):
    records = skewed_records()[:10]
    broken = [dict(r) for r in records]
    del broken[3]["errors"]
    with pytest.raises(RecordError, match=r"train.jsonl, record 3, field 'errors'.*missing"):
        nested_subsets(broken, [0.5], seed=0, source="train.jsonl")
    broken = [dict(r) for r in records]
    del broken[5]["exercise"]
    with pytest.raises(RecordError, match=r"record 5, field 'exercise'"):
        balanced_subset(broken, 2, seed=0)
    broken = [dict(r) for r in records]
    broken[2]["errors"] = "knee_valgus"
    with pytest.raises(RecordError, match=r"record 2, field 'errors': expected a list"):
        nested_subsets(broken, [0.5], seed=0)


def test_write_subset_reads_the_split_and_names_the_file_on_bad_input(tmp_path):
    rows = [split_record(f"squat/s{i}", "squat", [] if i % 3 else ["knee_valgus"]) for i in range(9)]
    write_jsonl(tmp_path / "train.jsonl", rows)
    info = write_subset(tmp_path / "train.jsonl", "frac50", tmp_path / "frac50.jsonl", tmp_path / "frac50.json",
                        seed=1, fractions=[0.5])
    assert len(read_jsonl(tmp_path / "frac50.jsonl")) == info["n"] == 5  # 4.5 rounds up
    assert read_json(tmp_path / "frac50.json")["source"].endswith("train.jsonl")
    del rows[4]["errors"]
    write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(RecordError, match=r"bad.jsonl, record 4, field 'errors'"):
        write_subset(tmp_path / "bad.jsonl", "frac50", tmp_path / "x.jsonl", tmp_path / "x.json", seed=1)


# -- run plan and workflow wiring --------------------------------------------------------------------------

def plan_config(fractions, baseline_subset=None):
    from qvedbench.config import load_schema, validate_config

    cfg = {"models": {"m": {"family": "qwen2_vl", "tiny": {}}},
           "dataset": {"annotations": ["a.json"], "video_root": "v"},
           "train": {"baseline": {"train_subset": baseline_subset}},
           "questions": {"rq1_1_3": {"enabled": True, "fractions": fractions}}}
    return validate_config(cfg, load_schema())


def test_run_plan_data100_is_the_baseline_and_data50_splits():
    names = question_run_names(plan_runs(plan_config([0.5, 1.0])), "rq1_1_3")["m"]
    assert names == {"data50": "data50", "data100": "baseline"}
    plan = {r.name: r for r in plan_runs(plan_config([0.5, 1.0])) if r.question == "rq1_1_3"}
    assert plan["data50"].settings["train_subset"] == "frac50" and plan["data100"].settings["train_subset"] is None
    # a baseline trained on a subset: data100 still means the whole set, so it is its own run
    names = question_run_names(plan_runs(plan_config([1.0], baseline_subset="balanced5")), "rq1_1_3")["m"]
    assert names == {"data100": "data100"}


def test_train_subset_setting_is_validated():
    from qvedbench.models import ModelSpec
    from qvedbench.train.config import resolve_train_config

    spec = ModelSpec(name="m", family="qwen2_vl", path="p")
    assert resolve_train_config({}, spec)["train_subset"] is None
    assert resolve_train_config({"train_subset": "frac25"}, spec)["train_subset"] == "frac25"
    with pytest.raises(ValueError, match="train_subset"):
        resolve_train_config({"train_subset": "../etc"}, spec)


def test_subset_rule_feeds_training_and_a_subset_target_plans_only_data_jobs(tmp_path):
    from workflow_helpers import planned_jobs, reduced_demo_config, write_config

    cfg = reduced_demo_config()
    cfg["questions"] = {"rq1_1_3": {"enabled": True, "fractions": [0.5, 1.0]}}
    cfg["infer"]["controls"] = []
    configfile = write_config(tmp_path / "config.yaml", cfg)
    model = next(iter(cfg["models"]))
    jobs = planned_jobs(tmp_path, configfile, targets=(f"results/runs/{model}/data50/train_stats.json",))
    assert jobs["data_subset"] == 1 and jobs["train_lora"] == 1 and jobs["data_prepare"] == 1
    jobs = planned_jobs(tmp_path, configfile, targets=("results/data/subsets/frac50.jsonl",))
    assert set(jobs) == {"data_synth", "data_prepare", "data_subset"} and jobs["data_subset"] == 1
    # the baseline trains on the whole split: no subset job
    jobs = planned_jobs(tmp_path, configfile, targets=(f"results/runs/{model}/baseline/train_stats.json",))
    assert "data_subset" not in jobs and jobs["train_lora"] == 1
