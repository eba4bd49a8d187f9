"""Short GPU runs: the recipes and the labeller in mixed precision, and DDP.

Each test runs a real command line from the repository root on the small
MSP-Podcast-layout corpus in ``tests/samples/`` with the tiny Dawn-layout
teacher ``tests/samples/teacher_dawn_tiny`` (``--debug``: two batches, two
epochs), then checks that the outputs exist and hold finite numbers:

* teacher fine-tuning in bf16: results, logs, the exported teacher (finite
  weights);
* distillation from label caches in bf16, with the teacher on the fly in
  bf16 and in fp16 (GradScaler): results.json with numeric CCCs;
* ``wav2small label`` in bf16 on the sample audio: finite label rows;
* two processes under ``torchrun``: a distillation and a labelling run,
  with NCCL (needs two CUDA devices).

Without a CUDA device every test is skipped ("no CUDA device"); with one
device the two-process tests are skipped ("needs two CUDA devices"). The
whole file takes a few minutes on one GPU; ``tools/gpu_check.sh`` runs it
with the machine's details for a report.

**CPU mode.** ``W2S_GPU_TEST_DEVICE=cpu`` runs the same tests on the CPU so
that their logic can be checked on any machine: bf16 only (SpeechBrain
refuses fp16 on CPU, so the fp16 test is skipped) and gloo instead of NCCL
for the two-process runs::

    W2S_GPU_TEST_DEVICE=cpu .venv/bin/python -m pytest -q -rs tests/test_gpu.py

Multi-process device choice: SpeechBrain 1.1.2 maps ``--device=cuda``
(no index) to ``cuda:0`` in every process, so the NCCL runs give no
``--device`` and let SpeechBrain pick ``cuda:LOCAL_RANK`` itself; the
labeller's ``--device cuda`` is mapped to ``cuda:LOCAL_RANK`` by the CLI.
"""

import csv
import json
import math
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SAMPLES = Path("tests") / "samples"
CORPUS = SAMPLES / "MSP-Podcast"
TEACHER_SAMPLE = SAMPLES / "teacher_dawn_tiny"

TEACHER_SCRIPT = "recipes/MSP-Podcast/teacher/train.py"
TEACHER_HPARAMS = "recipes/MSP-Podcast/teacher/hparams/train_dawn.yaml"
DISTILL_SCRIPT = "recipes/MSP-Podcast/distill/train.py"
DISTILL_HPARAMS = "recipes/MSP-Podcast/distill/hparams/distill.yaml"

#: Environment variable choosing where the tests run: ``cuda`` (default)
#: or ``cpu`` (the logic check described in the module docstring).
DEVICE_VARIABLE = "W2S_GPU_TEST_DEVICE"
MODE = os.environ.get(DEVICE_VARIABLE, "cuda").strip().lower() or "cuda"
if MODE not in ("cuda", "cpu"):
    raise ValueError(f"{DEVICE_VARIABLE} must be 'cuda' or 'cpu', not {MODE!r}")
CPU_MODE = MODE == "cpu"
#: Device of the single-process runs.
DEVICE = "cpu" if CPU_MODE else "cuda:0"
#: Process-group backend of the two-process runs.
BACKEND = "gloo" if CPU_MODE else "nccl"
#: Seconds one command may take before the test fails.
COMMAND_TIMEOUT = 300

#: Files every recipe run writes into its output folder.
RUN_FILES = (
    "results.json",
    "train_log.txt",
    "log.txt",
    "env.log",
    "hyperparams.yaml",
    "train.py",
)
#: Files of the teacher exported in the hub layout.
TEACHER_FILES = ("config.json", "model.safetensors", "preprocessor_config.json")
DIMENSIONS = ("arousal", "dominance", "valence")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CPU_MODE and not torch.cuda.is_available(), reason="no CUDA device"
    ),
]

needs_two_devices = pytest.mark.skipif(
    not CPU_MODE
    and torch.cuda.is_available()
    and torch.cuda.device_count() < 2,
    reason="needs two CUDA devices",
)


