"""Trainer callbacks: the incremental ``trainer_log.jsonl`` with optional generation-based validation."""
from __future__ import annotations

import random
from typing import Callable

import numpy as np
import torch
from transformers import TrainerCallback

from qvedbench.io import JsonlAppender

# Keys the Trainer logs that describe the run rather than a measurement worth keeping per line.
_DROPPED = {"total_flos", "train_runtime", "train_samples_per_second", "train_steps_per_second",
            "eval_runtime", "eval_samples_per_second", "eval_steps_per_second"}


class TrainerLogWriter(TrainerCallback):
    """Append one JSON line per logging step and per evaluation to an :class:`~qvedbench.io.JsonlAppender`.

    Training lines hold ``step``, ``epoch``, ``loss``, ``learning_rate`` (and ``grad_norm``); evaluation lines
    hold ``step``, ``epoch``, ``eval_loss`` plus whatever ``eval_extra()`` returns (e.g. generation accuracy),
    computed after the Trainer's own evaluation and merged into the same line. The caller publishes the file
    once training is done.

    The loss is also logged at every checkpoint and at the last step, so the log covers every step (its
    step-weighted mean is the run's mean training loss) and a run resumed from a checkpoint continues it
    without a gap. Add this callback after the Trainer's defaults (as ``Trainer(callbacks=...)`` does).

    Evaluation only observes: the random-number state is restored after each evaluation during training, so
    ``eval_steps`` and ``eval_generate`` do not change the trained weights (each evaluation data loader draws a
    seed from torch's global generator, which would otherwise shift every later dropout mask).
    """

    def __init__(self, appender: JsonlAppender, eval_extra: Callable[[], dict] | None = None):
        self.appender = appender
        self.eval_extra = eval_extra
        self._pending_eval: dict | None = None
        self._rng_before_eval: dict | None = None

    def on_step_end(self, args, state, control, **kwargs):
        if control.should_save or state.global_step >= state.max_steps:
            control.should_log = True
        if control.should_evaluate:
            self._rng_before_eval = rng_state()
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = {k: v for k, v in (logs or {}).items() if k not in _DROPPED}
        row = {"step": state.global_step, "epoch": state.epoch, **logs}
        if "eval_loss" in row:
            self._pending_eval = row  # completed in on_evaluate, which the Trainer calls right after logging
        elif "loss" in row:
            self.appender.append(row)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        row = self._pending_eval or {"step": state.global_step, "epoch": state.epoch,
                                     **{k: v for k, v in (metrics or {}).items() if k not in _DROPPED}}
        self._pending_eval = None
        if self.eval_extra is not None:
            row.update(self.eval_extra())
        self.appender.append(row)
        if self._rng_before_eval is not None:
            restore_rng_state(self._rng_before_eval)
            self._rng_before_eval = None


def rng_state() -> dict:
    """The state of every generator training draws from: Python's, NumPy's, torch's CPU and CUDA ones."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    """Put back a state taken by :func:`rng_state`."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state:
        torch.cuda.set_rng_state_all(state["cuda"])
