"""Expected wall time per epoch of MSP-Podcast Train on one GPU, from MACs.

Run from the repository root (about a minute on two CPU cores; no GPU
needed, nothing is downloaded)::

    .venv/bin/python benchmarks/gpu_estimate.py \
        --out benchmarks/results/gpu_estimate.json

It counts multiply-accumulates (MACs) per second of audio with PyTorch's
FLOP counter (:func:`speechbrain_wav2small.utils.complexity.count_macs`)
for the Dawn teacher architecture (wav2vec2-large-robust pruned to 12
layers, random weights from
:func:`speechbrain_wav2small.teachers.backbone_config`) and for every
student preset (:func:`speechbrain_wav2small.students.build_student`), at
the clip lengths each workload pads its batches to (attention makes the
teacher's cost per second grow with the clip). It then converts the MACs of
one epoch to seconds on one GPU::

    seconds = 2 FLOP/MAC * MACs / (peak bf16 dense FLOP/s * utilisation)

for teacher fine-tuning, pseudo-labelling and distillation (from label
caches and with the teacher on the fly), prints a markdown table and writes
everything, assumptions included, to the JSON file.

**This is an estimate, not a measurement.** Every assumption is a named
constant below with its source; the utilisations are guesses. For the
students the GPU's arithmetic is not what limits an epoch: reading and
augmenting the audio (two data-loader workers by default) will take
longer, so their figures are lower bounds on the GPU's share only.
"""

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from speechbrain_wav2small.students import STUDENTS, build_student  # noqa: E402
from speechbrain_wav2small.teachers import (  # noqa: E402
    backbone_config,
    build_teacher,
)
from speechbrain_wav2small.utils.complexity import (  # noqa: E402
    count_macs,
    count_parameters,
)

# -- the corpus ------------------------------------------------------------

#: Release whose sizes are used (reference-facts.md, section 2).
MSP_RELEASE = "v1.12"
#: Turns and hours of the whole v1.12 release (reference-facts.md, sec. 2).
RELEASE_TURNS = 207_136
RELEASE_HOURS = 324.0
#: Turns per split of v1.12 (reference-facts.md, section 2).
TRAIN_TURNS = 112_712
DEVELOPMENT_TURNS = 31_961
#: The facts give hours for the whole release only: each split is assumed
#: to have the release's mean turn length (324 h / 207,136 turns = 5.63 s).
MEAN_TURN_SECONDS = RELEASE_HOURS * 3600.0 / RELEASE_TURNS
#: Training crops every clip to ``max_train_seconds`` (8 s in both
#: recipes' YAML) and batches are drawn at random, so each batch is padded
#: to its longest clip, which with 8-16 random turns is almost always at the
#: crop: every training turn is counted as 8 s of compute.
TRAIN_PADDED_SECONDS = 8.0
#: Validation neither crops nor sorts: batches pad to their longest turn,
#: near the corpus's longest segments (MSP-Podcast keeps turns of 2.75 to
#: 11 s: Lotfian & Busso, IEEE Trans. Affective Computing 2019; not in
#: reference-facts.md).
VALID_PADDED_SECONDS = 11.0
#: The labeller sorts clips by duration before batching: almost no padding,
#: so labelling processes the mean turn length.
LABEL_PADDED_SECONDS = MEAN_TURN_SECONDS

# -- the GPUs ----------------------------------------------------------------

