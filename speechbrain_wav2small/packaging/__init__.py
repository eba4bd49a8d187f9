"""A trained student as a folder ready to upload to a model hub.

:func:`package_model` (a model in memory, as the recipe has it at the end of
training) and :func:`package_checkpoint` (a SpeechBrain checkpoint on disk)
write::

    DIR/
      hyperparams.yaml   the student's YAML + modules + pretrainer
      model.ckpt         the student's state_dict
      model.onnx         float ONNX       } written and checked by
      model.int8.onnx    int8 ONNX        } speechbrain_wav2small.export
      export.json        sizes and parity figures of the ONNX files
      README.md          model card: front matter, metrics, usage, licence

so that ``EmotionDimensions.from_hparams(source=DIR)`` (or the hub id the
folder is uploaded to) loads it. The folder is assembled in a hidden
staging folder next to ``DIR``, loaded back and checked against the model
it came from, and only then moved into place.

Authors
 * speechbrain-wav2small contributors 2026
"""

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import torch
from hyperpyyaml import resolve_references
from speechbrain.utils.checkpoints import torch_patched_state_dict_load

from speechbrain_wav2small import DIMENSIONS, __version__
from speechbrain_wav2small.export import (
    FLOAT_FILE,
    INT8_FILE,
    export_onnx,
    synthetic_voiced_signals,
    unwrap_module,
)
from speechbrain_wav2small.inference.emotion import EmotionDimensions
from speechbrain_wav2small.students import (
    load_student_hparams,
    student_hparams_file,
)

logger = logging.getLogger(__name__)

HPARAMS_FILE = "hyperparams.yaml"
CHECKPOINT_FILE = "model.ckpt"
EXPORT_REPORT_FILE = "export.json"
CARD_FILE = "README.md"

#: Licence of a student distilled from the default teacher ensemble: the
#: wav2vec2 teacher (audeering) is CC-BY-NC-SA-4.0, which a model trained on
#: its outputs is published under too; pass another one when it applies.
DEFAULT_LICENSE = "cc-by-nc-sa-4.0"

#: Largest prediction difference tolerated between the packaged folder
#: (loaded back through EmotionDimensions) and the model it was made from.
RELOAD_TOLERANCE = 1e-5


def resolve_checkpoint(checkpoint):
    """The ``.ckpt`` file holding the student's ``state_dict``.

    Arguments
    ---------
    checkpoint : str or os.PathLike
        A SpeechBrain checkpoint folder (``CKPT+...``) holding
        ``model.ckpt``, or a ``.ckpt`` file.

    Example
    -------
    >>> resolve_checkpoint("/nonexistent")
    Traceback (most recent call last):
    ...
    FileNotFoundError: checkpoint /nonexistent does not exist
    """
    path = Path(checkpoint)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    if path.is_file():
        return path
    if (path / CHECKPOINT_FILE).is_file():
        return path / CHECKPOINT_FILE
    inner = sorted(p.name for p in path.glob("CKPT+*") if p.is_dir())
    hint = (
        f"; it holds the checkpoint folders {', '.join(inner)}: pass one"
        if inner
        else ""
    )
    raise FileNotFoundError(f"no {CHECKPOINT_FILE} in {path}{hint}")


def load_checkpoint(model, checkpoint):
    """Loads a student's ``state_dict`` from a checkpoint, strictly.

    Arguments
    ---------
    model : torch.nn.Module
        The student, built from the YAML it was trained with.
    checkpoint : str or os.PathLike
        See :func:`resolve_checkpoint`.

    Returns
    -------
    pathlib.Path
        The file that was loaded.
    """
    path = resolve_checkpoint(checkpoint)
    try:
        state_dict = torch_patched_state_dict_load(path, "cpu")
    except Exception as error:
        raise ValueError(
            f"{path} is not a PyTorch checkpoint: {error}"
        ) from None
    if not isinstance(state_dict, dict):
        raise ValueError(f"{path} does not hold a state_dict")
    # Checkpoints saved from a DistributedDataParallel-wrapped module.
    if state_dict and all(key.startswith("module.") for key in state_dict):
        state_dict = {k[len("module.") :]: v for k, v in state_dict.items()}
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    wrong = sorted(
        f"{key} {tuple(state_dict[key].shape)} vs {tuple(expected[key].shape)}"
        for key in set(expected) & set(state_dict)
        if tuple(state_dict[key].shape) != tuple(expected[key].shape)
    )
    if missing or unexpected or wrong:
        problems = []
        for label, keys in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("wrong shape (checkpoint vs model)", wrong),
        ):
            if keys:
                shown = ", ".join(keys[:8])
                more = f" (+{len(keys) - 8} more)" if len(keys) > 8 else ""
                problems.append(f"{label}: {shown}{more}")
        raise ValueError(
            f"{path} does not match the student: " + "; ".join(problems)
        )
    model.load_state_dict(state_dict, strict=True)
    return path


