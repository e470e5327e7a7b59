"""One training run: load the adapter, choose trainable parameters, train with transformers' Trainer, and
write the run directory (``checkpoint/``, ``trainer_log.jsonl``, ``resolved_config.yaml``, ``train_stats.json``).

Runs are resumable: the Trainer checkpoints every ``save_steps`` steps into ``<run dir>/trainer_state/``, and a
rerun of a killed job continues from the last checkpoint with the same data order, learning-rate schedule and
RNG state, so on the CPU with a fixed seed it ends with exactly the weights and log of an uninterrupted run.
SIGTERM (preemption) saves a checkpoint at the end of the current step, then raises
:class:`~qvedbench.train.preemption.TrainingInterrupted`. ``checkpoint/``, ``trainer_log.jsonl`` and
``train_stats.json`` appear only at the end, each atomically, ``train_stats.json`` last; the resumable state is
then removed. See :mod:`qvedbench.train.resume` for why that state is not a declared workflow output.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path

import torch
from transformers import Trainer, TrainingArguments, set_seed

from qvedbench.device import describe_device, resolve_device, resolve_dtype, set_threads
from qvedbench.io import JsonlAppender, write_json, write_jsonl, write_yaml
from qvedbench.models import load_adapter
from qvedbench.models.base import ModelSpec, VideoVLMAdapter
from qvedbench.secrets import redact
from qvedbench.train.callbacks import TrainerLogWriter
from qvedbench.train.config import resolve_train_config
from qvedbench.train.data import ClipDataset, VideoCollator
from qvedbench.train.preemption import SaveAndStopOnSignal, TrainingInterrupted, stop_requests
from qvedbench.train.resume import (STATE_DIR, checkpoint_step, discard_state, prepare_resume, publish_directory,
                                    run_fingerprint)
from qvedbench.train.stats import directory_bytes, library_versions, peak_memory_mb, reset_peak_memory
from qvedbench.train.trainable import prepare_trainable
from qvedbench.train.weighting import WeightedLossTrainer, class_counts, class_weights, sample_weights

# Mixed precision: weights stay fp32 and the Trainer autocasts, so optimizer state and updates keep full precision.
_AUTOCAST = ("bf16", "fp16")


def _precision_flags(precision: str) -> dict:
    """TrainingArguments flags for the spec's precision (already validated for the device)."""
    if precision in _AUTOCAST:
        return {precision: True}
    if precision == "tf32":
        return {"tf32": True}
    return {}


def _training_arguments(cfg: dict, out_dir: Path, cuda: bool, precision_flags: dict, evaluate: bool):
    return TrainingArguments(
        output_dir=str(out_dir / STATE_DIR),
        per_device_train_batch_size=cfg["batch_size"],
        per_device_eval_batch_size=cfg["batch_size"],
        gradient_accumulation_steps=cfg["grad_accum"],
        learning_rate=cfg["lr"],
        lr_scheduler_type=cfg["scheduler"],
        warmup_steps=float(cfg["warmup_ratio"]),  # a float below 1 is a ratio of the total steps
        num_train_epochs=cfg["epochs"],
        max_steps=cfg["max_steps"],
        weight_decay=cfg["weight_decay"],
        max_grad_norm=cfg["max_grad_norm"],
        logging_strategy="steps",
        logging_steps=cfg["logging_steps"],
        eval_strategy="steps" if evaluate and cfg["eval_steps"] else "no",
        eval_steps=cfg["eval_steps"],
        prediction_loss_only=True,
        save_strategy="steps" if cfg["save_steps"] else "no",
        save_steps=cfg["save_steps"] or 500,  # unused when save_strategy is "no"
        save_total_limit=1,  # a checkpoint cut off by a kill is skipped (resume.py), so one complete one suffices
        report_to="none",
        remove_unused_columns=False,
        label_names=["labels"],
        seed=cfg["seed"],
        data_seed=cfg["seed"],
        use_cpu=not cuda,
        dataloader_num_workers=0,  # frames are cached in the dataset, which must stay in this process
        dataloader_pin_memory=cuda,
        disable_tqdm=True,
        **precision_flags,
    )


