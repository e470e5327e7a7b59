"""RQ1.1.1 section of RESULTS_SUMMARY.md (rule rq1_1_1_summary)."""
from qvedbench.analysis.training import read_table, summary_markdown
from qvedbench.io import redirect_output_to_log, write_text

redirect_output_to_log(snakemake.log[0])
text = summary_markdown(read_table(snakemake.input.runs_csv), read_table(snakemake.input.rank_csv),
                        tolerance=snakemake.params.tolerance, ci=snakemake.params.ci)
write_text(snakemake.output[0], text)
