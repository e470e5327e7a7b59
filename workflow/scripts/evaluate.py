"""Score one predictions file (rule evaluate_score)."""
from qvedbench.io import redirect_output_to_log
from qvedbench.metrics import score_predictions

redirect_output_to_log(snakemake.log[0])
s = snakemake.params.settings
score_predictions(
    snakemake.input.predictions,
    snakemake.output.summary,
    snakemake.output.per_sample,
    classes=snakemake.params.classes,
    model=snakemake.wildcards.model,
    run=snakemake.wildcards.run,
    variant=snakemake.wildcards.variant,
    bertscore_model=s["bertscore_model"],
    bertscore_layers=s["bertscore_layers"],
    embedding_model=s["embedding_model"],
    n_boot=s["bootstrap_samples"],
    ci=s["ci"],
    seed=snakemake.params.seed,
    device=snakemake.params.device,
)
