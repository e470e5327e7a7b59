# Report: figures, tables and the results summary. Light jobs (no torch): run on the submitting machine.


localrules:
    report_base_vs_baseline_figure,
    report_comparison_table,
    report_baseline_headline,
    report_master_table,
    report_recommendations,
    report_model_tests,
    report_summary,
    report,

MASTER_TABLES = "results/tables/master"


rule report_base_vs_baseline_figure:
    input:
        scores=clean_score_files(),
    output:
        pdf=report(
            "results/figures/base_vs_baseline.pdf",
            caption="../workflow/report/base_vs_baseline.rst",
            category="Base vs baseline",
        ),
        png="results/figures/base_vs_baseline.png",
    log:
        log_path("report_base_vs_baseline_figure"),
    conda:
        "../envs/report.yaml"
    script:
        "../workflow/scripts/report_base_vs_baseline.py"


rule report_comparison_table:
    input:
        scores=score_targets(),
    output:
        csv=report(
            "results/tables/base_vs_baseline.csv",
            caption="../workflow/report/comparison_table.rst",
            category="Base vs baseline",
        ),
        tex="results/tables/base_vs_baseline.tex",
    log:
        log_path("report_comparison_table"),
    conda:
        "../envs/report.yaml"
    script:
        "../workflow/scripts/report_table.py"


rule report_baseline_headline:
    input:
        scores=clean_score_files(),
        train_stats=[os.path.join(run_dir(m, "baseline"), "train_stats.json") for m in MODELS
                     if RUN_TABLE[m].get("baseline") is not None],
    output:
        report(
            "results/tables/baseline/headline.csv",
            caption="../workflow/report/master_headline.rst",
            category="Master comparison",
        ),
    log:
        log_path("report_baseline_headline"),
    conda:
        "../envs/report.yaml"
    script:
        "../workflow/scripts/report_baseline_headline.py"


HEADLINE_TABLES.append(rules.report_baseline_headline.output[0])


rule report_master_table:
    input:
        headlines=HEADLINE_TABLES,
        model_tests=f"{MASTER_TABLES}/model_tests.csv",
    output:
        csv=report(
            f"{MASTER_TABLES}/comparison.csv",
            caption="../workflow/report/master_comparison.rst",
            category="Master comparison",
        ),
        tex=f"{MASTER_TABLES}/comparison.tex",
    log:
        log_path("report_master_table"),
    conda:
        "../envs/report.yaml"
    script:
        "../workflow/scripts/report_master_table.py"


rule report_recommendations:
    input:
        headlines=HEADLINE_TABLES,
    output:
        csv=report(
            f"{MASTER_TABLES}/recommendations.csv",
            caption="../workflow/report/master_recommendations.rst",
            category="Master comparison",
        ),
        tex=f"{MASTER_TABLES}/recommendations.tex",
    params:
        use_cases=config["report"]["use_cases"],
    log:
        log_path("report_recommendations"),
    conda:
        "../envs/report.yaml"
    script:
        "../workflow/scripts/report_recommendations.py"


rule report_model_tests:
    input:
        scores=[f"results/scores/{m}/baseline/clean.json" for m in MODELS],
        per_sample=[f"results/scores/{m}/baseline/clean.jsonl" for m in MODELS],
    output:
        csv=report(
            f"{MASTER_TABLES}/model_tests.csv",
            caption="../workflow/report/master_model_tests.rst",
            category="Master comparison",
        ),
        tex=f"{MASTER_TABLES}/model_tests.tex",
    params:
        alpha=config["report"]["alpha"],
    log:
        log_path("report_model_tests"),
    conda:
        "../envs/report.yaml"
    script:
        "../workflow/scripts/report_model_tests.py"


# Every figure this run's targets produce, linked from RESULTS_SUMMARY.md.
REPORT_FIGURES = [*rules.report_base_vs_baseline_figure.output] + sorted(
    {p for p in QUESTION_TARGETS if str(p).startswith("results/figures/")}
)


rule report_summary:
    input:
        scores=score_targets(),
        train_stats=train_stats_targets(),
        dataset_summary="results/data/summary.json",
        figures=REPORT_FIGURES,
        tables=rules.report_comparison_table.output,
        sections=SUMMARY_SECTIONS,
        master=rules.report_master_table.output.csv,
        recommendations=rules.report_recommendations.output.csv,
        model_tests=rules.report_model_tests.output.csv,
    output:
        "results/RESULTS_SUMMARY.md",
    log:
        log_path("report_summary"),
    conda:
        "../envs/report.yaml"
    script:
        "../workflow/scripts/report_summary.py"


rule report:
    input:
        rules.report_summary.output,
