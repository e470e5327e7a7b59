"""One RQ3.1.3 figure from the factorial table (rules rq3_1_3_<figure>_figure)."""
from qvedbench.analysis.pareto import heatmaps, pareto_figure, read_factorial
from qvedbench.io import redirect_output_to_log

redirect_output_to_log(snakemake.log[0])
factorial = read_factorial(snakemake.input.factorial_csv)
figure = snakemake.params.figure
if figure == "heatmaps":
    heatmaps(factorial, snakemake.output.pdf, snakemake.output.png)
else:
    pareto_figure(factorial, figure.removeprefix("pareto_"), snakemake.output.pdf, snakemake.output.png)
