"""The RQ4.1.2 section of RESULTS_SUMMARY.md (rule rq4_1_2_summary)."""
from qvedbench.analysis.confusions import confusions_markdown
from qvedbench.io import read_json, redirect_output_to_log, write_text

redirect_output_to_log(snakemake.log[0])
write_text(snakemake.output[0], confusions_markdown(read_json(snakemake.input.analysis)))
