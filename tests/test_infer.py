"""qvedbench.infer on a tiny offline Qwen2-VL: rows, resuming after a hard kill, blank frames, bad clips."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap

import pytest

from clip_fixtures import SYSTEM, tiny_spec, write_records
from qvedbench.infer import run_inference
from qvedbench.io import RecordError, read_jsonl
from qvedbench.models.qwen2_vl import Qwen2VLAdapter
from qvedbench.train.data import BLANK_GREY


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("infer")
    records = write_records(root)
    records[1] = {**records[1], "original_exercise": "lunges", "error_frames": {"knee_valgus": [[1, 3]]}}
    return records, tiny_spec(root, records)


@pytest.fixture
def generated(monkeypatch):
    """Record the videos and prompts each generate() call receives (generation itself still runs)."""
    calls = []
    original = Qwen2VLAdapter.generate

    def spy(self, videos, system, prompts, max_new_tokens=64):
        calls.append({"videos": [v.copy() for v in videos], "prompts": list(prompts)})
        return original(self, videos, system, prompts, max_new_tokens=max_new_tokens)

    monkeypatch.setattr(Qwen2VLAdapter, "generate", spy)
    return calls


def test_writes_one_row_per_record_in_record_order(setup, tmp_path):
    records, spec = setup
    out = tmp_path / "clean.jsonl"
    rows = run_inference(spec, None, records, out, system_prompt=SYSTEM, batch_size=4, max_new_tokens=6,
                         variant="clean", threads=1)
    assert read_jsonl(out) == rows and not (tmp_path / "clean.jsonl.partial").exists()
    assert [r["id"] for r in rows] == [r["id"] for r in records]
    assert [r["batch_size"] for r in rows] == [4, 4, 4, 4, 2, 2]
    for row, record in zip(rows, records):
        assert isinstance(row["prediction"], str) and row["latency_s"] > 0 and row["variant"] == "clean"
        assert (row["video"], row["exercise"], row["reference"]) == (record["video"], record["exercise"],
                                                                     record["reference"])
        assert row["errors"] == [] and row["error_frames"] == record["error_frames"]
    assert rows[1]["original_exercise"] == "lunges" and "original_exercise" not in rows[0]
    assert list(rows[1]) == ["id", "video", "exercise", "original_exercise", "reference", "prediction",
                             "latency_s", "batch_size", "variant", "errors", "error_frames"]


KILL_AFTER_FIRST_BATCH = textwrap.dedent("""
    import json, os, signal, sys
    from qvedbench.infer import run_inference
    from qvedbench.models import ModelSpec
    from qvedbench.models.qwen2_vl import Qwen2VLAdapter

    spec, records, out = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
    original, calls = Qwen2VLAdapter.generate, []

    def generate(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGKILL)  # a hard crash in the middle of the second batch
        return original(self, *args, **kwargs)

    Qwen2VLAdapter.generate = generate
    run_inference(ModelSpec(**spec), None, records, out, system_prompt=sys.argv[4], batch_size=2,
                  max_new_tokens=6, threads=1)
""")


def test_resumes_after_a_kill_without_redoing_finished_ids(setup, tmp_path, generated):
    records, spec = setup
    out = tmp_path / "clean.jsonl"
    proc = subprocess.run([sys.executable, "-c", KILL_AFTER_FIRST_BATCH, json.dumps(dataclasses.asdict(spec)),
                           json.dumps(records), str(out), SYSTEM], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    assert not out.exists()
    partial = read_jsonl(tmp_path / "clean.jsonl.partial")
    assert [r["id"] for r in partial] == [r["id"] for r in records[:2]]

    rows = run_inference(spec, None, records, out, system_prompt=SYSTEM, batch_size=2, max_new_tokens=6)
    assert [r["id"] for r in rows] == [r["id"] for r in records]
    assert [p for call in generated for p in call["prompts"]] == [r["prompt"] for r in records[2:]]
    assert rows[:2] == partial  # finished rows kept as written, not regenerated
    assert not (tmp_path / "clean.jsonl.partial").exists()


def test_crash_after_the_last_row_publishes_without_loading_the_model(setup, tmp_path, monkeypatch):
    records, spec = setup
    out = tmp_path / "clean.jsonl"
    first = run_inference(spec, None, records[:2], out, system_prompt=SYSTEM, max_new_tokens=4)
    out.unlink()  # as if killed after the last append, before the partial file was renamed into place
    (tmp_path / "clean.jsonl.partial").write_text("".join(json.dumps(r) + "\n" for r in first))

    def no_model(*args, **kwargs):
        raise AssertionError("the model should not be loaded when every id is done")

    monkeypatch.setattr("qvedbench.infer.load_adapter", no_model)
    assert run_inference(spec, None, records[:2], out, system_prompt=SYSTEM) == first
    assert read_jsonl(out) == first


def test_blank_records_get_uniform_grey_frames_of_the_clip_shape(setup, tmp_path, generated):
    records, spec = setup
    variant = [records[0], {**records[0], "id": "blank", "frame_source": "blank"}]
    rows = run_inference(spec, None, variant, tmp_path / "blank.jsonl", system_prompt=SYSTEM, batch_size=2,
                         max_new_tokens=4, variant="blank")
    clean, blank = generated[0]["videos"]
    assert blank.shape == clean.shape == (spec.frames, spec.resolution, spec.resolution, 3)
    assert (blank == BLANK_GREY).all() and not (clean == BLANK_GREY).all()
    assert [r["variant"] for r in rows] == ["blank", "blank"]


def test_unreadable_clip_is_a_per_sample_error_row(setup, tmp_path):
    records, spec = setup
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 64)
    batch = [records[0], {**records[2], "video": str(broken)}, {**records[3], "video": str(tmp_path / "gone.mp4")}]
    rows = run_inference(spec, None, batch, tmp_path / "out.jsonl", system_prompt=SYSTEM, batch_size=3,
                         max_new_tokens=4)
    ok, bad, missing = rows
    assert isinstance(ok["prediction"], str) and ok["batch_size"] == 1
    for row, path in ((bad, broken), (missing, tmp_path / "gone.mp4")):
        assert row["prediction"] is None and row["latency_s"] is None and str(path) in row["error"]


def test_bad_records_name_the_index_and_field(setup, tmp_path):
    records, spec = setup
    with pytest.raises(RecordError, match=r"test.jsonl, record 1, field 'id'"):
        run_inference(spec, None, [records[0], records[0]], tmp_path / "x.jsonl", system_prompt=SYSTEM,
                      source="test.jsonl")
    with pytest.raises(RecordError, match=r"record 0, field 'reference'"):
        run_inference(spec, None, [{k: v for k, v in records[0].items() if k != "reference"}],
                      tmp_path / "y.jsonl", system_prompt=SYSTEM)
