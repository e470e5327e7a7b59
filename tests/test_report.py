import json
import subprocess
import sys

import pandas as pd
import pytest

from qvedbench.io import RecordError, write_json
from qvedbench.metrics import score_predictions
from qvedbench.report import base_vs_baseline, comparison_table, model_colour, run_colour, write_results_summary
from qvedbench.report.style import save_figure, new_figure, figure_style

CLASSES = ["squat", "lunge", "push-up"]
FAST = ("exercise_accuracy", "rouge_l")


def entry(mean, low, high, n=10, failures=0):
    return {"mean": mean, "ci_low": low, "ci_high": high, "n": n, "failures": failures}


def fake_scores(model, run, variant="clean", acc=0.5, failures=0):
    metrics = {m: entry(acc, acc - 0.1, acc + 0.1, failures=failures) for m in
               ("exercise_accuracy", "rouge_l", "meteor", "bertscore_f1", "embedding_cosine")}
    return {"model": model, "run": run, "variant": variant, "n": 10 + failures, "metrics": metrics,
            "per_class": {}, "majority_class": "squat", "majority_rate": 0.4, "chance_rate": 1 / 3,
            "unparsed_exercise": 1, "follows_original_rate": None, "config": {"bootstrap": 200, "ci": 0.95, "seed": 0}}


def score_run(root, model, run, variant, answers, exercises, originals=None):
    """Score hand-made predictions: answers[i] is the class the model names (None = no answer)."""
    rows = []
    for i, (exercise, answer) in enumerate(zip(exercises, answers)):
        r = {"id": f"clip{i}", "exercise": exercise, "reference": f"{exercise} - keep going",
             "prediction": None if answer is None else f"{answer} - keep going"}
        if originals:
            r["original_exercise"] = originals[i]
        rows.append(r)
    preds = root / "predictions" / model / run / f"{variant}.jsonl"
    preds.parent.mkdir(parents=True, exist_ok=True)
    preds.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = root / "scores" / model / run / f"{variant}.json"
    score_predictions(preds, out, out.with_suffix(".jsonl"), classes=CLASSES, model=model, run=run, variant=variant,
                      bertscore_model="-", bertscore_layers=1, embedding_model="-", metrics=FAST, n_boot=300, seed=0)
    return out


@pytest.fixture
def scored(tmp_path):
    exercises = ["squat", "lunge", "push-up"] * 20  # 60 clips, balanced: chance = majority = 1/3
    base = ["squat"] * 60  # always the same class: 20/60
    tuned = list(exercises)
    tuned[:6] = ["lunge"] * 6  # 4 of these 6 clips are not lunges: wrong
    tuned[59] = None  # one unanswered clip: 55 right of 59 scored
    shown = exercises[1:] + exercises[:1]  # swapped: each record shown another class's video
    files = [
        score_run(tmp_path, "tiny", "base", "clean", base, exercises),
        score_run(tmp_path, "tiny", "baseline", "clean", tuned, exercises),
        score_run(tmp_path, "tiny", "baseline", "blank", ["squat"] * 60, exercises),
        score_run(tmp_path, "tiny", "baseline", "swapped", shown, shown, originals=exercises),  # follows the video
        score_run(tmp_path, "tiny", "prompt_only", "swapped", exercises, shown, originals=exercises),  # follows text
    ]
    stats = tmp_path / "runs" / "tiny" / "baseline" / "train_stats.json"
    write_json(stats, {"trainable_params": 12345, "total_params": 200000, "wall_time_s": 61.23, "steps": 50,
                       "peak_memory_mb": 812.4, "device": "cpu", "precision": "fp32"})
    return tmp_path, files, stats


