# RQ3.2.1: accuracy headroom. The configured run's clean test-set scores of every model against the minimum
# acceptable value per metric (questions.rq3_2_1.thresholds, also read by RQ3.2.2): table, bar plot with the
# threshold lines, headline and summary fragment.

if config["questions"]["rq3_2_1"]["enabled"]:
    RQ3_2_1 = config["questions"]["rq3_2_1"]
    RQ3_2_1_MODELS = RQ3_2_1["models"] or MODELS
    RQ3_2_1_TABLES = "results/tables/rq3_2_1"
    RQ3_2_1_FIGURES = "results/figures/rq3_2_1"
    for _model in RQ3_2_1_MODELS:
        if _model not in RUN_TABLE or RQ3_2_1["run"] not in RUN_TABLE[_model]:
            raise ValueError(f"questions.rq3_2_1: model '{_model}' has no run '{RQ3_2_1['run']}'")
    RQ3_2_1_SCORES = expand("results/scores/{model}/{run}/clean.json", model=RQ3_2_1_MODELS, run=[RQ3_2_1["run"]])

    localrules:
        rq3_2_1_table,
        rq3_2_1_figure,
        rq3_2_1_summary,
        rq3_2_1,

    rule rq3_2_1_table:
        input:
            scores=RQ3_2_1_SCORES,
        output:
            headroom_csv=report(
                f"{RQ3_2_1_TABLES}/headroom.csv",
                caption="../workflow/report/rq3_2_1_headroom_table.rst",
                category="RQ 3.2.1",
            ),
            headroom_tex=f"{RQ3_2_1_TABLES}/headroom.tex",
            headline=report(
                f"{RQ3_2_1_TABLES}/headline.csv",
                caption="../workflow/report/master_headline.rst",
                category="Master comparison",
            ),
        params:
            thresholds=RQ3_2_1["thresholds"],
        log:
            log_path("rq3_2_1_table"),
        conda:
            "../envs/report.yaml"
        script:
            "../workflow/scripts/rq3_2_1_table.py"

    rule rq3_2_1_figure:
        input:
            headroom_csv=rules.rq3_2_1_table.output.headroom_csv,
        output:
            pdf=report(
                f"{RQ3_2_1_FIGURES}/headroom.pdf",
                caption="../workflow/report/rq3_2_1_headroom.rst",
                category="RQ 3.2.1",
            ),
            png=f"{RQ3_2_1_FIGURES}/headroom.png",
        log:
            log_path("rq3_2_1_figure"),
        conda:
            "../envs/report.yaml"
        script:
            "../workflow/scripts/rq3_2_1_figure.py"

    rule rq3_2_1_summary:
        input:
            headroom_csv=rules.rq3_2_1_table.output.headroom_csv,
        output:
            "results/summary/rq3_2_1.md",
        params:
            links=[rules.rq3_2_1_table.output.headroom_csv, rules.rq3_2_1_figure.output.png],
        log:
            log_path("rq3_2_1_summary"),
        conda:
            "../envs/report.yaml"
        script:
            "../workflow/scripts/rq3_2_1_summary.py"

    rule rq3_2_1:
        input:
            rules.rq3_2_1_table.output,
            rules.rq3_2_1_figure.output,
            rules.rq3_2_1_summary.output,

    HEADLINE_TABLES.append(rules.rq3_2_1_table.output.headline)
    QUESTION_TARGETS.extend([*rules.rq3_2_1_table.output, *rules.rq3_2_1_figure.output])
    SUMMARY_SECTIONS.append(rules.rq3_2_1_summary.output[0])
