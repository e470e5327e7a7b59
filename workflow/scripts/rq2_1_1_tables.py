"""P/R/F1, confusion, PR curves and localisation over every model and run (rule rq2_1_1_tables)."""
from qvedbench.analysis.error_text import ErrorDetector
from qvedbench.analysis.form_errors import analyse_form_errors, headline_rows, write_form_error_tables
from qvedbench.io import read_jsonl, redirect_output_to_log, write_json
from qvedbench.report.headline import write_headline

redirect_output_to_log(snakemake.log[0])
params, out = snakemake.params, snakemake.output
detections = {tuple(job): read_jsonl(path) for job, path in zip(params.jobs, snakemake.input.detections)}
analysis = analyse_form_errors(detections, ErrorDetector(params.taxonomy).error_ids, n_boot=params.n_boot,
                               ci=params.ci, seed=params.seed)
write_json(out.analysis, analysis)
write_form_error_tables(analysis, out.prf_csv, out.prf_tex, out.localisation_csv, out.localisation_tex)
write_headline(out.headline, headline_rows(analysis))