def test_figure_writes_pdf_and_png_with_cis_reference_line_and_failures(tmp_path):
    import matplotlib.image

    scores = [fake_scores("tiny", "base", acc=0.3), fake_scores("tiny", "baseline", acc=0.8, failures=3),
              fake_scores("other_model", "base", acc=0.2), fake_scores("tiny", "baseline", "blank", acc=0.33)]
    fig = base_vs_baseline(scores, tmp_path / "f.pdf", tmp_path / "f.png")
    assert (tmp_path / "f.pdf").read_bytes().startswith(b"%PDF")
    png = matplotlib.image.imread(tmp_path / "f.png")
    assert png.shape[1] == round(fig.get_figwidth() * 200) and png.shape[0] == round(fig.get_figheight() * 200)
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["Exercise-ID accuracy", "ROUGE-L F1", "METEOR", "BERTScore F1",
                                               "Embedding cosine"]
    assert len(axes[0].patches) == 3  # tiny base, tiny baseline, other_model base; the blank variant left out
    heights = sorted(round(p.get_height(), 3) for p in axes[0].patches)
    assert heights == [0.2, 0.3, 0.8]
    assert [t.get_text() for t in axes[0].texts] == ["3"]  # failure count on the tuned bar
    assert len(axes[0].collections) == len(axes[1].collections) + 2  # majority-rate lines, one per model
    majority_lines = axes[0].collections[-2:]
    assert sorted(round(y, 3) for c in majority_lines for seg in c.get_segments() for _, y in seg) == [0.4] * 4
    assert [t.get_text() for t in axes[0].get_xticklabels()] == ["other_model", "tiny"]
    pdf = (tmp_path / "f.pdf").read_bytes()
    base_vs_baseline(scores, tmp_path / "f.pdf", tmp_path / "f.png")
    assert (tmp_path / "f.pdf").read_bytes() == pdf  # same numbers, same bytes


def test_figure_rejects_missing_variant_and_duplicates(tmp_path):
    with pytest.raises(ValueError, match="no scores for variant 'clean'"):
        base_vs_baseline([fake_scores("m", "base", "blank")], tmp_path / "f.pdf", tmp_path / "f.png")
    with pytest.raises(ValueError, match="two score files"):
        base_vs_baseline([fake_scores("m", "base"), fake_scores("m", "base")], tmp_path / "f.pdf", tmp_path / "f.png")


def test_colours_are_stable_across_processes():
    code = "from qvedbench.report import model_colour; print(model_colour('qwen2_vl_2b'))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "123", "PATH": ""}).stdout.strip()
    assert other == model_colour("qwen2_vl_2b")
    assert run_colour("base") != run_colour("baseline")
    assert run_colour("lora_r8") == run_colour("lora_r8")


def test_save_figure_is_atomic_and_writes_both(tmp_path):
    with figure_style():
        fig = new_figure(2, 2)
        fig.add_subplot().plot([0, 1], [0, 1])
    save_figure(fig, tmp_path / "a" / "x.pdf", tmp_path / "b" / "x.png")
    assert (tmp_path / "a" / "x.pdf").stat().st_size > 0 and (tmp_path / "b" / "x.png").stat().st_size > 0
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b", "x.pdf", "x.png"]  # no temporary files


def test_comparison_table_csv_and_escaped_latex(tmp_path):
    scores = [fake_scores("tiny_vlm", "baseline", acc=0.8, failures=2), fake_scores("tiny_vlm", "base", acc=0.5),
              fake_scores("tiny_vlm", "base", "blank", acc=0.3)]
    comparison_table(scores, tmp_path / "t.csv", tmp_path / "t.tex")
    table = pd.read_csv(tmp_path / "t.csv")
    assert list(zip(table["run"], table["variant"])) == [("base", "clean"), ("base", "blank"), ("baseline", "clean")]
    last = table.iloc[2]
    assert last["exercise_accuracy"] == pytest.approx(0.8)
    assert last["exercise_accuracy_ci_low"] == pytest.approx(0.7) and last["meteor_ci_high"] == pytest.approx(0.9)
    assert last["bertscore_f1_failures"] == 2 and last["n"] == 12 and last["bertscore_f1_n"] == 10
    assert last["majority_rate"] == pytest.approx(0.4)
    tex = (tmp_path / "t.tex").read_text()
    assert "tiny\\_vlm" in tex and "tiny_vlm" not in tex.replace("tiny\\_vlm", "")
    assert "0.800 [0.700, 0.900]" in tex and "\\begin{tabular}" in tex


