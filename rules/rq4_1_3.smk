# RQ4.1.3: class imbalance: the current class distribution (the baseline), a training set undersampled to at most
# K clips per class (subset balanced<K>), and a class-weighted loss. The runs come from the run table, so
# imbalance_current is the baseline itself and trains once.

if config["questions"]["rq4_1_3"]["enabled"]:
    RQ4_1_3 = config["questions"]["rq4_1_3"]
    RQ4_1_3_TABLES = "results/tables/rq4_1_3"
    RQ4_1_3_FIGURES = "results/figures/rq4_1_3"

    # One row per (model, question run name): the files of the canonical run that answers it and the scores of
    # the current distribution (= the baseline) trained with the same seed.
    RQ4_1_3_ROWS = [
        {
            "model": row["model"],
            "run": row["run"],
            "group": row["group"],
            "canonical": row["canonical"],
            "seed": row["settings"]["seed"],
            "stats": os.path.join(run_dir(row["model"], row["canonical"]), "train_stats.json"),
            "scores": f"results/scores/{row['model']}/{row['canonical']}/clean.json",
            "reference_scores": f"results/scores/{row['model']}/{row['baseline']}/clean.json",
        }
        for row in qruns.question_runs(RUN_PLAN, "rq4_1_3")
    ]
    RQ4_1_3_SCORES = sorted({p for row in RQ4_1_3_ROWS for p in (row["scores"], row["reference_scores"])})
    RQ4_1_3_TABLE_NAMES = ("per_exercise", "strategies", "correlation")

    localrules:
        rq4_1_3_tables,
        rq4_1_3_per_exercise_figure,
        rq4_1_3_count_figure,
        rq4_1_3_summary,
        rq4_1_3,

    rule rq4_1_3_tables:
        input:
            stats=sorted({row["stats"] for row in RQ4_1_3_ROWS}),
            scores=RQ4_1_3_SCORES,
            per_sample=[p[: -len(".json")] + ".jsonl" for p in RQ4_1_3_SCORES],
        output:
            **{
                f"{name}_csv": report(
                    f"{RQ4_1_3_TABLES}/{name}.csv",
                    caption=f"../workflow/report/rq4_1_3_{name}.rst",
                    category="RQ 4.1.3",
                )
                for name in RQ4_1_3_TABLE_NAMES
            },
            **{f"{name}_tex": f"{RQ4_1_3_TABLES}/{name}.tex" for name in RQ4_1_3_TABLE_NAMES},
            headline=report(
                f"{RQ4_1_3_TABLES}/headline.csv",
                caption="../workflow/report/master_headline.rst",
                category="Master comparison",
            ),
        params:
            rows=RQ4_1_3_ROWS,
            classes=CLASSES,
            n_boot=config["evaluate"]["bootstrap_samples"],
            ci=config["evaluate"]["ci"],
            seed=config["seed"],
        log:
            log_path("rq4_1_3_tables"),
        conda:
            "../envs/report.yaml"
        script:
            "../workflow/scripts/rq4_1_3_tables.py"

    rule rq4_1_3_per_exercise_figure:
        input:
            per_exercise=rules.rq4_1_3_tables.output.per_exercise_csv,
            strategies=rules.rq4_1_3_tables.output.strategies_csv,
        output:
            pdf=report(
                f"{RQ4_1_3_FIGURES}/per_exercise_accuracy.pdf",
                caption="../workflow/report/rq4_1_3_per_exercise_accuracy.rst",
                category="RQ 4.1.3",
            ),
            png=f"{RQ4_1_3_FIGURES}/per_exercise_accuracy.png",
        log:
            log_path("rq4_1_3_per_exercise_figure"),
        conda:
            "../envs/report.yaml"
        script:
            "../workflow/scripts/rq4_1_3_per_exercise_figure.py"

    rule rq4_1_3_count_figure:
        input:
            per_exercise=rules.rq4_1_3_tables.output.per_exercise_csv,
            strategies=rules.rq4_1_3_tables.output.strategies_csv,
            correlation=rules.rq4_1_3_tables.output.correlation_csv,
        output:
            pdf=report(
                f"{RQ4_1_3_FIGURES}/accuracy_vs_train_count.pdf",
                caption="../workflow/report/rq4_1_3_accuracy_vs_train_count.rst",
                category="RQ 4.1.3",
            ),
            png=f"{RQ4_1_3_FIGURES}/accuracy_vs_train_count.png",
        log:
            log_path("rq4_1_3_count_figure"),
        conda:
            "../envs/report.yaml"
        script:
            "../workflow/scripts/rq4_1_3_count_figure.py"

    rule rq4_1_3_summary:
        input:
            per_exercise=rules.rq4_1_3_tables.output.per_exercise_csv,
            strategies=rules.rq4_1_3_tables.output.strategies_csv,
            correlation=rules.rq4_1_3_tables.output.correlation_csv,
        output:
            "results/summary/rq4_1_3.md",
        params:
            samples_per_class=RQ4_1_3["samples_per_class"],
            ci=config["evaluate"]["ci"],
        log:
            log_path("rq4_1_3_summary"),
        conda:
            "../envs/report.yaml"
        script:
            "../workflow/scripts/rq4_1_3_summary.py"

    rule rq4_1_3:
        input:
            rules.rq4_1_3_tables.output,
            rules.rq4_1_3_per_exercise_figure.output,
            rules.rq4_1_3_count_figure.output,
            rules.rq4_1_3_summary.output,

    QUESTION_TARGETS.extend(
        [
            *rules.rq4_1_3_tables.output,
            *rules.rq4_1_3_per_exercise_figure.output,
            *rules.rq4_1_3_count_figure.output,
        ]
    )
    SUMMARY_SECTIONS.append(rules.rq4_1_3_summary.output[0])
    HEADLINE_TABLES.append(rules.rq4_1_3_tables.output.headline)
