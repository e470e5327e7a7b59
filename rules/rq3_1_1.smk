# RQ3.1.1: latency and memory per model. One profiling job per model (batch size 1, the model's configured
# frames and resolution) so that measurements of different models never share a process; then tables, a
# latency violin plot, a memory-over-time plot and the summary fragment.
from types import SimpleNamespace

if config["questions"]["rq3_1_1"]["enabled"]:
    RQ3_1_1 = config["questions"]["rq3_1_1"]
    RQ3_1_1_MODELS = RQ3_1_1["models"] or MODELS
    RQ3_1_1_TABLES = "results/tables/rq3_1_1"
    RQ3_1_1_FIGURES = "results/figures/rq3_1_1"
    RQ3_1_1_PROFILES = expand("results/profile/{model}/default.json", model=RQ3_1_1_MODELS)
    for _model in RQ3_1_1_MODELS:
        if _model not in RUN_TABLE or RQ3_1_1["run"] not in RUN_TABLE[_model]:
            raise ValueError(f"questions.rq3_1_1: model '{_model}' has no run '{RQ3_1_1['run']}'")

    localrules:
        rq3_1_1_tables,
        rq3_1_1_latency_violin,
        rq3_1_1_memory_timeline,
        rq3_1_1_summary,
        rq3_1_1,

    rule rq3_1_1_profile:
        input:
            unpack(model_dir_input),
            # the checkpoint of the profiled run (none for the untuned base model)
            unpack(lambda wildcards: checkpoint_input(SimpleNamespace(model=wildcards.model, run=RQ3_1_1["run"]))),
            records="results/data/test.jsonl",
        output:
            "results/profile/{model}/default.json",
        params:
            spec=model_spec,
            system_prompt=config["prompt"]["system"],
            torch_threads=THREADS["infer"],
            config_name="default",
            settings={
                "batch_size": 1,
                "warmup": RQ3_1_1["warmup"],
                "min_samples": RQ3_1_1["min_samples"],
                "min_seconds": RQ3_1_1["min_seconds"],
                "max_iterations": RQ3_1_1["max_iterations"],
                "max_new_tokens": RQ3_1_1["max_new_tokens"],
                "sample_interval_s": RQ3_1_1["sample_interval_s"],
            },
        # all of the machine's cores, so no other job runs beside a measurement (torch uses torch_threads)
        threads: workflow.cores
        resources:
            **stage_resources("infer"),
        log:
            log_path("rq3_1_1_profile", "{model}"),
        benchmark:
            benchmark_path("rq3_1_1_profile", "{model}")
        conda:
            "../envs/models.yaml"
        script:
            "../workflow/scripts/rq3_1_profile.py"

    rule rq3_1_1_tables:
        input:
            profiles=RQ3_1_1_PROFILES,
        output:
            latency_csv=report(
                f"{RQ3_1_1_TABLES}/latency.csv",
                caption="../workflow/report/rq3_1_1_latency.rst",
                category="RQ 3.1.1",
            ),
            latency_tex=f"{RQ3_1_1_TABLES}/latency.tex",
            memory_csv=report(
                f"{RQ3_1_1_TABLES}/memory.csv",
                caption="../workflow/report/rq3_1_1_memory.rst",
                category="RQ 3.1.1",
            ),
            memory_tex=f"{RQ3_1_1_TABLES}/memory.tex",
            headline=report(
                "results/tables/rq3_1_1/headline.csv",
                caption="../workflow/report/master_headline.rst",
                category="Master comparison",
            ),
        params:
            seed=config["seed"],
        log:
            log_path("rq3_1_1_tables"),
        conda:
            "../envs/report.yaml"
        script:
            "../workflow/scripts/rq3_1_1_tables.py"

    rule rq3_1_1_latency_violin:
        input:
            profiles=RQ3_1_1_PROFILES,
        output:
            pdf=report(
                f"{RQ3_1_1_FIGURES}/latency_violin.pdf",
                caption="../workflow/report/rq3_1_1_latency_violin.rst",
                category="RQ 3.1.1",
            ),
            png=f"{RQ3_1_1_FIGURES}/latency_violin.png",
        params:
            kind="latency_violin",
        log:
            log_path("rq3_1_1_latency_violin"),
        conda:
            "../envs/report.yaml"
        script:
            "../workflow/scripts/rq3_1_1_figure.py"

    rule rq3_1_1_memory_timeline:
        input:
            profiles=RQ3_1_1_PROFILES,
        output:
            pdf=report(
                f"{RQ3_1_1_FIGURES}/memory_timeline.pdf",
                caption="../workflow/report/rq3_1_1_memory_timeline.rst",
                category="RQ 3.1.1",
            ),
            png=f"{RQ3_1_1_FIGURES}/memory_timeline.png",
        params:
            kind="memory_timeline",
        log:
            log_path("rq3_1_1_memory_timeline"),
        conda:
            "../envs/report.yaml"
        script:
            "../workflow/scripts/rq3_1_1_figure.py"

    rule rq3_1_1_summary:
        input:
            profiles=RQ3_1_1_PROFILES,
            tables=rules.rq3_1_1_tables.output,
            figures=[rules.rq3_1_1_latency_violin.output.pdf, rules.rq3_1_1_memory_timeline.output.pdf],
        output:
            "results/summary/rq3_1_1.md",
        params:
            seed=config["seed"],
        log:
            log_path("rq3_1_1_summary"),
        conda:
            "../envs/report.yaml"
        script:
            "../workflow/scripts/rq3_1_1_summary.py"

    rule rq3_1_1:
        input:
            rules.rq3_1_1_tables.output,
            rules.rq3_1_1_latency_violin.output,
            rules.rq3_1_1_memory_timeline.output,
            rules.rq3_1_1_summary.output,

    HEADLINE_TABLES.append(rules.rq3_1_1_tables.output.headline)
    QUESTION_TARGETS.extend(
        [*rules.rq3_1_1_tables.output, *rules.rq3_1_1_latency_violin.output, *rules.rq3_1_1_memory_timeline.output]
    )
    SUMMARY_SECTIONS.append(rules.rq3_1_1_summary.output[0])
