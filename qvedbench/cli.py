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


def _cmd_config(args: argparse.Namespace) -> int:
    from qvedbench.config import load_config

    print(yaml.safe_dump(load_config(*args.configfile), sort_keys=False), end="")
    return 0


def _cmd_config_doc(args: argparse.Namespace) -> int:
    from qvedbench.config import config_reference_markdown

    print(config_reference_markdown(), end="")
    return 0


def _cmd_runs(args: argparse.Namespace) -> int:
    from qvedbench.config import load_config, run_table

    table = run_table(load_config(*args.configfile))
    for model, runs in table.items():
        for run, settings in runs.items():
            what = "untuned model" if settings is None else json.dumps(settings, sort_keys=True)
            print(f"{model}\t{run}\t{what}")
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

    p = sub.add_parser("config", help="validate config files and print the resolved configuration")
    p.add_argument("configfile", nargs="+")
    p.set_defaults(func=_cmd_config)

    p = sub.add_parser("config-doc", help="print the table of every config key (as in config/README.md)")
    p.set_defaults(func=_cmd_config_doc)

    p = sub.add_parser("runs", help="print the run table: every (model, run) and its effective training config")
    p.add_argument("configfile", nargs="+")
    p.set_defaults(func=_cmd_runs)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"qvedbench {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
