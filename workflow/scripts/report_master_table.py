"""Master comparison: every model x every question's headline measures, and whether the models differ on each
baseline metric (rule report_master_table)."""
from qvedbench.io import redirect_output_to_log
from qvedbench.report.master import write_master_table

redirect_output_to_log(snakemake.log[0])
write_master_table(list(snakemake.input.headlines), snakemake.output.csv, snakemake.output.tex,
                   model_tests=snakemake.input.model_tests)
