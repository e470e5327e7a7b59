"""Security: remote code only when a model opts in, secrets only from the environment and never written out,
no eval/exec/pickle of untrusted input, and safetensors for every weight file we write."""
from __future__ import annotations

import ast
import dataclasses
import io
import json
import logging
import shutil
from pathlib import Path

import pytest
import transformers.dynamic_module_utils as dynamic_modules
import yaml

from clip_fixtures import CLASSES, SYSTEM, tiny_spec, write_records
from qvedbench.config import ConfigError, load_config, schema_keys
from qvedbench.models import load_adapter
from qvedbench.secrets import MASK, MissingSecretError, RedactingFilter, env_secret, is_secret_name, redact, redact_text
from qvedbench.train import train_run

ROOT = Path(__file__).resolve().parent.parent
LIBRARY_FILES = sorted((ROOT / "qvedbench").rglob("*.py")) + sorted((ROOT / "workflow" / "scripts").rglob("*.py"))


# -- remote code ---------------------------------------------------------------------------------------------

def _calls(tree: ast.AST):
    return (node for node in ast.walk(tree) if isinstance(node, ast.Call))


def _calls_with_function(tree: ast.AST):
    """Each call with the function definition that encloses it (None at module level)."""
    def visit(node, function):
        for child in ast.iter_child_nodes(node):
            inner = child if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            if isinstance(child, ast.Call):
                yield child, function
            yield from visit(child, inner)
    yield from visit(tree, None)


def _is_remote_code_guard(call: ast.Call) -> bool:
    name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
    return "remote_code" in name


def _remote_code_keywords(tree: ast.AST) -> list[tuple[int, str, bool]]:
    """Each ``trust_remote_code=`` keyword as ``(line, value, allowed)``: allowed when it passes the model
    spec's own setting, or sits in a function that calls a remote-code guard (one that refuses unless the spec
    opted in with a pinned revision)."""
    found = []
    for call, function in _calls_with_function(tree):
        for kw in call.keywords:
            if kw.arg == "trust_remote_code":
                from_spec = isinstance(kw.value, ast.Attribute) and kw.value.attr == "trust_remote_code"
                guarded = function is not None and any(_is_remote_code_guard(c) for c in _calls(function))
                found.append((call.lineno, ast.unparse(kw.value), from_spec or guarded))
    return found


def test_remote_code_scan_tells_guarded_from_unguarded():
    source = ("def a(spec):\n    load(p, trust_remote_code=spec.trust_remote_code)\n"
              "def b(spec):\n    require_remote_code(spec)\n    load(p, trust_remote_code=True)\n"
              "def c(spec):\n    load(p, trust_remote_code=True)\n"
              "load(p, trust_remote_code=flag)\n")
    assert [(line, ok) for line, _, ok in _remote_code_keywords(ast.parse(source))] == [
        (2, True), (5, True), (7, False), (8, False)]


