# RQ1.1.2: learning-rate schedules x warm-up ratios. The runs come from the run table (baseline + this question's
# overrides, deduplicated: constant ignores warm-up, constant_with_warmup at 0 is constant, and the pair equal to
# the baseline is the baseline). Every run validates every `eval_every_steps` steps, so its trainer_log.jsonl
# holds the convergence curve; the curves, the LR plot and the convergence table need no inference.

if config["questions"]["rq1_1_2"]["enabled"]:
    RQ1_1_2 = config["questions"]["rq1_1_2"]
    RQ1_1_2_TABLES = "results/tables/rq1_1_2"
    RQ1_1_2_FIGURES = "results/figures/rq1_1_2"

    # One row per (model, question run name): the log and clean scores of the canonical run that answers it,
    # and the clean scores of the baseline trained with the same seed.
    RQ1_1_2_ROWS = [
        {
            **row,
            "log": os.path.join(run_dir(row["model"], row["canonical"]), "trainer_log.jsonl"),
            "scores": f"results/scores/{row['model']}/{row['canonical']}/clean.json",
            "baseline_scores": f"results/scores/{row['model']}/{row['baseline']}/clean.json",
        }
        for row in qruns.question_runs(RUN_PLAN, "rq1_1_2")
    ]
    RQ1_1_2_LOG_ROWS = [{k: row[k] for k in ("model", "run", "group", "canonical", "settings", "log")}
                        for row in RQ1_1_2_ROWS]
    RQ1_1_2_LOGS = sorted({row["log"] for row in RQ1_1_2_ROWS})
    RQ1_1_2_SCORES = sorted({p for row in RQ1_1_2_ROWS for p in (row["scores"], row["baseline_scores"])})

    localrules:
        rq1_1_2_convergence,
        rq1_1_2_tables,
        rq1_1_2_train_val_curves,
        rq1_1_2_lr_schedules,
        rq1_1_2_summary,
        rq1_1_2,

    rule rq1_1_2_convergence:
        input:
            logs=RQ1_1_2_LOGS,
        output:
            csv=report(
                f"{RQ1_1_2_TABLES}/convergence.csv",
                caption="../workflow/report/rq1_1_2_convergence.rst",
                category="RQ 1.1.2",
            ),
            tex=f"{RQ1_1_2_TABLES}/convergence.tex",
        params:
            rows=RQ1_1_2_LOG_ROWS,
            fractions=RQ1_1_2["fractions"],
        log:
            log_path("rq1_1_2_convergence"),
        conda:
            "../envs/report.yaml"
        script:
            "../workflow/scripts/rq1_1_2_convergence.py"

    rule rq1_1_2_tables:
        input:
            convergence=rules.rq1_1_2_convergence.output.csv,
            scores=RQ1_1_2_SCORES,
            per_sample=[p[: -len(".json")] + ".jsonl" for p in RQ1_1_2_SCORES],
        output:
            final_csv=report(
                f"{RQ1_1_2_TABLES}/final_accuracy.csv",
                caption="../workflow/report/rq1_1_2_final_accuracy.rst",
                category="RQ 1.1.2",
            ),
            final_tex=f"{RQ1_1_2_TABLES}/final_accuracy.tex",
            recommended_csv=report(
                f"{RQ1_1_2_TABLES}/recommended_schedule.csv",
                caption="../workflow/report/rq1_1_2_recommended_schedule.rst",
                category="RQ 1.1.2",
            ),
            recommended_tex=f"{RQ1_1_2_TABLES}/recommended_schedule.tex",
            headline=f"{RQ1_1_2_TABLES}/headline.csv",
        params:
            rows=[{k: v for k, v in row.items() if k != "log"} for row in RQ1_1_2_ROWS],
            models=sorted({row["model"] for row in RQ1_1_2_ROWS}),
            tolerance=RQ1_1_2["tolerance"],
            n_boot=config["evaluate"]["bootstrap_samples"],
            ci=config["evaluate"]["ci"],
            seed=config["seed"],
        log:
            log_path("rq1_1_2_tables"),
        conda:
            "../envs/report.yaml"
        script:
            "../workflow/scripts/rq1_1_2_tables.py"

    rule rq1_1_2_train_val_curves:
        input:
            logs=RQ1_1_2_LOGS,
        output:
            pdf=report(
                f"{RQ1_1_2_FIGURES}/train_val_curves.pdf",
                caption="../workflow/report/rq1_1_2_train_val_curves.rst",
                category="RQ 1.1.2",
            ),
            png=f"{RQ1_1_2_FIGURES}/train_val_curves.png",
        params:
            rows=RQ1_1_2_LOG_ROWS,
            figure="train_val_curves",
        log:
            log_path("rq1_1_2_train_val_curves"),
        conda:
            "../envs/report.yaml"
        script:
            "../workflow/scripts/rq1_1_2_figure.py"

    rule rq1_1_2_lr_schedules:
        input:
            logs=RQ1_1_2_LOGS,
        output:
            pdf=report(
                f"{RQ1_1_2_FIGURES}/lr_schedules.pdf",
                caption="../workflow/report/rq1_1_2_lr_schedules.rst",
                category="RQ 1.1.2",
            ),
            png=f"{RQ1_1_2_FIGURES}/lr_schedules.png",
        params:
            rows=RQ1_1_2_LOG_ROWS,
            figure="lr_schedules",
        log:
            log_path("rq1_1_2_lr_schedules"),
        conda:
            "../envs/report.yaml"
        script:
            "../workflow/scripts/rq1_1_2_figure.py"

    rule rq1_1_2_summary:
        input:
            final_csv=rules.rq1_1_2_tables.output.final_csv,
            recommended_csv=rules.rq1_1_2_tables.output.recommended_csv,
            convergence=rules.rq1_1_2_convergence.output.csv,
        output:
            "results/summary/rq1_1_2.md",
        params:
            tolerance=RQ1_1_2["tolerance"],
            fractions=RQ1_1_2["fractions"],
            ci=config["evaluate"]["ci"],
        log:
            log_path("rq1_1_2_summary"),
        conda:
            "../envs/report.yaml"
        script:
            "../workflow/scripts/rq1_1_2_summary.py"

    rule rq1_1_2:
        input:
            rules.rq1_1_2_convergence.output,
            rules.rq1_1_2_tables.output,
            rules.rq1_1_2_train_val_curves.output,
            rules.rq1_1_2_lr_schedules.output,
            rules.rq1_1_2_summary.output,

    QUESTION_TARGETS.extend([*rules.rq1_1_2_convergence.output, *rules.rq1_1_2_tables.output,
                             *rules.rq1_1_2_train_val_curves.output, *rules.rq1_1_2_lr_schedules.output])
    SUMMARY_SECTIONS.append(rules.rq1_1_2_summary.output[0])
