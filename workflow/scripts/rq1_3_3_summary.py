"""The RQ1.3.3 section of RESULTS_SUMMARY.md (rule rq1_3_3_summary)."""
import pandas as pd

from qvedbench.analysis.robustness import summary_section
from qvedbench.io import redirect_output_to_log, write_text

redirect_output_to_log(snakemake.log[0])
frame = pd.read_csv(snakemake.input.robustness_csv)
write_text(snakemake.output[0], summary_section(frame, snakemake.params.links, relative_to="results"))
