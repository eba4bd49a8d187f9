"""A trained student as a folder ready to upload to a model hub.

:func:`package_model` (a model in memory, as the recipe has it at the end
of training) and :func:`package_checkpoint` (a SpeechBrain checkpoint on
disk) write the folder in a hidden staging folder next to the target, load
it back as users will and compare its predictions with the model's on the
speech shipped with this package, record what each of its model files
predicts on that speech and on inputs without speech
(:mod:`speechbrain_wav2small.packaging.reference_outputs`), write the
manifest of its files last
(:mod:`speechbrain_wav2small.packaging.checksums`), and only then move it
into place: a new folder is renamed into place whole
(:func:`speechbrain_wav2small.utils.durable.replace_folder`); into an
existing folder (``overwrite``) the package's files are moved one by one,
its manifest last, so that the folder's other files stay and a run killed
half-way leaves files that its old manifest refuses at load. Staging
folders left by a killed run are removed by the next run. A folder is
written whenever the float model passes its checks: an int8 copy that
fails its gate is left out, and the card and ``export.json`` say why.

Authors
 * speechbrain-wav2small contributors 2026
"""

import glob
import json
import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from speechbrain.utils.fetching import LocalStrategy

from speechbrain_wav2small.dataio.audio import read_audio
from speechbrain_wav2small.dataio.reference_speech import (
    reference_speech_files,
)
from speechbrain_wav2small.export.onnx_export import export_onnx
from speechbrain_wav2small.inference.emotion import EmotionDimensions
from speechbrain_wav2small.packaging.checkpoint import (
    file_sha256,
    load_checkpoint,
)
from speechbrain_wav2small.packaging.checksums import write_checksums
from speechbrain_wav2small.packaging.hyperparams import (
    inference_hparams_yaml,
    student_name,
)
from speechbrain_wav2small.packaging.model_card import (
    DEFAULT_LICENSE,
    model_card,
)
from speechbrain_wav2small.packaging.reference_outputs import (
    REFERENCE_OUTPUTS_KEY,
    measure_package,
)
from speechbrain_wav2small.students import load_student_hparams
from speechbrain_wav2small.utils.distributed import unwrap
from speechbrain_wav2small.utils.durable import (
    atomic_open,
    atomic_write,
    fsync_folder,
    replace_folder,
)
from speechbrain_wav2small.utils.model_files import (
    AUDONNX_DEFAULT_YAML,
    AUDONNX_FILES,
    CARD_FILE,
    CHECKPOINT_FILE,
    CHECKSUMS_FILE,
    EXPORT_REPORT_FILE,
    FLOAT_FILE,
    HPARAMS_FILE,
    INT8_FILE,
)
from speechbrain_wav2small.utils.modules import eval_mode

logger = logging.getLogger(__name__)

#: Files of a package, in the order they are listed.
PACKAGE_FILES = (
    HPARAMS_FILE,
    CHECKPOINT_FILE,
    FLOAT_FILE,
    INT8_FILE,
    *(name for pair in AUDONNX_FILES.values() for name in pair),
    AUDONNX_DEFAULT_YAML,
    EXPORT_REPORT_FILE,
    CARD_FILE,
    CHECKSUMS_FILE,
)

#: Where Windows cannot tell whether the run that made a staging folder is
#: alive, the folder is taken as left behind once this old (seconds).
STALE_STAGING_AGE = 24 * 3600

#: Largest prediction difference tolerated between the packaged folder
#: (loaded back through EmotionDimensions) and the model it was made from.
RELOAD_TOLERANCE = 1e-5


