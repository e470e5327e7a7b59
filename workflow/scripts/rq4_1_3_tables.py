"""RQ4.1.3 tables: per-exercise accuracy and training clips, the strategies compared with current, the
correlation of per-class accuracy with training clips, and the headline rows (rule rq4_1_3_tables)."""
from qvedbench.analysis.imbalance import (correlation_frame, headline_rows, load_entries, per_exercise_display,
                                          per_exercise_frame, strategy_display, strategy_frame, write_table)
from qvedbench.io import redirect_output_to_log
from qvedbench.report.headline import write_headline

redirect_output_to_log(snakemake.log[0])
params, out = snakemake.params, snakemake.output
entries = load_entries(params.rows)
per_exercise = per_exercise_frame(entries, params.classes)
write_table(per_exercise, per_exercise_display(per_exercise), out.per_exercise_csv, out.per_exercise_tex)
strategies = strategy_frame(entries, n_boot=params.n_boot, ci=params.ci, seed=params.seed)
write_table(strategies, strategy_display(strategies), out.strategies_csv, out.strategies_tex)
correlation = correlation_frame(per_exercise)
write_table(correlation, correlation, out.correlation_csv, out.correlation_tex)
write_headline(out.headline, headline_rows(strategies))
