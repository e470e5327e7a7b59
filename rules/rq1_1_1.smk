# RQ1.1.1: LoRA ranks vs full fine-tuning vs the last N blocks plus projector. The runs come from the run table
# (baseline + this question's overrides, deduplicated), so a rank equal to the baseline is not trained twice.

if config["questions"]["rq1_1_1"]["enabled"]:
    RQ1_1_1 = config["questions"]["rq1_1_1"]
    RQ1_1_1_TABLES = "results/tables/rq1_1_1"
    RQ1_1_1_FIGURES = "results/figures/rq1_1_1"

    # One row per (model, question run name): the files of the canonical run that answers it and of the
    # baseline trained with the same seed.
    RQ1_1_1_ROWS = [
        {
            **row,
            "stats": os.path.join(run_dir(row["model"], row["canonical"]), "train_stats.json"),
            "scores": f"results/scores/{row['model']}/{row['canonical']}/clean.json",
            "baseline_scores": f"results/scores/{row['model']}/{row['baseline']}/clean.json",
        }
        for row in qruns.question_runs(RUN_PLAN, "rq1_1_1")
    ]
    RQ1_1_1_SCORES = sorted({p for row in RQ1_1_1_ROWS for p in (row["scores"], row["baseline_scores"])})

    localrules:
        rq1_1_1_table,
        rq1_1_1_figure,
        rq1_1_1_summary,
        rq1_1_1,

    rule rq1_1_1_table:
        input:
            stats=sorted({row["stats"] for row in RQ1_1_1_ROWS}),
            scores=RQ1_1_1_SCORES,
            per_sample=[p[: -len(".json")] + ".jsonl" for p in RQ1_1_1_SCORES],
        output:
            runs_csv=report(
                f"{RQ1_1_1_TABLES}/runs.csv",
                caption="../workflow/report/rq1_1_1_runs.rst",
                category="RQ 1.1.1",
            ),
            runs_tex=f"{RQ1_1_1_TABLES}/runs.tex",
            rank_csv=report(
                f"{RQ1_1_1_TABLES}/recommended_rank.csv",
                caption="../workflow/report/rq1_1_1_recommended_rank.rst",
                category="RQ 1.1.1",
            ),
            rank_tex=f"{RQ1_1_1_TABLES}/recommended_rank.tex",
            seeds_csv=report(
                f"{RQ1_1_1_TABLES}/seeds.csv",
                caption="../workflow/report/rq1_1_1_seeds.rst",
                category="RQ 1.1.1",
            ),
            seeds_tex=f"{RQ1_1_1_TABLES}/seeds.tex",
            headline=report(
                "results/tables/rq1_1_1/headline.csv",
                caption="../workflow/report/master_headline.rst",
                category="Master comparison",
            ),
        params:
            rows=RQ1_1_1_ROWS,
            tolerance=RQ1_1_1["rank_tolerance"],
            n_boot=config["evaluate"]["bootstrap_samples"],
            ci=config["evaluate"]["ci"],
            seed=config["seed"],
        log:
            log_path("rq1_1_1_table"),
        conda:
            "../envs/report.yaml"
        script:
            "../workflow/scripts/rq1_1_1_table.py"

    rule rq1_1_1_figure:
        input:
            runs_csv=rules.rq1_1_1_table.output.runs_csv,
        output:
            pdf=report(
                f"{RQ1_1_1_FIGURES}/accuracy_vs_trainable.pdf",
                caption="../workflow/report/rq1_1_1_accuracy_vs_trainable.rst",
                category="RQ 1.1.1",
            ),
            png=f"{RQ1_1_1_FIGURES}/accuracy_vs_trainable.png",
        log:
            log_path("rq1_1_1_figure"),
        conda:
            "../envs/report.yaml"
        script:
            "../workflow/scripts/rq1_1_1_figure.py"

    rule rq1_1_1_summary:
        input:
            runs_csv=rules.rq1_1_1_table.output.runs_csv,
            rank_csv=rules.rq1_1_1_table.output.rank_csv,
        output:
            "results/summary/rq1_1_1.md",
        params:
            tolerance=RQ1_1_1["rank_tolerance"],
            ci=config["evaluate"]["ci"],
        log:
            log_path("rq1_1_1_summary"),
        conda:
            "../envs/report.yaml"
        script:
            "../workflow/scripts/rq1_1_1_summary.py"

    rule rq1_1_1:
        input:
            rules.rq1_1_1_table.output,
            rules.rq1_1_1_figure.output,
            rules.rq1_1_1_summary.output,

    HEADLINE_TABLES.append(rules.rq1_1_1_table.output.headline)
    QUESTION_TARGETS.extend([*rules.rq1_1_1_table.output, *rules.rq1_1_1_figure.output])
    SUMMARY_SECTIONS.append(rules.rq1_1_1_summary.output[0])
