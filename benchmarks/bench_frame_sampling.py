"""How much cheaper is sampling 16 frames with ``qvedbench.video.load_frames`` than decoding a whole clip?

Writes a 30 s 1280x720 H.264 clip (with ``write_video``: x264's default keyframe interval of 250 frames)
and a copy with a keyframe every second (as many cameras record), then times, for each clip, the median of a
few runs of

- ``load_frames(clip, num_frames=16)`` (decord ``get_batch`` of the 16 uniformly sampled frames), and
- ``ffmpeg -i clip -f null -`` (decoding every frame, FFmpeg's default threading).

Run: ``python benchmarks/bench_frame_sampling.py [--seconds 30] [--repeats 3] [--keep DIR]``. Prints figures;
not a test.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from qvedbench.video import ffmpeg_binary, load_frames, probe, write_video

WIDTH, HEIGHT, FPS = 1280, 720, 30


def synthetic_frames(seconds: float):
    """A smooth texture panning sideways with a moving disc and a frame counter: compresses like real
    footage rather than like noise or a flat colour."""
    rng = np.random.default_rng(0)
    texture = cv2.resize(rng.integers(0, 256, (45, 160, 3), dtype=np.uint8), (WIDTH * 2, HEIGHT),
                         interpolation=cv2.INTER_CUBIC)
    for i in range(int(seconds * FPS)):
        offset = (6 * i) % WIDTH
        frame = np.ascontiguousarray(texture[:, offset:offset + WIDTH])
        centre = (int(WIDTH / 2 + 400 * np.sin(i / 20)), int(HEIGHT / 2 + 200 * np.cos(i / 15)))
        cv2.circle(frame, centre, 60, (240, 240, 240), -1, cv2.LINE_AA)
        cv2.putText(frame, f"{i:05d}", (40, 80), cv2.FONT_HERSHEY_SIMPLEX, 2, (0, 0, 0), 4, cv2.LINE_AA)
        yield frame


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def full_decode(path: Path) -> None:
    subprocess.run([ffmpeg_binary(), "-v", "error", "-i", str(path), "-f", "null", "-"], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", type=Path, default=None, help="write the clips here instead of a temp folder")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        default_gop = folder / "bench_720p.mp4"
        start = time.perf_counter()
        write_video(synthetic_frames(args.seconds), default_gop, fps=FPS, preset="veryfast")
        print(f"wrote {default_gop.name} in {time.perf_counter() - start:.1f} s")
        one_second_gop = folder / "bench_720p_gop30.mp4"
        subprocess.run([ffmpeg_binary(), "-v", "error", "-y", "-i", str(default_gop), "-c:v", "libx264",
                        "-preset", "veryfast", "-g", str(FPS), "-pix_fmt", "yuv420p", str(one_second_gop)],
                       check=True)

        for path in (default_gop, one_second_gop):
            info = probe(path)
            sampled = timed(lambda: load_frames(path, num_frames=16), args.repeats)
            decoded = timed(lambda: full_decode(path), args.repeats)
            print(f"\n{path.name}: {info.num_frames} frames, {info.width}x{info.height} @ {info.fps:g} fps, "
                  f"{path.stat().st_size / 1e6:.1f} MB")
            print(f"  load_frames(num_frames=16)   {sampled * 1000:8.1f} ms")
            print(f"  ffmpeg full decode -f null   {decoded * 1000:8.1f} ms")
            print(f"  ratio (full / sampled)       {decoded / sampled:8.2f} x")


if __name__ == "__main__":
    main()
