"""Upstream VideoLLaMA3 checkpoints in transformers' native layout, without the checkpoint's own code.

The published VideoLLaMA3 weights (e.g. ``DAMO-NLP-SG/VideoLLaMA3-2B``, ``model_type: videollama3_qwen2``) ship
modelling and processing code for transformers 4.46. Their tensors are the same as those of transformers' native
``VideoLlama3ForConditionalGeneration`` under other names, so they load into the native class directly:

* the native config comes from the upstream ``config.json`` (:func:`native_config`, built on
  :func:`qvedbench.models.videollama3.native_config_from_upstream`), with the video and image placeholder ids
  taken from the checkpoint's tokenizer (``<|video_pad|>``, ``<|image_pad|>``: Qwen2.5 tokens the native
  processor expands; the upstream ``<image>`` placeholder is not used);
* every tensor of the safetensors file(s) (one ``model.safetensors`` or the shards named in
  ``model.safetensors.index.json``) is renamed with :func:`~qvedbench.models.videollama3.upstream_to_native_name`
  and loaded strictly into a model built without memory (empty weights): a missing or unexpected tensor is a
  :class:`CheckpointMismatchError` listing the names; the tied ``lm_head`` (absent from the file when
  ``tie_word_embeddings``) is tied after loading;
* the processor is the native ``VideoLlama3Processor`` around the checkpoint's tokenizer, with this family's
  chat template, and image / video processor settings from ``preprocessor_config.json`` (plus
  ``processor_config.json`` when present and ``use_token_compression`` from ``config.json``), mapped as in
  :data:`PROCESSOR_FIELDS` and :func:`native_processor_settings`.

:func:`convert_checkpoint` writes the result as an ordinary native folder (``qvedbench convert-videollama3``), so
a model converts once; the adapter also converts on the fly when ``path`` is an upstream checkpoint.
:func:`save_upstream_layout` writes a (tiny) native model in the upstream layout, the inverse used by the tests.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from transformers import (
    GenerationConfig,
    Qwen2Tokenizer,
    VideoLlama3Config,
    VideoLlama3ForConditionalGeneration,
    VideoLlama3ImageProcessor,
    VideoLlama3Processor,
    VideoLlama3VideoProcessor,
)

from qvedbench.io import read_json, write_json
from qvedbench.models.common import local_folder, save_folder_atomically
from qvedbench.models.videollama3 import (
    CHAT_TEMPLATE,
    IMAGE_TOKEN,
    UPSTREAM_MODEL_TYPE,
    UPSTREAM_TEXT_KEYS,
    UPSTREAM_TO_NATIVE_PREFIXES,
    UPSTREAM_VISION_KEYS,
    VIDEO_MERGE_SIZE,
    VIDEO_TOKEN,
    checkpoint_format,
    native_config_from_upstream,
    upstream_to_native_name,
)

WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX = "model.safetensors.index.json"
CONVERSION_RECORD = "conversion.json"

# Upstream config.json fields that do not change the tensors but do change the computation, copied when present.
TEXT_NUMERICS = ("hidden_act", "attention_dropout", "use_sliding_window", "sliding_window", "max_window_layers",
                 "initializer_range", "bos_token_id", "eos_token_id")
VISION_NUMERICS = ("hidden_act", "layer_norm_eps", "num_channels", "attention_dropout")

# Upstream preprocessor_config.json fields copied unchanged onto both native image and video processors.
PROCESSOR_FIELDS = ("do_resize", "resample", "do_rescale", "rescale_factor", "do_normalize", "image_mean",
                    "image_std", "do_convert_rgb", "patch_size")
# Upstream fields with another meaning natively (see native_processor_settings); anything else is not read.
PROCESSOR_MAPPED_FIELDS = ("min_tokens", "max_tokens", "image_merge_size", "video_merge_size", "fps", "max_frames")
UPSTREAM_AUTO_MAP = {
    "AutoConfig": "configuration_videollama3.Videollama3Qwen2Config",
    "AutoModelForCausalLM": "modeling_videollama3.Videollama3Qwen2ForCausalLM",
}


class CheckpointMismatchError(ValueError):
    """The checkpoint's tensors do not match the model: names missing, left over, or of another shape."""


# -- names ---------------------------------------------------------------------------------------------------------


