"""The `qvedbench` command: each subcommand through main(), on real inputs."""
import json
from pathlib import Path

import yaml

from qvedbench.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_config_prints_resolved_config(capsys):
    assert main(["config", str(ROOT / "config" / "demo.yaml")]) == 0
    resolved = yaml.safe_load(capsys.readouterr().out)
    assert resolved["evaluate"]["ci"] == 0.95  # a default filled in


def test_config_error_names_key(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: {m: {family: qwen2_vl, path: x}}\ntrain: {baseline: {lr: 1e-4}}\n")
    assert main(["config", str(bad)]) == 2
    assert "train.baseline.lr" in capsys.readouterr().err


def test_runs_lists_base_and_baseline(capsys):
    assert main(["runs", str(ROOT / "config" / "config.yaml")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()[1:]  # after the header
    assert sum(line.split("\t")[2] in ("base", "baseline") for line in lines) == 8  # four models x 2
    assert any(line.split("\t")[2] == "base" and "untuned" in line for line in lines)


def test_synth_and_tiny_model(tmp_path, capsys):
    out = tmp_path / "synth"
    assert main(["synth", "--out", str(out), "--clips-per-class", "5", "--size", "32", "--fps", "4",
                 "--seconds", "1", "--classes", "squats", "push-ups", "--workers", "1"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary and (out / "annotations.json").exists()

    from qvedbench.data import prepare_dataset

    prepare_dataset([out / "annotations.json"], out / "videos", ["squats", "push-ups"], tmp_path / "data", min_frames=2)
    model_dir = tmp_path / "tiny"
    assert main(["tiny-model", "--family", "qwen2_vl", "--out", str(model_dir), "--corpus",
                 str(tmp_path / "data" / "train.jsonl"), "--vocab-size", "400"]) == 0
    manifest = json.loads((model_dir / "tiny_model.json").read_text())
    assert manifest["family"] == "qwen2_vl" and manifest["parameters"]["total"] > 0