def _generation_accuracy(adapter: VideoVLMAdapter, dataset: ClipDataset, system_prompt: str, classes: list[str],
                         batch_size: int, max_new_tokens: int):
    """A callable scoring greedy answers on ``dataset`` (for validation lines): exercise-ID accuracy and the
    mean ROUGE-L F1 of the answers against the references (``eval_rouge_l``)."""
    from qvedbench.labels import parse_exercise
    from qvedbench.metrics.text import rouge_l

    def evaluate() -> dict:
        was_training = adapter.model.training
        adapter.model.eval()
        correct = unparsed = 0
        rouge_total = 0.0
        try:
            with torch.no_grad():
                for start in range(0, len(dataset), batch_size):
                    items = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
                    answers = adapter.generate([it["video"] for it in items], system_prompt,
                                               [it["prompt"] for it in items], max_new_tokens=max_new_tokens)
                    for item, answer in zip(items, answers):
                        predicted = parse_exercise(answer, classes)
                        unparsed += predicted is None
                        correct += predicted is not None and predicted == item["exercise"]
                        rouge_total += rouge_l(answer, item["answer"])
        finally:
            adapter.model.train(was_training)
        n = len(dataset)
        return {"eval_exercise_accuracy": correct / n, "eval_exercise_unparsed": unparsed,
                "eval_rouge_l": rouge_total / n, "eval_n": n}

    return evaluate


def _plain(obj):
    """``obj`` as plain JSON types (e.g. torch's version string subclass), so YAML writes and reads it back."""
    return json.loads(json.dumps(obj))


def _last(rows: list[dict], key: str):
    return next((row[key] for row in reversed(rows) if key in row), None)


def _mean_train_loss(rows: list[dict]) -> float | None:
    """Mean loss over all steps from the log, whose rows each average the steps since the previous one."""
    total = previous = 0
    for row in sorted((r for r in rows if "loss" in r), key=lambda r: r["step"]):
        total += row["loss"] * (row["step"] - previous)
        previous = row["step"]
    return total / previous if previous else None