#: Peak dense bf16 tensor-core throughput, FLOP/s, from NVIDIA's
#: datasheets: A100 SXM4 312 TFLOPS ("NVIDIA A100 Tensor Core GPU"
#: datasheet); H100 SXM5 989 TFLOPS (the H100 datasheet's 1,979 TFLOPS are
#: "with sparsity", half of it dense). The H200 has the H100's compute.
GPU_PEAK_BF16_FLOPS = {
    "A100 SXM4": 312e12,
    "H100 SXM5": 989e12,
}
#: Assumed model-FLOP utilisation of the wav2vec2 teacher (1024-wide
#: matrix products, batches of 8-16 clips). Assumption, not measured:
#: well-tuned large-model training reaches 40-55% (PaLM: 46.2%, Chowdhery
#: et al. 2022); a 165M-parameter model in short padded batches does worse.
TRANSFORMER_UTILISATION = 0.30
#: Assumed utilisation of the students' narrow convolutions (13 to a few
#: hundred channels, depthwise layers), which cannot fill tensor cores.
#: Assumption, not measured; the data pipeline bounds these epochs anyway.
SMALL_CNN_UTILISATION = 0.05
#: Forward + backward of a trainable layer is about three forward passes
#: (the backward computes gradients for inputs and weights, one forward's
#: MACs each).
TRAIN_MAC_FACTOR = 3.0
#: FLOPs per multiply-accumulate.
FLOPS_PER_MAC = 2.0

TEACHER = "dawn"


def teacher_rates(lengths):
    """MACs per audio second of the Dawn teacher, whole and frozen part.

    Arguments
    ---------
    lengths : list of float
        Clip lengths (seconds) to count at.

    Returns
    -------
    dict
        ``parameters``, ``macs_per_second`` and ``frozen_macs_per_second``
        (the convolutional feature encoder, frozen in fine-tuning), each a
        dict keyed by the length as a string.
    """
    # Eager attention: the fused attention kernel is invisible to the FLOP
    # counter on CPU, which would leave out the attention products.
    config = backbone_config(TEACHER, attn_implementation="eager")
    teacher = build_teacher(TEACHER, config=config, seed=0)
    encoder = teacher.backbone.feature_extractor
    result = {
        "parameters": count_parameters(teacher, trainable_only=False),
        "macs_per_second": {},
        "frozen_macs_per_second": {},
    }
    for seconds in lengths:
        key = _length_key(seconds)
        result["macs_per_second"][key] = count_macs(teacher, seconds) / seconds
        result["frozen_macs_per_second"][key] = (
            count_macs(encoder, seconds) / seconds
        )
    return result


def student_rates(names, lengths):
    """MACs per audio second of each student preset.

    Arguments
    ---------
    names : list of str
        Student names from :data:`speechbrain_wav2small.students.STUDENTS`.
    lengths : list of float
        Clip lengths (seconds) to count at.

    Returns
    -------
    dict
        Per name: ``parameters`` (trainable) and ``macs_per_second`` keyed
        by the length as a string.
    """
    result = {}
    for name in names:
        model = build_student(name)
        result[name] = {
            "parameters": count_parameters(model),
            "macs_per_second": {
                _length_key(s): count_macs(model, s) / s for s in lengths
            },
        }
    return result


def _length_key(seconds):
    """A JSON key for a clip length, e.g. ``"8.00"``."""
    return f"{seconds:.2f}"


def gpu_seconds(parts):
    """Seconds on each GPU for a sum of (MACs, utilisation) parts.

    Arguments
    ---------
    parts : list of tuple
        ``(macs, utilisation)`` pairs; each part runs at its own share of
        the GPU's peak.

    Returns
    -------
    dict
        GPU name -> seconds.

    Example
    -------
    >>> gpu_seconds([(156e12, 1.0)])["A100 SXM4"]
    1.0
    """
    return {
        gpu: sum(FLOPS_PER_MAC * macs / (peak * use) for macs, use in parts)
        for gpu, peak in GPU_PEAK_BF16_FLOPS.items()
    }


def workload(name, parts, audio_hours):
    """One row of the estimate: its MACs and seconds per GPU.

    Arguments
    ---------
    name : str
        What is run.
    parts : list of tuple
        ``(macs, utilisation)`` pairs (see :func:`gpu_seconds`).
    audio_hours : float
        Padded hours of audio processed.

    Returns
    -------
    dict
        ``name``, ``audio_hours``, ``macs`` and ``seconds`` (per GPU).
    """
    return {
        "name": name,
        "audio_hours": audio_hours,
        "macs": sum(macs for macs, _ in parts),
        "seconds": gpu_seconds(parts),
    }


