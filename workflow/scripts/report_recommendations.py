"""Recommendation matrix: use case -> best model from the headline files (rule report_recommendations)."""
from qvedbench.io import redirect_output_to_log
from qvedbench.report.recommend import write_recommendations

redirect_output_to_log(snakemake.log[0])
write_recommendations(list(snakemake.input.headlines), snakemake.params.use_cases, snakemake.output.csv,
                      snakemake.output.tex)
