"""What a package's models predict on fixed inputs, recorded when it is made.

When a package is written, the folder is loaded back as users load it and
run on two sets of inputs:

- the speech shipped with this package
  (:mod:`speechbrain_wav2small.dataio.reference_speech`), as one padded
  batch;
- :func:`constant_inputs`: 3 s of digital silence, of a DC offset of 0.1
  and of white noise at -60 dBFS, i.e. what the model makes of no speech.

The numbers of every model file of the folder (``model.ckpt`` through
:class:`~speechbrain_wav2small.inference.emotion.EmotionDimensions`, each
ONNX file through
:class:`~speechbrain_wav2small.inference.onnx_emotion.OnnxEmotionDimensions`)
are recorded in ``export.json`` under :data:`REFERENCE_OUTPUTS_KEY`. The
model card shows those of the constant inputs; ``wav2small push``
measures the speech again (:func:`measure_package`) and refuses a folder
whose models no longer give the recorded numbers
(:func:`compare_outputs`).

The constant inputs are not compared there: the model's normalisation
removes a DC offset down to float rounding, whose log-mel then depends on
the runtime and the machine (PyTorch and onnxruntime can differ in the
first decimal), so their figures describe the model, not a check of it.

Authors
 * speechbrain-wav2small contributors 2026
"""

import math
import tempfile
from pathlib import Path

import numpy as np
import torch
from speechbrain.utils.fetching import LocalStrategy

from speechbrain_wav2small import SAMPLE_RATE
from speechbrain_wav2small.dataio.audio import read_audio
from speechbrain_wav2small.dataio.reference_speech import (
    reference_speech_files,
)
from speechbrain_wav2small.export.gates import MAX_ABS_DIFF
from speechbrain_wav2small.inference.emotion import EmotionDimensions
from speechbrain_wav2small.inference.file_prediction import pad_arrays
from speechbrain_wav2small.inference.onnx_emotion import OnnxEmotionDimensions
from speechbrain_wav2small.utils.model_files import (
    CHECKPOINT_FILE,
    FLOAT_FILE,
    INT8_FILE,
    ONNX_FILES,
)

#: Key of the record in a package's ``export.json``.
REFERENCE_OUTPUTS_KEY = "reference_outputs"

#: Length of each constant input, in seconds.
CONSTANT_SECONDS = 3.0

#: RMS of the white-noise input: -60 dB below a full scale of 1.0.
NOISE_RMS = 10 ** (-60 / 20)

#: Names of the constant inputs (rows of the model card's table).
SILENCE = "digital silence (all zeros)"
DC_OFFSET = "DC offset 0.1"
LOW_NOISE = "white noise at -60 dBFS (RMS 0.001)"

#: Largest difference accepted between recorded and measured numbers, per
#: model file: PyTorch and float ONNX as the export's float parity gate;
#: int8 kernels differ between CPUs (instruction sets) by a few
#: quantisation steps.
TOLERANCES = {
    CHECKPOINT_FILE: MAX_ABS_DIFF,
    FLOAT_FILE: MAX_ABS_DIFF,
    INT8_FILE: 1e-2,
}


class OutputMismatchError(ValueError):
    """A package whose models no longer give the numbers it recorded."""


def constant_inputs(sample_rate=SAMPLE_RATE, seconds=CONSTANT_SECONDS):
    """The constant (no speech) inputs, by name.

    The noise is Gaussian, from a fixed seed, scaled to an RMS of exactly
    :data:`NOISE_RMS`.

    Arguments
    ---------
    sample_rate : int
        Rate of the arrays in Hz.
    seconds : float
        Length of each input.

    Returns
    -------
    dict
        Name -> float32 array [time].

    Example
    -------
    >>> inputs = constant_inputs()
    >>> list(inputs) == [SILENCE, DC_OFFSET, LOW_NOISE]
    True
    >>> noise = inputs[LOW_NOISE]
    >>> noise.shape, round(float(np.sqrt(np.mean(noise**2))), 6)
    ((48000,), 0.001)
    """
    length = int(round(seconds * sample_rate))
    noise = np.random.default_rng(0).standard_normal(length)
    noise *= NOISE_RMS / np.sqrt(np.mean(noise**2))
    return {
        SILENCE: np.zeros(length, dtype=np.float32),
        DC_OFFSET: np.full(length, 0.1, dtype=np.float32),
        LOW_NOISE: noise.astype(np.float32),
    }


