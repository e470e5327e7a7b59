"""The bad-input corpus: broken and unusual inputs qvedbench must handle, built at test time (nothing binary is
committed). :func:`build_bad_corpus` writes, under one folder (the tests' ``tests/data/bad/``)::

    videos/<class>/*.mp4   the video root: good clips, broken files and unusual but valid videos
    videos/squats/escape.mp4   a symbolic link to outside/secret.mp4, i.e. out of the video root
    outside/secret.mp4     a clip outside the video root
    annotations/*.json     QVED annotation files, each broken in one way (plus all_videos.json: one record per clip)
    configs/*.yaml         configuration overrides, each broken in one way
    predictions/*.jsonl    predictions files, each broken in one way
    landscape.mp4          the unrotated source of the rotated clip

The catalogues below say what each item is and what must happen to it; tests/test_bad_inputs.py runs every
item through the real entry points.
"""
from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qvedbench.video import ffmpeg_binary, write_video

CLASSES = ["squats", "lunges", "push-ups"]
PROMPT = "Please evaluate the exercise form shown. What mistakes, if any, are present?"
FEEDBACK = "knees caving in; push them out over your toes"
MIN_FRAMES = 4  # prepare_dataset's min_frames for the corpus


@dataclass(frozen=True)
class VideoCase:
    """One clip of the corpus and its expected fate.

    ``problem``: the ``problems.jsonl`` reason prepare_dataset gives it (None: usable), ``match``: a regex
    the error message must contain; ``size``: the probed ``(height, width)`` of a usable clip.
    """

    rel: str
    what: str
    problem: str | None = None
    match: str = ""
    size: tuple[int, int] | None = None


GOOD_SIZE = (48, 64)
VIDEOS = {
    "good": VideoCase("squats/good.mp4", "an ordinary 16-frame clip", size=GOOD_SIZE),
    "good_lunges": VideoCase("lunges/good.mp4", "an ordinary clip of another class", size=GOOD_SIZE),
    "good_push_ups": VideoCase("push-ups/good.mp4", "an ordinary clip of a third class", size=GOOD_SIZE),
    "truncated": VideoCase("squats/truncated.mp4", "the first half of a good clip's bytes", "unreadable", "truncated|corrupt|decode"),
    "zero_bytes": VideoCase("squats/zero_bytes.mp4", "an empty file", "empty", "zero-byte|empty"),
    "text": VideoCase("squats/text.mp4", "a text file named .mp4", "unreadable", "decode|open"),
    "audio_only": VideoCase("squats/audio_only.mp4", "an mp4 with a sine tone and no video stream", "unreadable", "no video stream|no decodable frames"),
    "one_frame": VideoCase("lunges/one_frame.mp4", "a valid 1-frame video", "too_short", "1 frames, fewer than min_frames"),
    "vfr": VideoCase("lunges/vfr.mp4", "variable frame rate: 20 frames at 10 fps then 40 at 30 fps", size=GOOD_SIZE),
    "rotated": VideoCase("push-ups/rotated.mp4", "a 64x32 landscape stream with 90-degree rotation metadata (portrait on a phone)", size=(64, 32)),
    "huge": VideoCase("push-ups/huge.mp4", "4096x2160, 4 frames", size=(2160, 4096)),
}
VFR_FRAMES = 60
HUGE_FRAMES = 4


@dataclass(frozen=True)
class AnnotationCase:
    """An annotation file broken in one way: prepare_dataset must raise RecordError naming index and field."""

    what: str
    records: list | bytes  # bytes: written as they are
    index: int | None
    field: str | None
    match: str


def _record(video: str, reference: str = f"squats - {FEEDBACK}", prompt: str = PROMPT, **extra) -> dict:
    return {"video": video, "conversations": [{"from": "human", "value": prompt}, {"from": "gpt", "value": reference}],
            **extra}


GOOD_RECORD = _record("squats/good.mp4")
OUTSIDE = "@OUTSIDE@"  # replaced by the absolute path of the corpus's outside/ folder
_NOT_UTF8 = json.dumps([GOOD_RECORD]).encode("utf-8").replace(b"caving", b"cav\xefng")  # latin-1 style byte
_SURROGATE = json.dumps([GOOD_RECORD, _record("lunges/good.mp4", "lunges - torso \\ud800 leaning")]).replace("\\\\ud800", "\\ud800")

