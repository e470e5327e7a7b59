"""The run plan: every training run each model needs, derived from the baseline plus each question's overrides.

A question (config ``questions.<name>``) names runs as overrides of the model's baseline training settings
(``lora_r8`` = ``{"method": "lora", "lora": {"r": 8, "alpha": 16}}``). Runs whose *effective* settings are equal
are trained once: the first to appear (``baseline`` first, then the questions in name order) gives the run its
canonical name, the directory ``results/runs/<model>/<canonical>/`` and the prediction and score files; every
other name for the same settings is an alias of it. Settings a method ignores (LoRA options of a full fine-tune,
the warm-up of a constant schedule, ...) do not split runs, nor do settings that only watch training
(:data:`OBSERVATION_KEYS`: the run observes as its most demanding name asks). With ``train.seeds`` every
trained run is repeated once per seed (``lora_r8``, ``lora_r8_s43``, ...), deduplicated seed by seed.

A question adds its runs by adding a function to :data:`QUESTION_RUNS`.
"""
from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Callable

from qvedbench.config import BASE_RUN, BASELINE_RUN, ConfigError, canonical, deep_merge

BASELINE_QUESTION = "baseline"  # the "question" the base and baseline runs belong to in the plan


@dataclass(frozen=True)
class PlannedRun:
    """One name a question gives a run of one model, and the canonical run that answers it."""

    model: str
    question: str
    name: str  # the question's name for the run, with _s<seed> for seeds after the first of train.seeds
    overrides: dict | None  # None for the untuned base model
    settings: dict | None  # effective training settings; None for the untuned base model
    canonical: str  # the run trained (and predicted, scored) for this name
    group: str = ""  # the name without the seed suffix: replicates over seeds share it

    def __post_init__(self):
        if not self.group:
            object.__setattr__(self, "group", self.name)

    @property
    def seed(self) -> int | None:
        return None if self.settings is None else self.settings.get("seed")

    @property
    def shared(self) -> bool:
        return self.canonical != self.name


# -- what each question asks for ---------------------------------------------------------------------------

def rq1_1_1_runs(question: dict) -> list[tuple[str, dict]]:
    """RQ1.1.1: LoRA ranks (alpha = alpha_factor * r), full fine-tuning, and the last N blocks plus projector."""
    runs = []
    for rank in question["lora_ranks"]:
        alpha = question["alpha_factor"] * rank
        runs.append((f"lora_r{rank}", {"method": "lora", "lora": {"r": rank, "alpha": _plain_number(alpha)}}))
    if question["full"]:
        runs.append(("full", {"method": "full"}))
    for n in question["last_n"]:
        runs.append((f"last_n{n}", {"method": "last_n", "last_n": n, "train_projector": True}))
    return runs


def rq1_1_2_runs(question: dict) -> list[tuple[str, dict]]:
    """RQ1.1.2: every learning-rate schedule crossed with every warm-up ratio (``sched_cosine_w0.05``), each
    validated every ``eval_every_steps`` steps with generation (exercise-ID accuracy, ROUGE-L) for the curves."""
    observe = {"eval_steps": question["eval_every_steps"], "eval_generate": True}
    return [(f"sched_{scheduler}_w{warmup:g}", {"scheduler": scheduler, "warmup_ratio": warmup, **observe})
            for scheduler in question["schedulers"] for warmup in question["warmup_ratios"]]


def rq1_1_3_runs(question: dict) -> list[tuple[str, dict]]:
    """RQ1.1.3: one run per training-set fraction, ``data25`` on subset ``frac25``; ``data100`` trains on the
    whole set (``train_subset: null``), so with the usual baseline it is the baseline."""
    from qvedbench.data.subsets import check_fraction, fraction_name  # lazily: the data package loads video code

    return [(f"data{round(check_fraction(f) * 100)}", {"train_subset": fraction_name(f)})
            for f in question["fractions"]]


def rq4_1_3_runs(question: dict) -> list[tuple[str, dict]]:
    """RQ4.1.3: the current class distribution (the baseline itself), the training set undersampled to at most
    ``samples_per_class`` clips per class (subset ``balanced<K>``), and the class-weighted loss."""
    return [("imbalance_current", {}),
            ("imbalance_balanced", {"train_subset": f"balanced{question['samples_per_class']}"}),
            ("imbalance_weighted", {"loss_weighting": "class"})]


# Questions that train runs of their own: name -> function(question config) -> [(run name, overrides)].
QUESTION_RUNS: dict[str, Callable[[dict], list[tuple[str, dict]]]] = {
    "rq1_1_1": rq1_1_1_runs,
    "rq1_1_2": rq1_1_2_runs,
    "rq1_1_3": rq1_1_3_runs,
    "rq4_1_3": rq4_1_3_runs,
}


