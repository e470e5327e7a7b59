"""One RQ1.2 figure from its table (rules rq1_2_<figure>_figure)."""
import pandas as pd

from qvedbench.analysis.temporal import (accuracy_heatmap, accuracy_vs_fps_figure, accuracy_vs_frames_figure,
                                         exercise_sensitivity_figure)
from qvedbench.io import redirect_output_to_log

redirect_output_to_log(snakemake.log[0])
draw = {
    "accuracy_vs_frames": accuracy_vs_frames_figure,
    "accuracy_vs_fps": accuracy_vs_fps_figure,
    "accuracy_heatmap": accuracy_heatmap,
    "exercise_sensitivity": exercise_sensitivity_figure,
}[snakemake.params.figure]
draw(pd.read_csv(snakemake.input.table), snakemake.output.pdf, snakemake.output.png)
