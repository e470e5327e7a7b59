"""RQ3.1.2 figure: throughput, latency and memory against batch size (rule rq3_1_2_figure)."""
from qvedbench.analysis.efficiency import batch_figure, read_table
from qvedbench.io import redirect_output_to_log

redirect_output_to_log(snakemake.log[0])
batch_figure(read_table(snakemake.input.batch_csv), snakemake.output.pdf, snakemake.output.png)
