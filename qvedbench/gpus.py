"""Give each local GPU job its own devices: a lock-file allocator that sets ``CUDA_VISIBLE_DEVICES``.

Snakemake's ``--resources gpu=N`` caps how many GPU jobs run at once on one machine but never tells a job which
GPU to use, so every job would start on GPU 0. :func:`gpu_slot` picks free devices among the visible ones by
taking an exclusive ``fcntl`` lock on one file per device under a lock folder, exports them as
``CUDA_VISIBLE_DEVICES`` for the duration of the job, and releases them on exit. The kernel drops the locks when
the holding process dies, so a crashed or killed job never leaves a device taken.

Inside a Slurm job (``SLURM_JOB_ID`` set) Slurm has already bound the job's GPUs and the allocator does nothing;
on a machine without GPUs it does nothing either.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

LOCK_DIR_ENV = "QVEDBENCH_GPU_LOCK_DIR"
# Set while a slot is held, so that a nested call (or a child process of the job) keeps the job's devices
# instead of waiting for a lock its own job holds.
HELD_ENV = "QVEDBENCH_GPU_SLOT"


def default_lock_dir() -> Path:
    """``$QVEDBENCH_GPU_LOCK_DIR`` if set, else ``qvedbench-gpus`` in the temporary folder. Every job sharing
    the machine's GPUs must use the same folder (on a multi-user machine, one all of them can write to)."""
    configured = os.environ.get(LOCK_DIR_ENV)
    return Path(configured) if configured else Path(tempfile.gettempdir()) / "qvedbench-gpus"


def in_slurm_job() -> bool:
    return bool(os.environ.get("SLURM_JOB_ID") or os.environ.get("SLURM_JOBID"))


def _nvidia_smi_count() -> int | None:
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        proc = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    return sum(1 for line in proc.stdout.splitlines() if line.startswith("GPU "))


def _torch_count() -> int:
    try:
        import torch
    except ImportError:
        return 0
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def visible_gpus(total: int | None = None) -> list[str]:
    """The device ids a job may be given: ``range(total)`` when given (tests, or to override detection), else
    the entries of ``CUDA_VISIBLE_DEVICES`` when set (indices or UUIDs, kept as written), else one id per
    device that ``nvidia-smi -L`` lists, else torch's CUDA device count. Empty when there is no GPU."""
    if total is not None:
        if total < 0:
            raise ValueError(f"GPU total must be >= 0, got {total}")
        return [str(i) for i in range(total)]
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        # An empty value or "-1" is CUDA's own way of saying "no GPU".
        return [d.strip() for d in env.split(",") if d.strip() and d.strip() != "-1"]
    count = _nvidia_smi_count()
    if count is None:
        count = _torch_count()
    return [str(i) for i in range(count)]


def _lock_path(lock_dir: Path, device: str) -> Path:
    return lock_dir / f"gpu-{re.sub(r'[^A-Za-z0-9_.-]', '_', device)}.lock"


def _try_lock(path: Path) -> int | None:
    """An open descriptor holding an exclusive lock on ``path``, or None when another process holds it."""
    # Read-only is enough for flock, and works on a lock file another user created.
    fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _release(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)  # closing the last descriptor drops the flock


def _acquire(devices: list[str], n: int, lock_dir: Path) -> tuple[list[str], list[int]] | None:
    """All-or-nothing: lock ``n`` free devices, or lock none (so two jobs each wanting two can't deadlock)."""
    chosen: list[str] = []
    fds: list[int] = []
    for device in devices:
        fd = _try_lock(_lock_path(lock_dir, device))
        if fd is not None:
            chosen.append(device)
            fds.append(fd)
            if len(chosen) == n:
                return chosen, fds
    _release(fds)
    return None


@contextlib.contextmanager
def gpu_slot(n: int = 1, lock_dir: str | Path | None = None, total: int | None = None,
             timeout: float | None = None, poll_s: float = 1.0) -> Iterator[list[str]]:
    """Hold ``n`` free GPUs of this machine for the duration of the block and export them as
    ``CUDA_VISIBLE_DEVICES`` (restored on exit); yields the device ids held.

    Does nothing (yields ``[]``) when ``n`` is 0, inside a Slurm job, inside another slot (this process or a
    parent holds one), or when no GPU is visible. Waits while all devices are taken, polling every ``poll_s``
    seconds; raises :class:`TimeoutError` after ``timeout`` seconds (None waits forever) and
    :class:`ValueError` when ``n`` exceeds the number of visible devices.
    Call it before the first CUDA call of the process: CUDA reads ``CUDA_VISIBLE_DEVICES`` once.
    """
    if n < 0:
        raise ValueError(f"number of GPUs must be >= 0, got {n}")
    devices = [] if n == 0 or in_slurm_job() or os.environ.get(HELD_ENV) else visible_gpus(total)
    if not devices:
        yield []
        return
    if n > len(devices):
        raise ValueError(f"job asks for {n} GPU(s) but only {len(devices)} are visible ({','.join(devices)})")
    lock_dir = Path(lock_dir) if lock_dir is not None else default_lock_dir()
    lock_dir.mkdir(parents=True, exist_ok=True)

    deadline = None if timeout is None else time.monotonic() + timeout
    waited = False
    while (held := _acquire(devices, n, lock_dir)) is None:
        if not waited:
            print(f"waiting for {n} free GPU(s) among {','.join(devices)} (locks under {lock_dir})",
                  file=sys.stderr, flush=True)
            waited = True
        if deadline is not None and time.monotonic() >= deadline:
            raise TimeoutError(f"no {n} free GPU(s) among {','.join(devices)} after {timeout} s "
                               f"(locks under {lock_dir})")
        time.sleep(poll_s)
    chosen, fds = held

    previous = {name: os.environ.get(name) for name in ("CUDA_VISIBLE_DEVICES", HELD_ENV)}
    os.environ["CUDA_VISIBLE_DEVICES"] = os.environ[HELD_ENV] = ",".join(chosen)
    try:
        yield chosen
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        _release(fds)
