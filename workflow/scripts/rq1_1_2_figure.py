"""RQ1.1.2 figures from the training logs: train/val curves or learning rates per schedule
(rules rq1_1_2_train_val_curves, rq1_1_2_lr_schedules)."""
from qvedbench.analysis.convergence import lr_schedules_figure, train_val_curves_figure
from qvedbench.io import redirect_output_to_log

redirect_output_to_log(snakemake.log[0])
draw = {"train_val_curves": train_val_curves_figure, "lr_schedules": lr_schedules_figure}[snakemake.params.figure]
draw(snakemake.params.rows, snakemake.output.pdf, snakemake.output.png)
