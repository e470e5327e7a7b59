"""The ``qvedbench`` command: library entry points usable without Snakemake."""
from __future__ import annotations

import argparse
import json
import sys

import yaml


def _cmd_synth(args: argparse.Namespace) -> int:
    from qvedbench.synth import generate_dataset

    kwargs = {k: getattr(args, k) for k in ("clips_per_class", "size", "fps", "seconds", "error_rate", "seed", "workers")}
    if args.classes:
        kwargs["classes"] = args.classes
    summary = generate_dataset(args.out, **kwargs)
    print(json.dumps(summary, indent=2))
    return 0


def _cmd_tiny_model(args: argparse.Namespace) -> int:
    from qvedbench.data import read_records
    from qvedbench.models.tiny import build_tiny_model, corpus_from_records

    corpus = corpus_from_records(read_records(args.corpus), args.system_prompt)
    path = build_tiny_model(args.family, args.out, corpus, preset=args.preset, seed=args.seed,
                            overrides={"vocab_size": args.vocab_size})
    print(path)
    return 0


def _cmd_convert_videollama3(args: argparse.Namespace) -> int:
    import torch

    from qvedbench.models.videollama3_convert import convert_checkpoint

    dtype = {"auto": None, "fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[args.dtype]
    print(convert_checkpoint(args.src, args.dst, revision=args.revision, dtype=dtype))
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    from qvedbench.config import load_config
    from qvedbench.secrets import redact

    print(yaml.safe_dump(redact(load_config(*args.configfile)), sort_keys=False), end="")
    return 0


def _cmd_config_doc(args: argparse.Namespace) -> int:
    from qvedbench.config import config_reference_markdown

    table = config_reference_markdown()
    if not args.update:
        print(table, end="")
        return 0
    from pathlib import Path

    from qvedbench.io import write_text

    path = Path(args.update)
    text = path.read_text(encoding="utf-8")
    start = text.find("| key | type | default | meaning |")
    if start < 0:
        raise ValueError(f"{path}: no key table to replace")
    write_text(path, text[:start] + table)
    return 0


def _cmd_runs(args: argparse.Namespace) -> int:
    from qvedbench.config import load_config
    from qvedbench.runs import format_plan, plan_runs

    print(format_plan(plan_runs(load_config(*args.configfile))), end="")
    return 0


def _cmd_plan(args: argparse.Namespace) -> int:
    from qvedbench.plan import format_summary, plan_costs

    summary = plan_costs(args.configfile, workdir=args.directory, snakefile=args.snakefile, targets=args.targets)
    print(format_summary(summary), end="")
    return 0


def _cmd_install_profile(args: argparse.Namespace) -> int:
    from qvedbench.profiles import install_profile

    print(install_profile(args.name, dest=args.dest, force=args.force))
    return 0


def _cmd_annotate(args: argparse.Namespace) -> int:
    from qvedbench.annotate import annotate

    if args.errors:
        errors = args.errors
    else:
        from qvedbench.analysis.error_text import DEFAULT_TAXONOMY

        errors = list(DEFAULT_TAXONOMY)
    annotate(args.records, args.out, errors, sheet_dir=args.sheets, frames=args.frames, open_viewer=args.open)
    return 0


def _cmd_annotate_apply(args: argparse.Namespace) -> int:
    from qvedbench.annotate import apply_annotations

    result = apply_annotations(args.qved_json, args.annotations, args.out)
    print(json.dumps(result, indent=2))
    return 0



def _cmd_review(args: argparse.Namespace) -> int:
    from qvedbench.review import review

    given = [args.model, args.run, args.variant]
    if any(given) and not all(given):
        raise ValueError("--model, --run and --variant go together")
    job = tuple(given) if all(given) else None
    rated = review(args.predictions, args.ratings, rater=args.rater, job=job, limit=args.limit)
    print(f"rated {rated} sample(s); ratings in {args.ratings}")
    return 0

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qvedbench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synth", help="render the synthetic QVED dataset")
    p.add_argument("--out", required=True, help="output folder (videos/, annotations.json, ground_truth.json)")
    p.add_argument("--classes", nargs="+", default=None, help="exercise classes (default: the built-in seven)")
    p.add_argument("--clips-per-class", type=int, default=100)
    p.add_argument("--size", type=int, default=112)
    p.add_argument("--fps", type=float, default=12)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--error-rate", type=float, default=0.6)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--workers", type=int, default=2)
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("tiny-model", help="build a tiny randomly initialised model of a family, offline")
    p.add_argument("--family", required=True)
    p.add_argument("--out", required=True, help="output folder (an ordinary from_pretrained directory)")
    p.add_argument("--corpus", required=True, help="a normalised split JSONL whose text trains the tokenizer")
    p.add_argument("--system-prompt", default="", help="the system prompt, added to the tokenizer corpus")
    p.add_argument("--preset", default="s")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--vocab-size", type=int, default=1024)
    p.set_defaults(func=_cmd_tiny_model)

    p = sub.add_parser("convert-videollama3",
                       help="write an upstream VideoLLaMA3 checkpoint (model_type videollama3_qwen2) as a "
                            "transformers-native folder, without running the checkpoint's code")
    p.add_argument("src", help="upstream checkpoint: a local folder or a hub id (e.g. DAMO-NLP-SG/VideoLLaMA3-2B)")
    p.add_argument("dst", help="output folder (replaced atomically)")
    p.add_argument("--revision", default=None, help="hub revision (commit) of SRC")
    p.add_argument("--dtype", choices=["auto", "fp32", "bf16", "fp16"], default="auto",
                   help="weight dtype of the output (auto: the checkpoint's own)")
    p.set_defaults(func=_cmd_convert_videollama3)

    p = sub.add_parser("config", help="validate config files and print the resolved configuration")
    p.add_argument("configfile", nargs="+")
    p.set_defaults(func=_cmd_config)

    p = sub.add_parser("config-doc", help="print the table of every config key (as in config/README.md)")
    p.add_argument("--update", metavar="README", help="rewrite the key table at the end of this file instead")
    p.set_defaults(func=_cmd_config_doc)

    p = sub.add_parser("runs", help="print the run table: model, question, run name, overrides of the baseline, "
                                    "and the run it shares training with (runs with equal settings train once)")
    p.add_argument("configfile", nargs="+")
    p.set_defaults(func=_cmd_runs)

    p = sub.add_parser("plan", help="cost preview: device-hours of the pending jobs per question and model, from a "
                                    "Snakemake dry run, measured throughput (profiles, benchmarks, train_stats) "
                                    "or the per-family throughput assumed in config")
    p.add_argument("configfile", nargs="+")
    p.add_argument("--directory", default=".", help="the workflow's working directory (where results/ lives)")
    p.add_argument("--snakefile", default=None, help="the Snakefile (default: the one beside this package)")
    p.add_argument("--targets", nargs="+", default=["all"], help="targets of the dry run (default: all)")
    p.set_defaults(func=_cmd_plan)

    p = sub.add_parser("install-profile",
                       help="copy a Snakemake profile of profiles/ to the user's Snakemake config folder, "
                            "so that `snakemake --profile NAME` finds it")
    p.add_argument("name", nargs="?", default="slurm", help="profile to install (default: slurm)")
    p.add_argument("--dest", default=None,
                   help="destination folder (default: ~/.config/snakemake/NAME, or $XDG_CONFIG_HOME/snakemake/NAME)")
    p.add_argument("--force", action="store_true", help="overwrite an installed copy that differs")
    p.set_defaults(func=_cmd_install_profile)

    p = sub.add_parser("annotate", help="label form errors and their frames clip by clip in the terminal "
                                        "(saves after every clip, resumes)")
    p.add_argument("records", help="a normalised records JSONL (e.g. results/data/test.jsonl)")
    p.add_argument("--out", required=True, help="annotations JSONL ({id, errors, error_frames} per clip)")
    p.add_argument("--errors", nargs="+", default=None, help="error ids to offer (default: the built-in taxonomy)")
    p.add_argument("--frames", type=int, default=8, help="frames on each contact sheet")
    p.add_argument("--sheets", default=None, help="folder of the contact-sheet PNGs (default: beside --out)")
    p.add_argument("--open", action="store_true", help="open each contact sheet with the system viewer")
    p.set_defaults(func=_cmd_annotate)

    p = sub.add_parser("annotate-apply", help="copy annotated errors and error frames into a QVED annotation file")
    p.add_argument("qved_json", help="a QVED annotation file (JSON list of records)")
    p.add_argument("annotations", help="the annotations JSONL written by `qvedbench annotate`")
    p.add_argument("--out", required=True, help="the annotated copy (may be the input file itself)")
    p.set_defaults(func=_cmd_annotate_apply)

    p = sub.add_parser("review", help="rate generated feedback 1-5 as an expert in the terminal, for judge "
                                      "agreement (saves after every sample, resumes)")
    p.add_argument("predictions", help="a predictions JSONL, results/predictions/<model>/<run>/<variant>.jsonl")
    p.add_argument("--ratings", required=True, help="ratings JSONL to append to (questions.rq5_2_1.ratings)")
    p.add_argument("--rater", required=True, help="the expert's name or initials, stored with each rating")
    p.add_argument("--model", default=None, help="model name (default: from the predictions path)")
    p.add_argument("--run", default=None, help="run name (with --model)")
    p.add_argument("--variant", default=None, help="variant name (with --model)")
    p.add_argument("--limit", type=int, default=None, help="rate at most this many samples now")
    p.set_defaults(func=_cmd_review)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, FileExistsError) as exc:
        print(f"qvedbench {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
