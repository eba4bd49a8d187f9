"""SpeechBrain's own recipe checks, run on this repository unchanged.

``tests/consistency/test_recipe.py``, ``tests/consistency/test_yaml.py``
and ``tests/utils/{check_yaml,check_docstrings,recipe_tests}.py`` are
SpeechBrain's files, copied byte for byte from its repository at tag
v1.1.0 (identical on its develop branch at the time of copying). pytest
collects the two ``test_*.py`` files like ours: the recipe list, the
mandatory files, the README links and the YAML-versus-script check. This
module proves that the copies are SpeechBrain's (their git blob ids match
upstream's), runs SpeechBrain's docstring check over our code, and runs
every row of ``tests/recipes/MSP-Podcast.csv`` through SpeechBrain's
recipe-test runner, as SpeechBrain's CI does for its own recipes.

To refresh the copies from a SpeechBrain checkout::

    for f in tests/consistency/test_recipe.py tests/consistency/test_yaml.py \\
             tests/utils/check_yaml.py tests/utils/check_docstrings.py \\
             tests/utils/recipe_tests.py; do
        git -C /path/to/speechbrain show v1.1.0:$f > $f
    done

then update ``UPSTREAM_BLOBS`` with ``git hash-object``.
"""

import hashlib
import os
from pathlib import Path

import pytest

from tests.utils.check_docstrings import check_docstrings

REPO = Path(__file__).resolve().parents[1]

#: SpeechBrain's git blob id of each copied file at tag v1.1.0
#: (``git -C speechbrain rev-parse v1.1.0:<path>``).
UPSTREAM_BLOBS = {
    "tests/consistency/test_recipe.py": (
        "abc6667aeca429efe1411dacc56e6d2819983531"
    ),
    "tests/consistency/test_yaml.py": "b5ebc1724dd21bf8128c4496dcc2bb89369ec508",
    "tests/utils/check_yaml.py": "466fb35c1bae6cd55f2708b94c9537ba9f8e0102",
    "tests/utils/check_docstrings.py": (
        "3359599f2def5964c6cd7e026d9fbc6866054acd"
    ),
    "tests/utils/recipe_tests.py": "aa020f9984e3bf7628fb26c966146fc9fa61dbdf",
}

#: Our code that SpeechBrain's docstring check covers: the package, the
#: recipes, the tools and the benchmarks.
DOCUMENTED_FOLDERS = ["speechbrain_wav2small", "recipes", "tools", "benchmarks"]


def git_blob_id(path):
    """The id git gives a file's content (``git hash-object``)."""
    data = Path(path).read_bytes()
    header = f"blob {len(data)}\0".encode()
    return hashlib.sha1(header + data).hexdigest()


@pytest.mark.parametrize("path", sorted(UPSTREAM_BLOBS))
def test_copied_checks_are_speechbrains_own(path):
    assert git_blob_id(REPO / path) == UPSTREAM_BLOBS[path], (
        f"{path} differs from SpeechBrain's v1.1.0 copy: SpeechBrain's "
        "checks must run unchanged"
    )


@pytest.fixture
def in_repo(monkeypatch):
    """SpeechBrain's checks take paths relative to the repository root."""
    monkeypatch.chdir(REPO)


@pytest.mark.parametrize("folder", DOCUMENTED_FOLDERS)
def test_every_function_and_class_has_a_docstring(in_repo, folder, capsys):
    passed = check_docstrings(folder, [folder])
    report = [
        line for line in capsys.readouterr().out.splitlines() if "ERROR" in line
    ]
    assert passed, "\n".join(report)


def test_the_docstring_check_sees_nested_functions(tmp_path, monkeypatch):
    # The check reads source lines, not modules: a nested function without
    # a docstring must fail it, or the test above proves nothing.
    folder = tmp_path / "pkg"
    folder.mkdir()
    (folder / "module.py").write_text(
        '"""A module."""\n\n\ndef outer():\n    """Documented."""\n\n'
        "    def inner():\n        return 1\n\n    return inner\n"
    )
    monkeypatch.chdir(tmp_path)
    assert not check_docstrings("pkg", ["pkg"])
    (folder / "module.py").write_text(
        '"""A module."""\n\n\ndef outer():\n    """Documented."""\n\n'
        '    def inner():\n        """Also documented."""\n        return 1\n'
        "\n    return inner\n"
    )
    assert check_docstrings("pkg", ["pkg"])


def test_recipe_table_has_speechbrains_columns(in_repo):
    import csv

    with open("tests/recipes/MSP-Podcast.csv", newline="") as stream:
        header = next(csv.reader(stream))
    assert header == [
        "Task",
        "Dataset",
        "Script_file",
        "Hparam_file",
        "Data_prep_file",
        "Readme_file",
        "Result_url",
        "HF_repo",
        "test_debug_flags",
        "test_debug_checks",
        "performance",
    ]


def test_recipe_scripts_find_their_data_preparation(in_repo):
    # SpeechBrain's runner puts only the script's folder on PYTHONPATH:
    # each task folder links the dataset's preparation script, as
    # SpeechBrain's recipes do.
    for task in ("teacher", "distill"):
        link = Path("recipes/MSP-Podcast") / task / "msp_podcast_prepare.py"
        assert link.is_symlink()
        assert os.path.samefile(
            link, "recipes/MSP-Podcast/msp_podcast_prepare.py"
        )
