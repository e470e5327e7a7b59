"""Radar chart of the judge's mean scores per model (rule rq5_2_1_radar_figure)."""
from qvedbench.analysis.judge import load_summaries, radar_figure
from qvedbench.io import redirect_output_to_log

redirect_output_to_log(snakemake.log[0])
radar_figure(load_summaries(snakemake.input.summaries), snakemake.output.pdf, snakemake.output.png)
