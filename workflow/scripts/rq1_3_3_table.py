"""Accuracy and robustness per model, run and degradation; the most robust model (rule rq1_3_3_table)."""
from qvedbench.analysis.robustness import (headline_rows, most_robust, robustness_frame, robustness_table,
                                          write_table)
from qvedbench.io import redirect_output_to_log
from qvedbench.report.headline import write_headline

redirect_output_to_log(snakemake.log[0])
frame = robustness_frame([p for p in snakemake.input.scores if p.endswith(".json")])
robustness_table(frame, snakemake.output.robustness_csv, snakemake.output.robustness_tex)
write_table(most_robust(frame), snakemake.output.ranking_csv, snakemake.output.ranking_tex)
write_headline(snakemake.output.headline, headline_rows(frame))
