"""The RQ2.1.1 section of RESULTS_SUMMARY.md (rule rq2_1_1_summary)."""
from qvedbench.analysis.form_errors import form_errors_markdown
from qvedbench.io import read_json, redirect_output_to_log, write_text

redirect_output_to_log(snakemake.log[0])
write_text(snakemake.output[0], form_errors_markdown(read_json(snakemake.input.analysis)))
