"""One look for every figure: fonts, sizes, stable colours per model and run, atomic PDF + PNG output.

Figures are built as :class:`matplotlib.figure.Figure` objects without pyplot, so no interactive backend is
ever touched (rendering goes through the Agg and PDF canvases).
"""
from __future__ import annotations

import hashlib
import os
from contextlib import contextmanager
from typing import Iterator

import matplotlib
from matplotlib.figure import Figure

from qvedbench.io import atomic_path

PNG_DPI = 200
RC = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "grid.alpha": 0.3,
    "pdf.fonttype": 42,  # embed TrueType so text stays selectable and editable
    "svg.fonttype": "none",
}
# Colour-blind-safe palette (Okabe-Ito), used for hashed names.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
RUN_COLOURS = {"base": "#999999", "baseline": "#0072B2"}
REFERENCE_COLOUR = "#D55E00"
METRIC_LABELS = {
    "exercise_accuracy": "Exercise-ID accuracy",
    "rouge_l": "ROUGE-L F1",
    "meteor": "METEOR",
    "bertscore_f1": "BERTScore F1",
    "embedding_cosine": "Embedding cosine",
}


def _hashed_colour(name: str, palette: tuple[str, ...] = PALETTE) -> str:
    # A content hash, not hash(): Python salts string hashes per process.
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return palette[int.from_bytes(digest[:4], "big") % len(palette)]


def model_colour(model: str) -> str:
    """The same colour for a model name in every figure and every run of the workflow."""
    return _hashed_colour(model)


def run_colour(run: str) -> str:
    """Grey for the untuned ``base`` model, blue for ``baseline``, a stable hashed colour otherwise."""
    return RUN_COLOURS.get(run) or _hashed_colour(run, PALETTE[1:])


@contextmanager
def figure_style() -> Iterator[None]:
    with matplotlib.rc_context(RC):
        yield


def new_figure(width: float, height: float) -> Figure:
    """A figure of ``width`` x ``height`` inches in the house style (call inside :func:`figure_style`)."""
    return Figure(figsize=(width, height), layout="constrained")


def save_figure(fig: Figure, pdf_path: str | os.PathLike, png_path: str | os.PathLike) -> None:
    """Write ``fig`` as vector PDF and as PNG at 200 dpi, each atomically."""
    with figure_style():
        with atomic_path(pdf_path) as tmp:
            # No creation date, so rerunning on the same numbers gives the same bytes.
            fig.savefig(tmp, format="pdf", metadata={"CreationDate": None})
        with atomic_path(png_path) as tmp:
            fig.savefig(tmp, format="png", dpi=PNG_DPI)
