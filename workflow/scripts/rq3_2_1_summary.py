"""The RQ3.2.1 section of RESULTS_SUMMARY.md (rule rq3_2_1_summary)."""
from qvedbench.analysis.headroom import read_headroom, summary_section
from qvedbench.io import redirect_output_to_log, write_text

redirect_output_to_log(snakemake.log[0])
write_text(snakemake.output[0], summary_section(read_headroom(snakemake.input.headroom_csv), snakemake.params.links,
                                                relative_to="results"))
