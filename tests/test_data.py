import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from qvedbench.data import (
    VARIANTS, class_counts, majority_class, make_variant, prepare_dataset, read_records, write_variant,
)
from qvedbench.data.split import assign_splits, split_sizes
from qvedbench.io import RecordError, read_jsonl, write_jsonl
from qvedbench.video import write_video

CLASSES = ["squats", "single-leg deadlift", "deadlift", "push ups"]
FOLDERS = {"squats": "squats", "single-leg deadlift": "single-leg_deadlift", "deadlift": "deadlift", "push ups": "push_ups"}
PROMPT = "Please evaluate the exercise form shown. What mistakes, if any, are present?"
MIN_FRAMES = 8


# -- helpers -------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """A 1-second 16-frame clip and a 4-frame clip, encoded once and copied into each test's video root."""
    d = tmp_path_factory.mktemp("clips")
    rng = np.random.default_rng(0)
    write_video(rng.integers(0, 255, (16, 32, 48, 3), dtype=np.uint8), d / "good.mp4", fps=16)
    write_video(rng.integers(0, 255, (4, 32, 48, 3), dtype=np.uint8), d / "short.mp4", fps=16)
    return d


def qved(video, reference, **extra):
    return {"video": video, "conversations": [{"from": "human", "value": PROMPT}, {"from": "gpt", "value": reference}], **extra}


def write_json(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


class Dataset:
    """A video root and annotation files in a test's tmp_path."""

    def __init__(self, tmp_path: Path, clips: Path):
        self.tmp, self.clips = tmp_path, clips
        self.root = tmp_path / "videos"
        self.root.mkdir()

    def clip(self, rel: str, kind: str = "good") -> str:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.clips / f"{kind}.mp4", path)
        return rel

    def annotations(self, records, name="qved.json") -> Path:
        return write_json(self.tmp / name, records)

    def prepare(self, files, out="out", **kwargs):
        kwargs.setdefault("min_frames", MIN_FRAMES)
        return prepare_dataset([str(f) for f in files], self.root, CLASSES, self.tmp / out, **kwargs)


@pytest.fixture
def ds(tmp_path, clips):
    return Dataset(tmp_path, clips)


def expect_record_error(excinfo, file, index, field):
    err = excinfo.value
    message = str(err)
    assert str(file) in message
    assert err.index == index
    if index is not None:
        assert f"record {index}" in message
    assert err.field == field
    if field is not None:
        assert f"field '{field}'" in message
    return message


# -- bad input fails fast ------------------------------------------------------------------------------------

GOOD = ("squats/a.mp4", "squats - knees cave in; push them out")


def good(**changes):
    return {**qved(*GOOD), **changes}


def no_turn(role):
    rec = good()
    rec["conversations"] = [t for t in rec["conversations"] if t["from"] != role]
    return rec


def without(key):
    rec = good()
    del rec[key]
    return rec