def run_command(command, timeout=COMMAND_TIMEOUT, env=None):
    """Runs ``command`` from the repository root and checks it succeeded.

    Arguments
    ---------
    command : list of str
        The command line.
    timeout : float
        Seconds before the run is killed and the test fails.
    env : dict, optional
        Extra environment variables.

    Returns
    -------
    subprocess.CompletedProcess
        The finished run (stdout and stderr as text).
    """
    environment = dict(os.environ)
    # Nothing may come from the hub: a sample folder that went missing
    # must fail at once rather than be retried as a hub repository id.
    environment.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    environment.update(env or {})
    done = subprocess.run(
        command,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
    )
    assert done.returncode == 0, (
        f"{shlex.join(command)} exited with {done.returncode}:\n"
        f"--- stdout (tail)\n{done.stdout[-3000:]}\n"
        f"--- stderr (tail)\n{done.stderr[-6000:]}"
    )
    return done


def require_samples(*paths):
    """Fails with a clear message when the sample data is missing.

    Arguments
    ---------
    *paths : pathlib.Path
        Paths relative to the repository root.
    """
    missing = [str(p) for p in paths if not (REPO / p).exists()]
    assert not missing, f"sample data missing: {missing}"


def ccc_values(results, prefix=""):
    """Every ``ccc*`` entry of a results dict, nested ones included.

    Arguments
    ---------
    results : dict
        A parsed ``results.json``.
    prefix : str
        Path of ``results`` inside the whole file (for messages).

    Returns
    -------
    dict
        Dotted key path -> value.

    Example
    -------
    >>> ccc_values({"vs_human": {"ccc": 0.5, "loss": 1}, "ccc_valence": 0.1})
    {'vs_human.ccc': 0.5, 'ccc_valence': 0.1}
    """
    found = {}
    for key, value in results.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            found.update(ccc_values(value, prefix=f"{path}."))
        elif key.startswith("ccc"):
            found[path] = value
    return found


def is_finite_number(value):
    """Whether ``value`` is a real, finite number (not a bool).

    Arguments
    ---------
    value : object
        Anything read from JSON or CSV.

    Returns
    -------
    bool
        True for finite ints and floats.

    Example
    -------
    >>> is_finite_number(0.3), is_finite_number(float("nan"))
    (True, False)
    """
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def check_run(out, precision):
    """Checks a recipe run's files, its CCCs and its training log.

    Arguments
    ---------
    out : pathlib.Path
        The run's output folder.
    precision : str
        The ``--precision`` the run was given (SpeechBrain logs it).

    Returns
    -------
    dict
        The parsed ``results.json``.
    """
    missing = [name for name in RUN_FILES if not (out / name).is_file()]
    assert not missing, f"{out}: missing {missing}"
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    cccs = ccc_values(results)
    assert cccs, f"no CCC in {out / 'results.json'}: {results}"
    bad = {k: v for k, v in cccs.items() if not is_finite_number(v)}
    assert not bad, f"non-numeric or non-finite CCCs: {bad}"
    for dimension in DIMENSIONS:
        assert any(key.endswith(f"ccc_{dimension}") for key in cccs), (
            f"no {dimension} CCC in {sorted(cccs)}"
        )
    if "precision" in results:
        assert results["precision"] == precision, results["precision"]
    log = (out / "train_log.txt").read_text(encoding="utf-8").lower()
    assert log.strip(), "empty train_log.txt"
    assert not re.search(r"\b(nan|inf)\b", log), f"non-finite value:\n{log}"
    assert f"--precision={precision}" in (out / "log.txt").read_text(
        encoding="utf-8"
    )
    return results


