"""Fine-tuning (LoRA, full, last N blocks) with transformers' Trainer and peft, writing a run directory."""
from qvedbench.train.config import TRAIN_DEFAULTS, resolve_train_config
from qvedbench.train.preemption import TrainingInterrupted
from qvedbench.train.run import train_run

__all__ = ["TRAIN_DEFAULTS", "TrainingInterrupted", "resolve_train_config", "train_run"]
