"""Inference throughput of a tiny model at batch size 1 vs 8 (greedy generation through the adapter).

Builds a tiny random model in a temporary folder, then times ``adapter.generate`` over the same clips at each
batch size and prints samples per second (fastest of ``--repeats`` runs), plus one forward pass and one
generate call on a single clip.

    python benchmarks/bench_infer_batch.py --family qwen2_vl --preset s --samples 32 --threads 2
"""
from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch

from qvedbench.device import describe_device, set_threads
from qvedbench.models import ModelSpec, load_adapter
from qvedbench.models.tiny import build_tiny_model

SYSTEM = "You are an expert physiotherapist. Name the exercise and correct its form."
PROMPT = ("Please evaluate the exercise form shown. What mistakes, if any, are present, "
          "and what corrections would you recommend?")
CORPUS = [SYSTEM, PROMPT, "squat - knees caving in; push them out over your toes",
          "lunge - torso leaning forward; keep your chest up", "plank - hips sagging; brace your core"]


def _best_time(fn, repeats: int) -> float:
    """Fastest of ``repeats`` runs, in seconds: the least disturbed by other load on a shared machine."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="qwen2_vl")
    parser.add_argument("--preset", default="s")
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--repeats", type=int, default=3, help="time each measurement this often, keep the fastest")
    args = parser.parse_args()

    set_threads(args.threads)
    rng = np.random.default_rng(0)
    clips = [rng.integers(0, 256, (args.frames, args.resolution, args.resolution, 3), dtype=np.uint8)
             for _ in range(args.samples)]
    with tempfile.TemporaryDirectory() as tmp:
        path = build_tiny_model(args.family, f"{tmp}/model", CORPUS, preset=args.preset, seed=0)
        spec = ModelSpec(name="bench", family=args.family, path=str(path), frames=args.frames,
                         resolution=args.resolution, device=args.device, precision=args.precision)
        adapter = load_adapter(spec)
    counts = adapter.parameter_counts()
    info = describe_device(adapter.device)
    print(f"model {args.family}/{args.preset}: {counts['total']:,} parameters on {info['name']} "
          f"({info['type']}, {info['threads']} threads), {args.precision}")
    print(f"clips: {args.frames} frames of {args.resolution} px; max_new_tokens={args.max_new_tokens}")

    adapter.generate(clips[:1], SYSTEM, [PROMPT], max_new_tokens=4)  # warm-up
    batch = {k: (v.to(adapter.device) if isinstance(v, torch.Tensor) else v)
             for k, v in adapter.encode(clips[:1], SYSTEM, [PROMPT], answers=["squat"]).items()}
    with torch.inference_mode():
        forward_s = _best_time(lambda: adapter.model(**batch), 5 * args.repeats)
    gen8_s = _best_time(lambda: adapter.generate(clips[:1], SYSTEM, [PROMPT], max_new_tokens=8), 5 * args.repeats)
    print(f"single clip: forward {forward_s * 1000:.1f} ms, generate(8 tokens) {gen8_s * 1000:.1f} ms")

    for bs in args.batch_sizes:
        def run() -> None:
            for start in range(0, len(clips), bs):
                chunk = clips[start:start + bs]
                adapter.generate(chunk, SYSTEM, [PROMPT] * len(chunk), max_new_tokens=args.max_new_tokens)
        seconds = _best_time(run, args.repeats)
        print(f"batch {bs:>2}: {len(clips) / seconds:7.2f} samples/s ({seconds:.2f} s for {len(clips)} samples)")


if __name__ == "__main__":
    main()
