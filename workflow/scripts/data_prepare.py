"""Validate and normalise QVED annotations into split JSONL files (rule data_prepare)."""
from pathlib import Path

from qvedbench.data import prepare_dataset
from qvedbench.io import redirect_output_to_log

redirect_output_to_log(snakemake.log[0])
split = snakemake.params.split
prepare_dataset(
    list(snakemake.input.annotations),
    snakemake.params.video_root,
    snakemake.params.classes,
    Path(snakemake.output.train).parent,
    min_frames=snakemake.params.min_frames,
    ground_truth=snakemake.input.get("ground_truth"),
    split_ratios=(split["train"], split["val"], split["test"]),
    split_seed=split["seed"],
)
