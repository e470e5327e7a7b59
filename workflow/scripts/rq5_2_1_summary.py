"""The RQ5.2.1 section of RESULTS_SUMMARY.md (rule rq5_2_1_summary)."""
import pandas as pd

from qvedbench.analysis.judge import load_summaries, summary_markdown
from qvedbench.io import redirect_output_to_log, write_text

redirect_output_to_log(snakemake.log[0])
agreement = pd.read_csv(snakemake.input.agreement[0]) if snakemake.input.agreement else None
text = summary_markdown(load_summaries(snakemake.input.summaries), pd.read_csv(snakemake.input.correlation),
                        agreement, links=[f"`{p}`" for p in snakemake.params.links])
write_text(snakemake.output[0], text)
