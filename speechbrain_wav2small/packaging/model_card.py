"""The README model card of a packaged student.

The card's text is ``templates/model_card.md`` (package data): hub front
matter, the metrics table, file sizes and the checks made at export (or
why there is no int8 file), usage with PyTorch and with onnxruntime, what
loading runs (``hyperparams.yaml`` is code, checked against the manifest
before it runs; the ONNX files run none), what the numbers mean (order,
scale, MSP-Podcast's rater scale, and what the model gives on inputs
without speech, as measured on it at packaging), provenance, licence and
citation. Its ``${...}`` placeholders are filled
with :class:`string.Template`.

Authors
 * speechbrain-wav2small contributors 2026
"""

from importlib import resources
from string import Template

from speechbrain_wav2small import DIMENSIONS, __version__
from speechbrain_wav2small.export.onnx_export import GIVEN_AUDIO
from speechbrain_wav2small.packaging.reference_outputs import (
    REFERENCE_OUTPUTS_KEY,
    constant_input_table,
)
from speechbrain_wav2small.utils.model_files import FLOAT_FILE, INT8_FILE

#: Licence of a student distilled from the default teacher ensemble: the
#: wav2vec2 teacher (audeering) is CC-BY-NC-SA-4.0, which a model trained on
#: its outputs is published under too; pass another one when it applies.
DEFAULT_LICENSE = "cc-by-nc-sa-4.0"

TEMPLATE = "templates/model_card.md"

NO_RESULTS = (
    "No evaluation results were given when this folder was packaged "
    "(`wav2small package --results results.json`)."
)

NOT_MEASURED = (
    "Not measured when this folder was packaged; `wav2small package` "
    f"measures them and records them in `export.json` "
    f"(`{REFERENCE_OUTPUTS_KEY}`)."
)


def ccc_rows(results, path=()):
    """Metric rows found in a results dict: (label, [A, D, V]).

    A row is any object holding a number per dimension, keyed by the
    dimension's name or ``ccc_<name>`` (the recipe's ``CCCStats``), under
    a key path that mentions ``ccc`` (int8-vs-float figures excluded).

    Arguments
    ---------
    results : dict
        The recipe's results, nested in any way.
    path : tuple of str
        Keys leading to ``results`` (used when recursing).

    Returns
    -------
    list of tuple
        ``(label, [arousal, dominance, valence])``, in the order found.

    Example
    -------
    >>> ccc_rows({"test": {"ccc_vs_human": {"arousal": .6, "dominance": .5,
    ...                                      "valence": .3}}})
    [('test / ccc_vs_human', [0.6, 0.5, 0.3])]
    >>> ccc_rows({"ccc_vs_teacher": {"ccc": .8, "ccc_arousal": .9,
    ...           "ccc_dominance": .8, "ccc_valence": .7}})
    [('ccc_vs_teacher', [0.9, 0.8, 0.7])]
    """
    rows = []
    if not isinstance(results, dict):
        return rows
    for keys in (DIMENSIONS, [f"ccc_{name}" for name in DIMENSIONS]):
        values = [results.get(key) for key in keys]
        label = " / ".join(path)
        if (
            all(isinstance(v, (int, float)) for v in values)
            and "ccc" in (label + keys[0]).lower()
            and "int8" not in label.lower()
        ):
            rows.append((label or "CCC", [float(v) for v in values]))
            break
    for key, value in results.items():
        if isinstance(value, dict):
            rows.extend(ccc_rows(value, path + (str(key),)))
    return rows


def metrics_table(results):
    """The card's CCC table (Markdown), or a line saying there is none.

    Arguments
    ---------
    results : dict or None
        Recipe results; see :func:`ccc_rows`.

    Returns
    -------
    str

    Example
    -------
    >>> print(metrics_table({"ccc": {"arousal": .6, "dominance": .5,
    ...                              "valence": .4}}))
    | evaluation | arousal | dominance | valence | mean |
    |---|---|---|---|---|
    | ccc | 0.600 | 0.500 | 0.400 | 0.500 |

    A run that went on past a warning (a weak teacher accepted with
    ``--accept_weak_teacher``) carries it above the table:

    >>> print(metrics_table({"warning": "Weak teacher: dominance 0.1"}))
    > **Warning:** Weak teacher: dominance 0.1
    <BLANKLINE>
    No evaluation results were given when this folder was packaged (`wav2small package --results results.json`).
    """
    results = results or {}
    # A model a user was warned about must not be shared as if all was well.
    warning = results.get("warning")
    head = [f"> **Warning:** {warning}", ""] if warning else []
    rows = ccc_rows(results)
    if not rows:
        return "\n".join([*head, NO_RESULTS])
    lines = [
        *head,
        "| evaluation | arousal | dominance | valence | mean |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {label} | {a:.3f} | {d:.3f} | {v:.3f} | {(a + d + v) / 3:.3f} |"
        for label, (a, d, v) in rows
    ]
    return "\n".join(lines)


