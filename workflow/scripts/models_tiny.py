"""Build a tiny randomly initialised model offline, tokenizer trained on the dataset's text (rule models_tiny)."""
from qvedbench.data import read_records
from qvedbench.io import redirect_output_to_log
from qvedbench.models.tiny import build_tiny_model, corpus_from_records

redirect_output_to_log(snakemake.log[0])
tiny = snakemake.params.tiny
build_tiny_model(
    snakemake.params.family,
    snakemake.output[0],
    corpus_from_records(read_records(snakemake.input.train), snakemake.params.system_prompt),
    preset=tiny["preset"],
    seed=tiny["seed"],
    overrides={**tiny["overrides"], "vocab_size": tiny["vocab_size"]},
)
