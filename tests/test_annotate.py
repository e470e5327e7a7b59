"""The annotation tool driven through stdin: contact sheets, validation, saving after every clip, resuming."""
from __future__ import annotations

import io
import json

import cv2
import pytest

from clip_fixtures import write_records
from qvedbench.annotate import annotate, clip_sheet, parse_errors, parse_ranges
from qvedbench.cli import main
from qvedbench.io import RecordError, read_jsonl

ERRORS = ["knee_valgus", "forward_lean", "incomplete_rom", "poor_alignment"]


@pytest.fixture
def records_file(tmp_path):
    records = write_records(tmp_path, per_class=1)  # three 8-frame clips
    for r in records:
        r["num_frames"] = 8
    path = tmp_path / "records.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_parsers():
    assert parse_errors("1, forward_lean,1", ERRORS) == ["knee_valgus", "forward_lean"]
    assert parse_errors("", ERRORS) == []
    with pytest.raises(ValueError, match="bogus"):
        parse_errors("bogus", ERRORS)
    assert parse_ranges("2-5, 7", num_frames=8) == [[2, 5], [7, 7]]
    for bad in ("5-2", "3-9", "a-b"):
        with pytest.raises(ValueError):
            parse_ranges(bad, num_frames=8)


def test_clip_sheet_shows_captioned_frames(records_file, tmp_path):
    video = read_jsonl(records_file)[0]["video"]
    indices = clip_sheet(video, tmp_path / "sheet.png", frames=4, size=40)
    assert indices == [1, 3, 5, 7]
    image = cv2.imread(str(tmp_path / "sheet.png"))
    assert image.shape[1] == 4 * 40 and image.shape[0] > 40


def test_annotate_saves_after_each_clip_and_resumes(records_file, tmp_path):
    out = tmp_path / "annotations.jsonl"
    # clip 1: a bad answer is asked again, then two errors with frames; clip 2: skipped; clip 3: quit
    answers = "bogus\n1,forward_lean\n2-5\n9-12\n6\ns\nq\n"
    log = io.StringIO()
    assert annotate(records_file, out, ERRORS, stdin=io.StringIO(answers), stdout=log) == 1
    assert "unknown error 'bogus'" in log.getvalue() and "outside" in log.getvalue()
    saved = read_jsonl(out)
    assert saved == [{"id": "squats/0", "errors": ["knee_valgus", "forward_lean"],
                      "error_frames": {"knee_valgus": [[2, 5]], "forward_lean": [[6, 6]]}}]
    assert (tmp_path / "annotations_sheets" / "squats_0.png").is_file()
    # resume: the annotated clip is not asked again; end of input stops cleanly
    assert annotate(records_file, out, ERRORS, stdin=io.StringIO("\n"), stdout=io.StringIO()) == 1
    saved = read_jsonl(out)
    assert [r["id"] for r in saved] == ["squats/0", "lunges/0"] and saved[1] == {"id": "lunges/0", "errors": [],
                                                                                  "error_frames": {}}


def test_annotate_names_bad_records(tmp_path):
    path = tmp_path / "records.jsonl"
    path.write_text(json.dumps({"id": "a", "video": "v.mp4"}) + "\n" + json.dumps({"id": "b"}) + "\n")
    with pytest.raises(RecordError, match="record 1, field 'video'"):
        annotate(path, tmp_path / "out.jsonl", ERRORS, stdin=io.StringIO(""), stdout=io.StringIO())


def test_cli_annotate(records_file, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("3\n\n"))
    out = tmp_path / "ann.jsonl"
    assert main(["annotate", str(records_file), "--out", str(out), "--errors", *ERRORS]) == 0
    assert read_jsonl(out) == [{"id": "squats/0", "errors": ["incomplete_rom"], "error_frames": {}}]
    assert "annotated 1 clip(s)" in capsys.readouterr().out


def test_apply_annotations_to_a_qved_file(tmp_path, capsys):
    qved = tmp_path / "qved.json"
    qved.write_text(json.dumps([{"video": "squats/squats_0.mp4", "conversations": []},
                                {"id": "own", "video": "lunges/x.mp4", "conversations": []},
                                {"video": "push-ups/p.mp4", "conversations": []}]))
    annotations = tmp_path / "ann.jsonl"
    annotations.write_text("".join(json.dumps(r) + "\n" for r in [
        {"id": "squats/squats_0", "errors": ["knee_valgus"], "error_frames": {"knee_valgus": [[2, 5]]}},
        {"id": "own", "errors": [], "error_frames": {}},
        {"id": "missing", "errors": [], "error_frames": {}}]))
    out = tmp_path / "out.json"
    assert main(["annotate-apply", str(qved), str(annotations), "--out", str(out)]) == 0
    assert json.loads(capsys.readouterr().out) == {"applied": 2, "unmatched": ["missing"]}
    records = json.loads(out.read_text())
    assert records[0]["errors"] == ["knee_valgus"] and records[0]["error_frames"] == {"knee_valgus": [[2, 5]]}
    assert records[1]["errors"] == [] and "errors" not in records[2]
