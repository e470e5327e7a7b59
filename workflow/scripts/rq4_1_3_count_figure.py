"""RQ4.1.3 figure: per-class accuracy against training clips per strategy (rule rq4_1_3_count_figure)."""
from qvedbench.analysis.imbalance import accuracy_vs_count_figure, read_table
from qvedbench.io import redirect_output_to_log

redirect_output_to_log(snakemake.log[0])
accuracy_vs_count_figure(read_table(snakemake.input.per_exercise), read_table(snakemake.input.strategies),
                         read_table(snakemake.input.correlation), snakemake.output.pdf, snakemake.output.png)
