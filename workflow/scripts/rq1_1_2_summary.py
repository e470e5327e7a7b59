"""RQ1.1.2 section of RESULTS_SUMMARY.md (rule rq1_1_2_summary)."""
from qvedbench.analysis.convergence import read_table, summary_markdown
from qvedbench.io import redirect_output_to_log, write_text

redirect_output_to_log(snakemake.log[0])
params, inputs = snakemake.params, snakemake.input
text = summary_markdown(read_table(inputs.final_csv), read_table(inputs.convergence),
                        read_table(inputs.recommended_csv), tolerance=params.tolerance, ci=params.ci,
                        fractions=params.fractions)
write_text(snakemake.output[0], text)
