"""RQ3.2.2 figures: accuracy vs compression, latency by level (rules rq3_2_2_accuracy_vs_compression,
rq3_2_2_latency_by_level)."""
from qvedbench.analysis.precision import accuracy_vs_compression_figure, latency_by_level_figure, read_table
from qvedbench.io import redirect_output_to_log

redirect_output_to_log(snakemake.log[0])
levels = read_table(snakemake.input.levels_csv)
if snakemake.params.kind == "accuracy_vs_compression":
    accuracy_vs_compression_figure(levels, snakemake.params.thresholds, snakemake.output.pdf, snakemake.output.png)
else:
    latency_by_level_figure(levels, snakemake.output.pdf, snakemake.output.png)
