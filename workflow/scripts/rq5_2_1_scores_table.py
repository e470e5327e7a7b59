"""Judge scores per model, run and variant with CIs and failure counts (rule rq5_2_1_scores_table)."""
from qvedbench.analysis.judge import load_summaries, write_scores_table
from qvedbench.io import redirect_output_to_log

redirect_output_to_log(snakemake.log[0])
write_scores_table(load_summaries(snakemake.input.summaries), snakemake.output.csv, snakemake.output.tex)
