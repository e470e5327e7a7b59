# Data: synthetic QVED (optional), normalisation into split JSONL files, test-set variants, training subsets.
SYNTH = config["dataset"]["synthetic"]


if SYNTH["enabled"]:

    rule data_synth:
        output:
            annotations="results/synth/annotations.json",
            ground_truth="results/synth/ground_truth.json",
            manifest="results/synth/synth_manifest.json",
            videos=directory("results/synth/videos"),
        params:
            synth=SYNTH,
            classes=CLASSES,
        threads: 2
        log:
            log_path("data_synth"),
        benchmark:
            benchmark_path("data_synth")
        conda:
            "../envs/data.yaml"
        script:
            "../workflow/scripts/data_synth.py"



rule data_prepare:
    input:
        unpack(data_prepare_inputs),
    output:
        train="results/data/train.jsonl",
        val="results/data/val.jsonl",
        test="results/data/test.jsonl",
        problems="results/data/problems.jsonl",
        summary="results/data/summary.json",
    params:
        video_root=config["dataset"]["video_root"],
        classes=CLASSES,
        min_frames=config["dataset"]["min_frames"],
        split=config["dataset"]["split"],
    log:
        log_path("data_prepare"),
    benchmark:
        benchmark_path("data_prepare")
    conda:
        "../envs/data.yaml"
    script:
        "../workflow/scripts/data_prepare.py"


rule data_variant:
    input:
        test="results/data/test.jsonl",
    output:
        "results/data/variants/{variant}.jsonl",
    wildcard_constraints:
        variant=_alternatives(CONTROLS),
    params:
        seed=config["seed"],
    log:
        log_path("data_variant", "{variant}"),
    conda:
        "../envs/data.yaml"
    script:
        "../workflow/scripts/data_variant.py"


rule data_subset:
    input:
        train="results/data/train.jsonl",
    output:
        records="results/data/subsets/{subset}.jsonl",
        manifest="results/data/subsets/{subset}.json",
    wildcard_constraints:
        subset=r"(frac|balanced)\d+",
    params:
        chain=subset_chain,
        seed=config["seed"],
    log:
        log_path("data_subset", "{subset}"),
    conda:
        "../envs/data.yaml"
    script:
        "../workflow/scripts/data_subsets.py"


rule data:
    input:
        rules.data_prepare.output,
        expand("results/data/variants/{variant}.jsonl", variant=CONTROLS),