def package_checkpoint(checkpoint, student, out_dir, overrides=None, **kwargs):
    """Packages a trained student from its checkpoint.

    Arguments
    ---------
    checkpoint : str or os.PathLike
        See :func:`resolve_checkpoint`.
    student : str
        Student name (see ``speechbrain_wav2small.students.STUDENTS``) or
        the path of the YAML it was trained with.
    out_dir : str or os.PathLike
        Folder to write.
    overrides : dict, optional
        YAML overrides the student was trained with.
    **kwargs : dict
        Passed to :func:`package_model`.

    Returns
    -------
    dict
        As :func:`package_model`.
    """
    model = load_student_hparams(student, overrides)["model"]
    path = load_checkpoint(model, checkpoint)
    kwargs.setdefault(
        "provenance",
        f"checkpoint `{path.parent.name}/{path.name}` "
        f"(sha256 {file_sha256(path)})",
    )
    return package_model(model, student, out_dir, overrides=overrides, **kwargs)


def package_model(
    model,
    student,
    out_dir,
    overrides=None,
    results=None,
    teacher_fingerprint=None,
    teacher=None,
    held_out_wavs=None,
    overwrite=False,
    license=DEFAULT_LICENSE,
    repo_id=None,
    provenance=None,
    export_options=None,
):
    """Writes a loadable, uploadable folder for a trained student.

    Arguments
    ---------
    model : torch.nn.Module
        The trained student (left in the mode and device it came in).
    student : str
        Student name or the path of its YAML (its ``model`` must build the
        same architecture as ``model``).
    out_dir : str or os.PathLike
        Folder to write; refused if it exists and is not empty, unless
        ``overwrite``.
    overrides : dict, optional
        YAML overrides the student was built with.
    results : dict or str or os.PathLike, optional
        The recipe's results (or a path to its JSON file): every object
        holding ``arousal``/``dominance``/``valence`` numbers under a key
        path that mentions ``ccc`` becomes a row of the metrics table.
    teacher_fingerprint : str, optional
        Identifies the teacher (stored in the ONNX metadata and the card);
        taken from ``results["teacher_fingerprint"]`` when not given.
    teacher : str, optional
        Human-readable teacher description for the card.
    held_out_wavs : list, optional
        Held-out audio for the int8 check (see
        :func:`speechbrain_wav2small.export.export_onnx`).
    overwrite : bool
        Replace an existing non-empty ``out_dir``.
    license : str
        Licence identifier for the card's front matter.
    repo_id : str, optional
        Hub id the folder will be uploaded to, for the usage snippet.
    provenance : str, optional
        Where the weights come from (a line in the card).
    export_options : dict, optional
        Extra keyword arguments of ``export_onnx`` (gates, quantization).

    Returns
    -------
    dict
        ``out_dir``, ``files`` (name -> path), ``export`` (the ONNX export
        report) and ``reload_max_abs_diff``.

    Example
    -------
    Exports and checks take a few seconds, so this is not run here::

        report = package_model(brain.modules.model, "wav2small",
                               "results/wav2small/package",
                               results="results/wav2small/results.json",
                               teacher_fingerprint=fingerprint,
                               held_out_wavs=dev_wav_paths)
        report["export"]["bytes"]["model.int8.onnx"]
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        if not overwrite:
            raise FileExistsError(
                f"{out_dir} exists and is not empty; pass overwrite=True "
                "(--overwrite) to replace it"
            )
    if isinstance(results, (str, os.PathLike)):
        with open(results, encoding="utf-8") as stream:
            results = json.load(stream)
    if teacher_fingerprint is None and isinstance(results, dict):
        # The distillation recipe records it in its results.
        teacher_fingerprint = results.get("teacher_fingerprint")
    hparams_text = _hparams_yaml(student, overrides, model)
    student_name = _student_name(student, overrides)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(
        tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.staging-")
    )
    try:
        # mkdtemp makes an owner-only folder; a package is meant to be shared.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)
        (staging / HPARAMS_FILE).write_text(hparams_text, encoding="utf-8")
        state_dict = {
            key: value.detach().cpu()
            for key, value in unwrap_module(model).state_dict().items()
        }
        torch.save(state_dict, staging / CHECKPOINT_FILE)
        export = export_onnx(
            model,
            staging,
            student_name,
            teacher_fingerprint=teacher_fingerprint,
            held_out_wavs=held_out_wavs,
            **(export_options or {}),
        )
        reload_diff = _check_reload(model, staging)
        # The uploaded copy names files relative to the folder, not with
        # this machine's paths.
        shared = dict(export, files={n: n for n in (FLOAT_FILE, INT8_FILE)})
        (staging / EXPORT_REPORT_FILE).write_text(
            json.dumps(shared, indent=2) + "\n", encoding="utf-8"
        )
        export["files"] = {
            name: str(out_dir / name) for name in (FLOAT_FILE, INT8_FILE)
        }
        card = model_card(
            student_name,
            export,
            results=results,
            teacher=teacher,
            teacher_fingerprint=teacher_fingerprint,
            license=license,
            repo_id=repo_id or out_dir.name,
            provenance=provenance,
        )
        (staging / CARD_FILE).write_text(card, encoding="utf-8")
        _move_into_place(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    files = {
        name: str(out_dir / name)
        for name in (
            HPARAMS_FILE,
            CHECKPOINT_FILE,
            FLOAT_FILE,
            INT8_FILE,
            EXPORT_REPORT_FILE,
            CARD_FILE,
        )
    }
    logger.info("packaged %s in %s", student_name, out_dir)
    return {
        "out_dir": str(out_dir),
        "files": files,
        "export": export,
        "reload_max_abs_diff": reload_diff,
    }


def _student_name(student, overrides):
    hparams_path = student_hparams_file(student)
    with open(hparams_path, encoding="utf-8") as stream:
        text = resolve_references(stream, overrides).getvalue()
    for line in text.splitlines():
        if line.startswith("student_name:"):
            return line.split(":", 1)[1].strip().strip("'\"")
    return Path(hparams_path).stem


def _hparams_yaml(student, overrides, model):
    """The student's own YAML (overrides applied) plus what a hub needs."""
    path = student_hparams_file(student)
    with open(path, encoding="utf-8") as stream:
        text = resolve_references(stream, overrides).getvalue().rstrip()
    keys = {line.split(":", 1)[0] for line in text.splitlines() if ":" in line}
    extra = []
    if "sample_rate" not in keys:
        rate = int(getattr(model.front_end, "sample_rate", 16000))
        extra.append(f"sample_rate: {rate}")
    dims = ", ".join(DIMENSIONS)
    return f"""{text}

# ----------------------------------------------------------------------------
# Inference: speechbrain_wav2small.inference.emotion.EmotionDimensions
# Written by `wav2small package` (speechbrain-wav2small {__version__}).
# ----------------------------------------------------------------------------
{chr(10).join(extra)}
# Output order of `model`; predictions are named after it.
dimensions: [{dims}]

modules:
    model: !ref <model>

pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        model: !ref <model>
"""


