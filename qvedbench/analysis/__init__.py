"""Analyses of the research questions, one module per question or topic. No torch, no model code."""
