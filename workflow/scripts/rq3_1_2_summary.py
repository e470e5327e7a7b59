"""RQ3.1.2 section of RESULTS_SUMMARY.md (rule rq3_1_2_summary)."""
from qvedbench.analysis.efficiency import read_table, rq3_1_2_summary
from qvedbench.io import redirect_output_to_log, write_text

redirect_output_to_log(snakemake.log[0])
links = [*snakemake.input.figures, *snakemake.input.tables]
text = rq3_1_2_summary(read_table(snakemake.input.batch_csv), read_table(snakemake.input.optimal_csv), links,
                       threshold=snakemake.params.threshold)
write_text(snakemake.output[0], text)
