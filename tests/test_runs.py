"""The run plan: baseline + question overrides, deduplicated by effective settings, with aliases."""
import copy
from pathlib import Path

import pytest
import yaml

from qvedbench.cli import main
from qvedbench.config import ConfigError, run_table, trained_runs, validate_config
from qvedbench.runs import canonical_runs, dedup_key, plan_runs, question_run_names, question_runs

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def demo():
    """The demo config with two tiny models of fixed names and a fixed baseline learning rate."""
    cfg = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    cfg["models"] = {name: {"family": "qwen2_vl", "tiny": {"preset": preset}}
                     for name, preset in (("tiny_qwen2vl_s", "s"), ("tiny_qwen2vl_m", "m"))}
    cfg["train"]["baseline"]["lr"] = 2.0e-3
    return cfg


def with_rq1_1_1(cfg, **question):
    cfg = copy.deepcopy(cfg)
    cfg["train"]["baseline"].update(method="lora", lora={"r": 16, "alpha": 32})
    cfg.setdefault("questions", {})["rq1_1_1"] = {"enabled": True, "lora_ranks": [8, 16, 32], "last_n": [2],
                                                  **question}
    return validate_config(cfg)


def test_without_questions_only_base_and_baseline(demo):
    table = run_table(validate_config(demo))
    assert {model: list(runs) for model, runs in table.items()} == {
        "tiny_qwen2vl_s": ["base", "baseline"], "tiny_qwen2vl_m": ["base", "baseline"]}


def test_question_runs_get_readable_names_and_effective_settings(demo):
    plan = plan_runs(with_rq1_1_1(demo, alpha_factor=3))
    names = [r.name for r in plan if r.model == "tiny_qwen2vl_s"]
    assert names == ["base", "baseline", "lora_r8", "lora_r16", "lora_r32", "full", "last_n2"]
    by_name = {r.name: r for r in plan if r.model == "tiny_qwen2vl_s"}
    assert by_name["lora_r8"].settings["lora"] == {"alpha": 24, "dropout": 0.05, "r": 8, "target_modules": None}
    assert by_name["lora_r8"].settings["lr"] == 2.0e-3  # the rest is the baseline's
    assert by_name["last_n2"].settings["method"] == "last_n" and by_name["last_n2"].settings["last_n"] == 2
    assert by_name["full"].overrides == {"method": "full"}


def test_identical_settings_train_once_under_the_first_name(demo):
    cfg = with_rq1_1_1(demo)  # baseline is LoRA r16 alpha 32 = the question's lora_r16 with alpha_factor 2
    plan = plan_runs(cfg)
    alias = next(r for r in plan if r.model == "tiny_qwen2vl_s" and r.name == "lora_r16")
    assert alias.canonical == "baseline" and alias.shared
    table = run_table(cfg)["tiny_qwen2vl_s"]
    assert list(table) == ["base", "baseline", "lora_r8", "lora_r32", "full", "last_n2"]
    assert trained_runs(cfg, "tiny_qwen2vl_s") == ["baseline", "lora_r8", "lora_r32", "full", "last_n2"]
    assert question_run_names(plan, "rq1_1_1")["tiny_qwen2vl_s"]["lora_r16"] == "baseline"


def test_a_changed_value_splits_runs(demo):
    # alpha 2.5 * 16 = 40 differs from the baseline's 32: lora_r16 trains on its own
    table = run_table(with_rq1_1_1(demo, alpha_factor=2.5))["tiny_qwen2vl_s"]
    assert "lora_r16" in table and table["lora_r16"]["lora"]["alpha"] == 40
    # per-model overrides split per model: model m's baseline is r8, so its lora_r8 is the baseline
    cfg = copy.deepcopy(demo)
    cfg["models"]["tiny_qwen2vl_m"]["train"] = {"lora": {"r": 8, "alpha": 16}}
    table = run_table(with_rq1_1_1(cfg))
    assert "lora_r8" not in table["tiny_qwen2vl_m"] and "lora_r16" in table["tiny_qwen2vl_m"]
    assert "lora_r8" in table["tiny_qwen2vl_s"] and "lora_r16" not in table["tiny_qwen2vl_s"]


def test_settings_a_method_ignores_do_not_split():
    full = {"method": "full", "lora": {"r": 8}, "last_n": 2, "train_projector": True, "lr": 1.0e-3,
            "scheduler": "constant", "warmup_ratio": 0.1, "epochs": 3, "max_steps": 10}
    other = {**full, "lora": {"r": 64}, "last_n": 4, "train_projector": False, "warmup_ratio": 0.0, "epochs": 1}
    assert dedup_key(full) == dedup_key(other)
    assert dedup_key(full) != dedup_key({**full, "lr": 2.0e-3})
    assert dedup_key({**full, "method": "lora"}) != dedup_key({**other, "method": "lora"})  # rank matters
    assert dedup_key({**full, "scheduler": "cosine"}) != dedup_key({**other, "scheduler": "cosine"})
    lora = {"method": "lora", "lora": {"alpha": 16}}
    assert dedup_key(lora) == dedup_key({**lora, "lora": {"alpha": 16.0}})


