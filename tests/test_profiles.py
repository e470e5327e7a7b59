"""The Slurm profile: installing it into the user's Snakemake config folder, and dry-runs with both spellings
(`--profile slurm` after `qvedbench install-profile`, and `--profile profiles/slurm`)."""
from __future__ import annotations

import os
import re
import subprocess

import pytest
import yaml

from qvedbench.cli import main
from qvedbench.profiles import PROFILES_DIR, install_profile, snakemake_config_dir
from workflow_helpers import REPO, SNAKEFILE, SNAKEMAKE, reduced_demo_config, write_config

SLURM_PROFILE = PROFILES_DIR / "slurm" / "config.v8+.yaml"


def test_slurm_profile_uses_the_executor_with_retries_and_rate_limits():
    profile = yaml.safe_load(SLURM_PROFILE.read_text())
    assert profile["executor"] == "slurm"
    assert profile["retries"] >= 1 and profile["latency-wait"] >= 30
    assert profile["max-jobs-per-second"] > 0 and profile["max-status-checks-per-second"] > 0
    assert profile["resources"]["judge_calls"] >= 1


def test_install_copies_the_profile_and_is_idempotent(tmp_path):
    dest = install_profile("slurm", dest=tmp_path / "slurm")
    assert dest == tmp_path / "slurm"
    assert (dest / "config.v8+.yaml").read_text() == SLURM_PROFILE.read_text()
    assert install_profile("slurm", dest=dest) == dest


def test_install_refuses_to_overwrite_an_edited_copy_unless_forced(tmp_path):
    dest = install_profile("slurm", dest=tmp_path / "slurm")
    edited = dest / "config.v8+.yaml"
    edited.write_text(edited.read_text() + "default-resources: {slurm_partition: gpu}\n")
    with pytest.raises(FileExistsError, match="config.v8\\+.yaml differ"):
        install_profile("slurm", dest=dest)
    install_profile("slurm", dest=dest, force=True)
    assert edited.read_text() == SLURM_PROFILE.read_text()


def test_unknown_profile_names_the_available_ones(tmp_path):
    with pytest.raises(ValueError, match="no profile 'slurmm'.*available: .*slurm"):
        install_profile("slurmm", dest=tmp_path / "x")


def test_default_destination_is_the_user_snakemake_config_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert snakemake_config_dir() == tmp_path / "xdg" / "snakemake"
    assert main(["install-profile"]) == 0
    assert (tmp_path / "xdg" / "snakemake" / "slurm" / "config.v8+.yaml").is_file()


def test_cli_reports_an_edited_copy_as_an_error(tmp_path, capsys):
    dest = tmp_path / "slurm"
    assert main(["install-profile", "slurm", "--dest", str(dest)]) == 0
    assert capsys.readouterr().out.strip() == str(dest)
    (dest / "config.v8+.yaml").write_text("executor: local\n")
    assert main(["install-profile", "slurm", "--dest", str(dest)]) == 2
    assert "already holds a different 'slurm' profile" in capsys.readouterr().err


def _dry_run(profile: str, workdir, configfile, env) -> subprocess.CompletedProcess:
    cmd = [str(SNAKEMAKE), "all", "-n", "--profile", profile, "--snakefile", str(SNAKEFILE), "--directory",
           str(workdir), "--configfile", str(configfile)]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300, env=env)


def _job_resources(out: str, rule: str) -> str:
    """The `resources:` line of the first planned job of `rule` in a dry-run's output."""
    match = re.search(rf"^rule {rule}:\n(?:\s+\S.*\n)*?\s+resources: (.*)$", out, re.MULTILINE)
    assert match, f"no job of {rule} in:\n{out[-3000:]}"
    return match.group(1)


@pytest.mark.parametrize("spelling", ["slurm", "profiles/slurm"])
def test_dry_run_with_the_slurm_profile(tmp_path, spelling):
    cfg = reduced_demo_config()
    cfg["resources"].update(gpu={"train": 1, "infer": 1}, gpu_model={"train": "a100"},
                            threads={"train": 2, "infer": 1, "evaluate": 1},
                            mem_mb={"train": 12000, "infer": 6000, "evaluate": 3000},
                            runtime={"train": 240, "infer": 45, "evaluate": 20})
    configfile = write_config(tmp_path / "config.yaml", cfg)
    workdir = tmp_path / "work"
    workdir.mkdir()
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k != "XDG_CONFIG_HOME"}
    env["HOME"] = str(home)
    if spelling == "slurm":
        assert not (REPO / "slurm").exists()  # the bare name must come from the user's config folder
        before = _dry_run(spelling, workdir, configfile, env)
        assert before.returncode != 0 and "no profile.yaml (or config.yaml) found" in before.stdout + before.stderr
        setup = subprocess.run([str(SNAKEMAKE.with_name("qvedbench")), "install-profile"], env=env,
                               capture_output=True, text=True, timeout=60)
        assert setup.returncode == 0, setup.stderr
        assert setup.stdout.strip() == str(home / ".config" / "snakemake" / "slurm")

    proc = _dry_run(spelling, workdir, configfile, env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert f"Using profile {spelling} for setting default command line arguments" in out
    train = _job_resources(out, "train_lora")
    assert all(item in train for item in ("mem_mb=12000", "runtime=240", "cpus_per_task=2", "gpu=1",
                                          "gpu_model=a100")), train
    infer = _job_resources(out, "infer_generate")
    assert all(item in infer for item in ("mem_mb=6000", "runtime=45", "gpu=1")), infer
    assert "gpu_model" not in infer
    evaluate = _job_resources(out, "evaluate_score")
    assert "mem_mb=3000" in evaluate and "runtime=20" in evaluate and "gpu" not in evaluate
    # Rules without resources in the config get the profile's default-resources.
    assert "mem_mb=4000" in _job_resources(out, "data_prepare")


def test_per_model_resources_override_the_stage(tmp_path):
    """models.<name>.resources.<stage> overrides the top-level resources for that model's jobs only."""
    import re
    import subprocess

    import yaml

    from workflow_helpers import SNAKEFILE, SNAKEMAKE, reduced_demo_config, write_config

    cfg = reduced_demo_config()
    first = next(iter(cfg["models"]))
    other = dict(cfg["models"][first])
    cfg["models"]["second"] = {**other, "tiny": {"preset": "s", "seed": 1}}
    cfg["models"][first]["resources"] = {"train": {"mem_mb": 12345, "runtime": 77, "gpu": 1, "gpu_model": "h100"}}
    cfg["resources"] = {"mem_mb": {"train": 2000}}
    configfile = write_config(tmp_path / "config.yaml", cfg)
    out = subprocess.run([str(SNAKEMAKE), "train", "-n", "--snakefile", str(SNAKEFILE), "--directory", str(tmp_path),
                          "--configfile", str(configfile)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr + out.stdout
    jobs = [block for block in (out.stdout + out.stderr).split("rule train_lora:")[1:]]
    by_model = {re.search(r"wildcards: model=([^,\s]+)", b).group(1): b for b in jobs}
    assert "mem_mb=12345" in by_model[first] and "runtime=77" in by_model[first]
    assert "gpu=1" in by_model[first] and "gpu_model=h100" in by_model[first]
    assert "mem_mb=2000" in by_model["second"] and "gpu=0" in by_model["second"]
    assert "gpu_model=h100" not in by_model["second"]
