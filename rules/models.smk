# Models: tiny randomly initialised models built offline (demo and tests). Real checkpoints need no rule.


rule models_tiny:
    input:
        train="results/data/train.jsonl",
    output:
        directory("results/models/{model}"),
    wildcard_constraints:
        model=_alternatives(TINY_MODELS),
    params:
        family=lambda wc: config["models"][wc.model]["family"],
        tiny=lambda wc: config["models"][wc.model]["tiny"],
        system_prompt=config["prompt"]["system"],
    log:
        log_path("models_tiny", "{model}"),
    conda:
        "../envs/models.yaml"
    script:
        "../workflow/scripts/models_tiny.py"


rule models:
    input:
        expand("results/models/{model}", model=TINY_MODELS),
