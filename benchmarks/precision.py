"""bf16 autocast against float32, for every student and teacher, on speech.

Run from the repository root (several minutes on two CPU cores, most of it
in bf16 convolutions, which a CPU without native bf16 runs slowly)::

    .venv/bin/python benchmarks/precision.py \
        --out benchmarks/results/precision.json

or from Python (``benchmarks`` is not a package)::

    sys.path.insert(0, "benchmarks")
    import precision
    report = precision.measure(["wav2small"], teacher_size="tiny")

Every model labels the windows of the speech shipped with the package
(:func:`~speechbrain_wav2small.dataio.reference_speech.reference_speech_clips`,
1 s windows every 0.5 s by default) twice, in float32 and under
``torch.autocast("cpu", dtype=torch.bfloat16)`` (what ``wav2small label
--precision bf16`` does), and the two are compared per dimension (arousal,
dominance, valence): largest absolute difference, and the CCC of the bf16
outputs against the float32 ones over all windows.

Random weights make a model answer almost the same numbers for every clip,
and a CCC between two almost constant series measures rounding noise only.
So each model is first *fitted* much as ``tests/fitted_students.py`` fits
a student: BatchNorm statistics measured on the very windows compared (in
one batch), then a ridge-regression head onto three acoustic descriptors
(``fitted_students.descriptors``), so that its
outputs spread across clips as a trained model's do (agreement between two
precisions of one model does not need held-out data). Students are the six
presets; teachers are random-weight stand-ins of Dawn's and WavLM-large's
real architectures (``--teacher_size full``, the default) or the 2-layer
test configs (``tiny``), with fitted heads; the ensemble is the mean of
two such teachers. Nothing is downloaded.

Also reported: how far the log-mel front end would be off if it ran in
bf16 (it runs in float32 under autocast; this is why).
"""

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from fitted_students import descriptors  # noqa: E402
from torch import nn  # noqa: E402

from speechbrain_wav2small import DIMENSIONS  # noqa: E402
from speechbrain_wav2small.dataio.reference_speech import (  # noqa: E402
    reference_speech_clips,
)
from speechbrain_wav2small.lobes.frontend import LogMelFrontEnd  # noqa: E402
from speechbrain_wav2small.lobes.teachers import EnsembleTeacher  # noqa: E402
from speechbrain_wav2small.objectives import ccc  # noqa: E402
from speechbrain_wav2small.students import STUDENTS, build_student  # noqa: E402
from speechbrain_wav2small.teachers import (  # noqa: E402
    backbone_config,
    build_teacher,
)

TEACHERS = ("dawn", "wavlm_odyssey", "ensemble")
#: The two front ends of the students: Wav2Small's and the MobileNets'.
FRONT_ENDS = {"wav2small": (64, 32, 26), "mobilenet": (144, 72, 64)}


def head_of(model):
    """The last linear layer of a student or a single teacher.

    Arguments
    ---------
    model : torch.nn.Module
        A student or a Dawn / Odyssey teacher.

    Returns
    -------
    torch.nn.Linear
        The layer that maps features to (arousal, dominance, valence).

    Example
    -------
    >>> head_of(build_student("wav2small")).out_features
    3
    """
    if hasattr(model, "head"):
        return model.head
    if hasattr(model, "backbone") and hasattr(model.backbone, "classifier"):
        return model.backbone.classifier  # timm MobileNets
    if hasattr(model, "classifier"):
        return model.classifier.out_proj  # Dawn
    return model.ser_model.out[0]  # Odyssey


def fit(model, head, clips, ridge=1.0):
    """BatchNorm statistics from ``clips``, then a ridge head (in place).

    Arguments
    ---------
    model : torch.nn.Module
        A student or a teacher, ``model(wavs [batch, time]) -> [batch, 3]``.
    head : torch.nn.Linear
        Its last layer, refitted onto the clips' acoustic descriptors.
    clips : list of numpy.ndarray
        Equal-length float32 clips.
    ridge : float
        Ridge penalty, relative to the mean feature variance.

    Returns
    -------
    torch.nn.Module
        ``model``, in eval mode.

    Example
    -------
    >>> clips = reference_speech_clips(count=4)
    >>> model = fit(build_student("wav2small"), None, clips)
    >>> with torch.no_grad():
    ...     outputs = model(torch.from_numpy(np.stack(clips)))
    >>> bool(outputs.std(dim=0).min() > 0.01)
    True
    """
    head = head_of(model) if head is None else head
    wavs = torch.from_numpy(np.stack(clips))
    norms = [
        module
        for module in model.modules()
        if isinstance(module, nn.modules.batchnorm._BatchNorm)
    ]
    for module in norms:
        module.reset_running_stats()
        module.momentum = None  # cumulative average
    features = []
    with torch.no_grad():
        if norms:
            model.train()(wavs)
        hook = head.register_forward_hook(
            lambda module, inputs, output: features.append(inputs[0])
        )
        model.eval()(wavs)
    hook.remove()
    x = features[0].double().numpy()
    y = np.array([descriptors(clip) for clip in clips])
    y = (y - y.mean(0)) / y.std(0) * 0.1 + 0.5
    centered = x - x.mean(0)
    gram = centered.T @ centered
    penalty = ridge * np.trace(gram) / gram.shape[0]
    weights = np.linalg.solve(
        gram + penalty * np.eye(gram.shape[0]), centered.T @ (y - y.mean(0))
    )
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(weights.T))
        head.bias.copy_(torch.from_numpy(y.mean(0) - x.mean(0) @ weights))
    return model


