"""Resumable training state: the Trainer's checkpoints in ``<run dir>/trainer_state/`` and the partial log.

A run directory's final files (``checkpoint/``, ``trainer_log.jsonl``, ``resolved_config.yaml``,
``train_stats.json``) are the workflow's declared outputs. Snakemake deletes declared outputs before it reruns a
job (a job killed mid-run is marked incomplete and rerun with ``--rerun-incomplete``), so everything a restarted
job resumes from lives *beside* them and is never declared:

- ``trainer_state/checkpoint-N/``: transformers' own checkpoint (weights or adapter, optimizer, scheduler, RNG
  states, ``trainer_state.json``), every ``save_steps`` steps, the last one kept. ``trainer_state.json`` is the
  last file the Trainer writes, so a folder without a readable one was cut off by a kill and is ignored.
- ``trainer_state/fingerprint.json``: a hash of what the trajectory depends on (model, training settings
  except ``save_steps``, records, prompt, classes). State left by a run with other inputs is discarded.
- ``trainer_log.jsonl.partial``: the log so far; rows after the resumed checkpoint's step are dropped, since
  the resumed run logs those steps again.

Both are removed once the final files are in place.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from qvedbench.io import read_jsonl, write_json, write_jsonl

STATE_DIR = "trainer_state"
FINGERPRINT = "fingerprint.json"
_TRAINER_STATE = "trainer_state.json"  # written last into each checkpoint folder
_CHECKPOINT = re.compile(rf"^{PREFIX_CHECKPOINT_DIR}-(\d+)$")
# Settings that change how often state is saved but not what is computed.
_NOT_FINGERPRINTED = ("save_steps",)


def run_fingerprint(**inputs) -> str:
    """SHA-256 of ``inputs`` (JSON-serialisable values), minus the settings in ``_NOT_FINGERPRINTED``."""
    if isinstance(inputs.get("train"), dict):
        inputs["train"] = {k: v for k, v in inputs["train"].items() if k not in _NOT_FINGERPRINTED}
    text = json.dumps(inputs, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def checkpoint_step(folder: Path) -> int | None:
    """The step of a ``checkpoint-N`` folder that the Trainer finished writing; ``None`` for anything else."""
    match = _CHECKPOINT.match(folder.name)
    if match is None or not folder.is_dir():
        return None
    try:
        state = json.loads((folder / _TRAINER_STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return int(state.get("global_step", match.group(1)))


def latest_checkpoint(state_dir: str | os.PathLike) -> Path | None:
    """The complete checkpoint with the highest step under ``state_dir``, if any."""
    state_dir = Path(state_dir)
    if not state_dir.is_dir():
        return None
    complete = [(step, folder) for folder in state_dir.iterdir() if (step := checkpoint_step(folder)) is not None]
    return max(complete)[1] if complete else None


def prepare_resume(run_dir: str | os.PathLike, fingerprint: str, log_partial: str | os.PathLike) -> Path | None:
    """Make ``run_dir`` ready to train and return the checkpoint to resume from (``None``: start afresh).

    State from other inputs (fingerprint mismatch) is discarded; so are checkpoint folders cut off by a kill.
    The partial log keeps only rows up to the resumed step (all of it is dropped when starting afresh).
    """
    state_dir = Path(run_dir) / STATE_DIR
    log_partial = Path(log_partial)
    stored = state_dir / FINGERPRINT
    try:
        same_inputs = json.loads(stored.read_text(encoding="utf-8")).get("sha256") == fingerprint
    except (OSError, ValueError, AttributeError):
        same_inputs = False
    if not same_inputs and state_dir.exists():
        print(f"discarding training state in {state_dir}: it was made from other inputs", flush=True)
        shutil.rmtree(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    write_json(stored, {"sha256": fingerprint})
    for folder in state_dir.iterdir():
        if _CHECKPOINT.match(folder.name) and checkpoint_step(folder) is None:
            shutil.rmtree(folder)  # cut off mid-save; would confuse the Trainer's checkpoint rotation

    checkpoint = latest_checkpoint(state_dir)
    if checkpoint is None:
        log_partial.unlink(missing_ok=True)
        return None
    step = checkpoint_step(checkpoint)
    if log_partial.exists():
        rows = read_jsonl(log_partial, tolerate_torn_tail=True)
        write_jsonl(log_partial, [row for row in rows if row.get("step", 0) <= step])
    print(f"resuming training from {checkpoint} (step {step})", flush=True)
    return checkpoint


def discard_state(run_dir: str | os.PathLike, log_partial: str | os.PathLike) -> None:
    """Remove the resumable state once the run's final files are published."""
    Path(log_partial).unlink(missing_ok=True)
    shutil.rmtree(Path(run_dir) / STATE_DIR, ignore_errors=True)


def publish_directory(tmp: str | os.PathLike, final: str | os.PathLike) -> None:
    """Move the finished folder ``tmp`` onto ``final``, replacing what is there.

    A kill between the two steps leaves no ``final`` rather than a partial one.
    """
    tmp, final = Path(tmp), Path(final)
    if final.is_dir() and not final.is_symlink():
        shutil.rmtree(final)
    elif final.exists() or final.is_symlink():
        final.unlink()
    os.replace(tmp, final)
