# RQ1.2: accuracy against the number of frames shown and the sampling rate. Each (frames, stride) pair is a
# test-set variant frames<F>_stride<S> (the test records with per-record sampling overrides, shared by every
# model); predictions and scores come from the generic infer_generate/evaluate_score rules.
from qvedbench.variant_names import temporal_variant_name

if config["questions"]["rq1_2"]["enabled"]:
    RQ1_2 = config["questions"]["rq1_2"]
    RQ1_2_TABLES = "results/tables/rq1_2"
    RQ1_2_FIGURES = "results/figures/rq1_2"
    RQ1_2_MODELS = RQ1_2["models"] or MODELS
    RQ1_2_VARIANTS = [temporal_variant_name(f, s) for f in RQ1_2["frames"] for s in RQ1_2["strides"]]
    for _model in RQ1_2_MODELS:
        for _run in RQ1_2["runs"]:
            if _model not in RUN_TABLE or _run not in RUN_TABLE[_model]:
                raise ValueError(f"questions.rq1_2: model '{_model}' has no run '{_run}'")

    # Aggregate and per-sample scores of every temporal variant.
    RQ1_2_SCORE_FILES = [
        f"results/scores/{m}/{r}/{v}.{ext}"
        for m in RQ1_2_MODELS
        for r in RQ1_2["runs"]
        for v in RQ1_2_VARIANTS
        for ext in ("json", "jsonl")
    ]

    localrules:
        rq1_2_table,
        rq1_2_summary,
        rq1_2,

    rule rq1_2_variant:
        input:
            test="results/data/test.jsonl",
        output:
            "results/data/variants/{variant}.jsonl",
        wildcard_constraints:
            variant=_alternatives(RQ1_2_VARIANTS),
        params:
            seed=config["seed"],
        log:
            log_path("rq1_2_variant", "{variant}"),
        conda:
            "../envs/data.yaml"
        script:
            "../workflow/scripts/data_variant.py"

    rule rq1_2_table:
        input:
            scores=RQ1_2_SCORE_FILES,
            test="results/data/test.jsonl",
        output:
            accuracy_csv=report(
                f"{RQ1_2_TABLES}/accuracy.csv",
                caption="../workflow/report/rq1_2_accuracy.rst",
                category="RQ 1.2",
            ),
            accuracy_tex=f"{RQ1_2_TABLES}/accuracy.tex",
            minimum_csv=report(
                f"{RQ1_2_TABLES}/minimum.csv",
                caption="../workflow/report/rq1_2_minimum.rst",
                category="RQ 1.2",
            ),
            minimum_tex=f"{RQ1_2_TABLES}/minimum.tex",
            sensitivity_csv=report(
                f"{RQ1_2_TABLES}/exercise_sensitivity.csv",
                caption="../workflow/report/rq1_2_exercise_sensitivity_table.rst",
                category="RQ 1.2",
            ),
            sensitivity_tex=f"{RQ1_2_TABLES}/exercise_sensitivity.tex",
            headline=report(
                "results/tables/rq1_2/headline.csv",
                caption="../workflow/report/master_headline.rst",
                category="Master comparison",
            ),
        params:
            tolerance=RQ1_2["tolerance"],
        log:
            log_path("rq1_2_table"),
        conda:
            "../envs/report.yaml"
        script:
            "../workflow/scripts/rq1_2_table.py"

    RQ1_2_FIGURE_FILES = []
    for _figure, _table in [
        ("accuracy_vs_frames", "accuracy_csv"),
        ("accuracy_vs_fps", "accuracy_csv"),
        ("accuracy_heatmap", "accuracy_csv"),
        ("exercise_sensitivity", "sensitivity_csv"),
    ]:

        rule:
            name:
                f"rq1_2_{_figure}_figure"
            input:
                table=rules.rq1_2_table.output[_table],
            output:
                pdf=report(
                    f"{RQ1_2_FIGURES}/{_figure}.pdf",
                    caption=f"../workflow/report/rq1_2_{_figure}.rst",
                    category="RQ 1.2",
                ),
                png=f"{RQ1_2_FIGURES}/{_figure}.png",
            params:
                figure=_figure,
            localrule: True
            log:
                log_path(f"rq1_2_{_figure}_figure"),
            conda:
                "../envs/report.yaml"
            script:
                "../workflow/scripts/rq1_2_figure.py"

        RQ1_2_FIGURE_FILES += [f"{RQ1_2_FIGURES}/{_figure}.pdf", f"{RQ1_2_FIGURES}/{_figure}.png"]

    rule rq1_2_summary:
        input:
            accuracy_csv=rules.rq1_2_table.output.accuracy_csv,
            minimum_csv=rules.rq1_2_table.output.minimum_csv,
            sensitivity_csv=rules.rq1_2_table.output.sensitivity_csv,
        output:
            "results/summary/rq1_2.md",
        params:
            links=[
                rules.rq1_2_table.output.accuracy_csv,
                rules.rq1_2_table.output.minimum_csv,
                rules.rq1_2_table.output.sensitivity_csv,
                *[f for f in RQ1_2_FIGURE_FILES if f.endswith(".png")],
            ],
        log:
            log_path("rq1_2_summary"),
        conda:
            "../envs/report.yaml"
        script:
            "../workflow/scripts/rq1_2_summary.py"

    rule rq1_2:
        input:
            rules.rq1_2_table.output,
            RQ1_2_FIGURE_FILES,
            rules.rq1_2_summary.output,

    HEADLINE_TABLES.append(rules.rq1_2_table.output.headline)
    QUESTION_TARGETS.extend([*rules.rq1_2_table.output, *RQ1_2_FIGURE_FILES])
    SUMMARY_SECTIONS.append(rules.rq1_2_summary.output[0])