BAD_RECORDS = {
    "record not an object": ([good(), "squats/b.mp4"], 1, None, "expected an object"),
    "missing video": ([without("video")], 0, "video", "non-empty path"),
    "non-string video": ([good(video=42)], 0, "video", "non-empty path"),
    "missing conversations": ([without("conversations")], 0, "conversations", "non-empty list"),
    "empty conversations": ([good(conversations=[])], 0, "conversations", "non-empty list"),
    "no human turn": ([no_turn("human")], 0, "conversations", "no 'human' turn"),
    "no gpt turn": ([no_turn("gpt")], 0, "conversations", "no 'gpt' turn"),
    "turn not an object": ([good(conversations=["hi"])], 0, "conversations[0]", "expected an object"),
    "empty reference": ([qved("squats/a.mp4", "   ")], 0, "conversations[1].value", "empty reference"),
    "non-string reference": ([qved("squats/a.mp4", ["squats"])], 0, "conversations[1].value", "expected a string"),
    "unknown split": ([good(split="training")], 0, "split", "unknown split 'training'"),
    "non-string id": ([good(id=7)], 0, "id", "non-empty string"),
    "duplicate ids": ([good(id="x"), qved("squats/b.mp4", GOOD[1], id="x")], 1, "id", "duplicate id 'x'"),
    "same video twice": ([good(), good()], 1, "video", "duplicate id 'squats/a'"),
    "errors not a list": ([good(errors="knee_valgus")], 0, "errors", "list of non-empty error-id strings"),
    "errors not strings": ([good(errors=["knee_valgus", 3])], 0, "errors", "list of non-empty error-id strings"),
    "error_frames not a mapping": ([good(error_frames=[[1, 2]])], 0, "error_frames", "mapping of error id"),
    "error_frames ranges not a list": ([good(error_frames={"e": 3})], 0, "error_frames.e", "list of [start, end]"),
    "error_frames not a pair": ([good(error_frames={"e": [[1, 2, 3]]})], 0, "error_frames.e[0]", "integer pair"),
    "error_frames floats": ([good(error_frames={"e": [[1.5, 2]]})], 0, "error_frames.e[0]", "integer pair"),
    "error_frames booleans": ([good(error_frames={"e": [[True, 2]]})], 0, "error_frames.e[0]", "integer pair"),
    "error_frames start after end": ([good(error_frames={"e": [[0, 2], [9, 4]]})], 0, "error_frames.e[1]", "start <= end"),
    "error_frames negative": ([good(error_frames={"e": [[-1, 4]]})], 0, "error_frames.e[0]", "start <= end"),
    "error_frames id not in errors": ([good(errors=["a"], error_frames={"b": [[0, 1]]})], 0, "error_frames.b", "not among"),
    "unknown exercise": ([qved("lunges/a.mp4", "lunges - knee past the toes")], 0, "conversations", "known classes: squats, single-leg deadlift"),
    "unknown exercise, other class in feedback": (
        [qved("clips/a.mp4", "lunges - unlike squats, step forward")], 0, "conversations", "'lunges' is not a configured class"),
    "no class at all": ([qved("clips/a.mp4", "keep your back straight")], 0, "conversations", "not a configured class"),
    "folder names another class": ([qved("deadlift/a.mp4", "squats - knees cave in")], 0, "video", "'squats' but the video folder 'deadlift'"),
    "parent escape": ([qved("../outside.mp4", GOOD[1])], 0, "video", "outside the video root"),
    "nested parent escape": ([qved("squats/../../videos2/a.mp4", GOOD[1])], 0, "video", "outside the video root"),
    "absolute path": ([qved("/etc/passwd", GOOD[1])], 0, "video", "absolute path"),
}


@pytest.mark.parametrize("case", sorted(BAD_RECORDS))
def test_bad_records_fail_with_file_index_and_field(ds, case):
    records, index, field, text = BAD_RECORDS[case]
    ds.clip("squats/a.mp4")
    ann = ds.annotations(records)
    with pytest.raises(RecordError) as excinfo:
        ds.prepare([ann])
    assert text in expect_record_error(excinfo, ann, index, field)
    assert not (ds.tmp / "out").exists()  # failed before writing anything


def test_not_a_list(ds):
    ann = ds.annotations(good())
    with pytest.raises(RecordError, match="expected a JSON list") as excinfo:
        ds.prepare([ann])
    expect_record_error(excinfo, ann, None, None)


def test_malformed_json(ds):
    ann = ds.tmp / "qved.json"
    ann.write_text('[{"video": "squats/a.mp4",', encoding="utf-8")
    with pytest.raises(RecordError, match="malformed JSON at line 1") as excinfo:
        ds.prepare([ann])
    expect_record_error(excinfo, ann, None, None)


def test_non_utf8(ds):
    ann = ds.tmp / "qved.json"
    ann.write_bytes(b'[{"video": "squats/\xff.mp4"}]')
    with pytest.raises(RecordError, match="not valid UTF-8") as excinfo:
        ds.prepare([ann])
    expect_record_error(excinfo, ann, None, None)


