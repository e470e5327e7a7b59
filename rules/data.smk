# Data: synthetic QVED (optional), normalisation into split JSONL files, test-set variants, training subsets.
import qvedbench.data.subsets as qsubsets

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


# Training subsets (a run's `train_subset`): frac<P> nested inside one chain of fractions (RQ1.1.3's plus every
# frac<P> a run names), balanced<K> undersampled per class; both error-balanced by an integer program. Each
# frac<P> job solves the whole chain (well under a second) and writes only its own file: every file stays its
# own target, and the files nest because each is computed from the same (records, chain, seed).
SUBSET_FRACTIONS = qsubsets.fraction_chain(
    config["questions"]["rq1_1_3"]["fractions"],
    [s.get("train_subset") for runs in RUN_TABLE.values() for s in runs.values() if s is not None],
)


def subset_chain(wildcards):
    """The nesting chain a frac<P> subset is solved in ([] for balanced<K>, which has none)."""
    kind, value = qsubsets.parse_subset_name(wildcards.subset)
    if kind != "fraction":
        return []
    if value < 1 and value not in SUBSET_FRACTIONS:
        raise ValueError(f"training subset '{wildcards.subset}': {value:g} is not in the nesting chain "
                         f"{SUBSET_FRACTIONS} (questions.rq1_1_3.fractions plus the frac<P> subsets runs name); "
                         f"add it to questions.rq1_1_3.fractions")
    return SUBSET_FRACTIONS


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