def _plain_number(value: float) -> int | float:
    """2.0 -> 2 so that equal values compare and print alike (the schema accepts either for alpha)."""
    return int(value) if float(value).is_integer() else value


# -- effective settings ----------------------------------------------------------------------------------

def _normalise(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _normalise(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def dedup_key(settings: dict) -> str:
    """A string equal for two settings exactly when they train the same model.

    Keys the chosen method or schedule ignores are dropped: ``lora`` unless the method is lora, ``last_n``
    unless it is last_n, ``train_projector`` for full fine-tuning, ``warmup_ratio`` for the constant schedule,
    ``epochs`` when ``max_steps`` is set, and the :data:`OBSERVATION_KEYS` (they only watch training).
    ``constant_with_warmup`` without warm-up is the ``constant`` schedule. Numbers compare by value (2 == 2.0).
    """
    effective = copy.deepcopy(settings)
    for key in OBSERVATION_KEYS:
        effective.pop(key, None)
    if effective.get("scheduler") == "constant_with_warmup" and effective.get("warmup_ratio") == 0:
        effective["scheduler"] = "constant"
    method = effective.get("method")
    if method != "lora":
        effective.pop("lora", None)
    if method != "last_n":
        effective.pop("last_n", None)
    if method == "full":
        effective.pop("train_projector", None)
    if effective.get("scheduler") == "constant":
        effective.pop("warmup_ratio", None)
    if (effective.get("max_steps") or -1) > 0:
        effective.pop("epochs", None)
    return json.dumps(_normalise(effective), sort_keys=True)


# Settings that only watch training (validation, logging and checkpoint frequency): on a fixed seed they do not
# change the trained weights (evaluation restores the random state, see qvedbench.train.callbacks), so they
# never split runs; the run trained for several names observes as closely as the most demanding one asks.
OBSERVATION_KEYS = ("eval_steps", "eval_generate", "eval_max_new_tokens", "logging_steps", "save_steps")


def merge_observation(settings: list[dict]) -> dict:
    """The most informative observation settings any of ``settings`` asks for: the smallest ``eval_steps``,
    ``logging_steps`` and ``save_steps`` (null = never, the least), ``eval_generate`` if any asks for it, the
    longest ``eval_max_new_tokens``. Keys no settings dict holds are left out."""
    def present(key):
        return [s[key] for s in settings if s.get(key) is not None]

    merged: dict[str, Any] = {}
    for key in ("eval_steps", "logging_steps", "save_steps"):
        if any(key in s for s in settings):
            merged[key] = min(present(key), default=None)
    if any("eval_generate" in s for s in settings):
        merged["eval_generate"] = any(s.get("eval_generate") for s in settings)
    if present("eval_max_new_tokens"):
        merged["eval_max_new_tokens"] = max(present("eval_max_new_tokens"))
    return merged


# -- the plan --------------------------------------------------------------------------------------------

def baseline_settings(config: dict, model: str) -> dict:
    """``train.baseline`` with the model's own ``train`` overrides; precision defaults to the model's."""
    settings = deep_merge(config["train"]["baseline"], config["models"][model].get("train") or {})
    if settings.get("precision") is None:
        settings["precision"] = config["models"][model]["precision"]
    return canonical(settings)


def enabled_questions(config: dict) -> list[str]:
    """The questions of ``QUESTION_RUNS`` switched on in the config, in name order."""
    questions = config.get("questions") or {}
    return sorted(q for q in QUESTION_RUNS if (questions.get(q) or {}).get("enabled"))


def question_models(config: dict, question: str) -> list[str]:
    """The models a question runs for: its ``models`` list, or every configured model when that is null."""
    wanted = (config.get("questions") or {}).get(question, {}).get("models")
    if wanted is None:
        return list(config["models"])
    unknown = [m for m in wanted if m not in config["models"]]
    if unknown:
        raise ConfigError(f"config key 'questions.{question}.models': unknown model(s) {', '.join(unknown)}; "
                         f"configured: {', '.join(config['models'])}")
    return list(wanted)


def _unique_name(name: str, question: str, taken: set[str]) -> str:
    """``name``, or ``name-<question>`` when another question already used it for different settings."""
    if name not in taken:
        return name
    qualified = f"{name}-{question}"
    if qualified in taken:
        raise ConfigError(f"question '{question}' names run '{name}' twice with different settings")
    return qualified


def seed_names(config: dict, name: str, settings: dict) -> list[tuple[str, dict]]:
    """``(name, settings)`` once per seed of ``train.seeds`` (first seed: plain name, others ``_s<seed>``);
    just ``(name, settings)`` when ``train.seeds`` is null."""
    seeds = (config.get("train") or {}).get("seeds")
    if not seeds:
        return [(name, settings)]
    return [(name if i == 0 else f"{name}_s{seed}", {**settings, "seed": seed}) for i, seed in enumerate(seeds)]


def plan_runs(config: dict) -> list[PlannedRun]:
    """Every (model, question, run name) with its effective settings and the canonical run that answers it.

    ``config`` is a validated configuration (defaults filled in). Order: per model, ``base`` and ``baseline``
    (and its seed replicates), then each enabled question's runs in the order the question lists them.
    """
    plan: list[PlannedRun] = []
    questions = enabled_questions(config)
    for model in config["models"]:
        plan.append(PlannedRun(model, BASELINE_QUESTION, BASE_RUN, None, None, BASE_RUN))
        canonical_by_key: dict[str, str] = {}
        taken = {BASE_RUN}
        asked = [(BASELINE_QUESTION, BASELINE_RUN, {})]
        for question in questions:
            if model in question_models(config, question):
                asked += [(question, name, o) for name, o in QUESTION_RUNS[question](config["questions"][question])]
        baseline = baseline_settings(config, model)
        for question, group, overrides in asked:
            for name, settings in seed_names(config, group, deep_merge(baseline, overrides)):
                settings = canonical(settings)
                key = dedup_key(settings)
                if key not in canonical_by_key:
                    canonical_by_key[key] = _unique_name(name, question, taken)
                    taken.add(canonical_by_key[key])
                plan.append(PlannedRun(model, question, name, canonical(overrides), settings,
                                       canonical_by_key[key], group))
    return _share_observation(plan)


def _share_observation(plan: list[PlannedRun]) -> list[PlannedRun]:
    """Give every name of one trained run the :func:`merge_observation` of what they all ask for, so the run
    trained (its first name's settings) observes as any of its aliases asks (e.g. logs validation curves)."""
    names: dict[tuple[str, str], list[dict]] = {}
    for run in plan:
        if run.settings is not None:
            names.setdefault((run.model, run.canonical), []).append(run.settings)
    merged = {key: merge_observation(settings) for key, settings in names.items()}
    return [run if run.settings is None else
            dataclasses.replace(run, settings=canonical({**run.settings, **merged[(run.model, run.canonical)]}))
            for run in plan]


def canonical_runs(plan: list[PlannedRun]) -> dict[str, dict[str, dict | None]]:
    """``{model: {canonical run: settings}}``: what trains (settings None: the untuned model, nothing trains)."""
    table: dict[str, dict[str, dict | None]] = {}
    for run in plan:
        table.setdefault(run.model, {}).setdefault(run.canonical, run.settings)
    return table


def question_run_names(plan: list[PlannedRun], question: str) -> dict[str, dict[str, str]]:
    """``{model: {the question's run name: canonical run}}`` for one question."""
    out: dict[str, dict[str, str]] = {}
    for run in plan:
        if run.question == question:
            out.setdefault(run.model, {})[run.name] = run.canonical
    return out


def question_runs(plan: list[PlannedRun], question: str) -> list[dict]:
    """The question's runs as plain rows: ``model``, ``run`` (the question's name), ``group`` (without seed
    suffix), ``canonical`` (the run whose files answer it), ``settings``, and ``baseline`` (the canonical run of
    the baseline trained with the same seed, to compare against)."""
    baselines = {(r.model, r.seed): r.canonical for r in plan
                 if r.question == BASELINE_QUESTION and r.group == BASELINE_RUN}
    return [{"model": r.model, "run": r.name, "group": r.group, "canonical": r.canonical, "settings": r.settings,
             "baseline": baselines[(r.model, r.seed)]}
            for r in plan if r.question == question]


def format_plan(plan: list[PlannedRun]) -> str:
    """A tab-separated table for people: model, question, run, seed, overrides, shared with (canonical run)."""
    lines = ["model\tquestion\trun\tseed\toverrides\tshared_with"]
    for run in plan:
        if run.overrides is None:
            overrides = "untuned model"
        else:
            overrides = json.dumps(run.overrides, sort_keys=True) if run.overrides else "-"
        seed = "-" if run.seed is None else run.seed
        shared = run.canonical if run.shared else "-"
        lines.append(f"{run.model}\t{run.question}\t{run.name}\t{seed}\t{overrides}\t{shared}")
    return "\n".join(lines) + "\n"