def package_checkpoint(checkpoint, student, out_dir, overrides=None, **kwargs):
    """Packages a trained student from its checkpoint.

    Arguments
    ---------
    checkpoint : str or os.PathLike
        A checkpoint folder or ``.ckpt`` file (see
        :func:`speechbrain_wav2small.packaging.checkpoint.resolve_checkpoint`).
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

    Example
    -------
    Exports and checks take a few seconds, so this is not run here::

        package_checkpoint("results/wav2small/save/CKPT+2026-01-01",
                           "wav2small", "models/wav2small")
    """
    hparams = load_student_hparams(student, overrides)
    path = load_checkpoint(hparams["model"], checkpoint)
    kwargs.setdefault(
        "provenance",
        f"checkpoint `{path.parent.name}/{path.name}` "
        f"(sha256 {file_sha256(path)})",
    )
    return package_model(
        hparams["model"],
        student,
        out_dir,
        overrides=overrides,
        student_hparams=hparams,
        **kwargs,
    )


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
    student_hparams=None,
):
    """Writes a loadable, uploadable folder for a trained student::

        DIR/
          hyperparams.yaml   the student's YAML + modules + pretrainer
          model.ckpt         the student's state_dict
          model.onnx         float ONNX       } written and checked by
          model.int8.onnx    int8 ONNX        } speechbrain_wav2small.export
          export.json        sizes and parity figures of the ONNX files,
                             and what each model file predicts on the
                             shipped speech and on inputs without speech
          README.md          model card: front matter, metrics, usage,
                             what the numbers mean, licence
          checksums.sha256   size and SHA-256 of every other file

    so that ``EmotionDimensions.from_hparams(source=DIR)`` (or the hub id
    the folder is uploaded to) loads it. ``model.int8.onnx`` is missing
    when the export options ask for no int8 model
    (``quantization="none"``) or when it failed its gate; ``export.json``
    (``no_int8_reason``, ``int8_refused``) and the card then say why.

    Arguments
    ---------
    model : torch.nn.Module
        The trained student (left in the mode and device it came in).
    student : str
        Student name or the path of its YAML (its ``model`` must build the
        same architecture as ``model``).
    out_dir : str or os.PathLike
        Folder to write; refused if it exists and is not empty, unless
        ``overwrite``: then the files of the package (``PACKAGE_FILES``)
        in it are replaced, those the new package lacks removed, and its
        other files kept.
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
        Replace the package files of an existing non-empty ``out_dir``.
    license : str
        Licence identifier for the card's front matter.
    repo_id : str, optional
        Hub id the folder will be uploaded to, for the usage snippet.
    provenance : str, optional
        Where the weights come from (a line in the card).
    export_options : dict, optional
        Extra keyword arguments of ``export_onnx`` (gates, quantization).
    student_hparams : dict, optional
        The student's YAML loaded with ``overrides``, when the caller has
        it already; loaded here otherwise.

    Returns
    -------
    dict
        ``out_dir``, ``files`` (name -> path, the files written),
        ``export`` (the ONNX export report), ``reload_max_abs_diff`` and
        ``reference_outputs`` (what each model file of the folder predicts,
        see :mod:`speechbrain_wav2small.packaging.reference_outputs`).

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
    if student_hparams is None:
        student_hparams = load_student_hparams(student, overrides)
    name = student_name(student, student_hparams)
    hparams_text = inference_hparams_yaml(student, student_hparams, overrides)

    _remove_left_staging(out_dir)
    staging = _staging_folder(out_dir)
    try:
        atomic_write(staging / HPARAMS_FILE, hparams_text)
        state_dict = {
            key: value.detach().cpu()
            for key, value in unwrap(model).state_dict().items()
        }
        with atomic_open(staging / CHECKPOINT_FILE, "wb") as stream:
            torch.save(state_dict, stream)
        export = export_onnx(
            model,
            staging,
            name,
            teacher_fingerprint=teacher_fingerprint,
            held_out_wavs=held_out_wavs,
            **(export_options or {}),
        )
        # Loading checks the files it reads against the manifest: one for
        # the files so far, rewritten once the folder is complete.
        write_checksums(staging)
        reload_diff, outputs = _check_reload(model, staging)
        # The uploaded copy names files relative to the folder, not with
        # this machine's paths.
        onnx_files = list(export["files"])
        shared = dict(export, files={name: name for name in onnx_files})
        shared[REFERENCE_OUTPUTS_KEY] = outputs
        atomic_write(
            staging / EXPORT_REPORT_FILE, json.dumps(shared, indent=2) + "\n"
        )
        export["files"] = {name: str(out_dir / name) for name in onnx_files}
        card = model_card(
            name,
            export,
            results=results,
            teacher=teacher,
            teacher_fingerprint=teacher_fingerprint,
            license=license,
            repo_id=repo_id or out_dir.name,
            provenance=provenance,
            reference_outputs=outputs,
        )
        atomic_write(staging / CARD_FILE, card)
        # Last, so that it lists the folder as it is moved into place.
        write_checksums(staging)
        _put_in_place(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("packaged %s in %s", name, out_dir)
    written = [file for file in PACKAGE_FILES if (out_dir / file).exists()]
    return {
        "out_dir": str(out_dir),
        "files": {file: str(out_dir / file) for file in written},
        "export": export,
        "reload_max_abs_diff": reload_diff,
        "reference_outputs": outputs,
    }


def _staging_prefix(out_dir):
    """The start of the name of ``out_dir``'s staging folders."""
    return f".{out_dir.name}.staging-"


