"""RQ3.1.2 batch table and optimal batch per model (rule rq3_1_2_tables)."""
from qvedbench.analysis.efficiency import batch_choice_frame, batch_frame, load_profiles, write_table
from qvedbench.io import redirect_output_to_log

redirect_output_to_log(snakemake.log[0])
frame = batch_frame(load_profiles(snakemake.input.profiles), seed=snakemake.params.seed)
out = snakemake.output
write_table(frame, out.batch_csv, out.batch_tex)
write_table(batch_choice_frame(frame, snakemake.params.threshold), out.optimal_csv, out.optimal_tex)
