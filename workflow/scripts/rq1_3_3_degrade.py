"""Degraded copies of the test clips and their records for one (type, level) (rule rq1_3_3_degrade)."""
from qvedbench.data.variants import write_degraded_variant
from qvedbench.io import redirect_output_to_log

redirect_output_to_log(snakemake.log[0])
write_degraded_variant(snakemake.input.test, snakemake.wildcards.variant, snakemake.output.videos,
                       snakemake.output.records, seed=snakemake.params.seed,
                       reencode_crf=snakemake.params.reencode_crf)
