# RQ3.2.2: precision and quantization sweep. One job per (model, level): the configured run loaded at that level
# (fp32/tf32/bf16/fp16, or int8 via torchao: weights only, or weights and activations calibrated on training
# clips), the test set generated to results/predictions/{model}/{run}/clean@{level}.jsonl, latency profiled and
# size measured (results/quantize/{model}/{run}/{level}.json). A level the device cannot run is decided in the
# job before loading and recorded as not applicable (empty predictions). Predictions are scored by the normal
# evaluate rule; then the levels and resilience tables, two figures, the headline and the summary fragment. The
# accuracy minimums are questions.rq3_2_1.thresholds (filled by the schema even when RQ3.2.1 is off).

if config["questions"]["rq3_2_2"]["enabled"]:
    RQ3_2_2 = config["questions"]["rq3_2_2"]
    RQ3_2_2_MODELS = RQ3_2_2["models"] or MODELS
    RQ3_2_2_RUN = RQ3_2_2["run"]
    RQ3_2_2_LEVELS = list(RQ3_2_2["levels"])
    RQ3_2_2_THRESHOLDS = config["questions"]["rq3_2_1"]["thresholds"]
    RQ3_2_2_TABLES = "results/tables/rq3_2_2"
    RQ3_2_2_FIGURES = "results/figures/rq3_2_2"
    for _model in RQ3_2_2_MODELS:
        if _model not in RUN_TABLE or RQ3_2_2_RUN not in RUN_TABLE[_model]:
            raise ValueError(f"questions.rq3_2_2: model '{_model}' has no run '{RQ3_2_2_RUN}'")
    if "fp32" not in RQ3_2_2_LEVELS:
        raise ValueError("questions.rq3_2_2.levels must include fp32 (the reference of every comparison)")
    RQ3_2_2_ROWS = [
        {
            "model": model,
            "level": level,
            "result": f"results/quantize/{model}/{RQ3_2_2_RUN}/{level}.json",
            "scores": f"results/scores/{model}/{RQ3_2_2_RUN}/clean@{level}.json",
            "per_sample": f"results/scores/{model}/{RQ3_2_2_RUN}/clean@{level}.jsonl",
        }
        for model in RQ3_2_2_MODELS
        for level in RQ3_2_2_LEVELS
    ]

    localrules:
        rq3_2_2_tables,
        rq3_2_2_accuracy_vs_compression,
        rq3_2_2_latency_by_level,
        rq3_2_2_summary,
        rq3_2_2,

    rule rq3_2_2_level:
        input:
            unpack(model_dir_input),
            unpack(checkpoint_input),
            records="results/data/test.jsonl",
            calibration="results/data/train.jsonl",
        output:
            predictions="results/predictions/{model}/{run}/clean@{level}.jsonl",
            result="results/quantize/{model}/{run}/{level}.json",
        wildcard_constraints:
            level=_alternatives(RQ3_2_2_LEVELS),
        params:
            spec=model_spec,
            system_prompt=config["prompt"]["system"],
            torch_threads=THREADS["infer"],
            # the normal inference settings, so the predictions compare with every other question's
            batch_size=config["infer"]["batch_size"],
            max_new_tokens=config["infer"]["max_new_tokens"],
            calibration_clips=RQ3_2_2["calibration_clips"],
            int8_backend=RQ3_2_2["int8_backend"],
            seed=config["seed"],
            profile={
                "batch_size": 1,
                "warmup": RQ3_2_2["warmup"],
                "min_samples": RQ3_2_2["min_samples"],
                "min_seconds": RQ3_2_2["min_seconds"],
                "max_iterations": RQ3_2_2["max_iterations"],
                "max_new_tokens": RQ3_2_2["max_new_tokens"],
                "sample_interval_s": RQ3_2_2["sample_interval_s"],
            },
        # all of the machine's cores, so no other job runs beside a measurement (torch uses torch_threads)
        threads: workflow.cores
        resources:
            **stage_resources("infer"),
        log:
            log_path("rq3_2_2_level", "{model}", "{run}", "{level}"),
        benchmark:
            benchmark_path("rq3_2_2_level", "{model}", "{run}", "{level}")
        conda:
            "../envs/models.yaml"
        script:
            "../workflow/scripts/rq3_2_2_level.py"

    # The normal scoring rule for the clean@<level> predictions (the global variant pattern excludes '@').
    use rule evaluate_score as rq3_2_2_score with:
        wildcard_constraints:
            variant="clean@(?:" + _alternatives(RQ3_2_2_LEVELS) + ")",
        log:
            log_path("rq3_2_2_score", "{model}", "{run}", "{variant}"),
        benchmark:
            benchmark_path("rq3_2_2_score", "{model}", "{run}", "{variant}")

    rule rq3_2_2_tables:
        input:
            results=[row["result"] for row in RQ3_2_2_ROWS],
            scores=[row["scores"] for row in RQ3_2_2_ROWS],
            per_sample=[row["per_sample"] for row in RQ3_2_2_ROWS],
        output:
            levels_csv=report(
                f"{RQ3_2_2_TABLES}/levels.csv",
                caption="../workflow/report/rq3_2_2_levels.rst",
                category="RQ 3.2.2",
            ),
            levels_tex=f"{RQ3_2_2_TABLES}/levels.tex",
            resilience_csv=report(
                f"{RQ3_2_2_TABLES}/resilience.csv",
                caption="../workflow/report/rq3_2_2_resilience.rst",
                category="RQ 3.2.2",
            ),
            resilience_tex=f"{RQ3_2_2_TABLES}/resilience.tex",
            headline=report(
                f"{RQ3_2_2_TABLES}/headline.csv",
                caption="../workflow/report/master_headline.rst",
                category="Master comparison",
            ),
        params:
            rows=RQ3_2_2_ROWS,
            levels=RQ3_2_2_LEVELS,
            thresholds=RQ3_2_2_THRESHOLDS,
            n_boot=config["evaluate"]["bootstrap_samples"],
            ci=config["evaluate"]["ci"],
            seed=config["seed"],
        log:
            log_path("rq3_2_2_tables"),
        conda:
            "../envs/report.yaml"
        script:
            "../workflow/scripts/rq3_2_2_tables.py"

    rule rq3_2_2_accuracy_vs_compression:
        input:
            levels_csv=rules.rq3_2_2_tables.output.levels_csv,
        output:
            pdf=report(
                f"{RQ3_2_2_FIGURES}/accuracy_vs_compression.pdf",
                caption="../workflow/report/rq3_2_2_accuracy_vs_compression.rst",
                category="RQ 3.2.2",
            ),
            png=f"{RQ3_2_2_FIGURES}/accuracy_vs_compression.png",
        params:
            kind="accuracy_vs_compression",
            thresholds=RQ3_2_2_THRESHOLDS,
        log:
            log_path("rq3_2_2_accuracy_vs_compression"),
        conda:
            "../envs/report.yaml"
        script:
            "../workflow/scripts/rq3_2_2_figure.py"

    rule rq3_2_2_latency_by_level:
        input:
            levels_csv=rules.rq3_2_2_tables.output.levels_csv,
        output:
            pdf=report(
                f"{RQ3_2_2_FIGURES}/latency_by_level.pdf",
                caption="../workflow/report/rq3_2_2_latency_by_level.rst",
                category="RQ 3.2.2",
            ),
            png=f"{RQ3_2_2_FIGURES}/latency_by_level.png",
        params:
            kind="latency_by_level",
        log:
            log_path("rq3_2_2_latency_by_level"),
        conda:
            "../envs/report.yaml"
        script:
            "../workflow/scripts/rq3_2_2_figure.py"

    rule rq3_2_2_summary:
        input:
            levels_csv=rules.rq3_2_2_tables.output.levels_csv,
            resilience_csv=rules.rq3_2_2_tables.output.resilience_csv,
            tables=[rules.rq3_2_2_tables.output.levels_csv, rules.rq3_2_2_tables.output.resilience_csv],
            figures=[rules.rq3_2_2_accuracy_vs_compression.output.pdf, rules.rq3_2_2_latency_by_level.output.pdf],
        output:
            "results/summary/rq3_2_2.md",
        params:
            thresholds=RQ3_2_2_THRESHOLDS,
            ci=config["evaluate"]["ci"],
        log:
            log_path("rq3_2_2_summary"),
        conda:
            "../envs/report.yaml"
        script:
            "../workflow/scripts/rq3_2_2_summary.py"

    rule rq3_2_2:
        input:
            rules.rq3_2_2_tables.output,
            rules.rq3_2_2_accuracy_vs_compression.output,
            rules.rq3_2_2_latency_by_level.output,
            rules.rq3_2_2_summary.output,

    HEADLINE_TABLES.append(rules.rq3_2_2_tables.output.headline)
    QUESTION_TARGETS.extend(
        [
            *rules.rq3_2_2_tables.output,
            *rules.rq3_2_2_accuracy_vs_compression.output,
            *rules.rq3_2_2_latency_by_level.output,
        ]
    )
    SUMMARY_SECTIONS.append(rules.rq3_2_2_summary.output[0])