def estimate(students):
    """Counts MACs and estimates every workload's epoch.

    Arguments
    ---------
    students : list of str
        Student names to include.

    Returns
    -------
    dict
        The whole report (assumptions, counted rates, workloads).
    """
    lengths = [TRAIN_PADDED_SECONDS, VALID_PADDED_SECONDS, LABEL_PADDED_SECONDS]
    teacher = teacher_rates(lengths)
    rates = student_rates(students, lengths)
    train_k, valid_k, label_k = (_length_key(s) for s in lengths)
    train_audio = TRAIN_TURNS * TRAIN_PADDED_SECONDS
    valid_audio = DEVELOPMENT_TURNS * VALID_PADDED_SECONDS
    label_audio = TRAIN_TURNS * LABEL_PADDED_SECONDS
    use_t, use_s = TRANSFORMER_UTILISATION, SMALL_CNN_UTILISATION

    teacher_train = teacher["macs_per_second"][train_k]
    frozen_train = teacher["frozen_macs_per_second"][train_k]
    teacher_valid = teacher["macs_per_second"][valid_k] * valid_audio
    # The frozen feature encoder runs forward only; everything after it
    # (transformer, head) runs forward and backward.
    finetune = (
        frozen_train + TRAIN_MAC_FACTOR * (teacher_train - frozen_train)
    ) * train_audio
    workloads = {
        "teacher_finetuning": workload(
            "teacher fine-tuning: Train fwd+bwd (frozen CNN fwd) "
            "+ Development fwd",
            [(finetune, use_t), (teacher_valid, use_t)],
            (train_audio + valid_audio) / 3600,
        ),
        "pseudo_labelling": workload(
            "pseudo-labelling Train (teacher forward)",
            [(teacher["macs_per_second"][label_k] * label_audio, use_t)],
            label_audio / 3600,
        ),
    }
    for name, rate in rates.items():
        student_train = (
            TRAIN_MAC_FACTOR * rate["macs_per_second"][train_k] * train_audio
        )
        student_valid = rate["macs_per_second"][valid_k] * valid_audio
        workloads[f"distill_cache_{name}"] = workload(
            f"distillation from label caches: {name}",
            [(student_train, use_s), (student_valid, use_s)],
            (train_audio + valid_audio) / 3600,
        )
        # On the fly the teacher labels every training and validation batch.
        workloads[f"distill_on_the_fly_{name}"] = workload(
            f"distillation, teacher on the fly: {name}",
            [
                (student_train, use_s),
                (student_valid, use_s),
                (teacher_train * train_audio, use_t),
                (teacher_valid, use_t),
            ],
            (train_audio + valid_audio) / 3600,
        )
    return {
        "assumptions": {
            "msp_podcast_release": MSP_RELEASE,
            "release_turns": RELEASE_TURNS,
            "release_hours": RELEASE_HOURS,
            "train_turns": TRAIN_TURNS,
            "development_turns": DEVELOPMENT_TURNS,
            "mean_turn_seconds": MEAN_TURN_SECONDS,
            "train_hours": TRAIN_TURNS * MEAN_TURN_SECONDS / 3600,
            "train_padded_seconds": TRAIN_PADDED_SECONDS,
            "valid_padded_seconds": VALID_PADDED_SECONDS,
            "label_padded_seconds": LABEL_PADDED_SECONDS,
            "gpu_peak_bf16_dense_flops": GPU_PEAK_BF16_FLOPS,
            "transformer_utilisation": TRANSFORMER_UTILISATION,
            "small_cnn_utilisation": SMALL_CNN_UTILISATION,
            "train_mac_factor": TRAIN_MAC_FACTOR,
            "flops_per_mac": FLOPS_PER_MAC,
            "mac_counter": "torch.utils.flop_counter.FlopCounterMode via "
            "speechbrain_wav2small.utils.complexity.count_macs (matrix "
            "products and convolutions; elementwise work left out)",
        },
        "teacher": {"name": TEACHER, **teacher},
        "students": rates,
        "workloads": workloads,
    }


