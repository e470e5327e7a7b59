"""One RQ1.3.3 figure from the robustness table (rules rq1_3_3_<figure>_figure)."""
import pandas as pd

from qvedbench.analysis.robustness import accuracy_vs_level_figure, robustness_heatmap
from qvedbench.io import redirect_output_to_log

redirect_output_to_log(snakemake.log[0])
draw = {"accuracy_vs_level": accuracy_vs_level_figure, "robustness_heatmap": robustness_heatmap}[snakemake.params.figure]
draw(pd.read_csv(snakemake.input.robustness_csv), snakemake.output.pdf, snakemake.output.png)
