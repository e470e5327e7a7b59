"""Atomic, incremental file output shared by every stage.

Every output is written to a temporary file beside its final path and renamed into place, so a killed job
never leaves a half-written file that looks complete. Per-sample outputs (predictions, per-sample scores,
judge replies) are appended line by line with :class:`JsonlAppender`, which flushes and fsyncs each line and
lets a restarted job skip the ids it already finished.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

import yaml


class RecordError(ValueError):
    """Bad input that can be pinned to a file, a record index and a field."""

    def __init__(self, file: str | os.PathLike, index: int | None, field: str | None, message: str):
        self.file, self.index, self.field = str(file), index, field
        where = self.file
        if index is not None:
            where += f", record {index}"
        if field is not None:
            where += f", field '{field}'"
        super().__init__(f"{where}: {message}")


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates the file private (0600); give it the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def save_folder_atomically(out_dir: str | os.PathLike, write) -> None:
    """Call ``write(tmp_folder)`` and move the result to ``out_dir``: it appears complete or not at all."""
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        write(tmp)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False) + "\n")


def write_yaml(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, yaml.safe_dump(obj, sort_keys=False, allow_unicode=True))


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Parse a UTF-8 JSON file; bad bytes, bad syntax and unpaired ``\\uD800``-style escapes raise
    :class:`RecordError` (for a top-level list, naming the record index and the field path inside it)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise RecordError(path, None, None, f"not valid UTF-8 ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise RecordError(path, None, None, f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    _check_unicode(data, path)
    return data


def _invalid_unicode_at(value: Any, where: str) -> str | None:
    """The JSON path of the first string (key or value) holding an unpaired surrogate, or None."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return where
        return None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        inner = f"{where}[{key}]" if isinstance(key, int) else (f"{where}.{key}" if where else str(key))
        found = _invalid_unicode_at(key, inner) if isinstance(key, str) else None
        found = found or _invalid_unicode_at(item, inner)
        if found is not None:
            return found
    return None


def _check_unicode(data: Any, path: Path) -> None:
    # json.loads accepts escapes such as "\ud800" that no UTF-8 output can hold; writing them later would crash.
    records = enumerate(data) if isinstance(data, list) else [(None, data)]
    for index, record in records:
        where = _invalid_unicode_at(record, "")
        if where is not None:
            raise RecordError(path, index, where or None, "text holds an unpaired surrogate escape (e.g. \\ud800): not valid Unicode")


def read_jsonl(path: str | os.PathLike, *, tolerate_torn_tail: bool = False) -> list[dict]:
    """Read a JSON-lines file. With ``tolerate_torn_tail`` a final line cut off by a crash is ignored."""
    path = Path(path)
    rows: list[dict] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise RecordError(path, None, None, f"not valid UTF-8 ({exc})") from exc
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            if tolerate_torn_tail and i == len(lines) - 1:
                break
            raise RecordError(path, i, None, f"malformed JSON line: {exc.msg}") from exc
    return rows


class JsonlAppender:
    """Append rows to ``<path>.partial`` one durable line at a time; :meth:`finish` renames it to ``path``.

    A restarted job reopens the partial file, drops a torn last line, and reports the ids already written
    (``done_ids``) so the caller skips them. ``path`` itself only ever appears complete.
    """

    def __init__(self, path: str | os.PathLike, id_key: str = "id"):
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.id_key = id_key
        rows = read_jsonl(self.partial, tolerate_torn_tail=True) if self.partial.exists() else []
        self.rows: list[dict] = rows
        # Rewrite without a torn tail before appending.
        with atomic_path(self.partial) as tmp, open(tmp, "w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._fh = open(self.partial, "a", encoding="utf-8")

    @property
    def done_ids(self) -> set:
        return {row[self.id_key] for row in self.rows}

    def append(self, row: dict) -> None:
        self._fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self.rows.append(row)

    def finish(self, order: list | None = None) -> list[dict]:
        """Close and publish. With ``order`` (a list of ids) the final file follows that order."""
        self._fh.close()
        rows = self.rows
        if order is not None:
            by_id = {row[self.id_key]: row for row in rows}
            rows = [by_id[i] for i in order if i in by_id]
        write_jsonl(self.path, rows)
        self.partial.unlink(missing_ok=True)
        return rows

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()

    def __enter__(self) -> "JsonlAppender":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def redirect_output_to_log(log_path: str | os.PathLike | None) -> None:
    """Send this process's stdout and stderr (including child processes) to ``log_path``.

    Workflow scripts call this first so every rule's ``log:`` file holds what the job printed.
    """
    if not log_path:
        return
    import sys

    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(str(log_path), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
