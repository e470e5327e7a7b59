"""Choose what trains: LoRA (optionally with a fully trained projector), full fine-tuning, or the last N blocks."""
from __future__ import annotations

from peft import LoraConfig, get_peft_model

from qvedbench.models.base import VideoVLMAdapter


def _has_prefix(name: str, prefixes: list[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _unfreeze(model, prefixes: list[str]) -> int:
    """Make parameters under ``prefixes`` trainable; return how many tensors matched."""
    matched = 0
    for name, param in model.named_parameters():
        if _has_prefix(name, prefixes):
            param.requires_grad_(True)
            matched += 1
    return matched


def prepare_trainable(adapter: VideoVLMAdapter, cfg: dict):
    """Return the model to train (``adapter.model``, or a peft model wrapping it) with the right parameters
    trainable, per the resolved training config ``cfg``."""
    model = adapter.model
    groups = adapter.trainable_groups()
    method = cfg["method"]
    if method == "full":
        for param in model.parameters():
            param.requires_grad_(True)
        return model
    if method == "last_n":
        blocks = groups["language_blocks"]
        n = cfg["last_n"]
        if not 1 <= n <= len(blocks):
            raise ValueError(f"training option 'last_n' must be between 1 and {len(blocks)} "
                             f"(the model's language blocks), got {n}")
        for param in model.parameters():
            param.requires_grad_(False)
        prefixes = blocks[-n:] + (groups["projector"] if cfg["train_projector"] else [])
        if _unfreeze(model, prefixes) == 0:
            raise ValueError(f"no parameters found under {prefixes}")
        return model
    lora = cfg["lora"]
    config = LoraConfig(
        r=lora["r"],
        lora_alpha=lora["alpha"],
        lora_dropout=lora["dropout"],
        target_modules=lora["target_modules"] or adapter.lora_target_modules(),
        modules_to_save=list(groups["projector"]) if cfg["train_projector"] else None,
        bias="none",
    )
    return get_peft_model(model, config)
