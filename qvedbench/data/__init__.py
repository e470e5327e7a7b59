"""The dataset layer: QVED annotations and ground truth in, normalised split JSONLs and test variants out.

Modules: :mod:`~qvedbench.data.qved` (reading and validating annotation records), :mod:`~.paths` (keeping
video paths inside the video root), :mod:`~.ground_truth`, :mod:`~.split` (seeded stratified split),
:mod:`~.prepare` (the whole preparation step), :mod:`~.records` (reading normalised records back, counting)
and :mod:`~.variants` (clean, blank, swapped and later test-set variants).
"""
from qvedbench.data.prepare import PROBLEM_REASONS, prepare_dataset
from qvedbench.data.records import class_counts, majority_class, read_records
from qvedbench.data.variants import VARIANTS, make_variant, register_variant, write_variant

__all__ = [
    "PROBLEM_REASONS", "VARIANTS", "class_counts", "majority_class", "make_variant", "prepare_dataset",
    "read_records", "register_variant", "write_variant",
]