def native_to_upstream_name(name: str) -> str:
    """The upstream name of a native tensor: the inverse of :func:`upstream_to_native_name`."""
    for old, new in UPSTREAM_TO_NATIVE_PREFIXES:
        if name.startswith(new):
            return old + name[len(new):]
    raise KeyError(f"native tensor {name!r} has no place in the upstream VideoLLaMA3 layout")


def stored_tensor_names(model) -> set[str]:
    """The tensor names a checkpoint of ``model`` holds: its state dict without tied copies (``lm_head`` when
    tied to the embeddings), as ``save_pretrained`` writes it."""
    return set(model.state_dict()) - set(getattr(model, "all_tied_weights_keys", {}) or {})


def _listing(names: set[str], limit: int = 20) -> str:
    shown = sorted(names)[:limit]
    more = f" ... and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(shown) + more


def check_tensor_names(expected: set[str], found: set[str], source: str) -> None:
    """Raise :class:`CheckpointMismatchError` naming every missing and every unexpected tensor."""
    missing, unexpected = expected - found, found - expected
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing: {_listing(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected: {_listing(unexpected)}")
        raise CheckpointMismatchError(f"{source}: tensors do not match the native VideoLLaMA3 model; "
                                      + "; ".join(parts))


def check_state(model, state: dict[str, torch.Tensor], source: str) -> None:
    """Raise :class:`CheckpointMismatchError` unless ``state`` (native names) holds exactly the tensors a
    checkpoint of ``model`` stores, each of the model's shape. Works on the meta device (no memory)."""
    check_tensor_names(stored_tensor_names(model), set(state), source)
    expected = model.state_dict()
    wrong = {f"{n} {list(t.shape)} (expected {list(expected[n].shape)})" for n, t in state.items()
             if t.shape != expected[n].shape}
    if wrong:
        raise CheckpointMismatchError(f"{source}: {len(wrong)} tensor(s) of the wrong shape: {_listing(wrong)}")


# -- reading an upstream folder ------------------------------------------------------------------------------------


def weight_files(folder: str | os.PathLike) -> list[Path]:
    """The safetensors files of ``folder``: the shards its index names, or its single ``model.safetensors``."""
    folder = Path(folder)
    index = folder / WEIGHTS_INDEX
    if index.is_file():
        weight_map = read_json(index).get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise CheckpointMismatchError(f"{index}: no 'weight_map' of tensor names to shard files")
        files = [folder / name for name in sorted(set(weight_map.values()))]
        absent = [str(f) for f in files if not f.is_file()]
        if absent:
            raise FileNotFoundError(f"{index} names shard file(s) that do not exist: {', '.join(absent)}")
        return files
    if (folder / WEIGHTS_FILE).is_file():
        return [folder / WEIGHTS_FILE]
    raise FileNotFoundError(f"{folder}: neither {WEIGHTS_FILE} nor {WEIGHTS_INDEX} (only safetensors weights are read)")


def read_upstream_tensors(folder: str | os.PathLike, device: str = "cpu") -> dict[str, torch.Tensor]:
    """Every tensor of the upstream checkpoint in ``folder`` under its upstream name (a name stored twice is
    an error)."""
    tensors: dict[str, torch.Tensor] = {}
    for path in weight_files(folder):
        for name, tensor in load_file(str(path), device=device).items():
            if name in tensors:
                raise CheckpointMismatchError(f"{path}: tensor {name!r} is stored in more than one shard")
            tensors[name] = tensor
    return tensors


def rename_to_native(tensors: dict[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    """``tensors`` under their native names; a name with no native place is reported as unexpected."""
    renamed, unplaced = {}, set()
    for name, tensor in tensors.items():
        try:
            renamed[upstream_to_native_name(name)] = tensor
        except KeyError:
            unplaced.add(name)
    if unplaced:
        raise CheckpointMismatchError(f"{source}: {len(unplaced)} unexpected tensor(s) with no place in the native "
                                      f"VideoLLaMA3 layout: {_listing(unplaced)}")
    return renamed


def read_upstream_config(folder: str | os.PathLike) -> dict:
    """``config.json`` of an upstream checkpoint folder; a :class:`ValueError` when it is not one."""
    path = Path(folder) / "config.json"
    config = read_json(path)
    if checkpoint_format(config, str(path)) != "upstream":
        raise ValueError(f"{path}: already in transformers' native VideoLLaMA3 format; nothing to convert")
    return config


def load_tokenizer(folder: str | os.PathLike):
    """The checkpoint's own tokenizer files through transformers' Qwen2 tokenizer (never remote code)."""
    if not any((Path(folder) / name).is_file() for name in ("tokenizer.json", "vocab.json")):
        raise FileNotFoundError(f"{folder}: no tokenizer files (tokenizer.json or vocab.json + merges.txt)")
    return Qwen2Tokenizer.from_pretrained(str(folder))


def placeholder_ids(tokenizer, source: str) -> dict[str, int]:
    """Ids of the native processor's video and image placeholders in ``tokenizer``."""
    ids = {}
    for token in (VIDEO_TOKEN, IMAGE_TOKEN):
        token_id = tokenizer.convert_tokens_to_ids(token)
        if token_id is None or token_id == tokenizer.unk_token_id:
            raise ValueError(f"{source}: the tokenizer has no {token} token, which the native VideoLLaMA3 "
                             "processor uses as placeholder")
        ids[token] = int(token_id)
    return ids


# -- configs ---------------------------------------------------------------------------------------------------------


def native_config(upstream: dict, tokenizer, source: str = "config.json") -> VideoLlama3Config:
    """The complete native config: :func:`native_config_from_upstream` plus the computation-relevant fields of
    :data:`TEXT_NUMERICS` / :data:`VISION_NUMERICS` and the tokenizer's placeholder ids."""
    try:
        fields = native_config_from_upstream(upstream)
    except KeyError as exc:
        raise ValueError(f"{source}: upstream VideoLLaMA3 config lacks field {exc}") from None
    text, vision = dict(fields["text_config"]), dict(fields["vision_config"])
    text.update({k: upstream[k] for k in TEXT_NUMERICS if upstream.get(k) is not None})
    upstream_vision = upstream["vision_encoder_config"]
    vision.update({k: upstream_vision[k] for k in VISION_NUMERICS if upstream_vision.get(k) is not None})
    ids = placeholder_ids(tokenizer, source)
    special = {k: upstream[k] for k in ("bos_token_id", "eos_token_id", "pad_token_id") if upstream.get(k) is not None}
    return VideoLlama3Config(text_config=text, vision_config=vision, tie_word_embeddings=fields["tie_word_embeddings"],
                             video_token_id=ids[VIDEO_TOKEN], image_token_id=ids[IMAGE_TOKEN], **special)


def upstream_config_from_native(config: VideoLlama3Config) -> dict:
    """The upstream ``config.json`` of a native model (what :func:`native_config` reads back)."""
    text, vision = config.text_config, config.vision_config
    out: dict[str, Any] = {
        "model_type": UPSTREAM_MODEL_TYPE,
        "architectures": ["Videollama3Qwen2ForCausalLM"],
        "auto_map": dict(UPSTREAM_AUTO_MAP),
        **{k: getattr(text, k) for k in UPSTREAM_TEXT_KEYS},
        "rope_theta": text.rope_parameters["rope_theta"],
        "tie_word_embeddings": bool(config.tie_word_embeddings),
        "mm_projector_type": "mlp2x_gelu",
        "image_token_index": config.image_token_id,
        "use_token_compression": True,
        "torch_dtype": str(config.dtype or "float32").replace("torch.", ""),
        "vision_encoder_config": {"model_type": "videollama3_vision_encoder",
                                  **{k: getattr(vision, k) for k in UPSTREAM_VISION_KEYS + VISION_NUMERICS}},
    }
    out.update({k: getattr(text, k) for k in TEXT_NUMERICS if getattr(text, k, None) is not None})
    if getattr(config, "pad_token_id", None) is not None:
        out["pad_token_id"] = config.pad_token_id
    return out


def native_processor_settings(preprocessor: dict, processor: dict | None = None,
                              config: dict | None = None) -> dict[str, dict[str, Any]]:
    """Keyword arguments of the native image and video processors (``{"image": ..., "video": ...}``).

    From the upstream ``preprocessor_config.json`` (``preprocessor``), the upstream processor's own settings
    (``processor``: ``processor_config.json``, when present; they take precedence) and ``config.json``:

    * :data:`PROCESSOR_FIELDS` (resizing, rescaling, normalisation, RGB conversion, patch size): copied to both;
    * ``image_merge_size`` (default 1) and ``video_merge_size`` (default 2) -> each processor's ``merge_size``;
    * ``min_tokens`` / ``max_tokens`` (tokens per image or frame) -> ``size`` in pixels:
      ``{"shortest_edge": min_tokens * (patch * merge) ** 2, "longest_edge": max_tokens * (patch * merge) ** 2}``;
    * ``fps`` and ``max_frames`` -> the video processor's frame sampling settings (off here: the caller samples);
    * ``use_token_compression`` (``config.json``) -> the video processor's differential frame pruning;
    * the video processor's ``temporal_patch_size`` is 1 (every frame on its own), as upstream.

    Other upstream fields (``image_processor_type``, ``processor_class``, ``auto_map``) name remote classes and
    are not read.
    """
    merged = {**preprocessor, **(processor or {})}
    shared = {k: merged[k] for k in PROCESSOR_FIELDS if merged.get(k) is not None}
    patch = int(merged.get("patch_size", 14))
    image = dict(shared, merge_size=int(merged.get("image_merge_size", 1)))
    video = dict(shared, merge_size=int(merged.get("video_merge_size", VIDEO_MERGE_SIZE)), temporal_patch_size=1,
                 do_sample_frames=False)
    for kwargs in (image, video):
        factor = (patch * kwargs["merge_size"]) ** 2
        if "min_tokens" in merged and "max_tokens" in merged:
            kwargs["size"] = {"shortest_edge": int(merged["min_tokens"]) * factor,
                              "longest_edge": int(merged["max_tokens"]) * factor}
    for key in ("fps", "max_frames"):
        if merged.get(key) is not None:
            video[key] = merged[key]
    if config is not None and config.get("use_token_compression") is not None:
        video["use_token_compression"] = bool(config["use_token_compression"])
    return {"image": image, "video": video}


def upstream_preprocessor_config(processor: VideoLlama3Processor) -> dict:
    """An upstream ``preprocessor_config.json`` for a native processor (tokens per image from its size)."""
    ip, vp = processor.image_processor, processor.video_processor
    factor = (ip.patch_size * ip.merge_size) ** 2
    out = {k: getattr(ip, k) for k in PROCESSOR_FIELDS}
    out["image_mean"], out["image_std"] = list(ip.image_mean), list(ip.image_std)
    out["resample"] = int(ip.resample)
    out.update(image_processor_type="Videollama3ImageProcessor", processor_class="Videollama3Qwen2Processor",
               min_tokens=ip.size["shortest_edge"] // factor, max_tokens=ip.size["longest_edge"] // factor,
               image_merge_size=ip.merge_size, video_merge_size=vp.merge_size)
    return out


# -- loading and converting ------------------------------------------------------------------------------------------


def load_upstream_model(
    folder: str | os.PathLike,
    *,
    dtype: torch.dtype = torch.float32,
    attn_implementation: str = "sdpa",
    device: str = "cpu",
    tokenizer=None,
) -> VideoLlama3ForConditionalGeneration:
    """The native model holding the upstream checkpoint's weights, in ``dtype``, tensors read onto ``device``.

    Built with empty weights (no memory, no random init), filled strictly: every native tensor must come from
    the checkpoint and every checkpoint tensor must have a native place, with equal shapes.
    """
    from accelerate import init_empty_weights

    folder = Path(folder)
    upstream = read_upstream_config(folder)
    tokenizer = tokenizer if tokenizer is not None else load_tokenizer(folder)
    config = native_config(upstream, tokenizer, str(folder / "config.json"))
    # Parameters start empty (filled from the checkpoint); buffers such as rotary frequencies are computed.
    with init_empty_weights(include_buffers=False):
        model = VideoLlama3ForConditionalGeneration._from_config(config, attn_implementation=attn_implementation,
                                                                 dtype=dtype)
    state = rename_to_native(read_upstream_tensors(folder, device=device), str(folder))
    check_state(model, state, str(folder))
    state = {n: t.to(dtype) if t.is_floating_point() else t for n, t in state.items()}
    for target, source in (getattr(model, "all_tied_weights_keys", {}) or {}).items():
        state[target] = state[source]
    model.load_state_dict(state, strict=True, assign=True)
    model.tie_weights()
    if (folder / "generation_config.json").is_file():
        model.generation_config = GenerationConfig.from_pretrained(str(folder))
    return model.eval()


def upstream_processor(folder: str | os.PathLike, tokenizer=None) -> VideoLlama3Processor:
    """The native processor for an upstream checkpoint folder (see :func:`native_processor_settings`)."""
    folder = Path(folder)
    preprocessor_path = folder / "preprocessor_config.json"
    if not preprocessor_path.is_file():
        raise FileNotFoundError(f"{folder}: no preprocessor_config.json (the upstream image processor settings)")
    processor_path = folder / "processor_config.json"
    settings = native_processor_settings(
        read_json(preprocessor_path),
        read_json(processor_path) if processor_path.is_file() else None,
        read_json(folder / "config.json"),
    )
    return VideoLlama3Processor(
        image_processor=VideoLlama3ImageProcessor(**settings["image"]),
        video_processor=VideoLlama3VideoProcessor(**settings["video"]),
        tokenizer=tokenizer if tokenizer is not None else load_tokenizer(folder),
        chat_template=CHAT_TEMPLATE,
    )


def load_upstream(folder: str | os.PathLike, *, dtype: torch.dtype = torch.float32, attn_implementation: str = "sdpa",
                  device: str = "cpu") -> tuple[VideoLlama3ForConditionalGeneration, VideoLlama3Processor]:
    """Model and processor of an upstream checkpoint folder, both native (one tokenizer read)."""
    read_upstream_config(folder)
    weight_files(folder)  # fail on absent weights before anything is read
    tokenizer = load_tokenizer(folder)
    model = load_upstream_model(folder, dtype=dtype, attn_implementation=attn_implementation, device=device,
                                tokenizer=tokenizer)
    return model, upstream_processor(folder, tokenizer=tokenizer)


def _checkpoint_dtype(upstream: dict) -> torch.dtype:
    name = upstream.get("torch_dtype") or upstream.get("dtype") or "float32"
    dtype = getattr(torch, str(name).replace("torch.", ""), None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"config.json: unknown torch_dtype {name!r}")
    return dtype


def convert_checkpoint(src: str, dst: str | os.PathLike, revision: str | None = None,
                       dtype: torch.dtype | None = None) -> Path:
    """Write the upstream checkpoint ``src`` (a folder, or a hub id at ``revision``) to ``dst`` as a native
    folder (weights, config, tokenizer, processor, ``conversion.json``), in the checkpoint's own dtype unless
    ``dtype`` is given. ``dst`` appears complete or not at all."""
    folder = local_folder(src, revision)
    dtype = dtype or _checkpoint_dtype(read_upstream_config(folder))
    model, processor = load_upstream(folder, dtype=dtype)
    record = {"source": str(src), "revision": revision, "source_format": UPSTREAM_MODEL_TYPE,
              "dtype": str(dtype).replace("torch.", ""), "tensors": len(stored_tensor_names(model))}

    def write(tmp: Path) -> None:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        write_json(tmp / CONVERSION_RECORD, record)

    save_folder_atomically(dst, write)
    return Path(dst)


def save_upstream_layout(model, processor, out: str | os.PathLike, shards: int = 1) -> Path:
    """Write a native ``model`` and ``processor`` in the upstream checkpoint layout (config, renamed tensors in
    ``shards`` safetensors files with an index when more than one, tokenizer, upstream preprocessor config)."""
    out = Path(out)
    state = model.state_dict()
    names = sorted(stored_tensor_names(model))
    tensors = {native_to_upstream_name(n): state[n].detach().contiguous() for n in names}

    def write(tmp: Path) -> None:
        write_json(tmp / "config.json", upstream_config_from_native(model.config))
        keys = sorted(tensors)
        if shards <= 1:
            save_file(tensors, str(tmp / WEIGHTS_FILE), metadata={"format": "pt"})
        else:
            weight_map = {}
            for i in range(shards):
                part = keys[i::shards]
                fname = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
                save_file({k: tensors[k] for k in part}, str(tmp / fname), metadata={"format": "pt"})
                weight_map.update({k: fname for k in part})
            write_json(tmp / WEIGHTS_INDEX, {"metadata": {}, "weight_map": weight_map})
        processor.tokenizer.save_pretrained(tmp)
        write_json(tmp / "preprocessor_config.json", upstream_preprocessor_config(processor))

    save_folder_atomically(out, write)
    return out
