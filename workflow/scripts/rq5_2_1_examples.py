"""Best and worst judged samples per model, run and variant (rule rq5_2_1_examples)."""
from qvedbench.analysis.judge import load_rows, write_examples
from qvedbench.io import redirect_output_to_log

redirect_output_to_log(snakemake.log[0])
write_examples(load_rows(snakemake.input.rows), snakemake.output.csv, snakemake.output.tex, k=snakemake.params.k)
