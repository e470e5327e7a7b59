"""Install the workflow's Snakemake profiles where ``snakemake --profile NAME`` finds them.

Snakemake looks a bare profile name up in the working directory and the user's and the site's Snakemake
config folders (``~/.config/snakemake`` on Linux), not in this repository's ``profiles/``. Copying
``profiles/slurm`` to ``~/.config/snakemake/slurm`` makes ``snakemake --profile slurm all`` work, as the
Snakemake cluster profiles' own setups do.
"""
from __future__ import annotations

import os
from pathlib import Path

from qvedbench.io import write_text

PROFILES_DIR = Path(__file__).resolve().parent.parent / "profiles"


def available_profiles(profiles_dir: Path = PROFILES_DIR) -> list[str]:
    return sorted(p.name for p in profiles_dir.iterdir() if p.is_dir()) if profiles_dir.is_dir() else []


def snakemake_config_dir() -> Path:
    """The user's Snakemake config folder, as Snakemake itself computes it (platformdirs, which Snakemake
    depends on); ``$XDG_CONFIG_HOME/snakemake`` or ``~/.config/snakemake`` without it."""
    try:
        from platformdirs import AppDirs
    except ImportError:
        base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
        return Path(base) / "snakemake"
    return Path(AppDirs("snakemake", "snakemake").user_config_dir)


def _profile_files(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): p.read_text(encoding="utf-8")
            for p in sorted(folder.rglob("*")) if p.is_file()}


def install_profile(name: str = "slurm", dest: str | Path | None = None, force: bool = False,
                    profiles_dir: Path = PROFILES_DIR) -> Path:
    """Copy ``profiles/<name>`` to ``dest`` (default: ``<Snakemake config folder>/<name>``) and return ``dest``.

    Installing over an identical copy does nothing; over a copy that differs (for example one the user edited
    to set a partition) it raises :class:`FileExistsError` unless ``force``, which overwrites the profile's
    files (other files in ``dest`` stay). Each file is written atomically.
    """
    source = profiles_dir / name
    if not source.is_dir():
        raise ValueError(f"no profile '{name}' in {profiles_dir} (available: {', '.join(available_profiles(profiles_dir)) or 'none'})")
    target = Path(dest).expanduser() if dest is not None else snakemake_config_dir() / name
    files = _profile_files(source)
    if target.exists() and not force:
        if not target.is_dir():
            raise FileExistsError(f"{target} exists and is not a folder")
        installed = {rel: (target / rel).read_text(encoding="utf-8") for rel in files if (target / rel).is_file()}
        if installed == files:
            return target
        if installed:
            changed = sorted(rel for rel in files if installed.get(rel) != files[rel])
            raise FileExistsError(f"{target} already holds a different '{name}' profile ({', '.join(changed)} "
                                  "differ): keep it, or overwrite it with --force (force=True)")
    for rel, text in files.items():
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        write_text(target / rel, text)
    return target
