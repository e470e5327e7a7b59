"""Latency and memory profiler for one model on a set of test records.

One measured *iteration* is one batch going through the whole inference path:

``decode_video``  sampling the batch's clips (:func:`qvedbench.train.data.clip_frames`, i.e. the video layer),
``preprocess``    from the adapter's ``generate`` call to the model's first forward pass (chat template,
                  processor, padding, copy to the device),
``prefill``       the first forward pass (vision encoder plus the whole prompt; it yields the first token),
``decode``        every later forward pass, one per generated token; ``decode_per_token`` is their total
                  divided by their number (the time between the end of the first and the end of the last
                  forward, so the generation loop's own bookkeeping between steps is included),
``postprocess``   from the last forward to the return of ``generate`` (detokenising),
``ttft``          time to first token: from the start of the iteration to the end of the prefill,
``e2e``           the whole iteration.

Forward passes are observed with forward hooks on the adapter's top-level model, so every family that
generates through ``model.generate`` is timed the same way without knowing its internals. Points in time come
from a *clock*: :class:`WallClock` on the CPU, :class:`CudaEventClock` (CUDA events, read after
``torch.cuda.synchronize``) on a GPU, or any object with ``mark``/``sync``/``elapsed`` (tests inject a
synthetic one).

The run warms up first (``warmup`` iterations, not recorded) and then measures until at least
``min_samples`` clips *and* at least ``min_seconds`` of measured end-to-end time are done (``max_iterations``
bounds it). Memory is sampled on a background thread (process RSS; CUDA allocated memory on a GPU) for the
memory-over-time series; peaks come from the samples on the CPU and from torch's peak counters on CUDA.

Running out of memory (``torch.cuda.OutOfMemoryError``, ``MemoryError``, or the optional ``memory_cap_mb`` on
the sampled memory, which lets a CPU run simulate a smaller device) is a result, not a crash: the profile is
returned with ``status: "oom"`` and the message.

Records of a test-set variant carry per-record overrides (``sample_frames``, ``sample_stride``,
``sample_resolution``; :mod:`qvedbench.data.variants`) that the profiler honours as inference does. A frame
count or size the model refuses (``ValueError``, e.g. Mobile-VideoGPT's multiples of 8) is then a result too:
``status: "unsupported"`` with the reason.
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import numpy as np
import psutil
import torch

from qvedbench.device import describe_device, set_threads
from qvedbench.infer import SAMPLING_OVERRIDES, record_frames, variant_spec
from qvedbench.models import ModelSpec, load_adapter
from qvedbench.video import VideoReadError

MB = 2**20
# Stages that partition one iteration's end-to-end time (the dominant stage is the largest of these).
PARTITION = ("decode_video", "preprocess", "prefill", "decode", "postprocess")
# Per-iteration fields summarised as mean/std/p50/p95/p99.
SUMMARISED = PARTITION + ("decode_per_token", "ttft", "e2e", "e2e_per_sample")


class MemoryCapExceeded(MemoryError):
    """The sampled memory went over the configured cap (a simulated out-of-memory)."""


# -- clocks ------------------------------------------------------------------------------------------------------


class Clock(Protocol):
    """A timing source: ``mark()`` records a point in time, ``sync()`` waits until every marked point is known,
    ``elapsed(a, b)`` is the number of seconds from mark ``a`` to mark ``b`` (valid after ``sync()``)."""

    method: str

    def mark(self) -> Any: ...

    def sync(self) -> None: ...

    def elapsed(self, start: Any, end: Any) -> float: ...


class WallClock:
    """Host wall time from :func:`time.perf_counter`."""

    method = "wall_clock"

    def mark(self) -> float:
        return time.perf_counter()

    def sync(self) -> None:
        pass

    def elapsed(self, start: float, end: float) -> float:
        return end - start


class CudaEventClock:
    """CUDA events recorded on the current stream; ``sync`` synchronises the device before they are read, so
    asynchronous kernels are counted in the stage that launched them."""

    method = "cuda_events"

    def __init__(self, device: torch.device):
        self.device = device

    def mark(self):
        event = torch.cuda.Event(enable_timing=True)
        event.record(torch.cuda.current_stream(self.device))
        return event

    def sync(self) -> None:
        torch.cuda.synchronize(self.device)

    def elapsed(self, start, end) -> float:
        return start.elapsed_time(end) / 1000.0


def clock_for(device: torch.device) -> Clock:
    return CudaEventClock(device) if torch.device(device).type == "cuda" else WallClock()


# -- statistics --------------------------------------------------------------------------------------------------


def summarize(values: Sequence[float | None]) -> dict:
    """``{"n", "mean", "std", "p50", "p95", "p99", "min", "max"}`` of the values that are not None (``std`` is
    the sample standard deviation, None below two values; percentiles interpolate linearly). Missing values
    are left out, never filled in; with none left every statistic is None."""
    valid = np.asarray([v for v in values if v is not None], dtype=float)
    if valid.size == 0:
        return {"n": 0, "mean": None, "std": None, "p50": None, "p95": None, "p99": None, "min": None, "max": None}
    p50, p95, p99 = np.percentile(valid, [50, 95, 99])
    return {
        "n": int(valid.size),
        "mean": float(valid.mean()),
        "std": float(valid.std(ddof=1)) if valid.size > 1 else None,
        "p50": float(p50),
        "p95": float(p95),
        "p99": float(p99),
        "min": float(valid.min()),
        "max": float(valid.max()),
    }


def dominant_stage(iterations: Sequence[dict]) -> str | None:
    """The stage of :data:`PARTITION` with the largest total time over the iterations."""
    if not iterations:
        return None
    totals = {stage: sum(it[stage] or 0.0 for it in iterations) for stage in PARTITION}
    return max(totals, key=totals.get)


def summarize_iterations(iterations: Sequence[dict]) -> dict:
    """Stage statistics, throughput and the dominant stage of measured iterations (see the module docstring)."""
    total_time = sum(it["e2e"] for it in iterations)
    tokens = sum(it["tokens"] for it in iterations)
    frames = sum(it["frames"] for it in iterations)
    samples = sum(it["batch"] for it in iterations)
    rate = (lambda count: count / total_time if total_time > 0 else None)
    return {
        "iterations": len(iterations),
        "samples": samples,
        "measured_s": total_time,
        "stages": {stage: summarize([it[stage] for it in iterations]) for stage in SUMMARISED},
        "throughput": {"tokens_per_s": rate(tokens), "frames_per_s": rate(frames), "samples_per_s": rate(samples)},
        "dominant_stage": dominant_stage(iterations),
    }


# -- observing a run ---------------------------------------------------------------------------------------------


class ForwardMarks:
    """Marks the start and end of every forward pass of ``module`` while active (a context manager)."""

    def __init__(self, module: torch.nn.Module, clock: Clock, on_step: Callable[[], None] | None = None):
        self.module, self.clock, self.on_step = module, clock, on_step
        self.starts: list = []
        self.ends: list = []
        self._handles: list = []

    def _pre(self, *_):
        self.starts.append(self.clock.mark())

    def _post(self, *_):
        self.ends.append(self.clock.mark())
        if self.on_step is not None:
            self.on_step()

    def __enter__(self) -> "ForwardMarks":
        self._handles = [self.module.register_forward_pre_hook(self._pre),
                         self.module.register_forward_hook(self._post)]
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()


def process_rss() -> int:
    return psutil.Process(os.getpid()).memory_info().rss


class MemorySampler:
    """Samples ``probe()`` (bytes; the process RSS by default) and, on CUDA, allocated device memory every
    ``interval_s`` seconds on a daemon thread. ``timeline`` holds ``(seconds since start, probe MB, CUDA
    allocated MB or None)``. ``check()`` samples and raises :class:`MemoryCapExceeded` when the memory is over
    the cap (CUDA allocated memory on a GPU, the probe otherwise)."""

    def __init__(self, interval_s: float = 0.05, probe: Callable[[], int] = process_rss,
                 cuda_device: torch.device | None = None, cap_mb: float | None = None):
        self.interval_s, self.probe, self.cuda_device, self.cap_mb = interval_s, probe, cuda_device, cap_mb
        self.timeline: list[tuple[float, float, float | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._start = time.perf_counter()

    def sample(self) -> float:
        """Record one sample; return the memory the cap applies to (MB): CUDA allocated on a GPU, else the probe."""
        used = self.probe() / MB
        cuda = torch.cuda.memory_allocated(self.cuda_device) / MB if self.cuda_device is not None else None
        self.timeline.append((round(time.perf_counter() - self._start, 4), round(used, 2),
                              None if cuda is None else round(cuda, 2)))
        return used if cuda is None else cuda

    def check(self) -> None:
        used = self.sample()
        if self.cap_mb is not None and used > self.cap_mb:
            raise MemoryCapExceeded(f"memory {used:.1f} MB is over the cap of {self.cap_mb:.1f} MB")

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def __enter__(self) -> "MemorySampler":
        self._start = time.perf_counter()
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    @property
    def peak_mb(self) -> float | None:
        return max((used for _, used, _ in self.timeline), default=None)


def _batches(records: Sequence[dict], batch_size: int):
    """Endless batches of ``batch_size`` records, cycling through ``records`` in order."""
    position = 0
    while True:
        yield [records[(position + i) % len(records)] for i in range(batch_size)]
        position = (position + batch_size) % len(records)


def time_iteration(adapter, batch: Sequence[dict], *, system_prompt: str, max_new_tokens: int, clock: Clock,
                   decode_clip: Callable[[dict], np.ndarray], on_step: Callable[[], None] | None = None) -> dict:
    """Run one batch through decoding, ``adapter.generate`` and detokenising; return its stage times (s).

    ``tokens`` counts generated token positions (forward passes times batch size: sequences that stopped
    early still occupy their position in a batch); ``on_step`` runs after every forward pass.
    """
    begin = clock.mark()
    videos = [decode_clip(record) for record in batch]
    decoded = clock.mark()
    with ForwardMarks(adapter.model, clock, on_step) as marks, torch.inference_mode():
        adapter.generate(videos, system_prompt, [r["prompt"] for r in batch], max_new_tokens=max_new_tokens)
    end = clock.mark()
    clock.sync()
    if not marks.ends:
        raise RuntimeError("profiler: the model's forward was never called during generate")
    steps = len(marks.ends)
    decode = clock.elapsed(marks.ends[0], marks.ends[-1])
    e2e = clock.elapsed(begin, end)
    return {
        "batch": len(batch),
        "frames": int(sum(len(v) for v in videos)),
        "steps": steps,
        "tokens": steps * len(batch),
        "decode_video": clock.elapsed(begin, decoded),
        "preprocess": clock.elapsed(decoded, marks.starts[0]),
        "prefill": clock.elapsed(marks.starts[0], marks.ends[0]),
        "decode": decode,
        "decode_per_token": decode / (steps - 1) if steps > 1 else None,
        "postprocess": clock.elapsed(marks.ends[-1], end),
        "ttft": clock.elapsed(begin, marks.ends[0]),
        "e2e": e2e,
        "e2e_per_sample": e2e / len(batch),
    }


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError"


def profile_adapter(adapter, records: Sequence[dict], *, system_prompt: str, batch_size: int = 1,
                    max_new_tokens: int = 64, warmup: int = 2, min_samples: int = 10, min_seconds: float = 5.0,
                    max_iterations: int | None = None, clock: Clock | None = None,
                    decode_clip: Callable[[dict], np.ndarray] | None = None,
                    memory_probe: Callable[[], int] = process_rss, memory_cap_mb: float | None = None,
                    sample_interval_s: float = 0.05) -> dict:
    """Profile a loaded adapter (see the module docstring); returns the JSON-ready profile without model info.

    ``decode_clip(record)`` defaults to the clip sampling inference uses at ``adapter.spec``'s frames and
    resolution (a record's own ``sample_*`` overrides first). ``memory_probe`` is what the sampler reads (the cap applies to it on the CPU, to CUDA allocated
    memory on a GPU).
    """
    if batch_size < 1 or min_samples < 1 or warmup < 0 or min_seconds < 0:
        raise ValueError("profile: batch_size and min_samples must be positive, warmup and min_seconds >= 0")
    if not records:
        raise ValueError("profile: no records to run")
    device = adapter.device
    clock = clock or clock_for(device)
    spec = adapter.spec
    decode_clip = decode_clip or (lambda record: record_frames(record, spec.frames, spec.resolution))
    overridden = any(key in record for record in records for key in SAMPLING_OVERRIDES)
    cuda_device = device if device.type == "cuda" else None
    if cuda_device is not None:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(cuda_device)
    batches = _batches(records, batch_size)
    iterations: list[dict] = []
    status, error, measured = "ok", None, 0.0
    sampler = MemorySampler(sample_interval_s, memory_probe, cuda_device, memory_cap_mb)
    # Without a cap the sampling thread alone records memory; with one, every forward pass also checks it.
    on_step = sampler.check if memory_cap_mb is not None else None
    with sampler:
        try:
            for _ in range(warmup):
                time_iteration(adapter, next(batches), system_prompt=system_prompt, max_new_tokens=max_new_tokens,
                               clock=clock, decode_clip=decode_clip, on_step=on_step)
            while (sum(it["batch"] for it in iterations) < min_samples or measured < min_seconds) and (
                    max_iterations is None or len(iterations) < max_iterations):
                iteration = time_iteration(adapter, next(batches), system_prompt=system_prompt,
                                           max_new_tokens=max_new_tokens, clock=clock, decode_clip=decode_clip,
                                           on_step=on_step)
                iterations.append(iteration)
                measured += iteration["e2e"]
        except (VideoReadError, OSError) as exc:
            raise RuntimeError(f"profile: a clip could not be decoded: {exc}") from exc
        except ValueError as exc:
            # a variant's frame count or size the model (or the clips) cannot take: recorded, not a crash
            if not overridden:
                raise
            status, error = "unsupported", f"ValueError: {exc}"
        except BaseException as exc:  # noqa: BLE001 - only out-of-memory is a result; anything else re-raises
            if not _is_oom(exc):
                raise
            status, error = "oom", f"{type(exc).__name__}: {exc}"
    memory = {"probe_peak_mb": sampler.peak_mb, "timeline": sampler.timeline,
              "cuda_peak_allocated_mb": None, "cuda_peak_reserved_mb": None}
    if cuda_device is not None:
        memory["cuda_peak_allocated_mb"] = torch.cuda.max_memory_allocated(cuda_device) / MB
        memory["cuda_peak_reserved_mb"] = torch.cuda.max_memory_reserved(cuda_device) / MB
        torch.cuda.empty_cache()
    memory["peak_mb"] = memory["cuda_peak_reserved_mb"] if cuda_device is not None else memory["probe_peak_mb"]
    memory["peak_kind"] = "cuda_reserved" if cuda_device is not None else "process_rss"
    return {
        "status": status,
        "error": error,
        "timing_method": clock.method,
        "settings": {"batch_size": batch_size, "max_new_tokens": max_new_tokens, "warmup": warmup,
                     "min_samples": min_samples, "min_seconds": min_seconds, "max_iterations": max_iterations,
                     "memory_cap_mb": memory_cap_mb, "frames": records[0].get("sample_frames", spec.frames),
                     "resolution": records[0].get("sample_resolution", spec.resolution),
                     "precision": spec.precision},
        **summarize_iterations(iterations),
        "memory": memory,
        "per_iteration": iterations,
    }


# -- model size --------------------------------------------------------------------------------------------------


def model_memory_bytes(model: torch.nn.Module) -> int:
    """Bytes held by the model's parameters and buffers."""
    tensors = list(model.parameters()) + list(model.buffers())
    return int(sum(t.numel() * t.element_size() for t in tensors))


