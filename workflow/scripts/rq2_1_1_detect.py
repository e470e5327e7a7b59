"""Errors named in each clean prediction and in its reference labels (rule rq2_1_1_detect)."""
from qvedbench.analysis.error_text import ErrorDetector
from qvedbench.analysis.form_errors import detect_predictions
from qvedbench.io import read_jsonl, redirect_output_to_log, write_jsonl

redirect_output_to_log(snakemake.log[0])
params = snakemake.params
detector = ErrorDetector(params.taxonomy, max_gap=params.max_gap, negation_window=params.negation_window)
fps_by_id = {r["id"]: r.get("fps") for r in read_jsonl(snakemake.input.records)}
rows = detect_predictions(snakemake.input.predictions, detector, fps_by_id, tolerance_s=params.tolerance_s)
write_jsonl(snakemake.output[0], rows)
print(f"{len(rows)} predictions, {sum(r['predicted'] is None for r in rows)} failed")
