"""One RQ4.1.2 figure: confusion matrices or accuracy vs training clips (params.kind)."""
from qvedbench.analysis.confusions import error_rate_frame, matrix_from_split
from qvedbench.analysis.plots import accuracy_vs_training_figure, confusion_heatmaps
from qvedbench.io import read_json, redirect_output_to_log

redirect_output_to_log(snakemake.log[0])
analysis = read_json(snakemake.input.analysis)
pdf, png = snakemake.output.pdf, snakemake.output.png
if snakemake.params.kind == "confusion":
    matrices = {label: matrix_from_split(split) for label, split in analysis["matrices"].items()}
    confusion_heatmaps(matrices, pdf, png, title="Exercise confusions (share of the true class)")
else:
    rates = error_rate_frame(analysis)
    accuracy_vs_training_figure(1 - rates.drop(columns="train_count"), rates["train_count"], pdf, png)