def _duration(seconds):
    """Seconds as a short human-readable duration (``"3.2 min"``)."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def markdown_table(report):
    """The estimate as a markdown table (one row per model).

    Arguments
    ---------
    report : dict
        The output of :func:`estimate`.

    Returns
    -------
    str
        The table.
    """
    gpus = list(GPU_PEAK_BF16_FLOPS)
    train_k = _length_key(TRAIN_PADDED_SECONDS)
    work = report["workloads"]
    header = ["workload", "model", "GMAC per audio s (fwd)", "clip"] + [
        f"{gpu}" for gpu in gpus
    ]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]

    def row(label, model, rate, entry, seconds=TRAIN_PADDED_SECONDS):
        """Appends one table row (``rate`` counted on ``seconds`` clips)."""
        cells = [label, model, f"{rate / 1e9:.3g}", f"{seconds:.3g} s"] + [
            _duration(entry["seconds"][gpu]) for gpu in gpus
        ]
        lines.append("| " + " | ".join(cells) + " |")

    teacher_rate = report["teacher"]["macs_per_second"][train_k]
    row(
        "teacher fine-tuning, epoch",
        "Dawn, 12 layers",
        teacher_rate,
        work["teacher_finetuning"],
    )
    row(
        "pseudo-labelling (Train, once)",
        "Dawn, 12 layers",
        report["teacher"]["macs_per_second"][_length_key(LABEL_PADDED_SECONDS)],
        work["pseudo_labelling"],
        LABEL_PADDED_SECONDS,
    )
    for name, rate in report["students"].items():
        per_second = rate["macs_per_second"][train_k]
        row(
            "distillation, cached labels, epoch",
            name,
            per_second,
            work[f"distill_cache_{name}"],
        )
    for name, rate in report["students"].items():
        per_second = rate["macs_per_second"][train_k]
        row(
            "distillation, teacher on the fly, epoch",
            name,
            per_second,
            work[f"distill_on_the_fly_{name}"],
        )
    return "\n".join(lines)


def main(argv=None):
    """Counts, estimates, prints the table and writes the JSON report.

    Arguments
    ---------
    argv : list of str, optional
        Command-line arguments (``sys.argv[1:]`` by default).

    Returns
    -------
    int
        The exit status.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        default="benchmarks/results/gpu_estimate.json",
        help="JSON report (default: %(default)s)",
    )
    parser.add_argument(
        "--students",
        nargs="+",
        default=list(STUDENTS),
        choices=list(STUDENTS),
        help="students to include (default: all)",
    )
    args = parser.parse_args(argv)
    started = time.time()
    torch.manual_seed(0)
    report = estimate(args.students)
    report["table"] = markdown_table(report)
    report["command"] = (
        "python benchmarks/gpu_estimate.py --out " + Path(args.out).as_posix()
    )
    report["software"] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    report["counting_seconds"] = round(time.time() - started, 1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    assumptions = report["assumptions"]
    print(
        f"MSP-Podcast {MSP_RELEASE} Train: {TRAIN_TURNS:,} turns, "
        f"{assumptions['train_hours']:.0f} h (mean turn "
        f"{MEAN_TURN_SECONDS:.2f} s); Development {DEVELOPMENT_TURNS:,} turns"
    )
    print(
        f"utilisation: teacher {TRANSFORMER_UTILISATION:.0%}, students "
        f"{SMALL_CNN_UTILISATION:.0%} of the bf16 dense peak "
        + ", ".join(
            f"{gpu} {peak / 1e12:.0f} TFLOPS"
            for gpu, peak in GPU_PEAK_BF16_FLOPS.items()
        )
    )
    print(report["table"])
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