def test_library_never_turns_remote_code_on_by_itself():
    found = [(path, *hit) for path in LIBRARY_FILES for hit in _remote_code_keywords(ast.parse(path.read_text(encoding="utf-8")))]
    assert found  # the scan does reach the loaders
    offenders = [f"{path.relative_to(ROOT)}:{line}: trust_remote_code={value}" for path, line, value, ok in found if not ok]
    assert not offenders, "\n".join(offenders)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Clip records and a tiny model folder (their spec)."""
    root = tmp_path_factory.mktemp("security")
    records = write_records(root, per_class=1)
    spec = tiny_spec(root, records)
    return root, records, spec


def _plant_remote_code(model_dir: Path, marker: Path) -> None:
    """Make the folder ask for its own processor code: a module that leaves ``marker`` behind when imported.

    The planted class is a subclass: transformers marks remote classes it loads, which must not leak onto the
    real processor class used by other tests."""
    config_path = model_dir / "processor_config.json"
    config = json.loads(config_path.read_text())
    config["auto_map"] = {"AutoProcessor": "planted.PlantedProcessor"}
    config_path.write_text(json.dumps(config))
    (model_dir / "planted.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"
        "from transformers import Qwen2VLProcessor\n\n\nclass PlantedProcessor(Qwen2VLProcessor):\n    pass\n")


def test_remote_code_runs_only_when_the_spec_opts_in(tiny, tmp_path, monkeypatch):
    _, _, spec = tiny
    folder, marker = tmp_path / "planted_model", tmp_path / "remote_code_ran"
    shutil.copytree(spec.path, folder)
    _plant_remote_code(folder, marker)
    monkeypatch.setattr(dynamic_modules, "HF_MODULES_CACHE", str(tmp_path / "modules"))
    planted = dataclasses.replace(spec, path=str(folder))
    assert planted.trust_remote_code is False  # the default
    load_adapter(planted)
    assert not marker.exists()
    load_adapter(dataclasses.replace(planted, trust_remote_code=True))
    assert marker.exists()  # the planted code is real: opting in runs it


def test_remote_code_from_the_hub_needs_a_pinned_revision(tmp_path):
    override = tmp_path / "remote.yaml"
    override.write_text("models:\n  big:\n    family: qwen2_vl\n    path: someone/some-model\n    trust_remote_code: true\n")
    with pytest.raises(ConfigError, match=r"'models\.big\.revision'.*pin the revision"):
        load_config(ROOT / "config" / "demo.yaml", override)
    override.write_text(override.read_text() + "    revision: 0123456789abcdef0123456789abcdef01234567\n")
    assert load_config(ROOT / "config" / "demo.yaml", override)["models"]["big"]["trust_remote_code"] is True


# -- secrets -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, secret", [
    ("api_key", True), ("OPENAI_API_KEY", True), ("HF_TOKEN", True), ("hub-token", True), ("password", True),
    ("client_secret", True), ("AWS_SECRET_ACCESS_KEY", True), ("max_new_tokens", False), ("pad_token_id", False),
    ("api_key_env", False), ("tokenizer", False), ("lr", False),
])
def test_secret_names(name, secret):
    assert is_secret_name(name) is secret


ENV = {"HF_TOKEN": "hf_abcdefSECRET", "JUDGE_API_KEY": "sk-judge-0123", "PIN": "1234", "HOME": "/root"}


def test_redact_masks_secret_keys_and_secret_environment_values():
    config = {
        "judge": {"api_key": "sk-literal-999", "api_key_env": "JUDGE_API_KEY", "token": None,
                  "url": "https://user:sk-judge-0123@judge.example/v1", "max_new_tokens": 64},
        "models": [{"path": "org/model", "extra": {"hub_token": "abc"}, "note": "pin 1234 stays"}],
        "home": "/root/x", "pair": ("hf_abcdefSECRET", 3),
    }
    original = json.loads(json.dumps(config))
    out = redact(config, ENV)
    assert out == {
        "judge": {"api_key": MASK, "api_key_env": "JUDGE_API_KEY", "token": None,
                  "url": f"https://user:{MASK}@judge.example/v1", "max_new_tokens": 64},
        "models": [{"path": "org/model", "extra": {"hub_token": MASK}, "note": "pin 1234 stays"}],
        "home": "/root/x", "pair": (MASK, 3),
    }
    assert json.loads(json.dumps(config)) == original  # the input is left alone


def test_redact_text_and_log_filter():
    assert redact_text("token hf_abcdefSECRET and key sk-judge-0123", ENV) == f"token {MASK} and key {MASK}"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter(ENV))
    logger = logging.getLogger("qvedbench.test_security")
    logger.addHandler(handler)
    try:
        logger.warning("calling %s with key %s", "judge", "sk-judge-0123")
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue() == f"calling judge with key {MASK}\n"


def test_secrets_come_from_the_environment():
    assert env_secret("JUDGE_API_KEY", ENV) == "sk-judge-0123"
    with pytest.raises(MissingSecretError, match="'NOPE_API_KEY' is not set"):
        env_secret("NOPE_API_KEY", ENV)


def test_config_schema_has_no_key_for_a_secret_value():
    """Configs name environment variables; a key that holds the secret itself would be written to disk."""
    assert [path for path, _ in schema_keys() if is_secret_name(path.rsplit(".", 1)[-1])] == []


LORA_ONE_STEP = {"method": "lora", "lora": {"r": 2, "alpha": 4, "dropout": 0.0}, "max_steps": 1, "batch_size": 2,
                 "logging_steps": 1, "eval_steps": None, "seed": 0}


@pytest.fixture(scope="module")
def lora_run(tiny, tmp_path_factory):
    """A one-step LoRA run whose model spec and environment hold secrets."""
    _, records, spec = tiny
    mp = pytest.MonkeyPatch()
    mp.setenv("QVEDBENCH_TEST_API_KEY", "sk-test-SECRET-42")
    try:
        secret_spec = dataclasses.replace(spec, extra={
            "api_key": "literal-SECRET", "endpoint": "https://x:sk-test-SECRET-42@judge.example"})
        out = tmp_path_factory.mktemp("run") / "baseline"
        train_run(secret_spec, LORA_ONE_STEP, records, [], out, system_prompt=SYSTEM, classes=CLASSES, threads=1)
    finally:
        mp.undo()
    return out


def test_resolved_config_is_redacted(lora_run):
    text = (lora_run / "resolved_config.yaml").read_text()
    assert "SECRET" not in text
    extra = yaml.safe_load(text)["model"]["extra"]
    assert extra == {"api_key": MASK, "endpoint": f"https://x:{MASK}@judge.example"}


# -- no code execution from data; safetensors only -----------------------------------------------------------

def _unsafe_calls(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for call in _calls(tree):
        func = call.func
        name = func.id if isinstance(func, ast.Name) else None
        dotted = ast.unparse(func)
        kwargs = {kw.arg: kw.value for kw in call.keywords}
        if name in ("eval", "exec") or dotted in ("builtins.eval", "builtins.exec", "os.system"):
            found.append((call.lineno, dotted))
        elif dotted.startswith(("pickle.", "cPickle.", "dill.", "joblib.")) and dotted.split(".")[-1] in ("load", "loads"):
            found.append((call.lineno, dotted))
        elif dotted == "torch.load" and not (isinstance(kwargs.get("weights_only"), ast.Constant)
                                             and kwargs["weights_only"].value is True):
            found.append((call.lineno, "torch.load without weights_only=True"))
        elif dotted in ("yaml.load", "yaml.unsafe_load", "yaml.full_load"):
            found.append((call.lineno, f"{dotted} (use yaml.safe_load)"))
        elif isinstance(kwargs.get("allow_pickle"), ast.Constant) and kwargs["allow_pickle"].value is True:
            found.append((call.lineno, f"{dotted}(allow_pickle=True)"))
        elif isinstance(kwargs.get("shell"), ast.Constant) and kwargs["shell"].value is True:
            found.append((call.lineno, f"{dotted}(shell=True)"))
    return found


def test_scan_flags_what_it_is_meant_to_flag():
    source = ("eval('1')\nexec('x=1')\nimport pickle\npickle.load(f)\ntorch.load(p)\ntorch.load(p, weights_only=False)\n"
              "yaml.load(t)\nnp.load(p, allow_pickle=True)\nsubprocess.run(c, shell=True)\n"
              "model.eval()\ntorch.load(p, weights_only=True)\nyaml.safe_load(t)\n")
    assert [line for line, _ in _unsafe_calls(ast.parse(source))] == [1, 2, 4, 5, 6, 7, 8, 9]


def test_library_never_evaluates_or_unpickles_data():
    problems = [f"{path.relative_to(ROOT)}:{line}: {what}"
                for path in LIBRARY_FILES for line, what in _unsafe_calls(ast.parse(path.read_text(encoding="utf-8")))]
    assert not problems, "\n".join(problems)


WEIGHT_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".safetensors")


def _weight_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.suffix in WEIGHT_SUFFIXES)


def test_weights_we_write_are_safetensors(tiny, lora_run, tmp_path):
    _, _, spec = tiny
    assert _weight_files(Path(spec.path)) == ["model.safetensors"]  # a tiny model folder
    assert _weight_files(lora_run / "checkpoint") == ["adapter_model.safetensors"]  # a LoRA run
    adapter = load_adapter(spec)
    adapter.save_checkpoint(adapter.model, str(tmp_path / "full"))  # full fine-tuning's checkpoint
    assert _weight_files(tmp_path / "full") == ["model.safetensors"]


def test_written_files_are_not_private(tmp_path):
    """Outputs must be readable by collaborators on a shared cluster (mkstemp alone would make them 0600)."""
    import os

    from qvedbench.io import write_json

    old = os.umask(0o022)
    try:
        write_json(tmp_path / "x.json", {"a": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "x.json").stat().st_mode & 0o777 == 0o644
