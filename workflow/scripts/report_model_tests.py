"""Tests across models on the baseline run's clean-test scores, one row per metric (rule report_model_tests)."""
from qvedbench.io import redirect_output_to_log
from qvedbench.report.master import write_model_tests

redirect_output_to_log(snakemake.log[0])
write_model_tests(list(snakemake.input.scores), snakemake.output.csv, snakemake.output.tex,
                  alpha=snakemake.params.alpha)
