# RQ2.1.1: form-error detection and localisation in the clean predictions of the configured runs. Errors are
# found by phrase matching (config taxonomy) in each prediction and compared with the annotated errors (or, for
# unannotated records, the errors found in the reference text).

if config["questions"]["rq2_1_1"]["enabled"]:
    RQ2_1_1 = config["questions"]["rq2_1_1"]
    RQ2_1_1_TABLES = "results/tables/rq2_1_1"
    RQ2_1_1_FIGURES = "results/figures/rq2_1_1"
    RQ2_1_1_JOBS = [(m, r) for m in MODELS for r in RQ2_1_1["runs"]]
    for _model, _run in RQ2_1_1_JOBS:
        if _run not in RUN_TABLE[_model]:
            raise ValueError(f"questions.rq2_1_1.runs: model '{_model}' has no run '{_run}'")

    localrules:
        rq2_1_1_detect,
        rq2_1_1_tables,
        rq2_1_1_prf_figure,
        rq2_1_1_confusion_figure,
        rq2_1_1_pr_figure,
        rq2_1_1_summary,
        rq2_1_1,

    rule rq2_1_1_detect:
        input:
            predictions="results/predictions/{model}/{run}/clean.jsonl",
            records="results/data/test.jsonl",
        output:
            "results/rq2_1_1/detections/{model}/{run}.jsonl",
        params:
            taxonomy=RQ2_1_1["taxonomy"],
            max_gap=RQ2_1_1["max_gap"],
            negation_window=RQ2_1_1["negation_window"],
            tolerance_s=RQ2_1_1["localisation_tolerance_s"],
        log:
            log_path("rq2_1_1_detect", "{model}", "{run}"),
        conda:
            "../envs/analysis.yaml"
        script:
            "../workflow/scripts/rq2_1_1_detect.py"

    rule rq2_1_1_tables:
        input:
            detections=[f"results/rq2_1_1/detections/{m}/{r}.jsonl" for m, r in RQ2_1_1_JOBS],
        output:
            analysis="results/rq2_1_1/analysis.json",
            prf_csv=report(
                f"{RQ2_1_1_TABLES}/detection.csv",
                caption="../workflow/report/rq2_1_1_detection_table.rst",
                category="RQ 2.1.1",
            ),
            prf_tex=f"{RQ2_1_1_TABLES}/detection.tex",
            localisation_csv=report(
                f"{RQ2_1_1_TABLES}/localisation.csv",
                caption="../workflow/report/rq2_1_1_localisation.rst",
                category="RQ 2.1.1",
            ),
            localisation_tex=f"{RQ2_1_1_TABLES}/localisation.tex",
            headline=report(
                "results/tables/rq2_1_1/headline.csv",
                caption="../workflow/report/master_headline.rst",
                category="Master comparison",
            ),
        params:
            jobs=RQ2_1_1_JOBS,
            taxonomy=RQ2_1_1["taxonomy"],
            n_boot=config["evaluate"]["bootstrap_samples"],
            ci=config["evaluate"]["ci"],
            seed=config["seed"],
        log:
            log_path("rq2_1_1_tables"),
        conda:
            "../envs/analysis.yaml"
        script:
            "../workflow/scripts/rq2_1_1_tables.py"

    rule rq2_1_1_prf_figure:
        input:
            analysis=rules.rq2_1_1_tables.output.analysis,
        output:
            pdf=report(
                f"{RQ2_1_1_FIGURES}/prf.pdf",
                caption="../workflow/report/rq2_1_1_prf.rst",
                category="RQ 2.1.1",
            ),
            png=f"{RQ2_1_1_FIGURES}/prf.png",
        params:
            kind="prf",
        log:
            log_path("rq2_1_1_prf_figure"),
        conda:
            "../envs/analysis.yaml"
        script:
            "../workflow/scripts/rq2_1_1_figure.py"

    rule rq2_1_1_confusion_figure:
        input:
            analysis=rules.rq2_1_1_tables.output.analysis,
        output:
            pdf=report(
                f"{RQ2_1_1_FIGURES}/error_confusion.pdf",
                caption="../workflow/report/rq2_1_1_error_confusion.rst",
                category="RQ 2.1.1",
            ),
            png=f"{RQ2_1_1_FIGURES}/error_confusion.png",
        params:
            kind="confusion",
        log:
            log_path("rq2_1_1_confusion_figure"),
        conda:
            "../envs/analysis.yaml"
        script:
            "../workflow/scripts/rq2_1_1_figure.py"

    rule rq2_1_1_pr_figure:
        input:
            analysis=rules.rq2_1_1_tables.output.analysis,
        output:
            pdf=report(
                f"{RQ2_1_1_FIGURES}/pr_curves.pdf",
                caption="../workflow/report/rq2_1_1_pr_curves.rst",
                category="RQ 2.1.1",
            ),
            png=f"{RQ2_1_1_FIGURES}/pr_curves.png",
        params:
            kind="pr_curves",
        log:
            log_path("rq2_1_1_pr_figure"),
        conda:
            "../envs/analysis.yaml"
        script:
            "../workflow/scripts/rq2_1_1_figure.py"

    rule rq2_1_1_summary:
        input:
            analysis=rules.rq2_1_1_tables.output.analysis,
        output:
            "results/summary/rq2_1_1.md",
        log:
            log_path("rq2_1_1_summary"),
        conda:
            "../envs/analysis.yaml"
        script:
            "../workflow/scripts/rq2_1_1_summary.py"

    rule rq2_1_1:
        input:
            rules.rq2_1_1_tables.output,
            rules.rq2_1_1_prf_figure.output,
            rules.rq2_1_1_confusion_figure.output,
            rules.rq2_1_1_pr_figure.output,
            rules.rq2_1_1_summary.output,

    HEADLINE_TABLES.append(rules.rq2_1_1_tables.output.headline)
    QUESTION_TARGETS.extend(
        [
            *rules.rq2_1_1_tables.output,
            *rules.rq2_1_1_prf_figure.output,
            *rules.rq2_1_1_confusion_figure.output,
            *rules.rq2_1_1_pr_figure.output,
        ]
    )
    SUMMARY_SECTIONS.append(rules.rq2_1_1_summary.output[0])
