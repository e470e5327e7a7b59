"""Judge-expert agreement: quadratic-weighted Cohen's kappa and Spearman (rule rq5_2_1_agreement)."""
from qvedbench.analysis.judge import agreement_frame, load_ratings, load_rows, write_frame
from qvedbench.io import redirect_output_to_log

redirect_output_to_log(snakemake.log[0])
frame = agreement_frame(load_rows(snakemake.input.rows), load_ratings(snakemake.input.ratings),
                        **snakemake.params.stats)
write_frame(frame, snakemake.output.csv, snakemake.output.tex)
