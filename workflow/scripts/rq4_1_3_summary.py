"""RQ4.1.3 section of RESULTS_SUMMARY.md with the recommended strategy (rule rq4_1_3_summary)."""
from qvedbench.analysis.imbalance import read_table, recommend, summary_markdown
from qvedbench.io import redirect_output_to_log, write_text

redirect_output_to_log(snakemake.log[0])
strategies = read_table(snakemake.input.strategies)
text = summary_markdown(strategies, read_table(snakemake.input.per_exercise), read_table(snakemake.input.correlation),
                        recommend(strategies), samples_per_class=snakemake.params.samples_per_class,
                        ci=snakemake.params.ci)
write_text(snakemake.output[0], text)
