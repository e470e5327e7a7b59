"""RQ4.1.3 figure: per-exercise accuracy, grouped bars per strategy (rule rq4_1_3_per_exercise_figure)."""
from qvedbench.analysis.imbalance import per_exercise_figure, read_table
from qvedbench.io import redirect_output_to_log

redirect_output_to_log(snakemake.log[0])
per_exercise_figure(read_table(snakemake.input.per_exercise), read_table(snakemake.input.strategies),
                    snakemake.output.pdf, snakemake.output.png)
