"""The ``hyperparams.yaml`` of a packaged student.

It is the student's own YAML, with the overrides it was built with resolved
in (so that the folder builds the same architecture), followed by
``templates/hyperparams_inference.yaml`` (package data): what
:class:`speechbrain_wav2small.inference.emotion.EmotionDimensions` needs
besides the ``model``, i.e. ``sample_rate`` when the student's YAML lacks
it (added here, so that the template stays valid YAML), ``dimensions``,
``modules`` and a ``pretrainer``. Its ``${...}`` placeholders are filled
with :class:`string.Template`.

Authors
 * speechbrain-wav2small contributors 2026
"""

from importlib import resources
from pathlib import Path
from string import Template

from hyperpyyaml import resolve_references

from speechbrain_wav2small import DIMENSIONS, SAMPLE_RATE, __version__
from speechbrain_wav2small.students import TRAINING_KEY, student_hparams_file

TEMPLATE = "templates/hyperparams_inference.yaml"


def student_name(student, hparams):
    """The name a packaged student goes by.

    Arguments
    ---------
    student : str
        Student name or the path of its YAML.
    hparams : dict
        The loaded YAML (see
        :func:`speechbrain_wav2small.students.load_student_hparams`).

    Returns
    -------
    str
        Its ``student_name``, or the YAML file's name without suffix.

    Example
    -------
    >>> student_name("wav2small", {"student_name": "tiny"})
    'tiny'
    >>> student_name("wav2small", {})
    'wav2small'
    """
    if "student_name" in hparams:
        return str(hparams["student_name"])
    return Path(student_hparams_file(student)).stem


def without_block(text, key):
    r"""YAML ``text`` without its top-level ``key`` block and the comment
    lines right above it (which describe that block).

    A text operation on purpose: a YAML round trip would keep those
    comments, attached to the key before.

    Arguments
    ---------
    text : str
        A YAML document.
    key : str
        A top-level key.

    Returns
    -------
    str
        The document without the block (unchanged if it has none).

    Example
    -------
    >>> text = "a: 1\n\n# b's settings\nb:\n  c: 2\n  # note\n\nd: 3"
    >>> print(without_block(text, "b"))
    a: 1
    <BLANKLINE>
    d: 3
    """
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(f"{key}:")]
    if not starts:
        return text
    start = end = starts[0]
    end += 1
    # The block: indented or blank lines, up to the next top-level line.
    while end < len(lines) and (not lines[end].strip() or lines[end][0] == " "):
        end += 1
    while start > 0 and lines[start - 1].startswith("#"):
        start -= 1
    return "\n".join(lines[:start] + lines[end:])


def inference_hparams_yaml(student, hparams, overrides=None):
    """The text of a package's ``hyperparams.yaml``.

    Arguments
    ---------
    student : str
        Student name or the path of its YAML.
    hparams : dict
        The same YAML, loaded with ``overrides`` (its ``model`` gives the
        sample rate when the YAML has no ``sample_rate``).
    overrides : dict or str, optional
        YAML overrides the student was built with.

    Returns
    -------
    str

    Example
    -------
    >>> from speechbrain_wav2small.students import load_student_hparams
    >>> hparams = load_student_hparams("wav2small", {"channels": 8})
    >>> text = inference_hparams_yaml("wav2small", hparams, {"channels": 8})
    >>> "channels: 8" in text, "pretrainer: !new:" in text, "training:" in text
    (True, True, False)
    """
    with open(student_hparams_file(student), encoding="utf-8") as stream:
        student_text = without_block(
            resolve_references(stream, overrides).getvalue(), TRAINING_KEY
        )
    template = resources.files(__package__).joinpath(TEMPLATE)
    inference = Template(template.read_text(encoding="utf-8")).substitute(
        version=__version__, dimensions=f"[{', '.join(DIMENSIONS)}]"
    )
    blocks = [student_text.rstrip(), inference]
    if "sample_rate" not in hparams:
        front_end = hparams["model"].front_end
        rate = getattr(front_end, "sample_rate", SAMPLE_RATE)
        blocks.insert(1, f"sample_rate: {int(rate)}")
    return "\n\n".join(blocks)