def test_duplicate_ids_across_files_name_both_places(ds):
    a = ds.annotations([good()], "a.json")
    b = ds.annotations([qved("squats/c.mp4", GOOD[1]), good()], "b.json")
    with pytest.raises(RecordError) as excinfo:
        ds.prepare([a, b])
    message = expect_record_error(excinfo, b, 1, "video")
    assert f"first in {a}, record 0" in message


def test_symlinked_file_escaping_the_root(ds):
    outside = ds.tmp / "outside.mp4"
    shutil.copyfile(ds.clips / "good.mp4", outside)
    (ds.root / "squats").mkdir()
    os.symlink(outside, ds.root / "squats" / "link.mp4")
    ann = ds.annotations([qved("squats/link.mp4", GOOD[1])])
    with pytest.raises(RecordError, match="outside the video root") as excinfo:
        ds.prepare([ann])
    expect_record_error(excinfo, ann, 0, "video")


def test_symlinked_folder_escaping_the_root(ds):
    outside = ds.tmp / "elsewhere"
    outside.mkdir()
    shutil.copyfile(ds.clips / "good.mp4", outside / "a.mp4")
    os.symlink(outside, ds.root / "squats")
    ann = ds.annotations([good()])
    with pytest.raises(RecordError, match="outside the video root") as excinfo:
        ds.prepare([ann])
    expect_record_error(excinfo, ann, 0, "video")


def test_symlink_inside_the_root_is_fine(ds):
    ds.clip("squats/a.mp4")
    os.symlink(ds.root / "squats" / "a.mp4", ds.root / "squats" / "b.mp4")
    ann = ds.annotations([good(), qved("squats/b.mp4", GOOD[1])])
    summary = ds.prepare([ann])
    assert summary["usable"] == 2


GT_BAD = {
    "not a list": ({"video_path": "x"}, None, None),
    "entry not an object": (["x"], 0, None),
    "missing video_path": ([{"labels": []}], 0, "video_path"),
    "labels not strings": ([{"video_path": "squats/a.mp4", "labels": [1]}], 0, "labels"),
    "descriptive not a string": ([{"video_path": "squats/a.mp4", "labels_descriptive": ["x"]}], 0, "labels_descriptive"),
    "duplicate": ([{"video_path": "squats/a.mp4"}, {"video_path": "./squats/a.mp4"}], 1, "video_path"),
}


@pytest.mark.parametrize("case", sorted(GT_BAD))
def test_bad_ground_truth(ds, case):
    content, index, field = GT_BAD[case]
    ds.clip("squats/a.mp4")
    gt = write_json(ds.tmp / "ground_truth.json", content)
    with pytest.raises(RecordError) as excinfo:
        ds.prepare([ds.annotations([good()])], ground_truth=gt)
    expect_record_error(excinfo, gt, index, field)


def test_bad_arguments(ds):
    ann = ds.annotations([good()])
    with pytest.raises(ValueError, match="sum to 1"):
        ds.prepare([ann], split_ratios=(0.5, 0.2, 0.2))
    with pytest.raises(ValueError, match="denote the same class"):
        prepare_dataset([ann], ds.root, ["squat", "squats"], ds.tmp / "out", min_frames=1)
    with pytest.raises(FileNotFoundError, match="video root"):
        prepare_dataset([ann], ds.tmp / "nope", CLASSES, ds.tmp / "out", min_frames=1)


# -- the happy path ------------------------------------------------------------------------------------------

REFERENCES = {
    "squats": "squats - knees cave in; push them out over your toes",
    "single-leg deadlift": "single-leg deadlift - hips rotate open; keep them square",
    "deadlift": "Deadlift - back rounds; brace your core",
    "push ups": "Push-ups - hips sag; squeeze your glutes",
}
ARCHITECTURE_FIELDS = ["id", "video", "video_rel", "exercise", "label", "feedback", "reference", "prompt", "split"]
PROBED_FIELDS = ["num_frames", "fps", "width", "height"]


def build_happy(ds, per_class=5):
    records = []
    for cls, folder in FOLDERS.items():
        for k in range(per_class):
            rel = ds.clip(f"{folder}/{k:04d}.mp4")
            records.append(qved(rel, REFERENCES[cls]))
    records[0].update(split="test", errors=["knee_valgus"], error_frames={"knee_valgus": [[2, 9]]})
    records[1].update(split="train", id="custom-id", errors=[])
    return ds.annotations(records)


