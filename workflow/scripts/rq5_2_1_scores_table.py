"""Judge scores per model, run and variant with CIs and failure counts (rule rq5_2_1_scores_table)."""
from qvedbench.analysis.judge import headline_rows, load_summaries, write_scores_table
from qvedbench.io import redirect_output_to_log
from qvedbench.report.headline import write_headline

redirect_output_to_log(snakemake.log[0])
frame = write_scores_table(load_summaries(snakemake.input.summaries), snakemake.output.csv, snakemake.output.tex)
write_headline(snakemake.output.headline, headline_rows(frame))
