"""Write one test-set variant (rule data_variant)."""
from qvedbench.data import write_variant
from qvedbench.io import redirect_output_to_log

redirect_output_to_log(snakemake.log[0])
write_variant(snakemake.input.test, snakemake.wildcards.variant, snakemake.output[0], seed=snakemake.params.seed)
