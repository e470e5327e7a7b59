"""Figure: base vs baseline per model and metric (rule report_base_vs_baseline_figure)."""
from qvedbench.io import redirect_output_to_log
from qvedbench.report.figures import base_vs_baseline

redirect_output_to_log(snakemake.log[0])
base_vs_baseline(list(snakemake.input.scores), snakemake.output.pdf, snakemake.output.png)
