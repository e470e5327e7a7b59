# RQ5.2.1: LLM-as-judge feedback quality. One judge job per (model, run, variant) on its predictions, then a
# scores table, radar chart, best/worst examples, correlation with the text metrics, agreement with expert
# ratings (when a ratings file is configured) and the summary section.
#
# Rate limit: every judge job holds `questions.rq5_2_1.judge_calls` units of the Snakemake resource
# `judge_calls`; `snakemake --resources judge_calls=N` lets at most N / judge_calls judge jobs call the judge at
# once (e.g. N=1: one at a time against a shared endpoint). Without --resources the resource is not limited.
# The API key of the openai backend is read from the environment variable named in the config, never logged.

if config["questions"]["rq5_2_1"]["enabled"]:
    RQ5_2_1 = config["questions"]["rq5_2_1"]
    RQ5_2_1_TABLES = "results/tables/rq5_2_1"
    RQ5_2_1_FIGURES = "results/figures/rq5_2_1"
    RQ5_2_1_JOBS = [
        (m, r, v) for m in MODELS for r in (RQ5_2_1["runs"] or list(RUN_TABLE[m])) for v in RQ5_2_1["variants"]
    ]
    for _model, _run, _variant in RQ5_2_1_JOBS:
        if _run not in RUN_TABLE[_model]:
            raise ValueError(f"questions.rq5_2_1.runs: model '{_model}' has no run '{_run}'")
    # Only the chosen backend's options: changing another backend's settings reruns nothing.
    RQ5_2_1_SETTINGS = {"backend": RQ5_2_1["backend"], RQ5_2_1["backend"]: RQ5_2_1[RQ5_2_1["backend"]]}
    RQ5_2_1_STATS = {
        "n_boot": config["evaluate"]["bootstrap_samples"],
        "ci": config["evaluate"]["ci"],
        "seed": config["seed"],
    }
    RQ5_2_1_SUMMARIES = [f"results/judge/{m}/{r}/{v}.json" for m, r, v in RQ5_2_1_JOBS]
    RQ5_2_1_ROWS = [f"results/judge/{m}/{r}/{v}.jsonl" for m, r, v in RQ5_2_1_JOBS]
    RQ5_2_1_SCORES = [f"results/scores/{m}/{r}/{v}.jsonl" for m, r, v in RQ5_2_1_JOBS]

    RQ5_2_1_RESOURCES = {
        "judge_calls": RQ5_2_1["judge_calls"],
        "mem_mb": RQ5_2_1["mem_mb"],
        "runtime": RQ5_2_1["runtime"],
        "cpus_per_task": 1,
        **({"gpu": RQ5_2_1["gpu"]} if RQ5_2_1["gpu"] else {}),
    }

    localrules:
        rq5_2_1_scores_table,
        rq5_2_1_radar_figure,
        rq5_2_1_examples,
        rq5_2_1_correlation,
        rq5_2_1_summary,
        rq5_2_1,

    rule rq5_2_1_judge:
        input:
            predictions="results/predictions/{model}/{run}/{variant}.jsonl",
        output:
            per_sample="results/judge/{model}/{run}/{variant}.jsonl",
            summary="results/judge/{model}/{run}/{variant}.json",
        params:
            settings=RQ5_2_1_SETTINGS,
            classes=CLASSES,
            stats=RQ5_2_1_STATS,
        threads: 1
        resources:
            **RQ5_2_1_RESOURCES,
        log:
            log_path("rq5_2_1_judge", "{model}", "{run}", "{variant}"),
        benchmark:
            benchmark_path("rq5_2_1_judge", "{model}", "{run}", "{variant}")
        conda:
            "../envs/judge.yaml"
        script:
            "../workflow/scripts/rq5_2_1_judge.py"

    rule rq5_2_1_scores_table:
        input:
            summaries=RQ5_2_1_SUMMARIES,
        output:
            csv=report(
                f"{RQ5_2_1_TABLES}/judge_scores.csv",
                caption="../workflow/report/rq5_2_1_scores.rst",
                category="RQ 5.2.1",
            ),
            tex=f"{RQ5_2_1_TABLES}/judge_scores.tex",
            headline=report(
                "results/tables/rq5_2_1/headline.csv",
                caption="../workflow/report/master_headline.rst",
                category="Master comparison",
            ),
        log:
            log_path("rq5_2_1_scores_table"),
        conda:
            "../envs/analysis.yaml"
        script:
            "../workflow/scripts/rq5_2_1_scores_table.py"

    rule rq5_2_1_radar_figure:
        input:
            summaries=RQ5_2_1_SUMMARIES,
        output:
            pdf=report(
                f"{RQ5_2_1_FIGURES}/radar.pdf",
                caption="../workflow/report/rq5_2_1_radar.rst",
                category="RQ 5.2.1",
            ),
            png=f"{RQ5_2_1_FIGURES}/radar.png",
        log:
            log_path("rq5_2_1_radar_figure"),
        conda:
            "../envs/analysis.yaml"
        script:
            "../workflow/scripts/rq5_2_1_radar_figure.py"

    rule rq5_2_1_examples:
        input:
            rows=RQ5_2_1_ROWS,
        output:
            csv=report(
                f"{RQ5_2_1_TABLES}/examples.csv",
                caption="../workflow/report/rq5_2_1_examples.rst",
                category="RQ 5.2.1",
            ),
            tex=f"{RQ5_2_1_TABLES}/examples.tex",
        params:
            k=RQ5_2_1["examples"],
        log:
            log_path("rq5_2_1_examples"),
        conda:
            "../envs/analysis.yaml"
        script:
            "../workflow/scripts/rq5_2_1_examples.py"

    rule rq5_2_1_correlation:
        input:
            rows=RQ5_2_1_ROWS,
            scores=RQ5_2_1_SCORES,
        output:
            csv=report(
                f"{RQ5_2_1_TABLES}/metric_correlation.csv",
                caption="../workflow/report/rq5_2_1_correlation.rst",
                category="RQ 5.2.1",
            ),
            tex=f"{RQ5_2_1_TABLES}/metric_correlation.tex",
        params:
            jobs=RQ5_2_1_JOBS,
            stats=RQ5_2_1_STATS,
        log:
            log_path("rq5_2_1_correlation"),
        conda:
            "../envs/analysis.yaml"
        script:
            "../workflow/scripts/rq5_2_1_correlation.py"

    RQ5_2_1_OUTPUTS = [
        *rules.rq5_2_1_scores_table.output,
        *rules.rq5_2_1_radar_figure.output,
        *rules.rq5_2_1_examples.output,
        *rules.rq5_2_1_correlation.output,
    ]

    if RQ5_2_1["ratings"]:

        localrules:
            rq5_2_1_agreement,

        rule rq5_2_1_agreement:
            input:
                rows=RQ5_2_1_ROWS,
                ratings=RQ5_2_1["ratings"],
            output:
                csv=report(
                    f"{RQ5_2_1_TABLES}/agreement.csv",
                    caption="../workflow/report/rq5_2_1_agreement.rst",
                    category="RQ 5.2.1",
                ),
                tex=f"{RQ5_2_1_TABLES}/agreement.tex",
            params:
                stats=RQ5_2_1_STATS,
            log:
                log_path("rq5_2_1_agreement"),
            conda:
                "../envs/analysis.yaml"
            script:
                "../workflow/scripts/rq5_2_1_agreement.py"

        RQ5_2_1_OUTPUTS += [*rules.rq5_2_1_agreement.output]

    rule rq5_2_1_summary:
        input:
            summaries=RQ5_2_1_SUMMARIES,
            correlation=rules.rq5_2_1_correlation.output.csv,
            agreement=[f"{RQ5_2_1_TABLES}/agreement.csv"] if RQ5_2_1["ratings"] else [],
        output:
            "results/summary/rq5_2_1.md",
        params:
            links=RQ5_2_1_OUTPUTS,
        log:
            log_path("rq5_2_1_summary"),
        conda:
            "../envs/analysis.yaml"
        script:
            "../workflow/scripts/rq5_2_1_summary.py"

    rule rq5_2_1:
        input:
            RQ5_2_1_OUTPUTS,
            rules.rq5_2_1_summary.output,

    HEADLINE_TABLES.append(rules.rq5_2_1_scores_table.output.headline)
    QUESTION_TARGETS.extend(RQ5_2_1_OUTPUTS)
    SUMMARY_SECTIONS.append(rules.rq5_2_1_summary.output[0])
