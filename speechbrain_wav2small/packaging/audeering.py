"""Import of the authors' published Wav2Small checkpoint.

audEERING's release of Wav2Small ("Wav2Small 2.0", CC-BY-NC-SA-4.0) is a
``model.safetensors`` (or ``pytorch_model.bin``) with the keys::

    vgg7.l1..l7.conv.weight                     3x3 convolutions (no bias)
    vgg7.l1..l7.norm.{weight,bias,running_mean,running_var,num_batches_tracked}
    vgg7.lin.{weight,bias}                      attention values (1x1 conv)
    vgg7.sof.{weight,bias}                      attention scores (1x1 conv)
    vgg7.spectrogram_extractor.conv_real.weight DFT rows x Hann [F, 1, N]
    vgg7.spectrogram_extractor.conv_imag.weight
    vgg7.logmel_extractor.melW                  mel filterbank [F, M]
    vgg7.logmel_extractor.amin                  log floor (1e-10)
    adv.{weight,bias}                           head [3, C * (M/2 + C)]

:func:`import_audeering` maps them onto
:class:`speechbrain_wav2small.lobes.wav2small.Wav2Small`. Our front end
recomputes the DFT basis and the mel filterbank instead of storing them, so
the stored ones are compared with what it computes and the import is
refused if they differ. Layer widths, mel bands and window are read from
the tensor shapes; anything unexpected (a key too many or missing, a shape
that does not fit) is refused with a message naming it. The result is
packaged like any trained student (:mod:`speechbrain_wav2small.packaging`).

Authors
 * speechbrain-wav2small contributors 2026
"""

import logging
from pathlib import Path

import numpy as np
import torch

from speechbrain_wav2small import SAMPLE_RATE
from speechbrain_wav2small.functional import (
    slaney_mel_filterbank,
    windowed_dft_basis,
)
from speechbrain_wav2small.packaging.checkpoint import file_sha256
from speechbrain_wav2small.packaging.package import package_model
from speechbrain_wav2small.students import load_student_hparams
from speechbrain_wav2small.utils.hub import resolve_source
from speechbrain_wav2small.utils.state_dict import compare_state_dicts

logger = logging.getLogger(__name__)

PREFIX = "vgg7."
CHECKPOINT_NAMES = ("model.safetensors", "pytorch_model.bin")
BLOCKS_BEFORE_POOL = 3
BLOCKS = 7
NORM_STATS = ("weight", "bias", "running_mean", "running_var")
#: Stored DFT rows are float32 images of cos/sin: they agree to ~1e-7.
DFT_TOLERANCE = 1e-5
#: Mel filterbank: largest difference relative to its largest weight.
MEL_RELATIVE_TOLERANCE = 1e-4
AMIN = 1e-10
LICENSE = "cc-by-nc-sa-4.0"
TEACHER = (
    "the authors' teacher (Wav2Small paper, arXiv 2408.13920: wav2vec2 "
    "'Dawn' and WavLM ensemble fine-tuned on MSP-Podcast)"
)


class CheckpointLayoutError(ValueError):
    """A checkpoint that is not in the authors' Wav2Small layout."""


def find_checkpoint(source):
    """The weights file of a release folder, of a hub id's snapshot (see
    :mod:`speechbrain_wav2small.utils.hub`), or ``source`` itself.

    Example
    -------
    >>> find_checkpoint("/nonexistent")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileNotFoundError: Wav2Small release /nonexistent does not exist (...)
    """
    path = resolve_source(
        source, "Wav2Small release", list(CHECKPOINT_NAMES), folder=False
    )
    if path.is_file():
        return path
    for name in CHECKPOINT_NAMES:
        if (path / name).is_file():
            return path / name
    raise FileNotFoundError(
        f"no {' or '.join(CHECKPOINT_NAMES)} in folder {path}"
    )


def load_state_dict(path):
    """Reads a safetensors or PyTorch weights file as a tensor dict.

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "model.bin"
    >>> torch.save({"adv.bias": torch.zeros(3)}, path)
    >>> load_state_dict(path)["adv.bias"].shape
    torch.Size([3])
    """
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointLayoutError(
            f"{path} is not a readable safetensors/PyTorch file: {error}"
        ) from None
    if not isinstance(state, dict) or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        raise CheckpointLayoutError(f"{path} does not hold a tensor dict")
    return state


