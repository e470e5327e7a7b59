"""Per model family: preprocessing, prefill and per-token decode time, and peak memory, at batch 1 and 8.

Each (family, batch size) runs in a fresh child process, so peak memory is that configuration's own: on CUDA
``torch.cuda.max_memory_allocated`` (weights included); on the CPU the growth of the process's peak resident
set size over what it held after loading the model (weights and imports excluded). Times are the fastest of
``--repeats`` runs:

- preprocessing: ``adapter.encode`` (chat template, tokenizer, the family's frame processing) on CPU tensors;
- prefill: one forward pass over the encoded prompt (video encoder + language model), KV cache built;
- decode: per generated token, ``(generate(N tokens) - generate(1 token)) / (N - 1)`` with EOS disabled.

Tiny models are built offline (``--preset``); ``--path`` benchmarks one real checkpoint of ``--families``
instead (on a GPU).

    python benchmarks/bench_families.py --threads 1
    python benchmarks/bench_families.py --families videollama3 --path DAMO-NLP-SG/VideoLLaMA3-2B \\
        --device cuda --precision bf16 --frames 16 --resolution 384
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import tempfile
import time

import numpy as np
import torch

from qvedbench.device import set_threads
from qvedbench.models import ModelSpec, load_adapter
from qvedbench.models.tiny import build_tiny_model

FAMILIES = ("qwen2_vl", "videollama3", "nvila_lite", "mobile_videogpt")
SYSTEM = "You are an expert physiotherapist. Name the exercise and correct its form."
PROMPT = ("Please evaluate the exercise form shown. What mistakes, if any, are present, "
          "and what corrections would you recommend?")
CORPUS = [SYSTEM, PROMPT, "squat - knees caving in; push them out over your toes",
          "lunge - torso leaning forward; keep your chest up", "plank - hips sagging; brace your core"]


def _best(fn, repeats: int) -> float:
    """Fastest of ``repeats`` runs, in seconds (the least disturbed by other load on a shared machine)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def measure(args: argparse.Namespace, family: str, path: str, batch: int) -> dict:
    """One (family, batch size) in this process; returns the row of figures."""
    set_threads(args.threads)
    spec = ModelSpec(name=family, family=family, path=path, device=args.device, precision=args.precision,
                     frames=args.frames if family != "mobile_videogpt" else max(8, args.frames // 8 * 8),
                     resolution=args.resolution)
    adapter = load_adapter(spec)
    cuda = adapter.device.type == "cuda"
    rng = np.random.default_rng(0)
    clips = [rng.integers(0, 256, (spec.frames, args.resolution, args.resolution, 3), dtype=np.uint8)
             for _ in range(batch)]
    prompts = [PROMPT] * batch

    def generate(tokens: int):
        inputs = adapter._to_model(adapter.encode(clips, SYSTEM, prompts))
        adapter.model.generate(**inputs, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False,
                               pad_token_id=adapter.pad_id)

    if cuda:
        torch.cuda.reset_peak_memory_stats()
    rss_before = _peak_rss_mb()  # after loading: the growth is what inference itself needs
    generate(2)  # warm-up (kernels, allocator, lazy imports)
    encoded = adapter.encode(clips, SYSTEM, prompts)
    inputs = adapter._to_model(encoded)
    preprocess = _best(lambda: adapter.encode(clips, SYSTEM, prompts), args.repeats)
    with torch.inference_mode():
        prefill = _best(lambda: adapter.model(**inputs, use_cache=True), args.repeats)
        one = _best(lambda: generate(1), args.repeats)
        many = _best(lambda: generate(args.new_tokens), args.repeats)
    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else _peak_rss_mb() - rss_before
    return {"family": family, "batch": batch, "prompt_tokens": int(encoded["input_ids"].shape[1]),
            "preprocess_ms": 1000 * preprocess, "prefill_ms": 1000 * prefill,
            "decode_ms_per_token": 1000 * (many - one) / (args.new_tokens - 1), "peak_mb": peak,
            "memory": "CUDA allocated" if cuda else "CPU peak RSS growth"}


def _child(args, family, path, batch, queue) -> None:
    queue.put(measure(args, family, path, batch))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES))
    parser.add_argument("--path", default=None, help="a real checkpoint of the (single) family instead of tiny ones")
    parser.add_argument("--preset", default="s")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.path and len(args.families) != 1:
        parser.error("--path needs exactly one --families entry")

    context = mp.get_context("spawn")  # a fresh process per row: clean peak-memory figures
    print("| family | batch | prompt tokens | preprocess ms | prefill ms | decode ms/token | peak MB |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for family in args.families:
            path = args.path or str(build_tiny_model(family, f"{tmp}/{family}", CORPUS, preset=args.preset))
            for batch in args.batch_sizes:
                queue = context.Queue()
                child = context.Process(target=_child, args=(args, family, path, batch, queue))
                child.start()
                child.join()
                if child.exitcode != 0:
                    raise SystemExit(f"{family} at batch {batch} failed (exit code {child.exitcode})")
                row = queue.get()
                print(f"| {row['family']} | {row['batch']} | {row['prompt_tokens']} | {row['preprocess_ms']:.1f} | "
                      f"{row['prefill_ms']:.1f} | {row['decode_ms_per_token']:.2f} | {row['peak_mb']:.0f} |",
                      flush=True)
    print(f"\nmemory: {row['memory']}; device {args.device}, precision {args.precision}, threads {args.threads}, "
          f"{args.frames} frames at {args.resolution} px, {args.new_tokens} decoded tokens", file=sys.stderr)


if __name__ == "__main__":
    main()
