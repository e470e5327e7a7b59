# RQ1.1.3: accuracy vs training-set size. Runs data<P> train on the nested, error-balanced subsets frac<P>
# (rule data_subset); data100 is the whole training split and so, normally, the baseline run itself.

if config["questions"]["rq1_1_3"]["enabled"]:
    RQ1_1_3 = config["questions"]["rq1_1_3"]
    RQ1_1_3_TABLES = "results/tables/rq1_1_3"
    RQ1_1_3_FIGURES = "results/figures/rq1_1_3"

    # One row per (model, question run name): the fraction and the files of the canonical run that answers it.
    RQ1_1_3_ROWS = [
        {
            **row,
            "fraction": qsubsets.check_fraction(
                1.0 if row["settings"]["train_subset"] is None
                else qsubsets.parse_subset_name(row["settings"]["train_subset"])[1]
            ),
            "stats": os.path.join(run_dir(row["model"], row["canonical"]), "train_stats.json"),
            "scores": f"results/scores/{row['model']}/{row['canonical']}/clean.json",
        }
        for row in qruns.question_runs(RUN_PLAN, "rq1_1_3")
    ]

    localrules:
        rq1_1_3_tables,
        rq1_1_3_figures,
        rq1_1_3_summary,
        rq1_1_3,

    rule rq1_1_3_tables:
        input:
            stats=sorted({row["stats"] for row in RQ1_1_3_ROWS}),
            scores=sorted({row["scores"] for row in RQ1_1_3_ROWS}),
        output:
            size_csv=report(
                f"{RQ1_1_3_TABLES}/size_curve.csv",
                caption="../workflow/report/rq1_1_3_size_curve.rst",
                category="RQ 1.1.3",
            ),
            size_tex=f"{RQ1_1_3_TABLES}/size_curve.tex",
            per_exercise_csv=report(
                f"{RQ1_1_3_TABLES}/per_exercise.csv",
                caption="../workflow/report/rq1_1_3_per_exercise.rst",
                category="RQ 1.1.3",
            ),
            per_exercise_tex=f"{RQ1_1_3_TABLES}/per_exercise.tex",
            needed_csv=report(
                f"{RQ1_1_3_TABLES}/samples_needed.csv",
                caption="../workflow/report/rq1_1_3_samples_needed.rst",
                category="RQ 1.1.3",
            ),
            needed_tex=f"{RQ1_1_3_TABLES}/samples_needed.tex",
            gains_csv=report(
                f"{RQ1_1_3_TABLES}/gains.csv",
                caption="../workflow/report/rq1_1_3_gains.rst",
                category="RQ 1.1.3",
            ),
            gains_tex=f"{RQ1_1_3_TABLES}/gains.tex",
            headline=report(
                f"{RQ1_1_3_TABLES}/headline.csv",
                caption="../workflow/report/master_headline.rst",
                category="Master comparison",
            ),
        params:
            rows=RQ1_1_3_ROWS,
            targets=RQ1_1_3["targets"],
        log:
            log_path("rq1_1_3_tables"),
        conda:
            "../envs/report.yaml"
        script:
            "../workflow/scripts/rq1_1_3_tables.py"

    rule rq1_1_3_figures:
        input:
            size_csv=rules.rq1_1_3_tables.output.size_csv,
            per_exercise_csv=rules.rq1_1_3_tables.output.per_exercise_csv,
        output:
            metrics_pdf=report(
                f"{RQ1_1_3_FIGURES}/metrics_vs_size.pdf",
                caption="../workflow/report/rq1_1_3_metrics_vs_size.rst",
                category="RQ 1.1.3",
            ),
            metrics_png=f"{RQ1_1_3_FIGURES}/metrics_vs_size.png",
            per_exercise_pdf=report(
                f"{RQ1_1_3_FIGURES}/per_exercise_vs_size.pdf",
                caption="../workflow/report/rq1_1_3_per_exercise_vs_size.rst",
                category="RQ 1.1.3",
            ),
            per_exercise_png=f"{RQ1_1_3_FIGURES}/per_exercise_vs_size.png",
        log:
            log_path("rq1_1_3_figures"),
        conda:
            "../envs/report.yaml"
        script:
            "../workflow/scripts/rq1_1_3_figures.py"

    rule rq1_1_3_summary:
        input:
            size_csv=rules.rq1_1_3_tables.output.size_csv,
            needed_csv=rules.rq1_1_3_tables.output.needed_csv,
            gains_csv=rules.rq1_1_3_tables.output.gains_csv,
        output:
            "results/summary/rq1_1_3.md",
        params:
            ci=config["evaluate"]["ci"],
        log:
            log_path("rq1_1_3_summary"),
        conda:
            "../envs/report.yaml"
        script:
            "../workflow/scripts/rq1_1_3_summary.py"

    rule rq1_1_3:
        input:
            rules.rq1_1_3_tables.output,
            rules.rq1_1_3_figures.output,
            rules.rq1_1_3_summary.output,

    HEADLINE_TABLES.append(rules.rq1_1_3_tables.output.headline)
    QUESTION_TARGETS.extend([*rules.rq1_1_3_tables.output, *rules.rq1_1_3_figures.output])
    SUMMARY_SECTIONS.append(rules.rq1_1_3_summary.output[0])
