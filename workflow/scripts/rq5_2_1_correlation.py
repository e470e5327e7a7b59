"""Spearman correlation of judge scores with the text metrics (rule rq5_2_1_correlation)."""
from qvedbench.analysis.judge import correlation_frame, joined_scores, load_rows, write_frame
from qvedbench.io import redirect_output_to_log

redirect_output_to_log(snakemake.log[0])
score_files = {tuple(job): path for job, path in zip(snakemake.params.jobs, snakemake.input.scores)}
joined = joined_scores(load_rows(snakemake.input.rows), score_files)
write_frame(correlation_frame(joined, **snakemake.params.stats), snakemake.output.csv, snakemake.output.tex)
