"""RQ3.1.1 figures: latency violin or memory over time (rules rq3_1_1_latency_violin, rq3_1_1_memory_timeline)."""
from qvedbench.analysis.efficiency import latency_violin, load_profiles, memory_timeline_figure
from qvedbench.io import redirect_output_to_log

redirect_output_to_log(snakemake.log[0])
draw = {"latency_violin": latency_violin, "memory_timeline": memory_timeline_figure}[snakemake.params.kind]
draw(load_profiles(snakemake.input.profiles), snakemake.output.pdf, snakemake.output.png)