def fitted_model(name, clips, teacher_size="full", seed=0, fitted=None):
    """A student or teacher with statistics and head fitted on ``clips``.

    Arguments
    ---------
    name : str
        A student name or one of :data:`TEACHERS`.
    clips : list of numpy.ndarray
        Speech the BatchNorm statistics and the head are fitted on.
    teacher_size : str
        ``"full"``: the real backbone dimensions; ``"tiny"``: 2 layers.
    seed : int
        Seed of the random weights.
    fitted : dict, optional
        Models fitted before on the same clips, by name: the ensemble's
        members are taken from there when present.

    Returns
    -------
    torch.nn.Module
        The model, in eval mode.

    Example
    -------
    >>> clips = reference_speech_clips(count=4)
    >>> type(fitted_model("ensemble", clips, teacher_size="tiny")).__name__
    'EnsembleTeacher'
    """
    fitted = {} if fitted is None else fitted
    if name == "ensemble":
        members = [
            fitted.get(kind) or fitted_model(kind, clips, teacher_size, seed)
            for kind in ("dawn", "wavlm_odyssey")
        ]
        return EnsembleTeacher(members).eval()
    torch.manual_seed(seed)
    if name in STUDENTS:
        model = build_student(name)
    else:
        config = backbone_config(name) if teacher_size == "full" else None
        model = build_teacher(name, config=config, seed=seed)
    return fit(model, head_of(model), clips)


def compare(model, wavs, dtype=torch.bfloat16):
    """Outputs under autocast to ``dtype`` against float32 outputs.

    Arguments
    ---------
    model : torch.nn.Module
        ``model(wavs) -> [batch, 3]``, in eval mode.
    wavs : torch.Tensor
        Float32 waveforms [batch, time].
    dtype : torch.dtype
        The autocast dtype.

    Returns
    -------
    dict
        ``max_abs_difference`` and ``ccc`` (per dimension), their worst
        values over dimensions, and the spread (standard deviation over
        clips) of the float32 outputs.

    Example
    -------
    >>> model = torch.nn.Linear(4, 3)
    >>> report = compare(lambda x: model(x), torch.randn(16, 4))
    >>> report["min_ccc"] > 0.99
    True
    """
    with torch.inference_mode():
        reference = model(wavs).float()
        with torch.autocast(wavs.device.type, dtype=dtype):
            low = model(wavs)
    difference = (low.float() - reference).abs().amax(dim=0)
    agreement = ccc(low.float(), reference)
    return {
        "output_dtype": str(low.dtype).replace("torch.", ""),
        "max_abs_difference": dict(
            zip(DIMENSIONS, difference.tolist(), strict=True)
        ),
        "ccc": dict(zip(DIMENSIONS, agreement.tolist(), strict=True)),
        "worst_max_abs_difference": float(difference.max()),
        "min_ccc": float(agreement.min()),
        "fp32_output_std": dict(
            zip(DIMENSIONS, reference.std(dim=0).tolist(), strict=True)
        ),
    }


def front_end_error(wavs):
    """Log-mel error (dB) if the front ends ran under bf16 autocast.

    The front end turns autocast off for itself; this calls its inner
    computation directly to show what that avoids.

    Arguments
    ---------
    wavs : torch.Tensor
        Float32 waveforms [batch, time].

    Returns
    -------
    dict
        Per front end: largest, 99th-percentile and mean absolute error
        of the log-mel features in dB, and the features' range.

    Example
    -------
    >>> error = front_end_error(torch.randn(2, 16000))
    >>> error["wav2small"]["max_abs_db"] > 0
    True
    """
    report = {}
    for name, (n_fft, hop, n_mels) in FRONT_ENDS.items():
        front_end = LogMelFrontEnd(n_fft=n_fft, hop_length=hop, n_mels=n_mels)
        with torch.inference_mode():
            reference, _ = front_end(wavs)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                low, _ = front_end._features(wavs, None)
        error = (low.float() - reference).abs().flatten()
        sample = error[torch.randperm(error.numel())[:1_000_000]]
        report[name] = {
            "max_abs_db": float(error.max()),
            "p99_abs_db": float(sample.quantile(0.99)),
            "mean_abs_db": float(error.mean()),
            "feature_range_db": [
                float(reference.min()),
                float(reference.max()),
            ],
        }
    return report


