"""RQ3.2.1 headroom bar plot with the threshold lines (rule rq3_2_1_figure)."""
from qvedbench.analysis.headroom import headroom_figure, read_headroom
from qvedbench.io import redirect_output_to_log

redirect_output_to_log(snakemake.log[0])
headroom_figure(read_headroom(snakemake.input.headroom_csv), snakemake.output.pdf, snakemake.output.png)
