"""Judge with a local Hugging Face causal language model (e.g. Mixtral-8x7B-Instruct on a GPU), greedy.

``load_in_8bit`` quantises the weights with bitsandbytes and is only possible on a CUDA device; asking for it
elsewhere is an error rather than a silent full-precision load.
"""
from __future__ import annotations

from qvedbench.judge.base import ChatJudgeBackend, JudgeConfigError


class TransformersJudge(ChatJudgeBackend):
    name = "transformers"

    def __init__(
        self,
        path: str,
        *,
        device: str = "auto",
        precision: str = "fp32",
        load_in_8bit: bool = False,
        max_new_tokens: int = 256,
        trust_remote_code: bool = False,
        revision: str | None = None,
    ):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from qvedbench.device import DeviceConfigError, resolve_device, resolve_dtype

        _require_pinned_remote_code(path, trust_remote_code, revision)
        self.model = path
        self.max_new_tokens = int(max_new_tokens)
        self.device = resolve_device(device, "judge")
        kwargs: dict = {"trust_remote_code": trust_remote_code, "revision": revision}
        if load_in_8bit:
            if self.device.type != "cuda":
                raise DeviceConfigError("judge: load_in_8bit needs a CUDA device (bitsandbytes); "
                                        f"the judge would run on {self.device}")
            try:
                from transformers import BitsAndBytesConfig
                import bitsandbytes  # noqa: F401
            except ImportError as exc:
                raise JudgeConfigError("judge: load_in_8bit needs the 'bitsandbytes' package") from exc
            kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True)
            kwargs["device_map"] = {"": self.device.index or 0}
        else:
            kwargs["dtype"] = resolve_dtype(precision, self.device, "judge")
        self.tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code, revision=revision)
        if self.tokenizer.chat_template is None:
            raise JudgeConfigError(f"judge model {path}: its tokenizer has no chat template")
        self.lm = AutoModelForCausalLM.from_pretrained(path, **kwargs).eval()
        if not load_in_8bit:
            self.lm.to(self.device)
        self._torch = torch

    def complete(self, messages: list[dict[str, str]]) -> str:
        inputs = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        ).to(self.lm.device)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        with self._torch.inference_mode():
            out = self.lm.generate(**inputs, do_sample=False, max_new_tokens=self.max_new_tokens, pad_token_id=pad)
        return self.tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)

    def close(self) -> None:
        self.lm = None


def _require_pinned_remote_code(path: str, trust_remote_code: bool, revision: str | None) -> None:
    """The judge model's own Python code runs only when asked for, and for a hub model only at a pinned revision."""
    from pathlib import Path

    if trust_remote_code and revision is None and not Path(path).is_dir():
        raise JudgeConfigError(
            f"judge model {path}: trust_remote_code runs the model's own code; pin `revision` (a commit hash) "
            "of the code you have reviewed"
        )