def folder_bytes(path: str | os.PathLike | None) -> int | None:
    """Total size of the files under a local folder (None when ``path`` is not a local folder, e.g. a hub id)."""
    if not path or not Path(path).is_dir():
        return None
    return int(sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file()))


def profile_model(spec: ModelSpec, checkpoint: str | None, records: Sequence[dict], *, system_prompt: str,
                  threads: int | None = None, **settings) -> dict:
    """Load ``spec`` (plus ``checkpoint``), profile it on ``records`` with :func:`profile_adapter` (``settings``
    are its keyword arguments) and add the model's size in memory and on disk and the device description."""
    set_threads(threads)
    spec = variant_spec(spec, records)
    adapter = load_adapter(spec, checkpoint)
    adapter.model.eval()
    # A full fine-tuned checkpoint replaces the base weights; an adapter is loaded on top of them.
    full_weights = checkpoint is not None and (Path(checkpoint) / "config.json").is_file()
    disk = folder_bytes(checkpoint) if full_weights else folder_bytes(spec.path)
    if disk is not None and checkpoint and not full_weights:
        disk += folder_bytes(checkpoint) or 0
    result = {"model": spec.name, "family": spec.family, "checkpoint": checkpoint,
              "device": describe_device(adapter.device), "input_size": adapter.input_size()}
    result.update(profile_adapter(adapter, records, system_prompt=system_prompt, **settings))
    result["model_size"] = {"parameters": int(sum(p.numel() for p in adapter.model.parameters())),
                            "memory_bytes": model_memory_bytes(adapter.model), "disk_bytes": disk}
    return result
