"""``qvedbench annotate``: label form errors and the frames that show them, clip by clip, in a terminal.

For each record of a normalised records JSONL the tool writes a contact sheet (a PNG strip of frames sampled
uniformly, each captioned with its frame index in the source video), optionally opens it with the system
viewer, prints the reference feedback, and asks for the errors (ids or their numbers, comma-separated; empty
for "no error"; ``s`` skips the clip, ``q`` quits) and then, per error, the frame ranges that show it
(``12-30, 40-44``; ``12`` alone is ``12-12``; empty for "not localised"). The annotations file, one JSON object
a line (``{"id", "errors", "error_frames"}`` as in the records' annotation fields), is rewritten atomically
after every clip, and a rerun skips the ids already in it. :func:`apply_annotations` copies the labels into a
QVED annotation file, from which the data layer carries them into the split records.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath
from typing import Callable, Sequence, TextIO

import cv2
import numpy as np

from qvedbench.io import RecordError, atomic_path, read_json, read_jsonl, write_json, write_jsonl
from qvedbench.video import load_frames, probe, sample_indices

_CAPTION_HEIGHT = 14
_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+))?\s*$")


class QuitAnnotation(Exception):
    """The annotator asked to stop (``q`` or end of input)."""


def clip_sheet(video: str | os.PathLike, out_png: str | os.PathLike, *, frames: int = 8, size: int = 160) -> list[int]:
    """Write a one-row PNG of ``frames`` uniformly sampled frames of ``video``, each captioned with its frame
    index; return those indices."""
    total = probe(video).num_frames
    indices = sample_indices(total, count=min(frames, total))
    clip = load_frames(video, num_frames=len(indices), size=size)
    tiles = []
    for index, frame in zip(indices, clip):
        caption = np.full((_CAPTION_HEIGHT, frame.shape[1], 3), 255, dtype=np.uint8)
        cv2.putText(caption, f"frame {index}", (3, _CAPTION_HEIGHT - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.35,
                    (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(np.concatenate([caption, frame], axis=0))
    sheet = np.concatenate(tiles, axis=1)
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError(f"{out_png}: PNG encoding failed")
    with atomic_path(out_png) as tmp:
        tmp.write_bytes(encoded.tobytes())
    return indices


def open_with_viewer(path: str | os.PathLike) -> None:
    """Open ``path`` with the desktop's default viewer, if there is one (never blocks)."""
    opener = "open" if sys.platform == "darwin" else "xdg-open"
    if shutil.which(opener):
        subprocess.Popen([opener, str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def parse_errors(answer: str, error_ids: Sequence[str]) -> list[str]:
    """Error ids from a comma-separated answer of ids or 1-based numbers; ValueError names a bad item."""
    out = []
    for item in filter(None, (part.strip() for part in answer.split(","))):
        if item.isdigit() and 1 <= int(item) <= len(error_ids):
            item = error_ids[int(item) - 1]
        if item not in error_ids:
            raise ValueError(f"unknown error {item!r}")
        if item not in out:
            out.append(item)
    return out


def parse_ranges(answer: str, num_frames: int | None = None) -> list[list[int]]:
    """Inclusive frame ranges from ``"12-30, 40"``; ValueError for a malformed or out-of-clip range."""
    out = []
    for item in filter(None, (part.strip() for part in answer.split(","))):
        m = _RANGE.match(item)
        if not m:
            raise ValueError(f"not a frame range: {item!r} (write e.g. 12-30)")
        start, end = int(m.group(1)), int(m.group(2) or m.group(1))
        if end < start or (num_frames is not None and end >= num_frames):
            raise ValueError(f"frame range {item!r} is outside 0..{(num_frames or 0) - 1} or reversed")
        out.append([start, end])
    return out


class _Prompter:
    def __init__(self, stdin: TextIO, stdout: TextIO):
        self.stdin, self.stdout = stdin, stdout

    def ask(self, question: str, parse: Callable[[str], object]):
        """Ask until ``parse`` accepts the answer; ``q`` or end of input raises :class:`QuitAnnotation`."""
        while True:
            self.stdout.write(question)
            self.stdout.flush()
            line = self.stdin.readline()
            if not line or line.strip().lower() == "q":
                raise QuitAnnotation
            try:
                return parse(line.strip())
            except ValueError as exc:
                self.stdout.write(f"  {exc}; try again\n")


def _check_record(record: dict, path, index: int) -> None:
    for key in ("id", "video"):
        if not isinstance(record.get(key), str):
            raise RecordError(path, index, key, "missing or not a string")


def annotate(records_path: str | os.PathLike, annotations_path: str | os.PathLike, error_ids: Sequence[str], *,
             sheet_dir: str | os.PathLike | None = None, frames: int = 8, open_viewer: bool = False,
             stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """Annotate the records of ``records_path`` not yet in ``annotations_path``; return how many were
    annotated in this session. Contact sheets go to ``sheet_dir`` (default: beside the annotations file)."""
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    annotations_path = Path(annotations_path)
    sheet_dir = Path(sheet_dir) if sheet_dir else annotations_path.with_name(annotations_path.stem + "_sheets")
    records = read_jsonl(records_path)
    for index, record in enumerate(records):
        _check_record(record, records_path, index)
    saved = read_jsonl(annotations_path) if annotations_path.exists() else []
    done = {row["id"] for row in saved}
    pending = [r for r in records if r["id"] not in done]
    prompter = _Prompter(stdin, stdout)
    menu = ", ".join(f"{i}={e}" for i, e in enumerate(error_ids, 1))
    stdout.write(f"{len(done)} of {len(records)} clips annotated; {len(pending)} to go. Errors: {menu}\n")
    count = 0
    try:
        for position, record in enumerate(pending, 1):
            sheet = sheet_dir / (re.sub(r"[^A-Za-z0-9_.-]+", "_", record["id"]) + ".png")
            clip_sheet(record["video"], sheet, frames=frames)
            if open_viewer:
                open_with_viewer(sheet)
            stdout.write(f"\n[{position}/{len(pending)}] {record['id']} ({record.get('exercise', '?')})\n"
                         f"  reference: {record.get('reference', '')}\n  frames: {sheet}\n")
            answer = prompter.ask("errors (ids or numbers, comma-separated; empty = none; s = skip; q = quit): ",
                                  lambda a: "skip" if a.lower() == "s" else parse_errors(a, error_ids))
            if answer == "skip":
                continue
            num_frames = record.get("num_frames")
            error_frames = {}
            for error in answer:
                ranges = prompter.ask(f"frames showing {error} (e.g. 12-30, 40-44; empty = not localised): ",
                                      lambda a: parse_ranges(a, num_frames))
                if ranges:
                    error_frames[error] = ranges
            saved.append({"id": record["id"], "errors": answer, "error_frames": error_frames})
            write_jsonl(annotations_path, saved)
            count += 1
    except QuitAnnotation:
        stdout.write("\nstopped; progress is saved\n")
    stdout.write(f"annotated {count} clip(s) this session; {len(saved)} in {annotations_path}\n")
    return count


def apply_annotations(qved_json: str | os.PathLike, annotations_path: str | os.PathLike,
                      out_json: str | os.PathLike) -> dict:
    """Write a copy of a QVED annotation file with ``errors`` and ``error_frames`` set from the annotations
    (matched by record id: the record's ``id`` or its video path without extension), so the data layer carries
    them into the split records. Returns ``{"applied": n, "unmatched": [annotation ids not in the file]}``."""
    records = read_json(qved_json)
    if not isinstance(records, list):
        raise RecordError(qved_json, None, None, "a QVED annotation file must hold a JSON list of records")
    by_id = {row["id"]: row for row in read_jsonl(annotations_path)}
    applied = set()
    for index, record in enumerate(records):
        if not isinstance(record, dict) or not isinstance(record.get("video"), str):
            raise RecordError(qved_json, index, "video", "missing or not a string")
        rid = record.get("id", str(PurePosixPath(record["video"]).with_suffix("")))
        if rid in by_id:
            record["errors"] = by_id[rid]["errors"]
            record["error_frames"] = by_id[rid]["error_frames"]
            applied.add(rid)
    write_json(out_json, records)
    return {"applied": len(applied), "unmatched": sorted(set(by_id) - applied)}
