# RQ3.1.2: batch-size scaling. One profiling job per (model, batch size), each in its own process; a batch that
# runs out of memory (or over questions.rq3_1_2.memory_cap_mb) is a recorded result, not a failed job. Then the
# batch table, the optimal batch per model with the memory-/compute-bound classification, the scaling figure
# and the summary fragment.
from types import SimpleNamespace

if config["questions"]["rq3_1_2"]["enabled"]:
    RQ3_1_2 = config["questions"]["rq3_1_2"]
    RQ3_1_2_MODELS = RQ3_1_2["models"] or MODELS
    RQ3_1_2_TABLES = "results/tables/rq3_1_2"
    RQ3_1_2_FIGURES = "results/figures/rq3_1_2"
    RQ3_1_2_PROFILES = expand(
        "results/profile/{model}/batch{batch}.json", model=RQ3_1_2_MODELS, batch=sorted(RQ3_1_2["batch_sizes"])
    )
    for _model in RQ3_1_2_MODELS:
        if _model not in RUN_TABLE or RQ3_1_2["run"] not in RUN_TABLE[_model]:
            raise ValueError(f"questions.rq3_1_2: model '{_model}' has no run '{RQ3_1_2['run']}'")

    localrules:
        rq3_1_2_tables,
        rq3_1_2_figure,
        rq3_1_2_summary,
        rq3_1_2,

    rule rq3_1_2_profile:
        input:
            unpack(model_dir_input),
            # the checkpoint of the profiled run (none for the untuned base model)
            unpack(lambda wildcards: checkpoint_input(SimpleNamespace(model=wildcards.model, run=RQ3_1_2["run"]))),
            records="results/data/test.jsonl",
        output:
            "results/profile/{model}/batch{batch}.json",
        wildcard_constraints:
            batch=r"[1-9][0-9]*",
        params:
            spec=model_spec,
            system_prompt=config["prompt"]["system"],
            torch_threads=THREADS["infer"],
            config_name=lambda wildcards: f"batch{wildcards.batch}",
            settings=lambda wildcards: {
                "batch_size": int(wildcards.batch),
                "warmup": RQ3_1_2["warmup"],
                "min_samples": RQ3_1_2["min_samples"],
                "min_seconds": RQ3_1_2["min_seconds"],
                "max_iterations": RQ3_1_2["max_iterations"],
                "max_new_tokens": RQ3_1_2["max_new_tokens"],
                "sample_interval_s": RQ3_1_2["sample_interval_s"],
                "memory_cap_mb": RQ3_1_2["memory_cap_mb"],
            },
        # all of the machine's cores, so no other job runs beside a measurement (torch uses torch_threads)
        threads: workflow.cores
        resources:
            **stage_resources("infer"),
        log:
            log_path("rq3_1_2_profile", "{model}", "batch{batch}"),
        benchmark:
            benchmark_path("rq3_1_2_profile", "{model}", "batch{batch}")
        conda:
            "../envs/models.yaml"
        script:
            "../workflow/scripts/rq3_1_profile.py"

    rule rq3_1_2_tables:
        input:
            profiles=RQ3_1_2_PROFILES,
        output:
            batch_csv=report(
                f"{RQ3_1_2_TABLES}/batch.csv",
                caption="../workflow/report/rq3_1_2_batch.rst",
                category="RQ 3.1.2",
            ),
            batch_tex=f"{RQ3_1_2_TABLES}/batch.tex",
            optimal_csv=report(
                f"{RQ3_1_2_TABLES}/optimal_batch.csv",
                caption="../workflow/report/rq3_1_2_optimal_batch.rst",
                category="RQ 3.1.2",
            ),
            optimal_tex=f"{RQ3_1_2_TABLES}/optimal_batch.tex",
            headline=report(
                "results/tables/rq3_1_2/headline.csv",
                caption="../workflow/report/master_headline.rst",
                category="Master comparison",
            ),
        params:
            seed=config["seed"],
            threshold=RQ3_1_2["bound_threshold"],
        log:
            log_path("rq3_1_2_tables"),
        conda:
            "../envs/report.yaml"
        script:
            "../workflow/scripts/rq3_1_2_tables.py"

    rule rq3_1_2_figure:
        input:
            batch_csv=rules.rq3_1_2_tables.output.batch_csv,
        output:
            pdf=report(
                f"{RQ3_1_2_FIGURES}/batch_scaling.pdf",
                caption="../workflow/report/rq3_1_2_batch_scaling.rst",
                category="RQ 3.1.2",
            ),
            png=f"{RQ3_1_2_FIGURES}/batch_scaling.png",
        log:
            log_path("rq3_1_2_figure"),
        conda:
            "../envs/report.yaml"
        script:
            "../workflow/scripts/rq3_1_2_figure.py"

    rule rq3_1_2_summary:
        input:
            batch_csv=rules.rq3_1_2_tables.output.batch_csv,
            optimal_csv=rules.rq3_1_2_tables.output.optimal_csv,
            tables=rules.rq3_1_2_tables.output,
            figures=[rules.rq3_1_2_figure.output.pdf],
        output:
            "results/summary/rq3_1_2.md",
        params:
            threshold=RQ3_1_2["bound_threshold"],
        log:
            log_path("rq3_1_2_summary"),
        conda:
            "../envs/report.yaml"
        script:
            "../workflow/scripts/rq3_1_2_summary.py"

    rule rq3_1_2:
        input:
            rules.rq3_1_2_tables.output,
            rules.rq3_1_2_figure.output,
            rules.rq3_1_2_summary.output,

    HEADLINE_TABLES.append(rules.rq3_1_2_tables.output.headline)
    QUESTION_TARGETS.extend([*rules.rq3_1_2_tables.output, *rules.rq3_1_2_figure.output])
    SUMMARY_SECTIONS.append(rules.rq3_1_2_summary.output[0])