def measure(models, teacher_size="full", window=1.0, hop=0.5, count=None):
    """bf16-vs-float32 figures of ``models`` on the shipped speech.

    Arguments
    ---------
    models : list of str
        Student names and teacher kinds (:data:`TEACHERS`).
    teacher_size : str
        ``"full"`` or ``"tiny"`` teacher backbones.
    window, hop : float
        Windows cut from the shipped recordings, in seconds.
    count : int, optional
        Use only the first ``count`` windows.

    Returns
    -------
    dict
        ``clips``, ``front_end`` and ``models`` (one :func:`compare`
        report each).

    Example
    -------
    >>> report = measure(["wav2small"], count=4)  # doctest: +ELLIPSIS
    wav2small ...
    >>> report["models"]["wav2small"]["min_ccc"] > 0.9
    True
    """
    clips = reference_speech_clips(window=window, hop=hop, count=count)
    wavs = torch.from_numpy(np.stack(clips))
    report = {
        "clips": {"count": len(clips), "window": window, "hop": hop},
        "front_end": front_end_error(wavs),
        "models": {},
    }
    fitted = {}
    for name in models:
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*mismatched key_pad")
            model = fitted_model(name, clips, teacher_size, fitted=fitted)
            result = compare(model, wavs)
        if name in ("dawn", "wavlm_odyssey"):
            fitted[name] = model
        report["models"][name] = result
        print(
            f"{name:<24} max|diff| {result['worst_max_abs_difference']:.4f}"
            f"  min CCC {result['min_ccc']:.5f}"
            f"  ({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
    return report


def markdown_table(report):
    """The per-model figures as a markdown table.

    Arguments
    ---------
    report : dict
        From :func:`measure`.

    Returns
    -------
    str
        One row per model: max |bf16 - fp32| and CCC per dimension.

    Example
    -------
    >>> row = {"max_abs_difference": dict.fromkeys(DIMENSIONS, 0.01),
    ...        "ccc": dict.fromkeys(DIMENSIONS, 0.999)}
    >>> print(markdown_table({"models": {"m": row}}).splitlines()[2])
    | m | 0.0100 | 0.0100 | 0.0100 | 0.99900 | 0.99900 | 0.99900 |
    """
    header = (
        "| model | "
        + " | ".join(f"max diff {d[0].upper()}" for d in DIMENSIONS)
        + " | "
        + " | ".join(f"CCC {d[0].upper()}" for d in DIMENSIONS)
        + " |"
    )
    lines = [header, "|" + "---|" * (1 + 2 * len(DIMENSIONS))]
    for name, result in report["models"].items():
        cells = [f"{result['max_abs_difference'][d]:.4f}" for d in DIMENSIONS]
        cells += [f"{result['ccc'][d]:.5f}" for d in DIMENSIONS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_args(argv=None):
    """Command-line options.

    Arguments
    ---------
    argv : list of str, optional
        The arguments (``sys.argv[1:]`` by default).

    Returns
    -------
    argparse.Namespace
        The options.

    Example
    -------
    >>> parse_args(["--models", "wav2small", "--teacher_size", "tiny"]).models
    ['wav2small']
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    names = list(STUDENTS) + list(TEACHERS)
    parser.add_argument("--models", nargs="+", default=names, choices=names)
    parser.add_argument(
        "--teacher_size",
        choices=("full", "tiny"),
        default="full",
        help="real backbone dimensions (default) or the 2-layer test ones",
    )
    parser.add_argument("--window", type=float, default=1.0)
    parser.add_argument("--hop", type=float, default=0.5)
    parser.add_argument("--count", type=int, help="use the first N windows")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: bf16 kernels without native CPU "
        "support crawl when threads compete on a shared machine)",
    )
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks/results/precision.json"
    )
    return parser.parse_args(argv)


def main(argv=None):
    """Measures, prints the table, writes the JSON report.

    Arguments
    ---------
    argv : list of str, optional
        The arguments (``sys.argv[1:]`` by default).

    Returns
    -------
    int
        The exit status.

    Example
    -------
    >>> import contextlib, io, tempfile
    >>> out = Path(tempfile.mkdtemp()) / "precision.json"
    >>> with contextlib.redirect_stdout(io.StringIO()):
    ...     status = main(["--models", "dawn", "--teacher_size", "tiny",
    ...                    "--count", "4", "--out", str(out)])
    >>> status
    0
    >>> sorted(json.loads(out.read_text())["models"])
    ['dawn']
    """
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    report = measure(
        args.models, args.teacher_size, args.window, args.hop, args.count
    )
    table = markdown_table(report)
    print("\n" + table + "\n")
    for name, error in report["front_end"].items():
        print(
            f"log-mel front end of {name} in bf16: max error "
            f"{error['max_abs_db']:.1f} dB, p99 {error['p99_abs_db']:.2f} "
            f"dB, mean {error['mean_abs_db']:.2f} dB (it runs in float32)"
        )
    report.update(
        machine={
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
        },
        options={k: str(v) for k, v in vars(args).items()},
        markdown=table,
        wall_seconds=time.perf_counter() - started,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
