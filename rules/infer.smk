# Inference: greedy generation for one (model, run, test-set variant), resumable per sample.


rule infer_generate:
    input:
        unpack(model_dir_input),
        unpack(checkpoint_input),
        records=variant_records,
    output:
        "results/predictions/{model}/{run}/{variant}.jsonl",
    params:
        spec=model_spec,
        system_prompt=config["prompt"]["system"],
        batch_size=config["infer"]["batch_size"],
        max_new_tokens=config["infer"]["max_new_tokens"],
    threads: THREADS["infer"]
    resources:
        **stage_resources("infer"),
    log:
        log_path("infer_generate", "{model}", "{run}", "{variant}"),
    benchmark:
        benchmark_path("infer_generate", "{model}", "{run}", "{variant}")
    conda:
        "../envs/models.yaml"
    script:
        "../workflow/scripts/infer.py"


rule infer:
    input:
        prediction_targets(),
