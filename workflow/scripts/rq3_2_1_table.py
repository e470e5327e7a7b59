"""RQ3.2.1 headroom table and headline (rule rq3_2_1_table)."""
from qvedbench.analysis.efficiency import write_table
from qvedbench.analysis.headroom import headline_rows, headroom_frame
from qvedbench.io import redirect_output_to_log
from qvedbench.report.headline import write_headline

redirect_output_to_log(snakemake.log[0])
frame = headroom_frame(snakemake.input.scores, snakemake.params.thresholds)
write_table(frame, snakemake.output.headroom_csv, snakemake.output.headroom_tex)
write_headline(snakemake.output.headline, headline_rows(frame))
