# RQ3.1.3: resolution x frames full factorial. Each (resolution, frames) pair is a test-set variant
# res<R>_frames<F> (the test records with per-record overrides sample_resolution / sample_frames, shared by every
# model). Accuracy comes from the generic infer_generate/evaluate_score rules on these variants for the configured
# run; latency and memory from one profiling job per (model, variant), each in its own process. Then the
# factorial, Pareto and recommendation tables (an integer program per scenario), heatmaps, Pareto figures and the
# summary fragment.
from types import SimpleNamespace

from qvedbench.variant_names import resolution_variant_name

if config["questions"]["rq3_1_3"]["enabled"]:
    RQ3_1_3 = config["questions"]["rq3_1_3"]
    RQ3_1_3_MODELS = RQ3_1_3["models"] or MODELS
    RQ3_1_3_TABLES = "results/tables/rq3_1_3"
    RQ3_1_3_FIGURES = "results/figures/rq3_1_3"
    RQ3_1_3_VARIANTS = [resolution_variant_name(r, f) for r in RQ3_1_3["resolutions"] for f in RQ3_1_3["frames"]]
    for _model in RQ3_1_3_MODELS:
        if _model not in RUN_TABLE or RQ3_1_3["run"] not in RUN_TABLE[_model]:
            raise ValueError(f"questions.rq3_1_3: model '{_model}' has no run '{RQ3_1_3['run']}'")
    RQ3_1_3_SCORES = expand(
        "results/scores/{model}/{run}/{variant}.json",
        model=RQ3_1_3_MODELS,
        run=[RQ3_1_3["run"]],
        variant=RQ3_1_3_VARIANTS,
    )
    RQ3_1_3_PROFILES = expand("results/profile/{model}/{variant}.json", model=RQ3_1_3_MODELS, variant=RQ3_1_3_VARIANTS)

    localrules:
        rq3_1_3_tables,
        rq3_1_3_summary,
        rq3_1_3,

    rule rq3_1_3_variant:
        input:
            test="results/data/test.jsonl",
        output:
            "results/data/variants/{variant}.jsonl",
        wildcard_constraints:
            variant=_alternatives(RQ3_1_3_VARIANTS),
        params:
            seed=config["seed"],
        log:
            log_path("rq3_1_3_variant", "{variant}"),
        conda:
            "../envs/data.yaml"
        script:
            "../workflow/scripts/data_variant.py"

    rule rq3_1_3_profile:
        input:
            unpack(model_dir_input),
            # the checkpoint of the profiled run (none for the untuned base model)
            unpack(lambda wildcards: checkpoint_input(SimpleNamespace(model=wildcards.model, run=RQ3_1_3["run"]))),
            records="results/data/variants/{variant}.jsonl",
        output:
            "results/profile/{model}/{variant}.json",
        wildcard_constraints:
            variant=_alternatives(RQ3_1_3_VARIANTS),
        params:
            spec=model_spec,
            system_prompt=config["prompt"]["system"],
            torch_threads=THREADS["infer"],
            config_name=lambda wildcards: wildcards.variant,
            settings={
                "batch_size": 1,
                "warmup": RQ3_1_3["warmup"],
                "min_samples": RQ3_1_3["min_samples"],
                "min_seconds": RQ3_1_3["min_seconds"],
                "max_iterations": RQ3_1_3["max_iterations"],
                "max_new_tokens": RQ3_1_3["max_new_tokens"],
                "sample_interval_s": RQ3_1_3["sample_interval_s"],
            },
        # all of the machine's cores, so no other job runs beside a measurement (torch uses torch_threads)
        threads: workflow.cores
        resources:
            **stage_resources("infer"),
        log:
            log_path("rq3_1_3_profile", "{model}", "{variant}"),
        benchmark:
            benchmark_path("rq3_1_3_profile", "{model}", "{variant}")
        conda:
            "../envs/models.yaml"
        script:
            "../workflow/scripts/rq3_1_profile.py"

    rule rq3_1_3_tables:
        input:
            scores=RQ3_1_3_SCORES,
            profiles=RQ3_1_3_PROFILES,
        output:
            factorial_csv=report(
                f"{RQ3_1_3_TABLES}/factorial.csv",
                caption="../workflow/report/rq3_1_3_factorial.rst",
                category="RQ 3.1.3",
            ),
            factorial_tex=f"{RQ3_1_3_TABLES}/factorial.tex",
            pareto_csv=report(
                f"{RQ3_1_3_TABLES}/pareto.csv",
                caption="../workflow/report/rq3_1_3_pareto.rst",
                category="RQ 3.1.3",
            ),
            pareto_tex=f"{RQ3_1_3_TABLES}/pareto.tex",
            recommendations_csv=report(
                f"{RQ3_1_3_TABLES}/recommendations.csv",
                caption="../workflow/report/rq3_1_3_recommendations.rst",
                category="RQ 3.1.3",
            ),
            recommendations_tex=f"{RQ3_1_3_TABLES}/recommendations.tex",
            headline=report(
                f"{RQ3_1_3_TABLES}/headline.csv",
                caption="../workflow/report/master_headline.rst",
                category="Master comparison",
            ),
        params:
            scenarios=RQ3_1_3["scenarios"],
        log:
            log_path("rq3_1_3_tables"),
        conda:
            "../envs/report.yaml"
        script:
            "../workflow/scripts/rq3_1_3_tables.py"

    RQ3_1_3_FIGURE_FILES = []
    for _figure in ("heatmaps", "pareto_latency", "pareto_memory"):

        rule:
            name:
                f"rq3_1_3_{_figure}_figure"
            input:
                factorial_csv=rules.rq3_1_3_tables.output.factorial_csv,
            output:
                pdf=report(
                    f"{RQ3_1_3_FIGURES}/{_figure}.pdf",
                    caption=f"../workflow/report/rq3_1_3_{_figure}.rst",
                    category="RQ 3.1.3",
                ),
                png=f"{RQ3_1_3_FIGURES}/{_figure}.png",
            params:
                figure=_figure,
            localrule: True
            log:
                log_path(f"rq3_1_3_{_figure}_figure"),
            conda:
                "../envs/report.yaml"
            script:
                "../workflow/scripts/rq3_1_3_figure.py"

        RQ3_1_3_FIGURE_FILES += [f"{RQ3_1_3_FIGURES}/{_figure}.pdf", f"{RQ3_1_3_FIGURES}/{_figure}.png"]

    rule rq3_1_3_summary:
        input:
            factorial_csv=rules.rq3_1_3_tables.output.factorial_csv,
            recommendations_csv=rules.rq3_1_3_tables.output.recommendations_csv,
        output:
            "results/summary/rq3_1_3.md",
        params:
            links=[
                rules.rq3_1_3_tables.output.factorial_csv,
                rules.rq3_1_3_tables.output.pareto_csv,
                rules.rq3_1_3_tables.output.recommendations_csv,
                *[f for f in RQ3_1_3_FIGURE_FILES if f.endswith(".png")],
            ],
        log:
            log_path("rq3_1_3_summary"),
        conda:
            "../envs/report.yaml"
        script:
            "../workflow/scripts/rq3_1_3_summary.py"

    rule rq3_1_3:
        input:
            rules.rq3_1_3_tables.output,
            RQ3_1_3_FIGURE_FILES,
            rules.rq3_1_3_summary.output,

    HEADLINE_TABLES.append(rules.rq3_1_3_tables.output.headline)
    QUESTION_TARGETS.extend([*rules.rq3_1_3_tables.output, *RQ3_1_3_FIGURE_FILES])
    SUMMARY_SECTIONS.append(rules.rq3_1_3_summary.output[0])