def test_happy_path_outputs(ds):
    ann = build_happy(ds)
    summary = ds.prepare([ann])
    out = ds.tmp / "out"
    rows = {s: read_records(out / f"{s}.jsonl") for s in ("train", "val", "test")}
    everything = [r for split_rows in rows.values() for r in split_rows]
    assert len(everything) == 20 and read_jsonl(out / "problems.jsonl") == []

    by_id = {r["id"]: r for r in everything}
    first = by_id["squats/0000"]
    assert list(first) == ARCHITECTURE_FIELDS + ["errors", "error_frames"] + PROBED_FIELDS + ["source", "index"]
    assert first["video"] == os.path.normpath(os.path.join(str(ds.root), "squats/0000.mp4"))
    assert first["video_rel"] == "squats/0000.mp4"
    assert (first["exercise"], first["label"]) == ("squats", "squats")
    assert first["feedback"] == "knees cave in; push them out over your toes"
    assert first["reference"] == REFERENCES["squats"] and first["prompt"] == PROMPT
    assert (first["split"], first["errors"], first["error_frames"]) == ("test", ["knee_valgus"], {"knee_valgus": [[2, 9]]})
    assert (first["num_frames"], first["fps"], first["width"], first["height"]) == (16, 16.0, 48, 32)
    assert (first["source"], first["index"]) == ("qved.json", 0)

    assert by_id["custom-id"]["split"] == "train" and by_id["custom-id"]["errors"] == []
    sld = by_id["single-leg_deadlift/0003"]
    assert (sld["exercise"], sld["label"], sld["feedback"]) == ("single-leg deadlift", "single-leg deadlift", "hips rotate open; keep them square")
    assert "errors" not in sld and "error_frames" not in sld  # not annotated
    assert by_id["push_ups/0001"]["exercise"] == "push ups" and by_id["push_ups/0001"]["label"] == "Push-ups"
    assert by_id["deadlift/0002"]["exercise"] == "deadlift"

    for split_rows in rows.values():
        assert [r["id"] for r in split_rows] == sorted(r["id"] for r in split_rows)
    assert summary == json.loads((out / "summary.json").read_text())
    assert summary["records"] == summary["usable"] == 20 and summary["excluded"] == 0
    assert summary["per_class"] == {c: 5 for c in CLASSES}
    assert sum(s["total"] for s in summary["splits"].values()) == 20
    test_counts = class_counts(rows["test"])
    assert summary["splits"]["test"]["per_class"] == {c: test_counts.get(c, 0) for c in CLASSES}
    assert (summary["split_from_annotation"], summary["split_assigned"]) == (2, 18)


def test_prepare_is_deterministic_and_seeded(ds):
    ann = build_happy(ds)
    ds.prepare([ann], out="a")
    ds.prepare([ann], out="b")
    ds.prepare([ann], out="c", split_seed=7)
    files = ("train.jsonl", "val.jsonl", "test.jsonl", "summary.json", "problems.jsonl")
    assert all((ds.tmp / "a" / f).read_bytes() == (ds.tmp / "b" / f).read_bytes() for f in files)
    assert (ds.tmp / "a" / "test.jsonl").read_bytes() != (ds.tmp / "c" / "test.jsonl").read_bytes()


def test_several_annotation_files(ds):
    a = ds.annotations([qved(ds.clip("squats/a.mp4"), REFERENCES["squats"], split="train")], "a.json")
    b = ds.annotations([qved(ds.clip("deadlift/b.mp4"), REFERENCES["deadlift"], split="val")], "b.json")
    ds.prepare([a, b])
    val = read_records(ds.tmp / "out" / "val.jsonl")
    assert [(r["id"], r["source"], r["index"]) for r in val] == [("deadlift/b", "b.json", 0)]


