# Training: one job per (model, run) of the run table; the untuned `base` run has none.


rule train_lora:
    input:
        unpack(model_dir_input),
        train=train_records_input,
        val="results/data/val.jsonl",
    output:
        checkpoint=directory("results/runs/{model}/{run}/checkpoint"),
        trainer_log="results/runs/{model}/{run}/trainer_log.jsonl",
        resolved_config="results/runs/{model}/{run}/resolved_config.yaml",
        stats="results/runs/{model}/{run}/train_stats.json",
    wildcard_constraints:
        run=_alternatives(TRAINED_RUNS),
    params:
        spec=model_spec,
        settings=run_settings,
        system_prompt=config["prompt"]["system"],
        classes=CLASSES,
    threads: THREADS["train"]
    resources:
        **stage_resources("train"),
    log:
        log_path("train_lora", "{model}", "{run}"),
    benchmark:
        benchmark_path("train_lora", "{model}", "{run}")
    conda:
        "../envs/models.yaml"
    script:
        "../workflow/scripts/train.py"


rule train:
    input:
        train_stats_targets(),