ANNOTATIONS = {
    "not_utf8": AnnotationCase("a byte that is not UTF-8", _NOT_UTF8, None, None, "not valid UTF-8"),
    "unpaired_surrogate": AnnotationCase(
        "an escaped lone surrogate in a reference", _SURROGATE.encode(), 1, "conversations[1].value", "unpaired surrogate"),
    "empty_video": AnnotationCase("an empty video path", [_record("")], 0, "video", "non-empty path"),
    "empty_prompt": AnnotationCase("an empty prompt", [_record("squats/good.mp4", prompt="")], 0, "conversations[0].value", "empty prompt"),
    "empty_reference": AnnotationCase("an empty reference", [_record("squats/good.mp4", reference="")], 0, "conversations[1].value", "empty reference"),
    "empty_id": AnnotationCase("an empty id", [_record("squats/good.mp4", id="")], 0, "id", "non-empty string"),
    "duplicate_ids": AnnotationCase(
        "two records with one id", [_record("squats/good.mp4", id="a"), _record("lunges/good.mp4", "lunges - x", id="a")],
        1, "id", "duplicate id 'a'"),
    "unknown_class": AnnotationCase(
        "a class that is not configured", [GOOD_RECORD, _record("jumping_jacks/a.mp4", "jumping jacks - arms bent")],
        1, "conversations", "'jumping jacks' is not a configured class"),
    "dotdot": AnnotationCase("a path climbing out with ..", [_record("squats/../../outside/secret.mp4")], 0, "video", "outside the video root"),
    "absolute": AnnotationCase("an absolute path to an existing clip", [_record(OUTSIDE + "/secret.mp4")], 0, "video", "absolute path"),
    "symlink_escape": AnnotationCase("a symlink inside the root pointing out of it", [_record("squats/escape.mp4")], 0, "video", "outside the video root"),
    "nul_in_path": AnnotationCase("a NUL character in the path", [_record("squats/good\u0000.mp4")], 0, "video", "control characters"),
}


@dataclass(frozen=True)
class ConfigCase:
    """A YAML override of config/demo.yaml: load_config must raise ConfigError with every ``match`` in it."""

    what: str
    text: str | bytes
    match: tuple[str, ...]


CONFIGS = {
    "lr_as_text": ConfigCase("YAML 1.1 reads 1e-4 (no dot) as a string", "train:\n  baseline:\n    lr: 1e-4\n",
                             ("'train.baseline.lr'", "'1e-4' is not of type 'number'", "1.0e-4")),
    "wrong_types": ConfigCase(
        "a string seed and a fractional batch size", "seed: forty-two\ntrain:\n  baseline:\n    batch_size: 2.5\n",
        ("'seed'", "'forty-two' is not of type 'integer'", "'train.baseline.batch_size'", "2.5")),
    "unknown_keys": ConfigCase(
        "misspelt keys at two levels", "devcie: cpu\ntrain:\n  baseline:\n    learning_rate: 0.001\n",
        ("'<top level>'", "'devcie'", "'train.baseline'", "'learning_rate'")),
    "not_utf8": ConfigCase("a byte that is not UTF-8", b"seed: 4\xff2\n", ("not valid UTF-8",)),
    "malformed": ConfigCase("an unclosed flow sequence", "dataset:\n  classes: [squats, lunges\n", ("malformed YAML",)),
    "top_level_list": ConfigCase("a list instead of a mapping", "- seed: 1\n", ("expected a mapping",)),
}


_PREDICTION = {"id": "a", "exercise": "squats", "reference": f"squats - {FEEDBACK}", "prediction": "squats - fine"}


@dataclass(frozen=True)
class PredictionsCase:
    """A predictions JSONL broken in one way: scoring must raise RecordError naming line and field."""

    what: str
    text: bytes
    index: int | None
    field: str | None
    match: str


def _jsonl(*rows: dict) -> bytes:
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


PREDICTIONS = {
    "not_utf8": PredictionsCase("a byte that is not UTF-8", _jsonl(_PREDICTION).replace(b"fine", b"f\xffne"),
                                None, None, "not valid UTF-8"),
    "torn_line": PredictionsCase("a last line cut off (a finished file is never torn)",
                                 _jsonl(_PREDICTION) + b'{"id": "b", "exer', 1, None, "malformed JSON line"),
    "prediction_not_text": PredictionsCase("a number as the prediction", _jsonl({**_PREDICTION, "prediction": 3}),
                                           0, "prediction", "string or null"),
    "unknown_class": PredictionsCase("an exercise outside the classes", _jsonl({**_PREDICTION, "exercise": "yoga"}),
                                     0, "exercise", "not one of the classes"),
    "duplicate_ids": PredictionsCase("one id twice", _jsonl(_PREDICTION, _PREDICTION), 1, "id", "duplicate id 'a'"),
}


