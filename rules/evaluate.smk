# Scoring: text metrics and exercise-ID accuracy with bootstrap confidence intervals.


rule evaluate_score:
    input:
        predictions="results/predictions/{model}/{run}/{variant}.jsonl",
    output:
        summary="results/scores/{model}/{run}/{variant}.json",
        per_sample="results/scores/{model}/{run}/{variant}.jsonl",
    params:
        classes=CLASSES,
        settings=config["evaluate"],
        seed=config["seed"],
        device=config["device"],
    threads: THREADS["evaluate"]
    resources:
        **stage_resources("evaluate"),
    log:
        log_path("evaluate_score", "{model}", "{run}", "{variant}"),
    benchmark:
        benchmark_path("evaluate_score", "{model}", "{run}", "{variant}")
    conda:
        "../envs/evaluate.yaml"
    script:
        "../workflow/scripts/evaluate.py"


rule evaluate:
    input:
        score_targets(),