def test_question_models_restrict_and_unknown_models_are_errors(demo):
    table = run_table(with_rq1_1_1(demo, models=["tiny_qwen2vl_m"]))
    assert "lora_r8" in table["tiny_qwen2vl_m"] and "lora_r8" not in table["tiny_qwen2vl_s"]
    with pytest.raises(ConfigError, match="questions.rq1_1_1.models"):
        plan_runs(with_rq1_1_1(demo, models=["nope"]))


def test_disabled_question_adds_nothing(demo):
    cfg = copy.deepcopy(demo)
    cfg["questions"] = {"rq1_1_1": {"enabled": False}}
    assert canonical_runs(plan_runs(validate_config(cfg))) == run_table(validate_config(demo))


def test_runs_command_prints_question_run_overrides_and_sharing(tmp_path, demo, capsys):
    cfg = copy.deepcopy(demo)
    cfg["train"]["baseline"].update(method="lora", lora={"r": 16, "alpha": 32})
    cfg["questions"] = {"rq1_1_1": {"enabled": True, "lora_ranks": [8, 16], "last_n": []}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["runs", str(path)]) == 0
    lines = [line.split("\t") for line in capsys.readouterr().out.strip().splitlines()]
    assert lines[0] == ["model", "question", "run", "seed", "overrides", "shared_with"]
    rows = {(r[0], r[2]): dict(zip(lines[0], r)) for r in lines[1:]}
    assert rows[("tiny_qwen2vl_s", "lora_r16")]["question"] == "rq1_1_1"
    assert rows[("tiny_qwen2vl_s", "lora_r16")]["shared_with"] == "baseline"
    assert rows[("tiny_qwen2vl_s", "lora_r8")]["shared_with"] == "-"
    assert rows[("tiny_qwen2vl_s", "lora_r8")]["seed"] == "42"
    assert '"r": 8' in rows[("tiny_qwen2vl_s", "lora_r8")]["overrides"]
    assert rows[("tiny_qwen2vl_s", "base")]["overrides"] == "untuned model"


def test_a_name_taken_by_other_settings_is_qualified_with_the_question(demo, monkeypatch):
    import qvedbench.runs as runs

    monkeypatch.setitem(runs.QUESTION_RUNS, "rq9_9_9", lambda q: [("lora_r8", {"lr": 0.5})])
    cfg = with_rq1_1_1(demo)
    cfg["questions"]["rq9_9_9"] = {"enabled": True}
    names = question_run_names(plan_runs(cfg), "rq9_9_9")["tiny_qwen2vl_s"]
    assert names == {"lora_r8": "lora_r8-rq9_9_9"}


def test_seeds_replicate_every_trained_run_and_dedup_per_seed(demo):
    cfg = copy.deepcopy(demo)
    cfg["train"]["seeds"] = [1, 2]
    plan = plan_runs(with_rq1_1_1(cfg, lora_ranks=[8, 16], last_n=[], full=False))
    runs = {r.name: r for r in plan if r.model == "tiny_qwen2vl_s"}
    assert list(runs) == ["base", "baseline", "baseline_s2", "lora_r8", "lora_r8_s2", "lora_r16", "lora_r16_s2"]
    assert runs["baseline"].seed == 1 and runs["baseline_s2"].seed == 2 and runs["base"].seed is None
    assert runs["lora_r8_s2"].group == "lora_r8" and runs["lora_r8"].group == "lora_r8"
    # lora_r16 is the baseline (r16 alpha 32) seed by seed
    assert runs["lora_r16"].canonical == "baseline" and runs["lora_r16_s2"].canonical == "baseline_s2"
    assert trained_runs(validate_config(cfg), "tiny_qwen2vl_s") == ["baseline", "baseline_s2"]
    rows = {r["run"]: r for r in question_runs(plan, "rq1_1_1") if r["model"] == "tiny_qwen2vl_s"}
    assert rows["lora_r8_s2"]["baseline"] == "baseline_s2" and rows["lora_r8"]["baseline"] == "baseline"
    assert rows["lora_r8_s2"]["group"] == "lora_r8" and rows["lora_r8_s2"]["canonical"] == "lora_r8_s2"


def test_constant_with_warmup_at_zero_is_constant_and_observation_settings_never_split():
    base = {"method": "full", "scheduler": "constant", "warmup_ratio": 0.0, "lr": 1.0e-3, "seed": 1}
    assert dedup_key({**base, "scheduler": "constant_with_warmup"}) == dedup_key(base)
    assert dedup_key({**base, "scheduler": "constant_with_warmup", "warmup_ratio": 0.1}) != dedup_key(base)
    assert dedup_key({**base, "scheduler": "cosine"}) != dedup_key({**base, "scheduler": "cosine", "warmup_ratio": 0.1})
    observed = {**base, "eval_steps": 1, "eval_generate": True, "eval_max_new_tokens": 8, "logging_steps": 1,
                "save_steps": None}
    assert dedup_key(observed) == dedup_key({**base, "eval_steps": 50, "logging_steps": 10, "save_steps": 50})
