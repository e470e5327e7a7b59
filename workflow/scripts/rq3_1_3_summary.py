"""The RQ3.1.3 section of RESULTS_SUMMARY.md (rule rq3_1_3_summary)."""
import pandas as pd

from qvedbench.analysis.pareto import read_factorial, summary_section
from qvedbench.io import redirect_output_to_log, write_text

redirect_output_to_log(snakemake.log[0])
section = summary_section(read_factorial(snakemake.input.factorial_csv),
                          pd.read_csv(snakemake.input.recommendations_csv), snakemake.params.links,
                          relative_to="results")
write_text(snakemake.output[0], section)