def check_label_cache(path):
    """Checks a label cache: rows with finite arousal, dominance, valence.

    Arguments
    ---------
    path : pathlib.Path
        The cache's ``LABELS.csv``.

    Returns
    -------
    list of dict
        Its rows.
    """
    assert path.is_file(), f"{path} was not written"
    assert Path(f"{path}.teacher.json").is_file(), "no teacher sidecar"
    with open(path, newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert rows, f"{path} has no rows"
    for row in rows:
        values = [float(row[dimension]) for dimension in DIMENSIONS]
        assert all(math.isfinite(v) for v in values), row
    return rows


def sample_wavs():
    """The sample corpus's audio files.

    Returns
    -------
    list of pathlib.Path
        The ``.wav`` files of the corpus's audio folder.
    """
    return sorted((REPO / CORPUS / "Audios").glob("*.wav"))


def distill_command(out, precision, *extra):
    """The distillation command line of the recipe (one process).

    Arguments
    ---------
    out : pathlib.Path
        Output folder.
    precision : str
        ``bf16`` or ``fp16``.
    *extra : str
        More flags (e.g. ``--targets=on_the_fly``).

    Returns
    -------
    list of str
        The command.
    """
    return [
        sys.executable,
        DISTILL_SCRIPT,
        DISTILL_HPARAMS,
        f"--data_folder={CORPUS}",
        f"--teacher_source={TEACHER_SAMPLE}",
        f"--output_folder={out}",
        f"--device={DEVICE}",
        f"--precision={precision}",
        "--debug",
        "--accept_weak_teacher=True",
        *extra,
    ]


def label_command(out, *launcher, device=None):
    """The ``wav2small label`` command on the sample audio, in bf16.

    Arguments
    ---------
    out : pathlib.Path
        The label cache to write.
    *launcher : str
        What runs the module (default: this Python).
    device : str, optional
        ``--device`` (default: ``cpu`` in CPU mode, else ``cuda``).

    Returns
    -------
    list of str
        The command.
    """
    if device is None:
        device = "cpu" if CPU_MODE else "cuda"
    launcher = launcher or (sys.executable, "-m")
    return [
        *launcher,
        "speechbrain_wav2small.cli",
        "label",
        "--teacher=dawn",
        f"--teacher_source={TEACHER_SAMPLE}",
        f"--audio-dir={CORPUS / 'Audios'}",
        f"--out={out}",
        f"--device={device}",
        "--precision=bf16",
        "--batch_seconds=20",
        "--no_progress",
    ]


def torchrun(nproc=2):
    """The ``torchrun`` launcher for ``nproc`` local processes.

    Arguments
    ---------
    nproc : int
        Processes on this machine.

    Returns
    -------
    list of str
        The launcher's command line (the script comes after it).
    """
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
    ]


def multiprocess_env():
    """Environment of a two-process run (one thread each on CPU).

    Returns
    -------
    dict
        Extra environment variables.
    """
    return {"OMP_NUM_THREADS": "1"} if CPU_MODE else {}


def test_teacher_finetuning_bf16(tmp_path):
    """Teacher fine-tuning in bf16 writes its files, finite CCCs and a
    teacher whose weights are all finite."""
    require_samples(CORPUS, TEACHER_SAMPLE)
    out = tmp_path / "teacher"
    run_command(
        [
            sys.executable,
            TEACHER_SCRIPT,
            TEACHER_HPARAMS,
            f"--data_folder={CORPUS}",
            f"--ssl_source={TEACHER_SAMPLE}",
            "--num_layers=null",
            f"--output_folder={out}",
            f"--device={DEVICE}",
            "--precision=bf16",
            "--debug",
            "--accept_weak_teacher=True",
        ]
    )
    check_run(out, "bf16")
    exported = out / "teacher"
    missing = [n for n in TEACHER_FILES if not (exported / n).is_file()]
    assert not missing, f"exported teacher lacks {missing}"
    from safetensors.torch import load_file

    weights = load_file(str(exported / "model.safetensors"))
    broken = [
        name
        for name, tensor in weights.items()
        if tensor.is_floating_point() and not torch.isfinite(tensor).all()
    ]
    assert not broken, f"non-finite teacher weights after bf16: {broken}"


