"""RQ1.1.1 tables: cost vs accuracy per run, the recommended LoRA rank, the spread over seeds
(rule rq1_1_1_table)."""
from qvedbench.analysis.training import (display_frame, headline_rows, load_entries, recommend_rank, run_frame,
                                         seed_spread, write_table)
from qvedbench.io import redirect_output_to_log
from qvedbench.report.headline import write_headline

redirect_output_to_log(snakemake.log[0])
params, out = snakemake.params, snakemake.output
frame = run_frame(load_entries(params.rows), n_boot=params.n_boot, ci=params.ci, seed=params.seed)
write_table(frame, display_frame(frame), out.runs_csv, out.runs_tex)
recommended = recommend_rank(frame, params.tolerance)
write_table(recommended, recommended, out.rank_csv, out.rank_tex)
spread = seed_spread(frame)
write_table(spread, spread, out.seeds_csv, out.seeds_tex)
write_headline(out.headline, headline_rows(recommended))
