"""Accuracy per frames x stride, the minimum configuration and per-exercise sensitivity (rule rq1_2_table)."""
from qvedbench.analysis.robustness import write_table
from qvedbench.analysis.temporal import (exercise_sensitivity, headline_rows, mean_source_fps,
                                         minimum_configuration, per_exercise_frame, temporal_frame)
from qvedbench.io import redirect_output_to_log
from qvedbench.report.headline import write_headline

redirect_output_to_log(snakemake.log[0])
scores = [p for p in snakemake.input.scores if p.endswith(".json")]
fps = mean_source_fps(snakemake.input.test)
write_table(temporal_frame(scores, fps), snakemake.output.accuracy_csv, snakemake.output.accuracy_tex)
minimum = minimum_configuration(scores, snakemake.params.tolerance, fps)
write_table(minimum, snakemake.output.minimum_csv, snakemake.output.minimum_tex)
write_headline(snakemake.output.headline, headline_rows(minimum))
write_table(exercise_sensitivity(per_exercise_frame(scores)), snakemake.output.sensitivity_csv,
            snakemake.output.sensitivity_tex)
