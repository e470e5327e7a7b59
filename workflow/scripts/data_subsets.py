"""Write one training subset, frac<P> or balanced<K>, and its manifest (rule data_subset)."""
from qvedbench.data.subsets import write_subset
from qvedbench.io import redirect_output_to_log

redirect_output_to_log(snakemake.log[0])
write_subset(snakemake.input.train, snakemake.wildcards.subset, snakemake.output.records, snakemake.output.manifest,
             seed=snakemake.params.seed, fractions=snakemake.params.chain)