def test_load_errors_name_file_and_field(tmp_path):
    bad = tmp_path / "s.json"
    write_json(bad, {"model": "m", "run": "base", "n": 3, "metrics": {}})
    with pytest.raises(RecordError, match="field 'variant'") as err:
        comparison_table([bad], tmp_path / "t.csv", tmp_path / "t.tex")
    assert err.value.file == str(bad)


def test_summary_reports_numbers_verdicts_controls_and_training(scored):
    root, files, stats = scored
    out = root / "report" / "RESULTS_SUMMARY.md"
    (root / "report" / "fig.pdf").parent.mkdir(parents=True, exist_ok=True)
    text = write_results_summary(files, out, train_stats={("tiny", "baseline"): stats},
                                 figures=[root / "report" / "fig.pdf"], tables=[root / "tables" / "t.csv"])
    assert out.read_text() == text
    scores = {(s["run"], s["variant"]): s for s in map(lambda f: json.loads(f.read_text()), files)}
    tuned = scores[("baseline", "clean")]["metrics"]["exercise_accuracy"]
    assert (tuned["n"], tuned["failures"]) == (59, 1) and tuned["mean"] == pytest.approx(55 / 59)
    ci = f"[{100 * tuned['ci_low']:.1f}, {100 * tuned['ci_high']:.1f}]"
    assert f"| baseline | 60 | 93.2% {ci} (n=59, failed 1)" in text
    assert "| base | 60 | 33.3% [" in text
    # Paired over the 59 clips answered in both runs: 55 right vs 20 right.
    assert f"beats the untuned model on exercise-ID accuracy by +{100 * 35 / 59:.1f} points [" in text
    assert "paired bootstrap over 59 clips scored in both, 1 clip(s) unscored" in text
    assert "above the majority-class rate (33.3%)" in text
    assert "blank video, run `baseline`: accuracy 33.3% [" in text and "consistent with chance" in text
    swapped_lines = [line for line in text.splitlines() if line.startswith("- swapped video")]
    assert "run `baseline`" in swapped_lines[0] and "The answer follows the video: yes" in swapped_lines[0]
    assert "run `prompt_only`" in swapped_lines[1] and "follows the video: no" in swapped_lines[1]
    assert "original record's class 100.0% [100.0, 100.0] (n=60, failed 0)" in swapped_lines[1]
    assert "trainable parameters 12,345 (6.17% of 200,000); wall time 61.2 s" in text
    assert "[fig.pdf](fig.pdf)" in text and "[t.csv](../tables/t.csv)" in text


def test_summary_without_per_sample_files_compares_cis(tmp_path):
    scores = [fake_scores("m", "base", acc=0.3), fake_scores("m", "baseline", acc=0.8)]
    text = write_results_summary(scores, tmp_path / "R.md")
    assert "beats the untuned model on exercise-ID accuracy by +50.0 points (no per-sample scores" in text
    overlap = [fake_scores("m", "base", acc=0.5), fake_scores("m", "baseline", acc=0.55)]
    text = write_results_summary(overlap, tmp_path / "R.md")
    assert "does not clearly change exercise-ID accuracy: +5.0 points" in text
    alone = write_results_summary([fake_scores("m", "baseline", acc=0.55)], tmp_path / "R.md")
    assert "No scores for the untuned model" in alone


def test_report_and_stats_do_not_import_torch():
    code = ("import sys, qvedbench.report, qvedbench.stats; "
            "print(sorted(m for m in ('torch', 'transformers', 'qvedbench.models') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