def test_unusable_videos_go_to_problems(ds):
    good_rel = ds.clip("squats/ok.mp4")
    ds.clip("squats/short.mp4", "short")
    (ds.root / "squats" / "empty.mp4").write_bytes(b"")
    data = (ds.clips / "good.mp4").read_bytes()
    (ds.root / "squats" / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (ds.root / "squats" / "text.mp4").write_text("this is not a video\n")
    names = ["ok", "short", "empty", "truncated", "text", "missing"]
    records = [qved(f"squats/{n}.mp4", REFERENCES["squats"], split="test") for n in names]
    records.append(qved(good_rel, REFERENCES["squats"], id="same-clip-again", split="test"))
    summary = ds.prepare([ds.annotations(records)])

    problems = read_jsonl(ds.tmp / "out" / "problems.jsonl")
    assert [(p["id"], p["reason"]) for p in problems] == [
        ("squats/short", "too_short"), ("squats/empty", "empty"), ("squats/truncated", "unreadable"),
        ("squats/text", "unreadable"), ("squats/missing", "missing")]
    assert all(p["source"] == "qved.json" and p["detail"] for p in problems)
    assert [p["index"] for p in problems] == [1, 2, 3, 4, 5]
    assert "4 frames" in problems[0]["detail"]
    assert problems[4]["video"] == os.path.normpath(os.path.join(str(ds.root), "squats/missing.mp4"))
    assert summary["problems"] == {"missing": 1, "empty": 1, "unreadable": 2, "too_short": 1}
    assert (summary["records"], summary["usable"], summary["excluded"]) == (7, 2, 5)
    assert [r["id"] for r in read_records(ds.tmp / "out" / "test.jsonl")] == ["same-clip-again", "squats/ok"]


def test_probes_are_cached_per_path(ds, monkeypatch):
    from qvedbench.data import prepare as prepare_module

    calls = []
    real = prepare_module.probe
    monkeypatch.setattr(prepare_module, "probe", lambda p: calls.append(p) or real(p))
    rel = ds.clip("squats/a.mp4")
    ds.prepare([ds.annotations([qved(rel, REFERENCES["squats"], id=f"r{i}") for i in range(3)])])
    assert len(calls) == 1


def test_ground_truth_merge(ds):
    ds.clip("squats/a.mp4")
    ds.clip("squats/b.mp4")
    ds.clip("squats/c.mp4")
    records = [
        qved("squats/a.mp4", REFERENCES["squats"], errors=["knee_valgus"]),
        qved("squats/b.mp4", REFERENCES["squats"]),
        qved("squats/c.mp4", REFERENCES["squats"], errors=[]),
        qved("squats/d.mp4", REFERENCES["squats"]),
    ]
    gt = write_json(ds.tmp / "ground_truth.json", [
        {"video_path": "squats/a.mp4", "labels": ["squats", "heels_lift"], "labels_descriptive": "Knees cave in."},
        {"video_path": "./squats/b.mp4", "labels": ["squats", "Knee Valgus", "fast"], "labels_descriptive": "Push knees out."},
        {"video_path": "squats/c.mp4", "labels": ["knee_valgus"]},
        {"video_path": "squats/zzz.mp4", "labels": ["squats"]},
    ])
    summary = ds.prepare([ds.annotations(records)], ground_truth=gt)
    rows = {r["id"]: r for s in ("train", "val", "test") for r in read_records(ds.tmp / "out" / f"{s}.jsonl")}
    a, b, c = rows["squats/a"], rows["squats/b"], rows["squats/c"]
    assert (a["gt_labels"], a["gt_feedback"], a["errors"]) == (["squats", "heels_lift"], "Knees cave in.", ["knee_valgus"])
    assert (b["gt_feedback"], b["errors"]) == ("Push knees out.", ["knee_valgus"])  # filled from a known id
    assert c["errors"] == [] and "gt_feedback" not in c  # annotated "no error" is kept
    assert list(b)[-4:] == ["gt_labels", "gt_feedback", "source", "index"]
    assert summary["ground_truth"]["entries"] == 4
    assert summary["ground_truth"]["matched"] == 3  # squats/d's video is missing but the entry still matched
    assert summary["ground_truth"]["unmatched"] == ["squats/zzz.mp4"]
    assert summary["problems"]["missing"] == 1


# -- splitting -----------------------------------------------------------------------------------------------

def fake_records(counts: dict[str, int], split=None):
    return [{"id": f"{c}/{k:03d}", "exercise": c, "split": split, "video": f"{c}/{k}.mp4"}
            for c, n in counts.items() for k in range(n)]


@pytest.mark.parametrize("n, sizes", [(10, [6, 2, 2]), (5, [3, 1, 1]), (7, [4, 2, 1]), (1, [1, 0, 0]), (0, [0, 0, 0])])
def test_split_sizes(n, sizes):
    assert split_sizes(n, (0.6, 0.2, 0.2)) == sizes


def test_stratified_split_is_seeded_and_keeps_given_splits():
    records = fake_records({"squats": 10, "deadlift": 20, "push ups": 5})
    records += fake_records({"lunges": 3}, split="val")
    assign_splits(records, (0.6, 0.2, 0.2), seed=42)
    per = {}
    for r in records:
        per.setdefault(r["exercise"], []).append(r["split"])
    assert {c: [v.count(s) for s in ("train", "val", "test")] for c, v in per.items()} == {
        "squats": [6, 2, 2], "deadlift": [12, 4, 4], "push ups": [3, 1, 1], "lunges": [0, 3, 0]}

    again = fake_records({"squats": 10, "deadlift": 20, "push ups": 5})
    assign_splits(list(reversed(again)), (0.6, 0.2, 0.2), seed=42)  # input order does not matter
    assert [r["split"] for r in again] == [r["split"] for r in records[:35]]
    other = fake_records({"squats": 10, "deadlift": 20, "push ups": 5})
    assign_splits(other, (0.6, 0.2, 0.2), seed=1)
    assert [r["split"] for r in other] != [r["split"] for r in records[:35]]


def test_one_class_does_not_move_another():
    alone = fake_records({"squats": 10})
    assign_splits(alone, (0.6, 0.2, 0.2), seed=3)
    mixed = fake_records({"squats": 10, "deadlift": 7})
    assign_splits(mixed, (0.6, 0.2, 0.2), seed=3)
    assert [r["split"] for r in alone] == [r["split"] for r in mixed[:10]]


# -- reading records back --------------------------------------------------------------------------------------

def normalised(rid, exercise, **extra):
    return {"id": rid, "video": f"v/{rid}.mp4", "video_rel": f"{rid}.mp4", "exercise": exercise, "label": exercise,
            "feedback": "f", "reference": f"{exercise} - f {rid}", "prompt": PROMPT, "split": "test",
            "num_frames": 16, "fps": 16.0, "width": 48, "height": 32, "source": "qved.json", "index": 0, **extra}


@pytest.mark.parametrize("change, field", [
    (lambda r: r.pop("exercise"), "exercise"),
    (lambda r: r.update(num_frames="16"), "num_frames"),
    (lambda r: r.update(index=True), "index"),
    (lambda r: r.update(split="dev"), "split"),
])
def test_read_records_validates_fields(tmp_path, change, field):
    bad = normalised("b", "squats")
    change(bad)
    path = tmp_path / "test.jsonl"
    write_jsonl(path, [normalised("a", "squats"), bad])
    with pytest.raises(RecordError) as excinfo:
        read_records(path)
    expect_record_error(excinfo, path, 1, field)


def test_read_records_rejects_bad_files(tmp_path):
    path = tmp_path / "test.jsonl"
    path.write_text(json.dumps(normalised("a", "squats")) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(RecordError, match="malformed JSON line") as excinfo:
        read_records(path)
    expect_record_error(excinfo, path, 1, None)
    path.write_bytes(b'{"id": "\xff"}\n')
    with pytest.raises(RecordError, match="UTF-8") as excinfo:
        read_records(path)
    expect_record_error(excinfo, path, None, None)


def test_read_records_rejects_duplicate_ids(tmp_path):
    path = tmp_path / "test.jsonl"
    write_jsonl(path, [normalised("a", "squats"), normalised("a", "deadlift")])
    with pytest.raises(RecordError, match="duplicate id 'a'") as excinfo:
        read_records(path)
    expect_record_error(excinfo, path, 1, "id")


def test_class_counts_and_majority():
    records = [normalised(str(i), c) for i, c in enumerate(["b", "a", "b", "a", "c"])]
    assert class_counts(records) == {"a": 2, "b": 2, "c": 1}
    assert majority_class(records) == "a"  # tie broken alphabetically
    assert majority_class(records + [normalised("x", "c"), normalised("y", "c")]) == "c"
    with pytest.raises(ValueError):
        majority_class([])


# -- variants ------------------------------------------------------------------------------------------------

def test_clean_and_blank_leave_the_input_alone():
    records = [normalised("a", "squats", errors=["e"]), normalised("b", "deadlift")]
    before = json.dumps(records)
    assert make_variant(records, "clean", 0) == records
    blank = make_variant(records, "blank", 0)
    assert [r.pop("frame_source") for r in blank] == ["blank", "blank"] and blank == records
    assert json.dumps(records) == before


@pytest.mark.parametrize("counts", [{"a": 3, "b": 3}, {"a": 5, "b": 2, "c": 3}, {"a": 1, "b": 1}, {"a": 10, "b": 4, "c": 6, "d": 1}])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_swapped_is_a_class_derangement(counts, seed):
    records = [normalised(f"{c}{k}", c, error_frames={"e": [[0, 1]]}, errors=["e"]) for c, n in counts.items() for k in range(n)]
    before = json.dumps(records)
    swapped = make_variant(records, "swapped", seed)
    by_id = {r["id"]: r for r in records}
    assert [r["id"] for r in swapped] == [r["id"] for r in records]
    assert sorted(r["video"] for r in swapped) == sorted(r["video"] for r in records)  # each video shown once
    for new, old in zip(swapped, records):
        donor = by_id[new["swapped_from"]]
        assert new["original_exercise"] == old["exercise"] != new["exercise"] == donor["exercise"]
        assert (new["video"], new["video_rel"], new["num_frames"]) == (donor["video"], donor["video_rel"], donor["num_frames"])
        assert new["reference"] == old["reference"] and new["errors"] == old["errors"]
        assert "error_frames" not in new
    assert json.dumps(records) == before
    assert make_variant(records, "swapped", seed) == swapped


def test_swapped_differs_between_seeds():
    records = [normalised(f"{c}{k}", c) for c in "abc" for k in range(6)]
    assert make_variant(records, "swapped", 0) != make_variant(records, "swapped", 1)


def test_swapped_with_a_majority_class_still_changes_every_class():
    records = [normalised(f"a{k}", "a") for k in range(5)] + [normalised("b0", "b")]
    swapped = make_variant(records, "swapped", 0)
    assert all(r["exercise"] != r["original_exercise"] for r in swapped)


def test_swapped_needs_two_classes():
    with pytest.raises(ValueError, match="at least two classes"):
        make_variant([normalised("a", "squats"), normalised("b", "squats")], "swapped", 0)


def test_unknown_variant_and_registry(monkeypatch):
    with pytest.raises(ValueError, match="unknown variant 'noisy'; known: blank, clean, swapped"):
        make_variant([], "noisy", 0)
    monkeypatch.setitem(VARIANTS, "noisy", lambda records, seed: [{**r, "seed": seed} for r in records])
    assert make_variant([normalised("a", "squats")], "noisy", 5)[0]["seed"] == 5


def test_write_variant_round_trip(tmp_path):
    test_jsonl = tmp_path / "test.jsonl"
    write_jsonl(test_jsonl, [normalised("a", "squats"), normalised("b", "deadlift")])
    out = tmp_path / "variants" / "swapped.jsonl"
    written = write_variant(test_jsonl, "swapped", out, seed=3)
    assert read_records(out) == written
    assert [r["video"] for r in written] == ["v/b.mp4", "v/a.mp4"]
