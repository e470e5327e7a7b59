"""A tiny causal language model whose greedy answer is always one fixed text, built offline.

For tests and offline checks of the LLM judge backends (a served or a local model) without downloads: the
tokenizer (a small byte-level BPE) gets the whole reply as one added token, every transformer block is
silenced (zero output projections) so the hidden state is the current token's embedding, and the embeddings
and output head are set so that any token is followed by the reply token and the reply token by end-of-turn.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from qvedbench.io import save_folder_atomically
from qvedbench.models.tokenizer import train_tokenizer

CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")


def build_fixed_reply_model(out_dir: str | os.PathLike, reply: str, *, hidden_size: int = 32) -> Path:
    """Write a ``from_pretrained`` folder (Qwen2 architecture, chat template included) that answers ``reply``."""

    from transformers import Qwen2Config, Qwen2ForCausalLM

    corpus = ["You grade exercise feedback. Answer with JSON.", reply, "squats - knees caving in"]
    tokenizer = train_tokenizer(corpus, vocab_size=300, special_tokens=_SPECIALS, eos_token="<|im_end|>",
                                pad_token="<|endoftext|>", chat_template=CHATML_TEMPLATE)
    tokenizer.add_tokens([reply])
    reply_id, end_id = tokenizer.convert_tokens_to_ids(reply), tokenizer.convert_tokens_to_ids("<|im_end|>")
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                         max_position_embeddings=4096, tie_word_embeddings=False,
                         eos_token_id=end_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config).eval()
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        other, own = torch.zeros(hidden_size), torch.zeros(hidden_size)
        other[0], own[1] = 1.0, 1.0
        model.model.embed_tokens.weight.copy_(other.expand_as(model.model.embed_tokens.weight))
        model.model.embed_tokens.weight[reply_id] = own
        model.lm_head.weight.zero_()
        model.lm_head.weight[reply_id] = 50.0 * other
        model.lm_head.weight[end_id] = 50.0 * own
    model.generation_config.eos_token_id = end_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    out = Path(out_dir)

    def write(tmp: Path) -> None:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)

    save_folder_atomically(out, write)
    return out