def train_run(spec: ModelSpec, cfg: dict, train_records: list[dict], val_records: list[dict], out_dir, *,
              system_prompt: str, classes: list[str], threads: int | None = None) -> dict:
    """Fine-tune ``spec`` on ``train_records`` and write the run directory ``out_dir``; return the train stats.

    ``cfg`` is a training config (see :data:`qvedbench.train.config.TRAIN_DEFAULTS`). Answers are each record's
    ``reference``, prompts its ``prompt``, and the same ``system_prompt`` must be used at inference.

    If ``out_dir`` holds resumable state from a killed run with the same inputs, training continues from its
    last checkpoint; the stats then say ``resumed_from_step``, and their times and peak memory are this
    attempt's. Raises :class:`~qvedbench.train.preemption.TrainingInterrupted` after saving state on SIGTERM.
    """
    started = time.perf_counter()
    cfg = resolve_train_config(cfg, spec)
    if not train_records:
        raise ValueError("no training records")
    device = resolve_device(spec.device, spec.name)
    precision = cfg["precision"]
    resolve_dtype(precision, device, spec.name)  # fails fast on a precision this device cannot run
    threads_used = set_threads(threads)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)

    set_seed(cfg["seed"])
    load_spec = dataclasses.replace(spec, precision="fp32") if precision in _AUTOCAST else spec
    adapter = load_adapter(load_spec)
    model = prepare_trainable(adapter, cfg)
    counts = adapter.parameter_counts(model)

    weights = sample_weights(train_records, cfg["loss_weighting"])
    train_set = ClipDataset(train_records, cfg["frames"], cfg["resolution"], source="train records",
                            weights=weights)
    val_set = ClipDataset(val_records, cfg["frames"], cfg["resolution"], source="val records") if val_records else None
    decode_started = time.perf_counter()
    for dataset in (train_set, val_set):
        if dataset is not None:
            dataset.preload()
    decode_time = time.perf_counter() - decode_started
    args = _training_arguments(cfg, out_dir, device.type == "cuda", _precision_flags(precision),
                               evaluate=val_set is not None)
    write_yaml(out_dir / "resolved_config.yaml", redact(_plain({
        "model": dataclasses.asdict(spec), "train": cfg, "seed": cfg["seed"], "system_prompt": system_prompt,
        # the hub commit the weights came from (transformers records it; None for a local folder), so an
        # unpinned `revision` is still traceable
        "checkpoint_commit": getattr(getattr(adapter.model, "config", None), "_commit_hash", None),
        "classes": list(classes), "device": describe_device(device), "precision": precision,
        "threads": threads_used, "versions": library_versions(),
    })))

    log_path = out_dir / "trainer_log.jsonl"
    log_partial = Path(str(log_path) + ".partial")
    resume_from = prepare_resume(out_dir, run_fingerprint(
        model=dataclasses.asdict(spec), train=cfg, train_records=train_records, val_records=val_records,
        system_prompt=system_prompt, classes=list(classes)), log_partial)
    resumed_step = checkpoint_step(resume_from) if resume_from else None  # the folder is rotated away later
    log = JsonlAppender(log_path, id_key="step")
    eval_extra = None
    if val_set is not None and cfg["eval_generate"]:
        eval_extra = _generation_accuracy(adapter, val_set, system_prompt, classes, cfg["batch_size"],
                                          cfg["eval_max_new_tokens"])
    with stop_requests() as stop:
        # loss_weighting none: transformers' Trainer with the model's own loss, exactly as without weighting
        trainer_class = Trainer if weights is None else WeightedLossTrainer
        trainer = trainer_class(model=model, args=args, data_collator=VideoCollator(adapter, system_prompt),
                                train_dataset=train_set, eval_dataset=val_set,
                                callbacks=[SaveAndStopOnSignal(stop), TrainerLogWriter(log, eval_extra)])
        reset_peak_memory(device)
        train_started = time.perf_counter()
        trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
        train_time = time.perf_counter() - train_started
    if stop:
        log.close()
        raise TrainingInterrupted(f"training stopped by signal {stop.signal} at step {trainer.state.global_step}; "
                                  f"its state is saved in {args.output_dir} and a rerun resumes it")
    final_step = trainer.state.global_step
    if val_set is not None and not any("eval_loss" in row and row["step"] == final_step for row in log.rows):
        trainer.evaluate()
    peak_mb = peak_memory_mb(device)
    log.close()
    rows = log.rows

    # Publish: the checkpoint through a temporary folder, the log, and train_stats.json last. The partial log
    # and trainer_state/ stay until then, so a kill in between still resumes (from the final step).
    checkpoint = out_dir / "checkpoint"
    staging = out_dir / ".checkpoint.partial"
    shutil.rmtree(staging, ignore_errors=True)
    adapter.save_checkpoint(model, str(staging))
    publish_directory(staging, checkpoint)
    write_jsonl(log_path, rows)
    epochs = float(trainer.state.epoch or 0.0)
    stats = {
        "method": cfg["method"],
        "trainable_params": counts["trainable"],
        "total_params": counts["total"],
        "wall_time_s": round(time.perf_counter() - started, 3),
        "decode_time_s": round(decode_time, 3),
        "train_time_s": round(train_time, 3),
        "time_per_epoch_s": round(train_time / epochs, 3) if epochs else None,
        "peak_memory_mb": round(peak_mb, 1),
        "checkpoint_bytes": directory_bytes(checkpoint),
        "steps": int(trainer.state.global_step),
        "epochs": epochs,
        "train_examples": len(train_set),
        "train_class_counts": class_counts(train_records) if all("exercise" in r for r in train_records) else None,
        "loss_weighting": cfg["loss_weighting"],
        "class_weights": class_weights(train_records) if weights is not None else None,
        "val_examples": len(val_set) if val_set is not None else 0,
        "device": str(device),
        "precision": precision,
        "seed": cfg["seed"],
        "threads": threads_used,
        "resumed_from_step": resumed_step,
        "mean_train_loss": _mean_train_loss(rows),
        "final_train_loss": _last(rows, "loss"),
        "final_eval_loss": _last(rows, "eval_loss"),
        "final_eval_exercise_accuracy": _last(rows, "eval_exercise_accuracy"),
    }
    write_json(out_dir / "train_stats.json", stats)
    discard_state(out_dir, log_partial)
    return stats
