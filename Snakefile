# qvedbench: fine-tune and evaluate video VLMs on QVED. See README.md; every config key: config/README.md.
import glob
import os

from snakemake.utils import min_version

min_version("9.0")

# The embedded default is the offline demo; `--configfile config/config.yaml` replaces it (not merged into it).
if not config:

    configfile: "config/demo.yaml"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/models.smk"
include: "rules/train.smk"
include: "rules/infer.smk"
include: "rules/evaluate.smk"


# One file per research question; each defines a target rule named after it (e.g. `snakemake rq1_3_3`).
for question_rules in sorted(glob.glob(os.path.join(workflow.basedir, "rules", "rq*.smk"))):

    include: question_rules


include: "rules/report.smk"


rule all:
    input:
        rules.report.input,
        QUESTION_TARGETS,
