"""RQ1.1.2 tables: final test accuracy per schedule, the recommended schedule, the headline rows
(rule rq1_1_2_tables)."""
from qvedbench.analysis.convergence import (final_accuracy_frame, final_display, read_table, recommend_schedule,
                                            write_headline_csv, write_table)
from qvedbench.io import redirect_output_to_log

redirect_output_to_log(snakemake.log[0])
params, out = snakemake.params, snakemake.output
final = final_accuracy_frame(params.rows, n_boot=params.n_boot, ci=params.ci, seed=params.seed)
write_table(final, final_display(final), out.final_csv, out.final_tex)
recommended = recommend_schedule(final, read_table(snakemake.input.convergence), params.tolerance)
write_table(recommended, recommended, out.recommended_csv, out.recommended_tex)
write_headline_csv(out.headline, recommended, params.models)