def measure_outputs(predict_batch, sample_rate=SAMPLE_RATE, constant=True):
    """The numbers one model gives on the reference inputs.

    Arguments
    ---------
    predict_batch : callable
        ``predict_batch(wavs [batch, time], wav_lens [batch]) -> [batch,
        3]`` on numpy arrays (both interfaces' ``predict_batch``).
    sample_rate : int
        The model's sample rate.
    constant : bool
        Also run :func:`constant_inputs`.

    Returns
    -------
    dict
        ``speech`` ([arousal, dominance, valence] per shipped recording,
        in the order of ``reference_speech_files()``) and, with
        ``constant``, ``constant_inputs`` (name -> [arousal, dominance,
        valence]).

    Example
    -------
    >>> def loudness(wavs, wav_lens):
    ...     return np.abs(wavs).max(axis=1, keepdims=True).repeat(3, axis=1)
    >>> outputs = measure_outputs(loudness)
    >>> len(outputs["speech"]), outputs["constant_inputs"][DC_OFFSET]
    (6, [0.1, 0.1, 0.1])
    """
    speech = [
        read_audio(path, sample_rate) for path in reference_speech_files()
    ]
    outputs = {"speech": _rows(predict_batch(*pad_arrays(speech)))}
    if constant:
        inputs = constant_inputs(sample_rate)
        scores = predict_batch(*pad_arrays(list(inputs.values())))
        outputs["constant_inputs"] = dict(
            zip(inputs, _rows(scores), strict=True)
        )
    return outputs


def _rows(scores):
    """Scores [batch, 3] (tensor or array) as lists of Python floats,
    rounded to float32's precision (what the models compute in)."""
    if isinstance(scores, torch.Tensor):
        scores = scores.cpu().numpy()
    return [
        [float(f"{float(value):.8g}") for value in row]
        for row in np.asarray(scores, dtype=np.float64)
    ]


def measure_package(folder, loaded=None, constant=True):
    """The numbers of every model file of a package folder.

    Arguments
    ---------
    folder : str or os.PathLike
        The package: ``hyperparams.yaml`` + ``model.ckpt`` and the ONNX
        files of :data:`ONNX_FILES` it holds.
    loaded : EmotionDimensions, optional
        The folder already loaded through ``from_hparams``; loaded here
        (with SpeechBrain's ``LocalStrategy.COPY``, so no symbolic link
        is needed) when omitted.
    constant : bool
        Also run :func:`constant_inputs`.

    Returns
    -------
    dict
        ``speech_files`` (the shipped recordings' names) and ``models``
        (model file -> :func:`measure_outputs`).

    Raises
    ------
    OutputMismatchError
        A model file that does not load or run; the message names it.

    Example
    -------
    Needs a package (a second or so)::

        measure_package("models/wav2small")["models"]["model.ckpt"]
    """
    folder = Path(folder)
    models = {}
    if loaded is None:
        with tempfile.TemporaryDirectory() as savedir:
            loaded = _run(
                CHECKPOINT_FILE,
                folder,
                EmotionDimensions.from_hparams,
                source=str(folder),
                savedir=savedir,
                local_strategy=LocalStrategy.COPY,
            )
    models[CHECKPOINT_FILE] = _run(
        CHECKPOINT_FILE,
        folder,
        measure_outputs,
        loaded.predict_batch,
        loaded.sample_rate,
        constant,
    )
    for name in reversed(ONNX_FILES):  # float first
        if (folder / name).is_file():
            onnx_model = _run(
                name, folder, OnnxEmotionDimensions, folder / name
            )
            models[name] = _run(
                name,
                folder,
                measure_outputs,
                onnx_model.predict_batch,
                onnx_model.sample_rate,
                constant,
            )
    return {
        "speech_files": [Path(path).name for path in reference_speech_files()],
        "models": models,
    }


