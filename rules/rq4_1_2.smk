# RQ4.1.2: exercise confusions in the clean per-sample scores of the configured runs, agreement of per-class
# error rates across models, accuracy vs training clips, and biomechanical similarity of confused pairs.

if config["questions"]["rq4_1_2"]["enabled"]:
    RQ4_1_2 = config["questions"]["rq4_1_2"]
    RQ4_1_2_TABLES = "results/tables/rq4_1_2"
    RQ4_1_2_FIGURES = "results/figures/rq4_1_2"
    RQ4_1_2_JOBS = [(m, r) for m in MODELS for r in RQ4_1_2["runs"]]
    for _model, _run in RQ4_1_2_JOBS:
        if _run not in RUN_TABLE[_model]:
            raise ValueError(f"questions.rq4_1_2.runs: model '{_model}' has no run '{_run}'")
    RQ4_1_2_TABLE_NAMES = {
        "pairs": "most_confused_pairs",
        "error_rates": "class_error_rates",
        "agreement": "error_rate_agreement",
        "similarity": "similarity",
    }

    localrules:
        rq4_1_2_tables,
        rq4_1_2_confusion_figure,
        rq4_1_2_training_figure,
        rq4_1_2_summary,
        rq4_1_2,

    rule rq4_1_2_tables:
        input:
            scores=[f"results/scores/{m}/{r}/clean.jsonl" for m, r in RQ4_1_2_JOBS],
            train="results/data/train.jsonl",
        output:
            analysis="results/rq4_1_2/analysis.json",
            **{
                f"{key}_csv": report(
                    f"{RQ4_1_2_TABLES}/{name}.csv",
                    caption=f"../workflow/report/rq4_1_2_{name}.rst",
                    category="RQ 4.1.2",
                )
                for key, name in RQ4_1_2_TABLE_NAMES.items()
            },
            **{f"{key}_tex": f"{RQ4_1_2_TABLES}/{name}.tex" for key, name in RQ4_1_2_TABLE_NAMES.items()},
            headline=report(
                "results/tables/rq4_1_2/headline.csv",
                caption="../workflow/report/master_headline.rst",
                category="Master comparison",
            ),
        params:
            jobs=RQ4_1_2_JOBS,
            classes=CLASSES,
            metadata=RQ4_1_2["metadata"],
            top=RQ4_1_2["top_pairs"],
            min_count=RQ4_1_2["min_confusions"],
            tables=list(RQ4_1_2_TABLE_NAMES),
        log:
            log_path("rq4_1_2_tables"),
        conda:
            "../envs/analysis.yaml"
        script:
            "../workflow/scripts/rq4_1_2_tables.py"

    rule rq4_1_2_confusion_figure:
        input:
            analysis=rules.rq4_1_2_tables.output.analysis,
        output:
            pdf=report(
                f"{RQ4_1_2_FIGURES}/confusion_matrices.pdf",
                caption="../workflow/report/rq4_1_2_confusion_matrices.rst",
                category="RQ 4.1.2",
            ),
            png=f"{RQ4_1_2_FIGURES}/confusion_matrices.png",
        params:
            kind="confusion",
        log:
            log_path("rq4_1_2_confusion_figure"),
        conda:
            "../envs/analysis.yaml"
        script:
            "../workflow/scripts/rq4_1_2_figure.py"

    rule rq4_1_2_training_figure:
        input:
            analysis=rules.rq4_1_2_tables.output.analysis,
        output:
            pdf=report(
                f"{RQ4_1_2_FIGURES}/accuracy_vs_training.pdf",
                caption="../workflow/report/rq4_1_2_accuracy_vs_training.rst",
                category="RQ 4.1.2",
            ),
            png=f"{RQ4_1_2_FIGURES}/accuracy_vs_training.png",
        params:
            kind="training",
        log:
            log_path("rq4_1_2_training_figure"),
        conda:
            "../envs/analysis.yaml"
        script:
            "../workflow/scripts/rq4_1_2_figure.py"

    rule rq4_1_2_summary:
        input:
            analysis=rules.rq4_1_2_tables.output.analysis,
        output:
            "results/summary/rq4_1_2.md",
        log:
            log_path("rq4_1_2_summary"),
        conda:
            "../envs/analysis.yaml"
        script:
            "../workflow/scripts/rq4_1_2_summary.py"

    rule rq4_1_2:
        input:
            rules.rq4_1_2_tables.output,
            rules.rq4_1_2_confusion_figure.output,
            rules.rq4_1_2_training_figure.output,
            rules.rq4_1_2_summary.output,

    HEADLINE_TABLES.append(rules.rq4_1_2_tables.output.headline)
    QUESTION_TARGETS.extend(
        [
            *rules.rq4_1_2_tables.output,
            *rules.rq4_1_2_confusion_figure.output,
            *rules.rq4_1_2_training_figure.output,
        ]
    )
    SUMMARY_SECTIONS.append(rules.rq4_1_2_summary.output[0])
