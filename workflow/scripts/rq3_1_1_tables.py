"""RQ3.1.1 latency breakdown and memory tables (rule rq3_1_1_tables)."""
from qvedbench.analysis.efficiency import latency_frame, load_profiles, memory_frame, rq3_1_1_headline, write_table
from qvedbench.io import redirect_output_to_log
from qvedbench.report.headline import write_headline

redirect_output_to_log(snakemake.log[0])
profiles = load_profiles(snakemake.input.profiles)
out = snakemake.output
latency, memory = latency_frame(profiles, seed=snakemake.params.seed), memory_frame(profiles)
write_table(latency, out.latency_csv, out.latency_tex)
write_table(memory, out.memory_csv, out.memory_tex)
write_headline(out.headline, rq3_1_1_headline(latency, memory))
