"""RQ1.1.3 tables: scores per training-set size, per-exercise accuracy, samples needed, gains per 100 clips, and
the headline (rule rq1_1_3_tables)."""
from qvedbench.analysis.data_size import (display_size_frame, gains, headline_rows, load_entries,
                                          per_exercise_frame, samples_needed, size_frame, write_table)
from qvedbench.io import redirect_output_to_log
from qvedbench.report.headline import write_headline

redirect_output_to_log(snakemake.log[0])
params, out = snakemake.params, snakemake.output
entries = load_entries(params.rows)
frame = size_frame(entries)
write_table(frame, display_size_frame(frame), out.size_csv, out.size_tex)
per_exercise = per_exercise_frame(entries)
write_table(per_exercise, per_exercise, out.per_exercise_csv, out.per_exercise_tex)
needed = samples_needed(frame, params.targets)
write_table(needed, needed, out.needed_csv, out.needed_tex)
gain = gains(frame)
write_table(gain, gain, out.gains_csv, out.gains_tex)
write_headline(out.headline, headline_rows(needed, gain, frame))
