"""Save and stop on SIGTERM (Slurm preemption, ``scancel``) or SIGUSR1 (Slurm's ``--signal`` warning).

While :func:`stop_requests` is active, those signals only set a flag; :class:`SaveAndStopOnSignal` sees it at
the end of the current optimizer step and asks the Trainer to save a checkpoint and stop, so a restarted job
loses no finished step. If the scheduler's grace period runs out first, the job is simply killed and resumes
from the last periodic checkpoint.
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

from transformers import TrainerCallback

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class TrainingInterrupted(RuntimeError):
    """Training stopped early on request; its state is saved and a rerun resumes it."""


class StopFlag:
    """Set by a signal handler, read by the training callback."""

    def __init__(self):
        self.signal: int | None = None

    def __bool__(self) -> bool:
        return self.signal is not None


@contextmanager
def stop_requests(signals=STOP_SIGNALS) -> Iterator[StopFlag]:
    """Route ``signals`` to a :class:`StopFlag` for the duration of the block, then restore the old handlers.

    Off the main thread (where Python cannot install handlers) the flag is never set.
    """
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum, frame):
        flag.signal = signum
        print(f"received {signal.Signals(signum).name}: saving a checkpoint after this step, then stopping",
              flush=True)

    previous = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        yield flag
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class SaveAndStopOnSignal(TrainerCallback):
    """At the end of a step, once ``flag`` is set: log, save a checkpoint and stop training."""

    def __init__(self, flag: StopFlag):
        self.flag = flag

    def on_step_end(self, args, state, control, **kwargs):
        if self.flag:
            control.should_log = control.should_save = control.should_training_stop = True
        return control
