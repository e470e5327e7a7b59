"""RQ1.1.1 figure: accuracy against trainable parameters (rule rq1_1_1_figure)."""
from qvedbench.analysis.training import accuracy_vs_trainable_figure, read_table
from qvedbench.io import redirect_output_to_log

redirect_output_to_log(snakemake.log[0])
accuracy_vs_trainable_figure(read_table(snakemake.input.runs_csv), snakemake.output.pdf, snakemake.output.png)
