"""One RQ2.1.1 figure: P/R/F1 bars, error confusion heatmaps or PR curves (params.kind)."""
import pandas as pd

from qvedbench.analysis.form_errors import confusion_from_split
from qvedbench.analysis.plots import confusion_heatmaps, pr_curve_figure, prf_bars
from qvedbench.io import read_json, redirect_output_to_log

redirect_output_to_log(snakemake.log[0])
analysis = read_json(snakemake.input.analysis)
pdf, png = snakemake.output.pdf, snakemake.output.png
if snakemake.params.kind == "prf":
    prf_bars(pd.DataFrame(analysis["metrics"]), pdf, png)
elif snakemake.params.kind == "confusion":
    matrices = {label: confusion_from_split(split) for label, split in analysis["confusion"].items()}
    confusion_heatmaps(matrices, pdf, png, title="Form errors: actual vs predicted (share of row)")
else:
    pr_curve_figure(analysis["pr_curves"], pdf, png)
