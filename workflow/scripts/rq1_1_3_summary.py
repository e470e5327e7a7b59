"""RQ1.1.3 section of RESULTS_SUMMARY.md (rule rq1_1_3_summary)."""
from qvedbench.analysis.data_size import read_table, summary_markdown
from qvedbench.io import redirect_output_to_log, write_text

redirect_output_to_log(snakemake.log[0])
text = summary_markdown(read_table(snakemake.input.size_csv), read_table(snakemake.input.needed_csv),
                        read_table(snakemake.input.gains_csv), ci=snakemake.params.ci)
write_text(snakemake.output[0], text)
