"""RQ1.1.3 figures: every metric against training-set size, per-exercise accuracy against size
(rule rq1_1_3_figures)."""
from qvedbench.analysis.data_size import metrics_vs_size_figure, per_exercise_figure, read_table
from qvedbench.io import redirect_output_to_log

redirect_output_to_log(snakemake.log[0])
out = snakemake.output
metrics_vs_size_figure(read_table(snakemake.input.size_csv), out.metrics_pdf, out.metrics_png)
per_exercise_figure(read_table(snakemake.input.per_exercise_csv), out.per_exercise_pdf, out.per_exercise_png)
