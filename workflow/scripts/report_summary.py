"""RESULTS_SUMMARY.md from whatever has run (rule report_summary)."""
from pathlib import Path

from qvedbench.io import redirect_output_to_log
from qvedbench.report.summary import write_results_summary

redirect_output_to_log(snakemake.log[0])
train_stats = {(Path(p).parent.parent.name, Path(p).parent.name): p for p in snakemake.input.train_stats}
write_results_summary(
    list(snakemake.input.scores),
    snakemake.output[0],
    train_stats=train_stats,
    figures=list(snakemake.input.figures),
    tables=list(snakemake.input.tables),
    dataset_summary=snakemake.input.dataset_summary,
    sections=list(snakemake.input.sections),
    master={"comparison": snakemake.input.master, "recommendations": snakemake.input.recommendations,
            "model_tests": snakemake.input.model_tests},
)
