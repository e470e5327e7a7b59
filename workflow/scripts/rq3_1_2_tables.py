"""RQ3.1.2 batch table and optimal batch per model (rule rq3_1_2_tables)."""
from qvedbench.analysis.efficiency import (batch_choice_frame, batch_frame, load_profiles, rq3_1_2_headline,
                                          write_table)
from qvedbench.io import redirect_output_to_log
from qvedbench.report.headline import write_headline

redirect_output_to_log(snakemake.log[0])
frame = batch_frame(load_profiles(snakemake.input.profiles), seed=snakemake.params.seed)
out = snakemake.output
write_table(frame, out.batch_csv, out.batch_tex)
choices = batch_choice_frame(frame, snakemake.params.threshold)
write_table(choices, out.optimal_csv, out.optimal_tex)
write_headline(out.headline, rq3_1_2_headline(choices))
