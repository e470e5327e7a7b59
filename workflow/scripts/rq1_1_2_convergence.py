"""RQ1.1.2 convergence table: steps to shares of the final validation accuracy (rule rq1_1_2_convergence)."""
from qvedbench.analysis.convergence import convergence_display, convergence_frame, convergence_runs, write_table
from qvedbench.io import redirect_output_to_log

redirect_output_to_log(snakemake.log[0])
fractions = snakemake.params.fractions
frame = convergence_frame(convergence_runs(snakemake.params.rows, fractions), fractions)
write_table(frame, convergence_display(frame, fractions), snakemake.output.csv, snakemake.output.tex)
