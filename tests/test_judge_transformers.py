"""The `transformers` judge backend on tiny local models built offline: parsed replies, counted failures."""
import json

import pytest
import torch

from qvedbench.device import DeviceConfigError
from qvedbench.judge import judge_predictions, make_backend, summarise_judgements
from qvedbench.judge.tiny import build_fixed_reply_model

GOOD = {"clinical_accuracy": 2, "actionability": 5, "root_cause": 1, "completeness": 3, "overall": 2.75, "holistic": 2}


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def predictions(tmp_path, n=3):
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps({"id": f"c{i}", "exercise": "squats", "reference": "squats - knees in",
                                        "prediction": f"squats - answer {i}"}) + "\n" for i in range(n)))
    return path


def judge_settings(model_dir):
    return {"backend": "transformers", "transformers": {"path": str(model_dir), "device": "cpu",
                                                        "max_new_tokens": 4}}


def test_local_model_reply_is_parsed(tmp_path):
    model = build_fixed_reply_model(tmp_path / "ok", "```json\n" + json.dumps(GOOD) + "\n```")
    judge = make_backend(judge_settings(model), ["squats"])
    rows = judge_predictions(predictions(tmp_path), tmp_path / "j.jsonl", judge)
    assert all(r["status"] == "ok" and r["parse_mode"] == "extracted" for r in rows)
    assert {k: rows[0][k] for k in GOOD} == GOOD and rows[0]["backend"] == "transformers"


def test_unparseable_local_replies_are_counted_not_imputed(tmp_path):
    model = build_fixed_reply_model(tmp_path / "bad", "I think the feedback deserves a 3.")
    judge = make_backend(judge_settings(model), ["squats"])
    rows = judge_predictions(predictions(tmp_path), tmp_path / "j.jsonl", judge)
    assert [r["status"] for r in rows] == ["failed"] * 3
    assert rows[0]["raw"] == "I think the feedback deserves a 3."
    summary = summarise_judgements(rows, n_boot=100)
    assert summary["failures"] == 3 and summary["failure_rate"] == 1.0
    assert summary["scores"]["overall"]["mean"] is None and summary["scores"]["overall"]["failures"] == 3


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU refusal")
def test_8bit_needs_cuda(tmp_path):
    model = build_fixed_reply_model(tmp_path / "ok", json.dumps(GOOD))
    settings = judge_settings(model)
    settings["transformers"]["load_in_8bit"] = True
    with pytest.raises(DeviceConfigError, match="CUDA"):
        make_backend(settings, ["squats"])
