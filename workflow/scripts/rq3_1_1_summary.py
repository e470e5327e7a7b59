"""RQ3.1.1 section of RESULTS_SUMMARY.md (rule rq3_1_1_summary)."""
from qvedbench.analysis.efficiency import load_profiles, rq3_1_1_summary
from qvedbench.io import redirect_output_to_log, write_text

redirect_output_to_log(snakemake.log[0])
links = [*snakemake.input.figures, *snakemake.input.tables]
text = rq3_1_1_summary(load_profiles(snakemake.input.profiles), links, seed=snakemake.params.seed)
write_text(snakemake.output[0], text)
