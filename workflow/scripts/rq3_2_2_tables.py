"""RQ3.2.2 levels and resilience tables and the headline rows (rule rq3_2_2_tables)."""
from qvedbench.analysis.precision import headline_rows, levels_frame, load_entry, resilience_frame, write_table
from qvedbench.io import redirect_output_to_log
from qvedbench.report.headline import write_headline

redirect_output_to_log(snakemake.log[0])
p, out = snakemake.params, snakemake.output
entries = [load_entry(row["result"], row["scores"], row["per_sample"]) for row in p.rows]
levels = levels_frame(entries, p.thresholds, p.levels)
resilience = resilience_frame(entries, levels, n_boot=p.n_boot, ci=p.ci, seed=p.seed)
write_table(levels, out.levels_csv, out.levels_tex)
write_table(resilience, out.resilience_csv, out.resilience_tex)
write_headline(out.headline, headline_rows(levels, resilience))
