"""qvedbench: fine-tune and evaluate video vision-language models on QVED exercise videos."""

__version__ = "0.1.0"