def _run(name, folder, function, *args, **kwargs):
    """``function(*args, **kwargs)``; any failure becomes one
    :class:`OutputMismatchError` naming the model file."""
    try:
        return function(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - any failure refuses it
        raise OutputMismatchError(
            f"{Path(folder) / name} does not load or run: "
            + describe_error(error)
        ) from error


def describe_error(error, limit=300):
    """An exception from a library as one line: its type and message.

    Arguments
    ---------
    error : BaseException
        The exception.
    limit : int
        Longest message kept (in characters); longer ones are cut.

    Returns
    -------
    str

    Example
    -------
    >>> describe_error(RuntimeError("Error(s) in loading:\\n\\tsize mismatch"))
    'RuntimeError: Error(s) in loading: size mismatch'
    """
    message = " ".join(str(error).split())
    if len(message) > limit:
        message = message[: limit - 3] + "..."
    return f"{type(error).__name__}: {message}"


def compare_outputs(recorded, measured, tolerances=None):
    """Checks re-measured numbers on speech against those recorded at
    packaging.

    The model files found in both are compared, when both used the same
    recordings (the constant inputs are not compared: see the module's
    docstring).

    Arguments
    ---------
    recorded, measured : dict
        As :func:`measure_package` returns (``recorded`` from
        ``export.json``).
    tolerances : dict, optional
        Model file -> largest accepted absolute difference (default
        :data:`TOLERANCES`; :data:`MAX_ABS_DIFF` for other files).

    Returns
    -------
    dict
        Model file -> largest absolute difference found (None for a file
        without a record, or when the recordings differ).

    Raises
    ------
    OutputMismatchError
        A difference above its tolerance: names the model file, the input
        and the numbers.

    Example
    -------
    >>> recorded = {"speech_files": ["a.wav"],
    ...             "models": {"model.onnx": {"speech": [[0.5, 0.5, 0.5]]}}}
    >>> compare_outputs(recorded, recorded)
    {'model.onnx': 0.0}
    >>> import copy
    >>> measured = copy.deepcopy(recorded)
    >>> measured["models"]["model.onnx"]["speech"] = [[0.5, 0.6, 0.5]]
    >>> try:
    ...     compare_outputs(recorded, measured)
    ... except OutputMismatchError as error:
    ...     print(str(error).split(", but")[0])
    model.onnx gives [0.5, 0.6, 0.5] on a.wav
    """
    tolerances = {**TOLERANCES, **(tolerances or {})}
    files = measured["speech_files"]
    comparable = recorded.get("speech_files") == files
    differences = {}
    for name, now in measured["models"].items():
        then = recorded.get("models", {}).get(name)
        if then is None or not comparable:
            differences[name] = None
            continue
        tolerance = tolerances.get(name, MAX_ABS_DIFF)
        worst = 0.0
        for what, expected, got in zip(
            files, then["speech"], now["speech"], strict=True
        ):
            gap = _max_abs_diff(expected, got)
            if not gap <= tolerance:
                raise OutputMismatchError(
                    f"{name} gives {_fmt(got)} on {what}, but "
                    f"{_fmt(expected)} was recorded when it was packaged "
                    f"(max abs diff {gap:.3g}, tolerance {tolerance:g})"
                )
            worst = max(worst, gap)
        differences[name] = worst
    return differences


def _max_abs_diff(expected, got):
    """Largest absolute difference of two rows; NaN matches NaN only."""
    gaps = []
    for a, b in zip(expected, got, strict=True):
        if math.isnan(a) or math.isnan(b):
            gaps.append(0.0 if math.isnan(a) and math.isnan(b) else math.inf)
        else:
            gaps.append(abs(a - b))
    return max(gaps)


def _fmt(row):
    """A row of scores, short: ``[0.512, 0.43, 0.6]``."""
    return "[" + ", ".join(f"{value:.4g}" for value in row) + "]"


def constant_input_table(outputs):
    """The model card's table of the constant inputs (Markdown).

    One row per input, one column per model file of the package (its
    arousal, dominance and valence).

    Arguments
    ---------
    outputs : dict
        As :func:`measure_package` returns.

    Returns
    -------
    str

    Example
    -------
    >>> print(constant_input_table({"models": {
    ...     "model.ckpt": {"constant_inputs": {SILENCE: [0.31, 0.35, 0.52]}},
    ...     "model.onnx": {"constant_inputs": {SILENCE: [0.31, 0.35, 0.5201]}},
    ... }}))
    | input (3 s) | `model.ckpt` (PyTorch) | `model.onnx` |
    |---|---|---|
    | digital silence (all zeros) | 0.310, 0.350, 0.520 | 0.310, 0.350, 0.520 |
    """
    models = outputs["models"]
    columns = [
        f"`{name}`" + (" (PyTorch)" if name == CHECKPOINT_FILE else "")
        for name in models
    ]
    lines = [
        f"| input ({CONSTANT_SECONDS:g} s) | " + " | ".join(columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for key in next(iter(models.values()))["constant_inputs"]:
        cells = [
            ", ".join(
                f"{value:.3f}" for value in figures["constant_inputs"][key]
            )
            for figures in models.values()
        ]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
