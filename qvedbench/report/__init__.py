"""Figures (PDF + PNG), tables (CSV + LaTeX) and RESULTS_SUMMARY.md from score files. No torch, no models."""
from qvedbench.report.figures import base_vs_baseline
from qvedbench.report.load import load_scores
from qvedbench.report.style import model_colour, run_colour, save_figure
from qvedbench.report.summary import write_results_summary
from qvedbench.report.tables import comparison_frame, comparison_table

__all__ = ["base_vs_baseline", "comparison_frame", "comparison_table", "load_scores", "model_colour", "run_colour",
           "save_figure", "write_results_summary"]
