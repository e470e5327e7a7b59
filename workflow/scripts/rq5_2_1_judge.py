"""Judge one predictions file (rule rq5_2_1_judge): per-sample rows, resumable, and their summary."""
import json

from qvedbench.io import redirect_output_to_log
from qvedbench.judge import judge_file, make_backend
from qvedbench.secrets import redact

redirect_output_to_log(snakemake.log[0])
settings = snakemake.params.settings
print("judge settings:", json.dumps(redact(settings)))
if settings["backend"] == "transformers":
    from qvedbench.device import set_threads

    set_threads(snakemake.threads)
context = {k: snakemake.wildcards[k] for k in ("model", "run", "variant")}
summary = judge_file(
    snakemake.input.predictions,
    snakemake.output.per_sample,
    snakemake.output.summary,
    make_backend(settings, snakemake.params.classes),
    context=context,
    **snakemake.params.stats,
)
print(f"judged {summary['n']} samples, {summary['failures']} failures ({summary['failure_reasons']})")