def model_card(
    student_name,
    export,
    results=None,
    teacher=None,
    teacher_fingerprint=None,
    license=DEFAULT_LICENSE,
    repo_id="<hub-id>",
    provenance=None,
    reference_outputs=None,
):
    """The README model card of a packaged student (Markdown).

    Arguments
    ---------
    student_name : str
        Name of the student architecture.
    export : dict
        The report of :func:`speechbrain_wav2small.export.export_onnx`.
    results : dict, optional
        Recipe results; see :func:`ccc_rows`.
    teacher, teacher_fingerprint : str, optional
        Teacher description and fingerprint.
    license : str
        Licence identifier.
    repo_id : str
        Hub id used in the usage snippet.
    provenance : str, optional
        Where the weights come from.
    reference_outputs : dict, optional
        What the packaged model files predict on the reference inputs
        (see :mod:`speechbrain_wav2small.packaging.reference_outputs`):
        the card's table of inputs without speech.

    Returns
    -------
    str

    Example
    -------
    >>> export = {"parameters": 10806, "held_out_items": 24,
    ...           "bytes": {FLOAT_FILE: 61000, INT8_FILE: 29000},
    ...           "int8_ccc": dict.fromkeys(DIMENSIONS, 0.9999),
    ...           "parity": {"max_abs_diff": 3e-7, "by_shape": {"1s x 1": 0}}}
    >>> card = model_card("wav2small", export, repo_id="someone/wav2small")
    >>> card.splitlines()[20]
    '# wav2small: arousal, dominance and valence from speech'
    >>> "| `model.int8.onnx` (int8, weights) | 29,000 bytes |" in card
    True

    Without an int8 file the card says why:

    >>> del export["bytes"][INT8_FILE]
    >>> export["no_int8_reason"] = "no int8 file, because its CCC was low"
    >>> card = model_card("wav2small", export)
    >>> "- no int8 file, because its CCC was low" in card, INT8_FILE in card
    (True, False)
    """
    written = INT8_FILE in export["bytes"]
    fields = {
        "student_name": student_name,
        "license": license,
        "repo_id": repo_id,
        "version": __version__,
        "dimensions": ", ".join(DIMENSIONS),
        "metrics": metrics_table(results),
        "parameters": f"{export['parameters']:,}",
        "float_file": FLOAT_FILE,
        "int8_file": INT8_FILE,
        "float_bytes": f"{export['bytes'][FLOAT_FILE]:,}",
        "int8_row": _int8_row(export) if written else "",
        "int8_check": _int8_check(export)
        if written
        else f"{export['no_int8_reason']}; use `{FLOAT_FILE}`.",
        "onnx_file": INT8_FILE if written else FLOAT_FILE,
        "parity_max_abs_diff": f"{export['parity']['max_abs_diff']:.2g}",
        "parity_shapes": ", ".join(export["parity"]["by_shape"]),
        "teacher": teacher or "not recorded",
        "teacher_fingerprint": teacher_fingerprint or "not recorded",
        "provenance": provenance
        or "trained with the speechbrain-wav2small recipe",
        "constant_inputs": constant_input_table(reference_outputs)
        if reference_outputs
        else NOT_MEASURED,
    }
    template = resources.files(__package__).joinpath(TEMPLATE)
    return Template(template.read_text(encoding="utf-8")).substitute(fields)


def _int8_row(export):
    """The int8 file's row of the size table, with the line ending that
    keeps the table apart from the text after it."""
    mode = export.get("quantization", "weights")
    size = export["bytes"][INT8_FILE]
    return f"| `{INT8_FILE}` (int8, {mode}) | {size:,} bytes |\n"


def _int8_check(export):
    """The int8 gate's line of the checks list: CCC per dimension, and on
    which audio."""
    source = export.get("held_out_source")
    clips = f"{export['held_out_items']} held-out clips" + (
        f" ({source})" if source and source != GIVEN_AUDIO else ""
    )
    figures = ", ".join(
        f"{name} {export['int8_ccc'][name]:.5f}" for name in DIMENSIONS
    )
    return f"int8 vs float CCC on {clips}: {figures}."
