"""`qvedbench review`: terminal expert ratings, saved after every sample, resumable."""
import io
import json

import pytest

from qvedbench.analysis.judge import load_ratings
from qvedbench.cli import main
from qvedbench.io import read_jsonl
from qvedbench.review import job_from_path, review


@pytest.fixture
def predictions(tmp_path):
    path = tmp_path / "results" / "predictions" / "tiny" / "baseline" / "clean.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps({"id": f"c{i}", "exercise": "squats", "reference": "squats - knees in",
                                        "prediction": f"squats - answer {i}"}) + "\n" for i in range(3)))
    return path


def test_job_from_path(predictions):
    assert job_from_path(predictions) == ("tiny", "baseline", "clean")


def test_ratings_are_saved_after_each_sample_and_resume(predictions, tmp_path):
    ratings = tmp_path / "ratings.jsonl"
    # first sample fully rated (with a typo re-asked and one skip), then quit in the middle of the second
    answers = "4\n7\n3\ns\n5\n4\n4\n2\nq\n"
    out = io.StringIO()
    assert review(predictions, ratings, rater="ab", stdin=io.StringIO(answers), stdout=out) == 1
    assert "please type a whole number" in out.getvalue()
    rows = read_jsonl(ratings)
    assert rows == [{"model": "tiny", "run": "baseline", "variant": "clean", "id": "c0", "rater": "ab",
                     "clinical_accuracy": 4, "actionability": 3, "root_cause": None, "completeness": 5,
                     "overall": 4, "holistic": 4}]
    # resume: c0 is skipped; end of input stops cleanly after c1
    assert review(predictions, ratings, rater="ab", stdin=io.StringIO("1\n2\n3\n4\n5\n5\n"), stdout=io.StringIO()) == 1
    assert [r["id"] for r in read_jsonl(ratings)] == ["c0", "c1"]
    # another rater starts from the first sample
    assert review(predictions, ratings, rater="cd", limit=1, stdin=io.StringIO("3\n" * 6), stdout=io.StringIO()) == 1
    assert [(r["id"], r["rater"]) for r in load_ratings(ratings)][-1] == ("c0", "cd")


def test_cli_review_reads_stdin(predictions, tmp_path, monkeypatch, capsys):
    ratings = tmp_path / "r.jsonl"
    monkeypatch.setattr("sys.stdin", io.StringIO("5\n5\n5\n5\n5\n5\n"))
    assert main(["review", str(predictions), "--ratings", str(ratings), "--rater", "ab", "--limit", "1"]) == 0
    assert "rated 1 sample" in capsys.readouterr().out
    assert read_jsonl(ratings)[0]["overall"] == 5
    assert main(["review", str(predictions), "--ratings", str(ratings), "--rater", "ab", "--model", "x"]) == 2
