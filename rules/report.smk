# Report: figures, tables and the results summary. Light jobs (no torch): run on the submitting machine.


localrules:
    report_base_vs_baseline_figure,
    report_comparison_table,
    report_summary,
    report,


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


rule report_summary:
    input:
        scores=score_targets(),
        train_stats=train_stats_targets(),
        dataset_summary="results/data/summary.json",
        figures=rules.report_base_vs_baseline_figure.output,
        tables=rules.report_comparison_table.output,
        sections=SUMMARY_SECTIONS,
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
