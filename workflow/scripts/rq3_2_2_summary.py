"""RQ3.2.2 section of RESULTS_SUMMARY.md (rule rq3_2_2_summary)."""
from qvedbench.analysis.precision import read_table, summary_section
from qvedbench.io import redirect_output_to_log, write_text

redirect_output_to_log(snakemake.log[0])
text = summary_section(read_table(snakemake.input.levels_csv), read_table(snakemake.input.resilience_csv),
                       snakemake.params.thresholds, [*snakemake.input.figures, *snakemake.input.tables],
                       ci=snakemake.params.ci)
write_text(snakemake.output[0], text)
