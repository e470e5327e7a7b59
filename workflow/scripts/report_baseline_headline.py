"""Headline numbers of the untuned (base) and the baseline run per model, and the baseline's training cost
(rule report_baseline_headline)."""
from pathlib import Path

from qvedbench.io import redirect_output_to_log
from qvedbench.report.master import write_baseline_headline

redirect_output_to_log(snakemake.log[0])
train_stats = {Path(p).parent.parent.name: p for p in snakemake.input.train_stats}
write_baseline_headline(list(snakemake.input.scores), snakemake.output[0], train_stats=train_stats)
