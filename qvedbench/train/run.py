"""One training run: load the adapter, choose trainable parameters, train with transformers' Trainer, and
write the run directory (``checkpoint/``, ``trainer_log.jsonl``, ``resolved_config.yaml``, ``train_stats.json``)."""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import torch
from transformers import Trainer, TrainingArguments, set_seed

from qvedbench.device import describe_device, resolve_device, resolve_dtype, set_threads
from qvedbench.io import JsonlAppender, write_json, write_yaml
from qvedbench.models import load_adapter
from qvedbench.models.base import ModelSpec, VideoVLMAdapter
from qvedbench.train.callbacks import TrainerLogWriter
from qvedbench.train.config import resolve_train_config
from qvedbench.train.data import ClipDataset, VideoCollator
from qvedbench.train.stats import directory_bytes, library_versions, peak_memory_mb, reset_peak_memory
from qvedbench.train.trainable import prepare_trainable

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
    # Intermediate checkpoints are off for now; resumable runs would set save_strategy="steps" here and pass
    # resume_from_checkpoint to train().
    return TrainingArguments(
        output_dir=str(out_dir / "trainer_state"),
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
        save_strategy="no",
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
    """A callable scoring exercise-ID accuracy of greedy answers on ``dataset`` (for validation lines)."""
    from qvedbench.labels import parse_exercise

    def evaluate() -> dict:
        was_training = adapter.model.training
        adapter.model.eval()
        correct = unparsed = 0
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
        finally:
            adapter.model.train(was_training)
        n = len(dataset)
        return {"eval_exercise_accuracy": correct / n, "eval_exercise_unparsed": unparsed, "eval_n": n}

    return evaluate


def _remove_if_empty(folder: Path) -> None:
    """Drop the Trainer's output folder when nothing was saved there (no intermediate checkpoints)."""
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def _plain(obj):
    """``obj`` as plain JSON types (e.g. torch's version string subclass), so YAML writes and reads it back."""
    return json.loads(json.dumps(obj))


def _last(rows: list[dict], key: str):
    return next((row[key] for row in reversed(rows) if key in row), None)


def train_run(spec: ModelSpec, cfg: dict, train_records: list[dict], val_records: list[dict], out_dir, *,
              system_prompt: str, classes: list[str], threads: int | None = None) -> dict:
    """Fine-tune ``spec`` on ``train_records`` and write the run directory ``out_dir``; return the train stats.

    ``cfg`` is a training config (see :data:`qvedbench.train.config.TRAIN_DEFAULTS`). Answers are each record's
    ``reference``, prompts its ``prompt``, and the same ``system_prompt`` must be used at inference.
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

    train_set = ClipDataset(train_records, cfg["frames"], cfg["resolution"], source="train records")
    val_set = ClipDataset(val_records, cfg["frames"], cfg["resolution"], source="val records") if val_records else None
    decode_started = time.perf_counter()
    for dataset in (train_set, val_set):
        if dataset is not None:
            dataset.preload()
    decode_time = time.perf_counter() - decode_started
    args = _training_arguments(cfg, out_dir, device.type == "cuda", _precision_flags(precision),
                               evaluate=val_set is not None)
    write_yaml(out_dir / "resolved_config.yaml", _plain({
        "model": dataclasses.asdict(spec), "train": cfg, "seed": cfg["seed"], "system_prompt": system_prompt,
        "classes": list(classes), "device": describe_device(device), "precision": precision,
        "threads": threads_used, "versions": library_versions(),
    }))

    log_path = out_dir / "trainer_log.jsonl"
    Path(str(log_path) + ".partial").unlink(missing_ok=True)  # no resuming yet: a rerun starts a fresh log
    log = JsonlAppender(log_path, id_key="step")
    eval_extra = None
    if val_set is not None and cfg["eval_generate"]:
        eval_extra = _generation_accuracy(adapter, val_set, system_prompt, classes, cfg["batch_size"],
                                          cfg["eval_max_new_tokens"])
    trainer = Trainer(model=model, args=args, data_collator=VideoCollator(adapter, system_prompt),
                      train_dataset=train_set, eval_dataset=val_set,
                      callbacks=[TrainerLogWriter(log, eval_extra)])
    reset_peak_memory(device)
    train_started = time.perf_counter()
    result = trainer.train()
    train_time = time.perf_counter() - train_started
    final_step = trainer.state.global_step
    if val_set is not None and not any("eval_loss" in row and row["step"] == final_step for row in log.rows):
        trainer.evaluate()
    peak_mb = peak_memory_mb(device)
    rows = log.finish()
    _remove_if_empty(Path(args.output_dir))

    checkpoint = out_dir / "checkpoint"
    adapter.save_checkpoint(model, str(checkpoint))
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
        "val_examples": len(val_set) if val_set is not None else 0,
        "device": str(device),
        "precision": precision,
        "seed": cfg["seed"],
        "threads": threads_used,
        "mean_train_loss": result.training_loss,
        "final_train_loss": _last(rows, "loss"),
        "final_eval_loss": _last(rows, "eval_loss"),
        "final_eval_exercise_accuracy": _last(rows, "eval_exercise_accuracy"),
    }
    write_json(out_dir / "train_stats.json", stats)
    return stats
