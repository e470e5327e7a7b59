"""Synthetic QVED: stick-figure exercise clips with parametric form errors, feedback text, QVED JSONs and a
stratified split. :func:`generate_dataset` writes the embedded default dataset."""
from .contact_sheet import contact_sheet
from .dataset import PROMPT, ClipSpec, class_dir, generate_dataset, plan_clips
from .errors import ERRORS
from .exercises import DEFAULT_CLASSES, EXERCISES
from .render import ClipStyle, render_clip

__all__ = [
    "DEFAULT_CLASSES", "ERRORS", "EXERCISES", "PROMPT", "ClipSpec", "ClipStyle", "class_dir", "contact_sheet",
    "generate_dataset", "plan_clips", "render_clip",
]
