"""The RQ1.2 section of RESULTS_SUMMARY.md (rule rq1_2_summary)."""
import pandas as pd

from qvedbench.analysis.temporal import summary_section
from qvedbench.io import redirect_output_to_log, write_text

redirect_output_to_log(snakemake.log[0])
section = summary_section(pd.read_csv(snakemake.input.accuracy_csv), pd.read_csv(snakemake.input.minimum_csv),
                          pd.read_csv(snakemake.input.sensitivity_csv), snakemake.params.links, relative_to="results")
write_text(snakemake.output[0], section)
