"""RQ5.2.1 analysis: scores table, radar chart, examples, correlation with text metrics, expert agreement."""
import json

import pandas as pd
import pytest

from qvedbench.analysis import judge as aj
from qvedbench.io import RecordError
from qvedbench.judge import summarise_judgements

KEYS = aj.SCORE_KEYS


def row(model, run, i, overall, status="ok", **extra):
    scores = {k: (None if status != "ok" else (overall if k == "overall" else int(round(overall)))) for k in KEYS}
    return {"model": model, "run": run, "variant": "clean", "id": f"c{i}", "status": status, **scores,
            "exercise": "squats", "reference": "ref", "prediction": f"pred {i}", "rationale": None,
            "backend": "openai", "judge_model": "judge-x", "sanity_baseline": False, "prompt_version": "v1", **extra}


@pytest.fixture
def rows():
    a = [row("alpha", "baseline", i, v) for i, v in enumerate([5, 4, 4.5, 5, 4])]
    b = [row("beta", "baseline", i, v) for i, v in enumerate([1, 2, 1, 2, 1])] + [row("beta", "baseline", 9, 0, "failed")]
    return a, b


def summaries(rows):
    return [summarise_judgements(r, n_boot=200, seed=0, context={k: r[0][k] for k in ("model", "run", "variant")})
            for r in rows]


def test_scores_table_reports_failures_and_cis(rows, tmp_path):
    frame = aj.write_scores_table(summaries(rows), tmp_path / "t.csv", tmp_path / "t.tex")
    beta = frame[frame["model"] == "beta"].iloc[0]
    assert beta["n"] == 6 and beta["failures"] == 1 and beta["overall_n"] == 5
    assert beta["overall"] == pytest.approx(1.4) and beta["judge"] == "openai: judge-x"
    assert "1.40 [" in (tmp_path / "t.tex").read_text()


def test_rubric_scores_are_labelled_sanity_baseline(rows):
    s = summaries(rows)[0]
    s["sanity_baseline"] = True
    assert aj.judge_label(s) == "rubric (sanity baseline)"
    assert "sanity baseline" in aj.summary_markdown([s])


def test_radar_figure_writes_pdf_and_png(rows, tmp_path):
    aj.radar_figure(summaries(rows), tmp_path / "r.pdf", tmp_path / "r.png")
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF") and (tmp_path / "r.png").stat().st_size > 1000


def test_examples_rank_best_and_worst_without_failures(rows, tmp_path):
    frame = aj.write_examples(rows[0] + rows[1], tmp_path / "e.csv", tmp_path / "e.tex", k=2)
    alpha = frame[frame["model"] == "alpha"]
    assert list(alpha[alpha["rank"] == "best"]["id"]) == ["c0", "c3"]
    assert list(alpha[alpha["rank"] == "worst"]["id"]) == ["c1", "c4"]
    assert "c9" not in set(frame["id"])


def test_correlation_with_text_metrics(rows, tmp_path):
    judge_rows = rows[0] + rows[1]
    files = {}
    for model, rs in (("alpha", rows[0]), ("beta", rows[1])):
        path = tmp_path / f"{model}.jsonl"
        # rouge_l rises with the judge's overall score; meteor is missing for one sample
        path.write_text("".join(json.dumps({"id": r["id"], "rouge_l": (r["overall"] or 0) / 10,
                                            "meteor": None if r["id"] == "c0" else 0.5,
                                            "exercise_correct": 1}) + "\n" for r in rs))
        files[(model, "baseline", "clean")] = path
    joined = aj.joined_scores(judge_rows, files)
    assert len(joined) == 11
    frame = aj.correlation_frame(joined, n_boot=200)
    pooled = frame[(frame["model"] == "all") & (frame["judge_score"] == "overall")].set_index("text_metric")
    assert pooled.loc["rouge_l", "spearman"] == pytest.approx(1.0) and pooled.loc["rouge_l", "n"] == 10
    assert pooled.loc["rouge_l", "missing"] == 1  # the failed judge row
    assert pd.isna(pooled.loc["meteor", "spearman"])  # constant: not computable, not faked
    assert pooled.loc["meteor", "missing"] == 3


def test_agreement_with_expert_ratings(rows, tmp_path):
    judge_rows = rows[0] + rows[1]
    ratings = [{"model": r["model"], "run": r["run"], "variant": "clean", "id": r["id"], "rater": "ab",
                **{k: (int(r[k] + 0.5) if r[k] is not None else 3) for k in KEYS}} for r in judge_rows]
    ratings[0]["root_cause"] = None  # skipped by the expert
    path = tmp_path / "ratings.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ratings))
    frame = aj.agreement_frame(judge_rows, aj.load_ratings(path), n_boot=200).set_index("score")
    assert frame.loc["overall", "kappa_quadratic"] == pytest.approx(1.0)
    assert frame.loc["overall", "n"] == 10 and frame.loc["overall", "missing"] == 1
    assert frame.loc["root_cause", "missing"] == 2
    ratings[1]["overall"] = 7
    path.write_text("".join(json.dumps(r) + "\n" for r in ratings))
    with pytest.raises(RecordError, match="record 1, field 'overall'"):
        aj.load_ratings(path)


def test_summary_states_findings_from_the_numbers(rows):
    text = aj.summary_markdown(summaries(rows))
    assert text.startswith("## RQ 5.2.1: LLM-as-judge feedback quality")
    assert "11 judged samples, 1 failures" in text
    assert "Highest overall score: alpha / baseline / clean" in text and "non-overlapping" in text
    assert "agreement not measured" in text
