"""Exercise confusion analysis over every model and run, and its tables (rule rq4_1_2_tables)."""
from qvedbench.analysis.confusions import analyse_confusions, headline_rows, write_confusion_tables
from qvedbench.io import redirect_output_to_log, write_json
from qvedbench.report.headline import write_headline

redirect_output_to_log(snakemake.log[0])
params, out = snakemake.params, snakemake.output
score_files = {tuple(job): path for job, path in zip(params.jobs, snakemake.input.scores)}
analysis = analyse_confusions(score_files, params.classes, snakemake.input.train, params.metadata, top=params.top,
                              min_count=params.min_count)
write_json(out.analysis, analysis)
write_confusion_tables(analysis, {key: (out[f"{key}_csv"], out[f"{key}_tex"]) for key in params.tables})
write_headline(out.headline, headline_rows(analysis))
