"""RQ3.1.3 factorial, Pareto and recommendation tables and the headline (rule rq3_1_3_tables)."""
from qvedbench.analysis.efficiency import write_table
from qvedbench.analysis.pareto import factorial_frame, headline_rows, pareto_table, recommendations
from qvedbench.io import redirect_output_to_log
from qvedbench.report.headline import write_headline

redirect_output_to_log(snakemake.log[0])
out = snakemake.output
factorial = factorial_frame(snakemake.input.scores, snakemake.input.profiles)
recs = recommendations(factorial, snakemake.params.scenarios)
write_table(factorial, out.factorial_csv, out.factorial_tex)
write_table(pareto_table(factorial), out.pareto_csv, out.pareto_tex)
write_table(recs, out.recommendations_csv, out.recommendations_tex)
write_headline(out.headline, headline_rows(factorial, recs))