@dataclass
class BadCorpus:
    root: Path
    video_root: Path
    outside: Path

    def video(self, name: str) -> Path:
        return self.video_root / VIDEOS[name].rel

    def annotation(self, name: str) -> Path:
        return self.root / "annotations" / f"{name}.json"

    def config(self, name: str) -> Path:
        return self.root / "configs" / f"{name}.yaml"

    def predictions(self, name: str) -> Path:
        return self.root / "predictions" / f"{name}.jsonl"


def _ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args], check=True,
                   capture_output=True)


def _h264(path: Path) -> list[str]:
    return ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-threads", "1", str(path)]


def marked_frames(n: int, height: int, width: int, class_index: int = 0) -> np.ndarray:
    """A class-coloured background with a white block at the top left (it shows orientation) that moves one
    pixel right per frame (it shows frame order)."""
    frames = np.zeros((n, height, width, 3), dtype=np.uint8)
    frames[..., class_index] = 120
    for t in range(n):
        frames[t, : height // 4, t: t + width // 4] = 255
    return frames


def _rotate(src: Path, dst: Path, degrees: int) -> None:
    """Copy ``src`` adding display-rotation metadata (the option's spelling changed in FFmpeg 6)."""
    try:
        _ffmpeg("-display_rotation", str(degrees), "-i", str(src), "-c", "copy", str(dst))
    except subprocess.CalledProcessError:
        _ffmpeg("-i", str(src), "-c", "copy", "-metadata:s:v", f"rotate={degrees}", str(dst))


def _write_videos(corpus: BadCorpus) -> None:
    good = corpus.video("good")
    for name, class_index in (("good", 0), ("good_lunges", 1), ("good_push_ups", 2)):
        write_video(marked_frames(16, *GOOD_SIZE, class_index), corpus.video(name), fps=8)
    data = good.read_bytes()
    corpus.video("truncated").write_bytes(data[: len(data) // 2])
    corpus.video("zero_bytes").touch()
    corpus.video("text").write_text("this is a text file, not a video\n" * 40)
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=0.5", "-c:a", "aac", str(corpus.video("audio_only")))
    write_video(marked_frames(1, *GOOD_SIZE), corpus.video("one_frame"), fps=8)
    h, w = GOOD_SIZE
    _ffmpeg("-f", "lavfi", "-i", f"testsrc=size={w}x{h}:rate=30:duration=2",
            "-vf", "setpts='if(lt(N,20),N/(10*TB),2/TB+(N-20)/(30*TB))'", "-fps_mode", "vfr",
            *_h264(corpus.video("vfr")))
    landscape = corpus.root / "landscape.mp4"
    write_video(marked_frames(8, 32, 64), landscape, fps=8, crf=10)
    _rotate(landscape, corpus.video("rotated"), 90)
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=4096x2160:rate=8", "-frames:v", str(HUGE_FRAMES),
            *_h264(corpus.video("huge")))
    write_video(marked_frames(16, *GOOD_SIZE), corpus.outside / "secret.mp4", fps=8)
    os.symlink(corpus.outside / "secret.mp4", corpus.video_root / "squats" / "escape.mp4")


def all_videos_records() -> list[dict]:
    """One annotation record per corpus clip (ids are the case names), for the whole-corpus preparation."""
    return [_record(case.rel, f"{case.rel.split('/')[0]} - {FEEDBACK}", id=name) for name, case in VIDEOS.items()]


def build_bad_corpus(root: str | os.PathLike) -> BadCorpus:
    """Write the whole corpus under ``root`` (a few seconds, most of it encoding the 4K clip)."""
    root = Path(root)
    corpus = BadCorpus(root, root / "videos", root / "outside")
    for folder in [corpus.outside, root / "annotations", root / "configs", root / "predictions"] + [corpus.video_root / c for c in CLASSES]:
        folder.mkdir(parents=True, exist_ok=True)
    _write_videos(corpus)
    corpus.annotation("all_videos").write_text(json.dumps(all_videos_records(), indent=1), encoding="utf-8")
    for name, case in ANNOTATIONS.items():
        path = corpus.annotation(name)
        if isinstance(case.records, bytes):
            path.write_bytes(case.records)
        else:
            path.write_text(json.dumps(case.records).replace(OUTSIDE, str(corpus.outside)), encoding="utf-8")
    for name, case in CONFIGS.items():
        path = corpus.config(name)
        path.write_bytes(case.text if isinstance(case.text, bytes) else case.text.encode("utf-8"))
    for name, case in PREDICTIONS.items():
        corpus.predictions(name).write_bytes(case.text)
    return corpus