def test_distillation_cached_labels_bf16(tmp_path):
    """Distillation from label caches in bf16: numeric CCCs against the
    teacher and the human labels, finite caches."""
    require_samples(CORPUS, TEACHER_SAMPLE)
    out = tmp_path / "distill"
    run_command(distill_command(out, "bf16"))
    results = check_run(out, "bf16")
    assert "ccc_vs_teacher" in results and "ccc_vs_human" in results
    # The caches the recipe wrote for its splits are finite too.
    for split in ("Train", "Development", "Test1"):
        check_label_cache(out / "labels" / f"{split}.csv")


def test_distillation_on_the_fly_bf16(tmp_path):
    """Distillation with the teacher labelling each batch, in bf16."""
    require_samples(CORPUS, TEACHER_SAMPLE)
    out = tmp_path / "distill_otf"
    run_command(distill_command(out, "bf16", "--targets=on_the_fly"))
    results = check_run(out, "bf16")
    assert "ccc_vs_teacher" in results


@pytest.mark.skipif(
    CPU_MODE, reason="fp16 needs CUDA (SpeechBrain refuses fp16 on CPU)"
)
def test_distillation_on_the_fly_fp16(tmp_path):
    """Distillation with the teacher on the fly in fp16 (GradScaler)."""
    # fp16 adds the GradScaler and runs the teacher under fp16 autocast,
    # whose narrower range is where overflow to inf would show.
    require_samples(CORPUS, TEACHER_SAMPLE)
    out = tmp_path / "distill_fp16"
    run_command(distill_command(out, "fp16", "--targets=on_the_fly"))
    results = check_run(out, "fp16")
    assert "ccc_vs_teacher" in results


def test_labelling_cli_bf16(tmp_path):
    """``wav2small label`` in bf16 labels every sample clip (or lists it
    as an error) with finite values."""
    require_samples(CORPUS, TEACHER_SAMPLE)
    cache = tmp_path / "labels" / "samples.csv"
    done = run_command(label_command(cache))
    assert "labels:" in done.stdout
    rows = check_label_cache(cache)
    errors = Path(str(cache).removesuffix(".csv") + ".errors.csv")
    failed = 0
    if errors.is_file():
        with open(errors, newline="", encoding="utf-8") as stream:
            failed = len(list(csv.DictReader(stream)))
    assert len(rows) + failed == len(sample_wavs())


@needs_two_devices
def test_distillation_torchrun_two_processes(tmp_path):
    """Two-process distillation under torchrun (NCCL on CUDA)."""
    require_samples(CORPUS, TEACHER_SAMPLE)
    out = tmp_path / "distill_ddp"
    command = [
        *torchrun(2),
        DISTILL_SCRIPT,
        DISTILL_HPARAMS,
        f"--data_folder={CORPUS}",
        f"--teacher_source={TEACHER_SAMPLE}",
        f"--output_folder={out}",
        "--precision=bf16",
        "--debug",
        "--accept_weak_teacher=True",
        f"--distributed_backend={BACKEND}",
    ]
    if CPU_MODE:
        command.append("--device=cpu")
    # On CUDA no --device: SpeechBrain then puts each process on
    # cuda:LOCAL_RANK, where --device=cuda would put both on cuda:0.
    run_command(command, env=multiprocess_env())
    check_run(out, "bf16")


@needs_two_devices
def test_labelling_cli_torchrun_two_processes(tmp_path):
    """Two-process labelling under torchrun shares out the clips: each
    is labelled once."""
    require_samples(CORPUS, TEACHER_SAMPLE)
    cache = tmp_path / "labels_ddp" / "samples.csv"
    launcher = (*torchrun(2), "-m")
    run_command(label_command(cache, *launcher), env=multiprocess_env())
    rows = check_label_cache(cache)
    ids = [row["ID"] for row in rows]
    assert len(ids) == len(set(ids)), "a clip was labelled twice"
