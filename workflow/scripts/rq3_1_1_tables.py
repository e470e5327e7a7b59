"""RQ3.1.1 latency breakdown and memory tables (rule rq3_1_1_tables)."""
from qvedbench.analysis.efficiency import latency_frame, load_profiles, memory_frame, write_table
from qvedbench.io import redirect_output_to_log

redirect_output_to_log(snakemake.log[0])
profiles = load_profiles(snakemake.input.profiles)
out = snakemake.output
write_table(latency_frame(profiles, seed=snakemake.params.seed), out.latency_csv, out.latency_tex)
write_table(memory_frame(profiles), out.memory_csv, out.memory_tex)