def _staging_folder(out_dir):
    """A new hidden folder beside ``out_dir``, shared like a plain mkdir,
    named after this process (so that a later run can tell whether the
    run that made it is still alive)."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    prefix = f"{_staging_prefix(out_dir)}{os.getpid()}-"
    staging = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=prefix))
    # mkdtemp makes an owner-only folder; a package is meant to be shared.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)
    return staging


def _remove_left_staging(out_dir):
    """Removes the staging folders of ``out_dir`` that runs killed before
    they could clean up left behind (those of live runs stay)."""
    prefix = _staging_prefix(out_dir)
    named = re.compile(re.escape(prefix) + r"(\d+)-")
    for path in out_dir.parent.glob(glob.escape(prefix) + "*"):
        match = named.match(path.name)
        if not path.is_dir() or path.is_symlink():
            continue
        if match and _may_be_running(int(match[1]), path):
            continue
        shutil.rmtree(path, ignore_errors=True)
        logger.info("removed %s, left by an interrupted run", path)


def _may_be_running(pid, path):
    """Whether process ``pid``, which made ``path``, may still run."""
    if pid == os.getpid():
        return True
    if os.name == "nt":
        # Signal 0 is CTRL_C_EVENT there: age is the only safe clue.
        return time.time() - path.stat().st_mtime < STALE_STAGING_AGE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def _put_in_place(staging, out_dir):
    """Moves the complete package in ``staging`` to ``out_dir``.

    A new folder is renamed into place whole. Into an existing folder, the
    files are moved one by one and the package files the new package lacks
    removed, the manifest last: the folder's other files stay, and until
    the new manifest is in, the old one refuses the mix at load.
    """
    if not out_dir.is_dir():
        replace_folder(staging, out_dir)
        return
    names = sorted(path.name for path in staging.iterdir())
    for name in names:
        if (out_dir / name).is_dir() and not (out_dir / name).is_symlink():
            raise IsADirectoryError(
                f"{out_dir / name} is a folder, where the package file "
                f"{name} goes: move it away, or package into another folder"
            )
    for name in names:
        if name != CHECKSUMS_FILE:
            os.replace(staging / name, out_dir / name)
    for name in PACKAGE_FILES:
        if name not in names and name != CHECKSUMS_FILE:
            (out_dir / name).unlink(missing_ok=True)
    os.replace(staging / CHECKSUMS_FILE, out_dir / CHECKSUMS_FILE)
    fsync_folder(out_dir)
    staging.rmdir()


def _check_reload(model, folder):
    """Loads the folder back as users will and compares predictions;
    returns the largest difference and the numbers of every model file of
    the folder (:func:`measure_package`).

    The comparison runs on the recordings shipped with the package
    (:mod:`speechbrain_wav2small.dataio.reference_speech`), of different
    lengths so that the padded batch of the loaded folder is compared with
    the model run on each recording alone. The folder is loaded with
    copies of its files (``LocalStrategy.COPY``), which needs no symbolic
    links (Windows without them).
    """
    with tempfile.TemporaryDirectory() as savedir:
        loaded = EmotionDimensions.from_hparams(
            source=str(folder),
            savedir=savedir,
            local_strategy=LocalStrategy.COPY,
        )
        clips = [
            read_audio(path, loaded.sample_rate)
            for path in reference_speech_files()
        ]
        got = loaded._predict_arrays(clips)
    inner = unwrap(model)
    device = next(inner.parameters()).device
    with eval_mode(inner), torch.no_grad():
        expected = torch.cat(
            [inner(torch.from_numpy(c)[None].to(device)) for c in clips]
        )
    difference = float(np.abs(got - expected.cpu().double().numpy()).max())
    if not difference <= RELOAD_TOLERANCE:
        raise RuntimeError(
            f"the packaged model in {folder} predicts differently from the "
            f"model it was made from (max abs diff {difference:.3g}); is "
            "the student YAML the one it was trained with?"
        )
    return difference, measure_package(folder, loaded)
