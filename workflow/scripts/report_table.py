"""Table: every model x run x variant with CIs and failure counts (rule report_comparison_table)."""
from qvedbench.io import redirect_output_to_log
from qvedbench.report.tables import comparison_table

redirect_output_to_log(snakemake.log[0])
comparison_table(list(snakemake.input.scores), snakemake.output.csv, snakemake.output.tex)