def _check_reload(model, folder):
    """Loads the folder back as users will and compares predictions."""
    clips = synthetic_voiced_signals(count=4, seed=1)
    with tempfile.TemporaryDirectory() as savedir:
        loaded = EmotionDimensions.from_hparams(
            source=str(folder), savedir=savedir
        )
        got = loaded._predict_arrays(clips)
    inner = unwrap_module(model)
    device = next(inner.parameters()).device
    was_training = inner.training
    inner.eval()
    try:
        with torch.no_grad():
            expected = torch.cat(
                [inner(torch.from_numpy(c)[None].to(device)) for c in clips]
            )
    finally:
        inner.train(was_training)
    difference = float(abs(got - expected.cpu().double().numpy()).max())
    if not difference <= RELOAD_TOLERANCE:
        raise RuntimeError(
            f"the packaged model in {folder} predicts differently from the "
            f"model it was made from (max abs diff {difference:.3g}); is "
            "the student YAML the one it was trained with?"
        )
    return difference


def _move_into_place(staging, out_dir):
    backup = None
    if out_dir.exists():
        backup = out_dir.with_name(f".{out_dir.name}.previous-{os.getpid()}")
        os.replace(out_dir, backup)
    try:
        os.replace(staging, out_dir)
    except BaseException:
        if backup is not None:
            os.replace(backup, out_dir)
        raise
    if backup is not None:
        if backup.is_dir():
            shutil.rmtree(backup, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.remove(backup)


def ccc_rows(results, path=()):
    """Metric rows found in a results dict: (label, [A, D, V]).

    A row is any object holding a number per dimension, keyed by the
    dimension's name or ``ccc_<name>`` (the recipe's ``CCCStats``), under
    a key path that mentions ``ccc`` (int8-vs-float figures excluded).

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


def model_card(
    student_name,
    export,
    results=None,
    teacher=None,
    teacher_fingerprint=None,
    license=DEFAULT_LICENSE,
    repo_id="<hub-id>",
    provenance=None,
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

    Returns
    -------
    str
    """
    rows = ccc_rows(results or {})
    if rows:
        metric_lines = [
            "| evaluation | arousal | dominance | valence | mean |",
            "|---|---|---|---|---|",
        ] + [
            f"| {label} | {a:.3f} | {d:.3f} | {v:.3f} | {(a + d + v) / 3:.3f} |"
            for label, (a, d, v) in rows
        ]
    else:
        metric_lines = [
            "No evaluation results were given when this folder was "
            "packaged (`wav2small package --results results.json`)."
        ]
    sizes = export["bytes"]
    ccc8 = export["int8_ccc"]
    int8_mode = export.get("quantization", "weights")
    teacher_text = teacher or "not recorded"
    fingerprint_text = teacher_fingerprint or "not recorded"
    dims = ", ".join(DIMENSIONS)
    shapes = ", ".join(export["parity"]["by_shape"])
    return f"""---
language: en
tags:
- audio-classification
- speechbrain
- speech-emotion-recognition
- arousal
- dominance
- valence
- wav2small
- onnx
- pytorch
license: {license}
datasets:
- msp-podcast
metrics:
- ccc
inference: false
---

# {student_name}: arousal, dominance and valence from speech

A tiny student (**{export["parameters"]:,} parameters**) distilled from a large
speech-emotion teacher following Wav2Small (Kounadis-Bastian et al., 2024,
arXiv 2408.13920), packaged by speechbrain-wav2small {__version__}.
It reads 16 kHz mono speech and predicts three emotion dimensions, in the
order {dims}, on a nominal 0..1 scale (not clipped).

## Results

Concordance correlation coefficient (CCC) per dimension:

{chr(10).join(metric_lines)}

| model file | size |
|---|---|
| `{FLOAT_FILE}` (float32) | {sizes[FLOAT_FILE]:,} bytes |
| `{INT8_FILE}` (int8, {int8_mode}) | {sizes[INT8_FILE]:,} bytes |

Checks made when this folder was written:

- onnxruntime float vs PyTorch: max absolute difference
  {export["parity"]["max_abs_diff"]:.2g} (clip duration x batch size: {shapes});
- int8 vs float CCC on {export["held_out_items"]} held-out clips: arousal
  {ccc8["arousal"]:.5f}, dominance {ccc8["dominance"]:.5f}, valence
  {ccc8["valence"]:.5f}.

## Usage

With PyTorch and SpeechBrain (`pip install speechbrain-wav2small`):

```python
from speechbrain_wav2small.inference.emotion import EmotionDimensions

model = EmotionDimensions.from_hparams(
    source="{repo_id}", savedir="pretrained_models/{student_name}"
)
print(model.predict_file("speech.wav"))
# {{'arousal': ..., 'dominance': ..., 'valence': ...}}
print(model.predict_file("long.wav", window=3.0, hop=1.0)["windows"][:2])
```

With onnxruntime only (no PyTorch):

```python
from speechbrain_wav2small.inference.onnx_emotion import OnnxEmotionDimensions

model = OnnxEmotionDimensions("{INT8_FILE}")
print(model.predict_file("speech.wav"))
```

or directly: inputs `wavs` (float32 [batch, time], 16 kHz mono) and
`wav_lens` (float32 [batch], relative lengths, 1.0 = full); output `scores`
(float32 [batch, 3]: {dims}). Clips shorter than one analysis window are
padded inside the graph.

From the command line: `wav2small predict audio_folder/ --model {repo_id}
--out results.csv`.

## Training and provenance

- Student: `{student_name}` ({export["parameters"]:,} trainable parameters).
- Teacher: {teacher_text}.
- Teacher fingerprint: `{fingerprint_text}`.
- Weights: {provenance or "trained with the speechbrain-wav2small recipe"}.
- The student learnt only from the teacher's outputs (no human labels);
  human-label CCC above measures how much of the teacher it kept.

## Licence

{license}. A student trained on a teacher's outputs follows the teacher's
terms: the wav2vec2 teacher of the paper
(audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim) and the authors'
own Wav2Small release are CC-BY-NC-SA-4.0 (non-commercial); MSP-Podcast has
its own academic licence. Check the teacher and data you used.

## Citation

```bibtex
@article{{wav2small2024,
  title   = {{Wav2Small: Distilling Wav2Vec2 to 72K parameters for
             low-resource speech emotion recognition}},
  author  = {{Kounadis-Bastian, Dionyssos and Schr{{\\"u}}fer, Oliver and
             Derington, Anna and Wierstorf, Hagen and Eyben, Florian and
             Burkhardt, Felix and Schuller, Bj{{\\"o}}rn}},
  journal = {{arXiv preprint arXiv:2408.13920}},
  year    = {{2024}}
}}
```
"""


def file_sha256(path):
    """Hex SHA-256 of a file (for provenance lines).

    Example
    -------
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile() as f:
    ...     file_sha256(f.name)[:12]
    'e3b0c44298fc'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