def expected_shapes(channels, n_freqs, n_fft, n_mels):
    """Key -> shape of the authors' layout for the given sizes.

    Example
    -------
    >>> shapes = expected_shapes(13, 33, 64, 26)
    >>> len(shapes), shapes["adv.weight"]
    (52, (3, 338))
    """
    shapes = {}
    for layer in range(1, BLOCKS + 1):
        inputs = 1 if layer == 1 else channels
        shapes[f"{PREFIX}l{layer}.conv.weight"] = (channels, inputs, 3, 3)
        for stat in NORM_STATS:
            shapes[f"{PREFIX}l{layer}.norm.{stat}"] = (channels,)
        shapes[f"{PREFIX}l{layer}.norm.num_batches_tracked"] = ()
    for name in ("lin", "sof"):
        shapes[f"{PREFIX}{name}.weight"] = (channels, channels, 1, 1)
        shapes[f"{PREFIX}{name}.bias"] = (channels,)
    for part in ("real", "imag"):
        key = f"{PREFIX}spectrogram_extractor.conv_{part}.weight"
        shapes[key] = (n_freqs, 1, n_fft)
    shapes[f"{PREFIX}logmel_extractor.melW"] = (n_freqs, n_mels)
    shapes[f"{PREFIX}logmel_extractor.amin"] = ()
    features = channels * ((n_mels + 1) // 2 + channels)
    shapes["adv.weight"] = (3, features)
    shapes["adv.bias"] = (3,)
    return shapes


def _sizes(state):
    """Channels, frequency bins, window and mel bands from the shapes."""
    try:
        channels = state[f"{PREFIX}l1.conv.weight"].shape[0]
        n_freqs, _, n_fft = state[
            f"{PREFIX}spectrogram_extractor.conv_real.weight"
        ].shape
        n_mels = state[f"{PREFIX}logmel_extractor.melW"].shape[1]
    except (KeyError, ValueError, IndexError) as error:
        raise CheckpointLayoutError(
            "not the authors' Wav2Small layout: cannot read the sizes from "
            f"{error} (expected keys vgg7.l1.conv.weight, "
            "vgg7.spectrogram_extractor.conv_real.weight, "
            "vgg7.logmel_extractor.melW)"
        ) from None
    if n_freqs != n_fft // 2 + 1:
        raise CheckpointLayoutError(
            f"conv_real has {n_freqs} rows for a {n_fft}-sample window "
            f"(expected {n_fft // 2 + 1})"
        )
    return int(channels), int(n_freqs), int(n_fft), int(n_mels)


def check_layout(state):
    """Refuses a state dict not in the authors' layout, naming the keys.

    ``num_batches_tracked`` may be absent (it does not affect inference).

    Arguments
    ---------
    state : dict
        Key -> tensor, as read by :func:`load_state_dict`.

    Returns
    -------
    tuple
        ``(channels, n_freqs, n_fft, n_mels)``.

    Example
    -------
    >>> shapes = expected_shapes(13, 33, 64, 26)
    >>> state = {key: torch.zeros(shape) for key, shape in shapes.items()}
    >>> check_layout(state)
    (13, 33, 64, 26)
    >>> del state["adv.bias"]
    >>> try:
    ...     check_layout(state)
    ... except CheckpointLayoutError as error:
    ...     print(error)
    not the authors' Wav2Small layout: missing keys: adv.bias
    """
    sizes = _sizes(state)
    shapes = expected_shapes(*sizes)
    optional = {k for k in shapes if k.endswith("num_batches_tracked")}
    # A one-element tensor stands for a scalar (amin, num_batches_tracked).
    given = {
        key: ()
        if shapes.get(key) == () and value.numel() == 1
        else tuple(value.shape)
        for key, value in state.items()
    }
    mismatch = compare_state_dicts(shapes, given, optional)
    if mismatch:
        raise CheckpointLayoutError(
            "not the authors' Wav2Small layout: "
            + mismatch.describe(noun="keys")
        )
    return sizes


def check_front_end(state, sample_rate=SAMPLE_RATE):
    """Compares the stored DFT rows, filterbank and floor with ours.

    Returns
    -------
    dict
        ``dft_max_abs_diff``, ``mel_max_abs_diff``, ``amin``.
    """
    channels, n_freqs, n_fft, n_mels = _sizes(state)
    basis = windowed_dft_basis(n_fft, dtype=torch.float64)
    real = state[f"{PREFIX}spectrogram_extractor.conv_real.weight"]
    imag = state[f"{PREFIX}spectrogram_extractor.conv_imag.weight"]
    real = real.double().reshape(n_freqs, n_fft)
    imag = imag.double().reshape(n_freqs, n_fft)
    cosine, minus_sine = basis[:n_freqs], basis[n_freqs:]
    real_diff = float((real - cosine).abs().max())
    # The sign convention of the imaginary rows does not reach the power.
    imag_diff = float(
        min((imag - minus_sine).abs().max(), (imag + minus_sine).abs().max())
    )
    mel = state[f"{PREFIX}logmel_extractor.melW"].double()
    ours = slaney_mel_filterbank(
        n_freqs, n_mels, sample_rate, 0.0, sample_rate / 2, dtype=torch.float64
    )
    mel_diff = float((mel - ours).abs().max())
    amin = float(state[f"{PREFIX}logmel_extractor.amin"].reshape(-1)[0])
    problems = []
    if max(real_diff, imag_diff) > DFT_TOLERANCE:
        problems.append(
            f"stored DFT rows differ from a periodic-Hann {n_fft}-point DFT "
            f"by up to {max(real_diff, imag_diff):.3g}"
        )
    if mel_diff > MEL_RELATIVE_TOLERANCE * float(mel.abs().max()):
        problems.append(
            f"stored melW differs from the Slaney mel filterbank ({n_mels} "
            f"bands, 0-{sample_rate // 2} Hz) by up to {mel_diff:.3g}"
        )
    if not np.isclose(amin, AMIN, rtol=1e-5, atol=0.0):
        problems.append(f"amin is {amin:g}, not {AMIN:g}")
    if problems:
        raise CheckpointLayoutError(
            "the checkpoint's front end is not the one this package "
            "computes: " + "; ".join(problems)
        )
    return {
        "dft_max_abs_diff": max(real_diff, imag_diff),
        "mel_max_abs_diff": mel_diff,
        "amin": amin,
    }


def convert_state_dict(state):
    """The authors' keys renamed to :class:`Wav2Small`'s (front end dropped).

    Example
    -------
    >>> sorted(convert_state_dict({"vgg7.l4.conv.weight": torch.zeros(1),
    ...                            "adv.bias": torch.zeros(3)}))
    ['blocks_pooled.0.conv.weight', 'head.bias']
    """
    converted = {}
    for key, value in state.items():
        if key.startswith(f"{PREFIX}spectrogram_extractor.") or key.startswith(
            f"{PREFIX}logmel_extractor."
        ):
            continue
        if key.startswith("adv."):
            new = "head." + key[len("adv.") :]
        elif key.startswith(f"{PREFIX}lin."):
            new = "attention.value." + key[len(f"{PREFIX}lin.") :]
        elif key.startswith(f"{PREFIX}sof."):
            new = "attention.score." + key[len(f"{PREFIX}sof.") :]
        else:
            layer, rest = key[len(f"{PREFIX}l") :].split(".", 1)
            index = int(layer) - 1
            if index < BLOCKS_BEFORE_POOL:
                new = f"blocks_full.{index}.{rest}"
            else:
                new = f"blocks_pooled.{index - BLOCKS_BEFORE_POOL}.{rest}"
        converted[new] = value.detach().float()
        if new.endswith("num_batches_tracked"):
            converted[new] = value.detach().long()
    return converted


def load_audeering(source, sample_rate=SAMPLE_RATE):
    """Builds our :class:`Wav2Small` holding the authors' weights.

    Arguments
    ---------
    source : str or os.PathLike
        The release folder or its weights file.
    sample_rate : int
        Sample rate the release was trained at (16 kHz).

    Returns
    -------
    model : torch.nn.Module
        The converted model, in eval mode.
    overrides : dict
        ``wav2small.yaml`` overrides that build this architecture.
    report : dict
        ``source``, ``sha256`` and the front-end comparison figures.
    """
    path = find_checkpoint(source)
    state = load_state_dict(path)
    channels, _, n_fft, n_mels = check_layout(state)
    front_end = check_front_end(state, sample_rate)
    overrides = {
        "channels": channels,
        "n_fft": n_fft,
        # The window hops by half its length in the release (64 / 32).
        "hop_length": n_fft // 2,
        "n_mels": n_mels,
        "sample_rate": sample_rate,
    }
    model = load_student_hparams("wav2small", overrides)["model"]
    converted = convert_state_dict(state)
    for key, value in model.state_dict().items():
        if key.endswith("num_batches_tracked"):
            converted.setdefault(key, torch.zeros_like(value))
    model.load_state_dict(converted, strict=True)
    model.eval()
    report = {"source": str(path), "sha256": file_sha256(path), **front_end}
    return model, overrides, report


def import_audeering(source, out_dir, overwrite=False, **kwargs):
    """Converts the authors' Wav2Small and packages it in ``out_dir``.

    Arguments
    ---------
    source : str or os.PathLike
        The release folder (``model.safetensors`` or ``pytorch_model.bin``)
        or the weights file itself.
    out_dir : str or os.PathLike
        Package folder to write (see
        :func:`speechbrain_wav2small.packaging.package_model`).
    overwrite : bool
        Replace a non-empty ``out_dir``.
    **kwargs : dict
        Passed to ``package_model`` (``held_out_wavs``, ``results``,
        ``repo_id``, ``export_options``...).

    Returns
    -------
    dict
        The packaging report plus ``import`` (source, sha256, front-end
        differences).

    Example
    -------
    Needs the release files::

        import_audeering("downloads/wav2small", "models/wav2small-audeering",
                         held_out_wavs=["dev_clips/"])
    """
    model, overrides, report = load_audeering(source)
    logger.info(
        "%s: layout and front end check out (DFT diff %.2g, mel diff %.2g)",
        report["source"],
        report["dft_max_abs_diff"],
        report["mel_max_abs_diff"],
    )
    kwargs.setdefault("license", LICENSE)
    kwargs.setdefault("teacher", TEACHER)
    kwargs.setdefault(
        "provenance",
        f"converted from audEERING's Wav2Small release "
        f"(`{Path(report['source']).name}`, sha256 {report['sha256']})",
    )
    packaged = package_model(
        model,
        "wav2small",
        out_dir,
        overrides=overrides,
        overwrite=overwrite,
        **kwargs,
    )
    packaged["import"] = report
    return packaged
