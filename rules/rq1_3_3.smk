# RQ1.3.3: robustness to visual degradation. Degraded copies of the test clips are made once per (type, level)
# and shared by every model; predictions and scores come from the generic infer_generate/evaluate_score rules.
from qvedbench.variant_names import Degradation

if config["questions"]["rq1_3_3"]["enabled"]:
    RQ1_3_3 = config["questions"]["rq1_3_3"]
    RQ1_3_3_TABLES = "results/tables/rq1_3_3"
    RQ1_3_3_FIGURES = "results/figures/rq1_3_3"
    RQ1_3_3_MODELS = RQ1_3_3["models"] or MODELS
    RQ1_3_3_VARIANTS = [
        Degradation(kind, level).name  # validates each level
        for kind, levels in [
            ("blur", RQ1_3_3["blur"]),
            ("crf", RQ1_3_3["crf"]),
            ("light", RQ1_3_3["lighting"]),
            *[(f"occl_{fill}", RQ1_3_3["occlusion"]) for fill in RQ1_3_3["occlusion_fills"]],
        ]
        for level in levels
    ]
    for _model in RQ1_3_3_MODELS:
        for _run in RQ1_3_3["runs"]:
            if _model not in RUN_TABLE or _run not in RUN_TABLE[_model]:
                raise ValueError(f"questions.rq1_3_3: model '{_model}' has no run '{_run}'")

    # Aggregate and per-sample scores of the clean test set and every degraded variant.
    RQ1_3_3_SCORE_FILES = [
        f"results/scores/{m}/{r}/{v}.{ext}"
        for m in RQ1_3_3_MODELS
        for r in RQ1_3_3["runs"]
        for v in ["clean"] + RQ1_3_3_VARIANTS
        for ext in ("json", "jsonl")
    ]

    localrules:
        rq1_3_3_table,
        rq1_3_3_summary,
        rq1_3_3,

    rule rq1_3_3_degrade:
        input:
            test="results/data/test.jsonl",
        output:
            records="results/data/variants/{variant}.jsonl",
            videos=directory("results/data/variants/{variant}"),
        wildcard_constraints:
            variant=_alternatives(RQ1_3_3_VARIANTS),
        params:
            seed=config["seed"],
            reencode_crf=RQ1_3_3["reencode_crf"],
        log:
            log_path("rq1_3_3_degrade", "{variant}"),
        benchmark:
            benchmark_path("rq1_3_3_degrade", "{variant}")
        conda:
            "../envs/data.yaml"
        script:
            "../workflow/scripts/rq1_3_3_degrade.py"

    rule rq1_3_3_table:
        input:
            scores=RQ1_3_3_SCORE_FILES,
        output:
            robustness_csv=report(
                f"{RQ1_3_3_TABLES}/robustness.csv",
                caption="../workflow/report/rq1_3_3_robustness.rst",
                category="RQ 1.3.3",
            ),
            robustness_tex=f"{RQ1_3_3_TABLES}/robustness.tex",
            ranking_csv=report(
                f"{RQ1_3_3_TABLES}/most_robust.csv",
                caption="../workflow/report/rq1_3_3_most_robust.rst",
                category="RQ 1.3.3",
            ),
            ranking_tex=f"{RQ1_3_3_TABLES}/most_robust.tex",
            headline=report(
                "results/tables/rq1_3_3/headline.csv",
                caption="../workflow/report/master_headline.rst",
                category="Master comparison",
            ),
        log:
            log_path("rq1_3_3_table"),
        conda:
            "../envs/report.yaml"
        script:
            "../workflow/scripts/rq1_3_3_table.py"

    RQ1_3_3_FIGURE_FILES = []
    for _figure in ("accuracy_vs_level", "robustness_heatmap"):

        rule:
            name:
                f"rq1_3_3_{_figure}_figure"
            input:
                robustness_csv=rules.rq1_3_3_table.output.robustness_csv,
            output:
                pdf=report(
                    f"{RQ1_3_3_FIGURES}/{_figure}.pdf",
                    caption=f"../workflow/report/rq1_3_3_{_figure}.rst",
                    category="RQ 1.3.3",
                ),
                png=f"{RQ1_3_3_FIGURES}/{_figure}.png",
            params:
                figure=_figure,
            localrule: True
            log:
                log_path(f"rq1_3_3_{_figure}_figure"),
            conda:
                "../envs/report.yaml"
            script:
                "../workflow/scripts/rq1_3_3_figure.py"

        RQ1_3_3_FIGURE_FILES += [f"{RQ1_3_3_FIGURES}/{_figure}.pdf", f"{RQ1_3_3_FIGURES}/{_figure}.png"]

    rule rq1_3_3_summary:
        input:
            robustness_csv=rules.rq1_3_3_table.output.robustness_csv,
        output:
            "results/summary/rq1_3_3.md",
        params:
            links=[
                rules.rq1_3_3_table.output.robustness_csv,
                rules.rq1_3_3_table.output.ranking_csv,
                *[f for f in RQ1_3_3_FIGURE_FILES if f.endswith(".png")],
            ],
        log:
            log_path("rq1_3_3_summary"),
        conda:
            "../envs/report.yaml"
        script:
            "../workflow/scripts/rq1_3_3_summary.py"

    rule rq1_3_3:
        input:
            rules.rq1_3_3_table.output,
            RQ1_3_3_FIGURE_FILES,
            rules.rq1_3_3_summary.output,

    HEADLINE_TABLES.append(rules.rq1_3_3_table.output.headline)
    QUESTION_TARGETS.extend([*rules.rq1_3_3_table.output, *RQ1_3_3_FIGURE_FILES])
    SUMMARY_SECTIONS.append(rules.rq1_3_3_summary.output[0])
