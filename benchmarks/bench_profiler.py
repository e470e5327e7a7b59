"""The profiler's own overhead against a bare timed loop, and throughput at batch 1..16, on a tiny model.

Builds a tiny random model and a few clips in a temporary folder. The bare loop times each iteration
(decode the clips, ``adapter.generate``) with ``time.perf_counter`` only; the profiled loop runs the same
iterations through :func:`qvedbench.profile.profile_adapter` (forward hooks, per-stage marks, memory
sampling thread). Both are repeated alternately and the medians of the per-iteration means compared. Then
the profiler is run at each batch size and samples/s and tokens/s are printed.

    python benchmarks/bench_profiler.py --threads 1 --iterations 20 --repeats 3
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from qvedbench.device import set_threads
from qvedbench.models import ModelSpec, load_adapter
from qvedbench.models.tiny import build_tiny_model
from qvedbench.profile import profile_adapter
from qvedbench.train.data import clip_frames
from qvedbench.video import write_video

SYSTEM = "You are an expert physiotherapist. Name the exercise and correct its form."
PROMPT = "Please evaluate the exercise form shown. What mistakes, if any, are present?"


def _records(root: Path, count: int, frames: int, side: int) -> list[dict]:
    rng = np.random.default_rng(0)
    records = []
    for i in range(count):
        path = root / f"clip_{i}.mp4"
        write_video(rng.integers(0, 256, (frames, side, side, 3), dtype=np.uint8), path, fps=8)
        records.append({"id": str(i), "video": str(path), "prompt": PROMPT})
    return records


def _bare_loop(adapter, records, batch_size: int, iterations: int, max_new_tokens: int) -> float:
    """Mean seconds per iteration of decode + generate, timed with perf_counter only."""
    spec = adapter.spec
    times = []
    for i in range(iterations):
        batch = [records[(i * batch_size + j) % len(records)] for j in range(batch_size)]
        start = time.perf_counter()
        videos = [clip_frames(r, spec.frames, spec.resolution) for r in batch]
        adapter.generate(videos, SYSTEM, [r["prompt"] for r in batch], max_new_tokens=max_new_tokens)
        times.append(time.perf_counter() - start)
    return statistics.fmean(times)


def _profiled(adapter, records, batch_size: int, iterations: int, max_new_tokens: int) -> dict:
    return profile_adapter(adapter, records, system_prompt=SYSTEM, batch_size=batch_size, warmup=0,
                           min_samples=1, min_seconds=0.0, max_iterations=iterations, max_new_tokens=max_new_tokens)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="s")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    set_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        records = _records(root, 8, 16, args.resolution)
        path = build_tiny_model("qwen2_vl", root / "model", [SYSTEM, PROMPT] * 4, preset=args.preset, seed=0)
        spec = ModelSpec(name="tiny", family="qwen2_vl", path=str(path), device="cpu", frames=args.frames,
                         resolution=args.resolution)
        adapter = load_adapter(spec)
        _bare_loop(adapter, records, 1, 3, args.max_new_tokens)  # warm-up
        bare, profiled = [], []
        for repeat in range(args.repeats):
            # alternate which loop goes first, so slow drift on a shared machine does not favour one
            for which in ((0, 1) if repeat % 2 == 0 else (1, 0)):
                if which == 0:
                    bare.append(_bare_loop(adapter, records, 1, args.iterations, args.max_new_tokens))
                else:
                    result = _profiled(adapter, records, 1, args.iterations, args.max_new_tokens)
                    profiled.append(result["stages"]["e2e"]["mean"])
        b, p = statistics.median(bare), statistics.median(profiled)
        print(f"batch 1, {args.iterations} iterations x {args.repeats} repeats, {args.threads} thread(s)")
        print(f"bare loop:      {1000 * b:8.2f} ms per iteration")
        print(f"profiled loop:  {1000 * p:8.2f} ms per iteration")
        print(f"overhead:       {100 * (p - b) / b:+8.2f} %")
        print()
        print("batch  status  samples/s  tokens/s  per sample ms  peak RSS MB")
        for batch_size in args.batch_sizes:
            r = _profiled(adapter, records, batch_size, max(2, args.iterations // batch_size), args.max_new_tokens)
            t = r["throughput"]
            print(f"{batch_size:5d}  {r['status']:6s}  {t['samples_per_s']:9.1f}  {t['tokens_per_s']:8.1f}  "
                  f"{1000 * r['stages']['e2e_per_sample']['mean']:13.2f}  {r['memory']['peak_mb']:11.0f}")


if __name__ == "__main__":
    main()
