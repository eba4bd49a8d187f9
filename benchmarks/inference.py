"""Inference cost of every student against the teachers and the machine.

Run from the repository root (several minutes on two cores)::

    .venv/bin/python benchmarks/inference.py \
        --out benchmarks/results/inference.json

It prints a markdown table and PASS/MISS lines and writes everything to the
JSON file (and the table next to it, ``.md``). All figures come from this
one run on this machine:

* **machine**: the attainable one-thread multiply-accumulate rate, the best
  of a 2048x2048 float32 matrix product in PyTorch, NumPy and onnxruntime
  (the libraries differ by up to 2x on the same CPU; the best is the limit
  the models are held to);
* per model (the six students, and the two teacher architectures with
  random weights from their configs, nothing downloaded): parameters;
  multiply-accumulates per second of audio, counted by PyTorch's FLOP
  counter on a 10 s clip; float and int8 ONNX file sizes; latency at
  batch 1 on one thread for 1 s and 10 s clips in PyTorch eager,
  onnxruntime float and onnxruntime int8 (median of repeated runs after a
  warm-up run); real-time factor; peak memory of one 10 s inference (the
  growth of the process's peak resident set during the first 10 s run of a
  fresh session, read from ``/proc/self/status`` after resetting the peak);
  efficiency = counted MACs per second of compute / the machine's rate;
* **streaming**: peak memory of :mod:`speechbrain_wav2small.inference.streaming`
  from 10 s to 1 h of audio against the whole-clip model
  (``benchmarks/streaming_memory.py``, one fresh process per point);
* **CLI start-up**: wall time of the whole ``wav2small predict`` process
  on one 3 s file (real speech at 22.05 kHz, so resampling is included),
  (a) with the int8 ONNX file (onnxruntime, torch never imported) and (b)
  with the package folder (PyTorch backend); median of ``--cli_runs``
  fresh processes after a warm-up run, the two alternating, every process
  held to ``--cli_cores`` processors (``sched_setaffinity``). The package
  is a Wav2Small with random weights, packaged by
  :func:`speechbrain_wav2small.packaging.package.package_model`.

Only the CLI section, e.g. when the machine is quiet (it replaces that
section and its target in an existing JSON and rewrites the table)::

    .venv/bin/python benchmarks/inference.py --only cli --cli_runs 20 \
        --out benchmarks/results/inference.json

Only the MobileNets' static int8 (same replacement rules): per MobileNet,
fitted on the package's speech (BatchNorm statistics and a ridge head,
``benchmarks/precision.py``) and exported with ``quantization="static"``
(its gate reported, not enforced), the onnxruntime float and static int8
latency on one thread on a 10 s clip, the two timed in turns in one run,
their ratio, the int8-vs-float CCC on the real speech of ``tests/data``,
and how many convolutions onnxruntime runs in int8 (whether the CPU has
VNNI decides how fast those are)::

    .venv/bin/python benchmarks/inference.py --only mobilenet_int8 \
        --out benchmarks/results/inference.json

Students are exported with :func:`speechbrain_wav2small.export.export_onnx`
(the shipped export: Wav2Small in its fast form; int8 files statically
quantised, calibrated on the speech of ``tests/data``) and run with the
package's session settings; their weights are random, which does not
change their cost, so the export's int8 accuracy gate is off here. The
teachers are exported with the TorchScript exporter at a fixed batch of one
and quantised with onnxruntime's dynamic int8 quantisation.

Targets (PASS/MISS, ratios from this run):

* Wav2Small (11K) in onnxruntime is >= 200x faster than the Dawn teacher
  architecture in its faster runtime, on 10 s clips, one thread;
* Wav2Small (11K) in onnxruntime reaches >= 50% of the machine's one-thread
  multiply-accumulate rate;
* streaming peak memory at 1 h within 10% (or 2 MB) of its peak at 10 s;
* ``wav2small predict`` of one 3 s file with the int8 ONNX model takes
  <= 1.0 s of wall time on two cores (whole process, start-up included).
"""

import argparse
import contextlib
import csv
import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import onnxruntime
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from speechbrain_wav2small import SAMPLE_RATE  # noqa: E402
from speechbrain_wav2small.export import export_onnx  # noqa: E402
from speechbrain_wav2small.inference.onnx_emotion import (  # noqa: E402
    load_session,
    session_options,
)
from speechbrain_wav2small.students import STUDENTS, build_student  # noqa: E402
from speechbrain_wav2small.teachers import (  # noqa: E402
    backbone_config,
    build_teacher,
)
from speechbrain_wav2small.utils.complexity import count_macs  # noqa: E402
from speechbrain_wav2small.utils.timing import (  # noqa: E402
    cpu_model,
    timed_runs,
)

DURATIONS = (1, 10)
RUNTIMES = ("pytorch", "ort_float", "ort_int8")
TEACHERS = {"dawn": "dawn", "wavlm_large": "wavlm_odyssey"}
PAPER_MEMORY_MB = 9.0

#: Targets: Wav2Small in onnxruntime at least this many times faster than the
#: Dawn teacher architecture, and at least this share of the machine's
#: one-thread multiply-accumulate rate (10 s clips, one thread).
MIN_SPEEDUP_VS_TEACHER = 200.0
MIN_EFFICIENCY = 0.5

#: Target: ``wav2small predict`` of one file of this many seconds with the
#: int8 ONNX model, in at most this wall time (whole process) on two cores.
CLI_CLIP_SECONDS = 3
MAX_CLI_SECONDS = 1.0
CLI_TARGET = "cli_predict_onnx_seconds"

#: The students of the static int8 section, and its clip length (s).
MOBILENETS = tuple(name for name in STUDENTS if name.startswith("mobilenet"))
INT8_CLIP_SECONDS = 10


# --------------------------------------------------------------------------
# Measurement helpers


def machine_rate(size=2048, repeats=5):
    """One-thread float32 matrix-product rate (MAC/s) per library.

    Best of ``repeats`` products of two ``size`` x ``size`` matrices after
    a warm-up, in PyTorch, onnxruntime and NumPy (in a child process).

    Arguments
    ---------
    size : int
        Side of the square matrices.
    repeats : int
        Timed products per library.

    Returns
    -------
    dict
        Library name -> multiply-accumulates per second.
    """
    a = np.random.default_rng(0).standard_normal((size, size), np.float32)
    b = np.random.default_rng(1).standard_normal((size, size), np.float32)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    session = _matmul_session(size)
    candidates = {
        "pytorch": lambda: ta @ tb,
        "onnxruntime": lambda: session.run(None, {"a": a, "b": b}),
    }
    rates = {}
    for name, product in candidates.items():
        product()
        best = min(_seconds(product) for _ in range(repeats))
        rates[name] = size**3 / best
    rates["numpy"] = _numpy_rate(size, repeats)
    return rates


def _numpy_rate(size, repeats):
    """NumPy's rate in a child process whose BLAS gets one thread (the
    thread count of a loaded OpenBLAS cannot be changed from here)."""
    code = (
        "import time, numpy as np\n"
        f"a = np.ones(({size}, {size}), np.float32); b = a.copy(); a @ b\n"
        "best = float('inf')\n"
        f"for _ in range({repeats}):\n"
        "    t = time.perf_counter(); a @ b\n"
        "    best = min(best, time.perf_counter() - t)\n"
        f"print({size}**3 / best)\n"
    )
    one_thread = dict.fromkeys(
        ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"), "1"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code],
        env=dict(os.environ, **one_thread),
        capture_output=True,
        text=True,
        check=True,
    )
    return float(completed.stdout.strip())


def int8_matmul_rate(size=2048, repeats=5):
    """One-thread uint8 x int8 matrix-product rate (MAC/s) of
    onnxruntime's ``MatMulInteger``: the int8 kernels' own limit, for
    context (the targets use the float32 rate).

    Arguments
    ---------
    size : int
        Side of the square matrices.
    repeats : int
        Timed products; the best counts.

    Returns
    -------
    float
        Multiply-accumulates per second.
    """
    from onnx import TensorProto, helper

    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (size, size), dtype=np.uint8)
    b = rng.integers(-127, 127, (size, size), dtype=np.int8)
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "b"], ["c"])],
        "matmul_integer",
        [
            helper.make_tensor_value_info("a", TensorProto.UINT8, [size] * 2),
            helper.make_tensor_value_info("b", TensorProto.INT8, [size] * 2),
        ],
        [helper.make_tensor_value_info("c", TensorProto.INT32, [size] * 2)],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9
    )
    session = onnxruntime.InferenceSession(
        model.SerializeToString(),
        session_options(threads=1),
        providers=["CPUExecutionProvider"],
    )

    def product():
        """One ``MatMulInteger`` run on the fixed inputs."""
        return session.run(None, {"a": a, "b": b})

    product()
    return size**3 / min(_seconds(product) for _ in range(repeats))


def _seconds(call):
    """Wall time in seconds of one ``call()``."""
    begin = time.perf_counter()
    call()
    return time.perf_counter() - begin


def _matmul_session(size):
    """A one-thread onnxruntime session of one float32 ``MatMul``."""
    from onnx import TensorProto, helper

    def value(name):
        """A float32 [size, size] graph input or output named ``name``."""
        return helper.make_tensor_value_info(
            name, TensorProto.FLOAT, [size, size]
        )

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"])],
        "matmul",
        [value("a"), value("b")],
        [value("c")],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9
    )
    return onnxruntime.InferenceSession(
        model.SerializeToString(),
        session_options(threads=1),
        providers=["CPUExecutionProvider"],
    )


# --------------------------------------------------------------------------
# Models


def build_model(name):
    """A student or a teacher architecture with random weights, eval.

    Arguments
    ---------
    name : str
        A student name or a key of :data:`TEACHERS` (full-size backbone
        config, seed 0).

    Returns
    -------
    torch.nn.Module
        The model in eval mode.

    Example
    -------
    >>> type(build_model("wav2small")).__name__
    'Wav2Small'
    """
    if name in TEACHERS:
        kind = TEACHERS[name]
        return build_teacher(kind, config=backbone_config(kind), seed=0).eval()
    torch.manual_seed(0)
    return build_student(name).eval()


class _BatchOfOne(torch.nn.Module):
    """``wavs -> scores`` with the teacher's length handling fixed for
    one unpadded clip (what the TorchScript exporter can trace)."""

    def __init__(self, teacher):
        """Wraps ``teacher`` (any module mapping ``wavs`` to scores)."""
        super().__init__()
        self.teacher = teacher

    def forward(self, wavs):
        """The teacher's scores [1, 3] for one unpadded clip [1, time]."""
        return self.teacher(wavs)


def export_student(model, name, folder):
    """The shipped export (gates on, except int8 accuracy: random
    weights).

    Arguments
    ---------
    model : torch.nn.Module
        The student.
    name : str
        Its student name.
    folder : pathlib.Path
        Where the ONNX files go.

    Returns
    -------
    tuple
        (float file path, int8 file path, int8 quantization mode).
    """
    report = export_onnx(
        model,
        folder,
        name,
        # Real speech calibrates the static int8 files.
        held_out_wavs=[REPO / "tests" / "data"],
        # Random weights: untrained MobileNets reach activations where
        # float rounding alone exceeds the parity tolerance, and outputs
        # that barely vary fail any CCC gate. Cost does not depend on it.
        max_abs_diff=float("inf"),
        min_ccc=-1.0,
        parity_seconds=(0.5, 3.0),
        parity_batch_sizes=(1, 2),
    )
    return (
        report["files"]["model.onnx"],
        report["files"]["model.int8.onnx"],
        report["quantization"],
    )


def export_teacher(model, folder):
    """TorchScript export at batch 1 with a dynamic time axis, then
    onnxruntime's dynamic int8 quantisation of the matrix products.

    Arguments
    ---------
    model : torch.nn.Module
        The teacher.
    folder : pathlib.Path
        Where the ONNX files go.

    Returns
    -------
    tuple
        (float file path, int8 file path).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    float_path = str(folder / "model.onnx")
    int8_path = str(folder / "model.int8.onnx")
    wavs = torch.randn(1, 10 * SAMPLE_RATE)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _BatchOfOne(model),
            (wavs,),
            float_path,
            dynamo=False,
            opset_version=17,
            input_names=["wavs"],
            output_names=["scores"],
            dynamic_axes={"wavs": {1: "time"}},
        )
    quantize_dynamic(
        float_path,
        int8_path,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["MatMul"],
        use_external_data_format=False,
    )
    return float_path, int8_path


def measure_model(name, workspace, args):
    """Every per-model figure; the ONNX files are deleted afterwards.

    An export failure is recorded as ``onnx_error`` and PyTorch is still
    measured.

    Arguments
    ---------
    name : str
        A student name or a key of :data:`TEACHERS`.
    workspace : pathlib.Path
        Scratch folder for the ONNX files.
    args : argparse.Namespace
        Options of :func:`parse_args` (time budgets, ``max_runs``).

    Returns
    -------
    dict
        Parameters, MACs per second of audio, ONNX sizes and int8 mode,
        latency, real-time factor, timed runs and peak memory.
    """
    print(f"\n## {name}", flush=True)
    model = build_model(name)
    is_teacher = name in TEACHERS
    result = {
        "kind": "teacher" if is_teacher else "student",
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    with torch.inference_mode():
        macs = count_macs(model, seconds=10.0)
    result["macs_per_audio_second"] = macs / 10.0
    print(f"parameters {result['parameters']:,}, MACs/s {macs / 10:,.0f}")

    folder = workspace / name
    folder.mkdir()
    started = time.perf_counter()
    float_files = {}
    try:
        if is_teacher:
            float_path, int8_path = export_teacher(model, folder)
            result["int8"] = "onnxruntime dynamic int8 (MatMul)"
        else:
            float_path, int8_path, mode = export_student(model, name, folder)
            result["int8"] = mode
        float_files = {"ort_float": float_path, "ort_int8": int8_path}
        result["onnx_float_bytes"] = os.path.getsize(float_path)
        result["onnx_int8_bytes"] = os.path.getsize(int8_path)
    except Exception as error:  # reported, and PyTorch is still measured
        result["onnx_error"] = f"{type(error).__name__}: {error}"
        print(f"ONNX export failed: {result['onnx_error']}")
    result["export_seconds"] = time.perf_counter() - started

    budget = args.teacher_budget if is_teacher else args.student_budget
    latency, rtf, memory, runs = {}, {}, {}, {}
    for runtime in ["pytorch", *float_files]:
        if runtime == "pytorch":
            runner = _pytorch_runner(model)
        else:
            runner = _ort_runner(float_files[runtime], is_teacher)
        for seconds in sorted(DURATIONS, reverse=True):
            wavs = _clip(seconds)
            key = f"{runtime}_{seconds}s"
            median, times = timed_runs(
                lambda run=runner, clip=wavs: run(clip),
                min_runs=3,
                max_runs=args.max_runs,
                budget_seconds=budget,
            )
            latency[key] = median
            rtf[key] = median / seconds
            runs[key] = len(times)
            print(f"{key:<18} {median * 1000:10.2f} ms  ({len(times)} runs)")
        runner = None
        gc.collect()
        memory[runtime] = memory_probe(
            "pytorch" if runtime == "pytorch" else "ort",
            name if runtime == "pytorch" else float_files[runtime],
        )
        print(
            f"{runtime} 10 s memory: +{memory[runtime]['inference_mb']:.1f} "
            f"MB, process peak {memory[runtime]['peak_rss_mb']:.1f} MB"
        )
    result.update(
        latency_seconds=latency,
        real_time_factor=rtf,
        timed_runs=runs,
        peak_memory_10s_mb=memory,
    )
    del model
    shutil.rmtree(folder, ignore_errors=True)
    gc.collect()
    return result


def memory_probe(runtime, target, seconds=10):
    """Peak memory of one inference in a fresh process (MB figures).

    Arguments
    ---------
    runtime : str
        ``"pytorch"`` or ``"ort"``.
    target : str or pathlib.Path
        A model name (PyTorch) or an ONNX file (onnxruntime).
    seconds : float
        Length of the clip.

    Returns
    -------
    dict
        ``setup_rss_mb``, ``peak_rss_mb`` and ``inference_mb`` (see
        ``benchmarks/memory_probe.py``).
    """
    completed = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "memory_probe.py"),
            runtime,
            str(target),
            str(seconds),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _clip(seconds):
    """A reproducible float32 noise clip [1, time] of ``seconds``."""
    rng = np.random.default_rng(seconds)
    return (0.1 * rng.standard_normal((1, seconds * SAMPLE_RATE))).astype(
        np.float32
    )


def _pytorch_runner(model):
    """A callable running ``model`` on a NumPy clip, in inference mode."""

    def run(wavs):
        """The model's scores for ``wavs`` [1, time]."""
        with torch.inference_mode():
            return model(torch.from_numpy(wavs))

    return run


def _ort_runner(path, is_teacher):
    """A callable running the ONNX file at ``path`` on one thread
    (teacher graphs take no lengths input)."""
    session = load_session(path, threads=1)
    ones = np.ones(1, np.float32)

    def run(wavs):
        """The session's outputs for ``wavs`` [1, time]."""
        feed = (
            {"wavs": wavs} if is_teacher else {"wavs": wavs, "wav_lens": ones}
        )
        return session.run(None, feed)

    return run


# --------------------------------------------------------------------------
# CLI start-up


def wav2small_command():
    """The ``wav2small`` console script installed beside this Python, or
    ``python -m speechbrain_wav2small.cli`` when there is none.

    Returns
    -------
    list of str
        The command, to be followed by a subcommand and its arguments.

    Example
    -------
    >>> command = wav2small_command()
    >>> Path(command[-1]).name in ("wav2small", "speechbrain_wav2small.cli")
    True
    """
    script = Path(sys.executable).with_name("wav2small")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "speechbrain_wav2small.cli"]


def cli_cores(count):
    """The first ``count`` processors this process may run on (all of
    them when it has fewer), or ``None`` where affinity is not supported.

    Arguments
    ---------
    count : int
        How many processors the timed processes get.

    Returns
    -------
    list of int or None

    Example
    -------
    >>> cores = cli_cores(1)
    >>> cores is None or len(cores) == 1
    True
    """
    if not hasattr(os, "sched_getaffinity"):
        return None
    return sorted(os.sched_getaffinity(0))[:count]


@contextlib.contextmanager
def pinned(cores):
    """Runs the block (and the processes it starts, which inherit it) on
    ``cores`` only; does nothing for ``None``."""
    if cores is None:
        yield
        return
    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cores)
    try:
        yield
    finally:
        os.sched_setaffinity(0, previous)


def cli_package(folder):
    """A packaged Wav2Small (random weights) in ``folder``: the PyTorch
    package files and the int8 ONNX model.

    Arguments
    ---------
    folder : pathlib.Path
        Folder to write (absent or empty).

    Returns
    -------
    pathlib.Path
        The int8 ONNX file.
    """
    from speechbrain_wav2small.packaging.package import package_model

    report = package_model(
        build_model("wav2small"),
        "wav2small",
        folder,
        # Real speech calibrates the static int8 Wav2Small.
        held_out_wavs=[REPO / "tests" / "data"],
        # Random weights (see export_student); start-up does not depend
        # on them.
        export_options={
            "max_abs_diff": float("inf"),
            "min_ccc": -1.0,
            "parity_seconds": (0.5, 3.0),
            "parity_batch_sizes": (1, 2),
        },
    )
    return Path(report["files"]["model.int8.onnx"])


def cli_clip(path, seconds=CLI_CLIP_SECONDS):
    """Writes the first ``seconds`` of a real recording at its own rate
    (22.05 kHz, so ``predict`` resamples it, as most files need).

    Arguments
    ---------
    path : pathlib.Path
        The WAV file to write.
    seconds : float
        Its length.

    Returns
    -------
    dict
        ``path``, ``seconds`` and ``sample_rate``.
    """
    import soundfile

    speech, rate = soundfile.read(
        REPO / "tests" / "data" / "TTS_LJ050-0131.wav", dtype="float32"
    )
    soundfile.write(path, speech[: int(seconds * rate)], rate)
    return {"path": str(path), "seconds": seconds, "sample_rate": rate}


def _timed_predict(command, workspace):
    """Wall seconds of one ``predict`` process run in ``workspace``;
    checks that it wrote its one result to ``out.csv`` there."""
    out = workspace / "out.csv"
    begin = time.perf_counter()
    completed = subprocess.run(
        [*command, "--out", out.name],
        capture_output=True,
        text=True,
        cwd=workspace,
    )
    seconds = time.perf_counter() - begin
    rows = []
    if out.is_file():
        with open(out, newline="", encoding="utf-8") as stream:
            rows = list(csv.DictReader(stream))
    if completed.returncode != 0 or len(rows) != 1 or rows[0]["error"]:
        raise RuntimeError(
            f"{' '.join(command)} failed (exit status "
            f"{completed.returncode}, {len(rows)} rows in {out}: {rows}):\n"
            f"{completed.stderr[-2000:]}"
        )
    out.unlink()
    return seconds


def measure_cli(runs, cores):
    """Wall time of ``wav2small predict`` on one 3 s file, whole process:
    the int8 ONNX file (torch-free) and the package folder (PyTorch).

    Arguments
    ---------
    runs : int
        Timed runs of each, after one warm-up run of each.
    cores : int
        How many processors the processes may use.

    Returns
    -------
    dict
        The clip, the processors, the runs, and per model (``onnx_int8``,
        ``pytorch``): ``model``, ``command`` (run in a folder holding the
        package and the clip), ``median_seconds``, ``min_seconds``,
        ``max_seconds`` and every run's ``seconds``.
    """
    workspace = Path(tempfile.mkdtemp(prefix="wav2small-cli-"))
    arguments = {
        "onnx_int8": ["--model", "package/model.int8.onnx"],
        "pytorch": [
            "--model",
            "package",
            "--backend",
            "torch",
            "--savedir",
            "savedir",
        ],
    }
    try:
        cli_package(workspace / "package")
        clip = cli_clip(workspace / "speech.wav")
        base = ["predict", "speech.wav", "--quiet"]
        chosen = cli_cores(cores)
        times = {name: [] for name in arguments}
        with pinned(chosen):
            for round_ in range(runs + 1):  # round 0 is the warm-up
                for name, extra in arguments.items():
                    seconds = _timed_predict(
                        [*wav2small_command(), *base, *extra], workspace
                    )
                    if round_:
                        times[name].append(seconds)
    finally:
        shutil.rmtree(workspace, ignore_errors=True)
    result = {
        "clip": {k: v for k, v in clip.items() if k != "path"},
        "cores": chosen,
        "runs": runs,
    }
    models = {
        "onnx_int8": "model.int8.onnx (onnxruntime)",
        "pytorch": "package folder (PyTorch)",
    }
    for name, seconds in times.items():
        result[name] = {
            "model": models[name],
            "command": " ".join(
                ["wav2small", *base, *arguments[name], "--out", "out.csv"]
            ),
            "median_seconds": statistics.median(seconds),
            "min_seconds": min(seconds),
            "max_seconds": max(seconds),
            "seconds": seconds,
        }
    return result


def cli_target(cli):
    """The start-up target of a :func:`measure_cli` result.

    Arguments
    ---------
    cli : dict
        The result of :func:`measure_cli`.

    Returns
    -------
    dict
        ``value`` (median seconds of the int8 ONNX run), ``target`` and
        ``passed``.

    Example
    -------
    >>> cli_target({"onnx_int8": {"median_seconds": 0.4}})["passed"]
    True
    """
    value = cli["onnx_int8"]["median_seconds"]
    return {
        "value": value,
        "target": f"<= {MAX_CLI_SECONDS:g} s wall for one "
        f"{CLI_CLIP_SECONDS} s file, int8 ONNX, whole process, 2 cores",
        "passed": value <= MAX_CLI_SECONDS,
    }


def cli_markdown(cli):
    """The CLI start-up figures as a caption and a markdown table.

    Arguments
    ---------
    cli : dict
        The result of :func:`measure_cli`.

    Returns
    -------
    str

    Example
    -------
    >>> row = {"model": "m", "median_seconds": 0.5, "min_seconds": 0.4,
    ...        "max_seconds": 0.6}
    >>> print(cli_markdown({"clip": {"seconds": 3, "sample_rate": 22050},
    ...                     "cores": [0, 1], "runs": 5,
    ...                     "onnx_int8": row})) # doctest: +ELLIPSIS
    CLI start-up: `wav2small predict` on one 3 s file (22050 Hz), ...
    | m | 500.0 ms | 400.0 ms | 600.0 ms |
    """
    cores = "all" if cli["cores"] is None else len(cli["cores"])
    lines = [
        f"CLI start-up: `wav2small predict` on one {cli['clip']['seconds']} "
        f"s file ({cli['clip']['sample_rate']} Hz), wall time of the whole "
        f"process, {cli['runs']} fresh processes on {cores} cores.",
        "",
        "| model | median | min | max |",
        "|---|---|---|---|",
    ]
    for name in ("onnx_int8", "pytorch"):
        if name in cli:
            row = cli[name]
            lines.append(
                f"| {row['model']} | {_ms(row['median_seconds'])} "
                f"| {_ms(row['min_seconds'])} | {_ms(row['max_seconds'])} |"
            )
    return "\n".join(lines)


# --------------------------------------------------------------------------
# Report


# --------------------------------------------------------------------------
# MobileNets: static int8 against float


def measure_mobilenet_int8(names, args):
    """Float vs static int8 onnxruntime figures of each MobileNet.

    Arguments
    ---------
    names : list of str
        MobileNet student names.
    args : argparse.Namespace
        Options of :func:`parse_args` (``student_budget``, ``max_runs``).

    Returns
    -------
    dict
        ``clip_seconds``, ``threads``, ``cpu``, ``vnni`` and ``models``:
        per student the median ``float_seconds`` and ``int8_seconds``,
        ``speedup`` (float / int8), ``timed_runs``, ``int8_ccc`` (per
        dimension) and ``int8_min_ccc``, ``int8_convolutions`` and the
        file ``bytes``; or ``error`` when its export failed.
    """
    import precision

    from speechbrain_wav2small.dataio.reference_speech import (
        reference_speech_clips,
    )
    from speechbrain_wav2small.export.static_quantization_mobilenet import (
        int8_convolutions,
    )

    clips = reference_speech_clips()
    wavs = _clip(INT8_CLIP_SECONDS)
    section = {
        "clip_seconds": INT8_CLIP_SECONDS,
        "threads": 1,
        "cpu": cpu_model(),
        "vnni": _has_vnni(),
        "models": {},
    }
    workspace = Path(tempfile.mkdtemp(prefix="wav2small-int8-"))
    try:
        for name in names:
            print(f"\n## {name}: static int8", flush=True)
            folder = workspace / name
            try:
                model = precision.fitted_model(name, clips)
                report = export_onnx(
                    model,
                    folder,
                    name,
                    held_out_wavs=[REPO / "tests" / "data"],
                    quantization="static",
                    # The figures are the point here: a static file that
                    # fails the gate is still measured, with its CCC.
                    min_ccc=-1.0,
                    max_abs_diff=float("inf"),
                    parity_seconds=(0.5, 3.0),
                    parity_batch_sizes=(1, 2),
                )
            except Exception as error:  # reported; the others still run
                section["models"][name] = {
                    "error": f"{type(error).__name__}: {error}"
                }
                print(f"export failed: {section['models'][name]['error']}")
                continue
            files = report["files"]
            medians, runs = alternating_medians(
                {
                    "float": _ort_runner(files["model.onnx"], False),
                    "int8": _ort_runner(files["model.int8.onnx"], False),
                },
                wavs,
                min_runs=3,
                max_runs=args.max_runs,
                budget_seconds=2 * args.student_budget,
            )
            result = {
                "float_seconds": medians["float"],
                "int8_seconds": medians["int8"],
                "speedup": medians["float"] / medians["int8"],
                "timed_runs": runs,
                "int8_ccc": report["int8_ccc"],
                "int8_min_ccc": min(report["int8_ccc"].values()),
                "int8_convolutions": int8_convolutions(
                    files["model.int8.onnx"]
                ),
                "bytes": report["bytes"],
            }
            section["models"][name] = result
            print(
                f"float {_ms(result['float_seconds'])}, static int8 "
                f"{_ms(result['int8_seconds'])} ({result['speedup']:.2f}x, "
                f"{runs} runs each), CCC int8 vs float >= "
                f"{result['int8_min_ccc']:.4f}",
                flush=True,
            )
            shutil.rmtree(folder, ignore_errors=True)
            gc.collect()
    finally:
        shutil.rmtree(workspace, ignore_errors=True)
    return section


def alternating_medians(runners, wavs, min_runs, max_runs, budget_seconds):
    """Median seconds of each runner on ``wavs``, the runners taking turns
    (after one warm-up call each), so that all of them meet the same
    machine load.

    Arguments
    ---------
    runners : dict
        Name -> callable taking ``wavs``.
    wavs : numpy.ndarray
        The input.
    min_runs, max_runs : int
        Bounds on the timed runs of each runner.
    budget_seconds : float
        Time after which no round beyond ``min_runs`` starts.

    Returns
    -------
    medians : dict
        Name -> median seconds.
    runs : int
        Timed runs of each runner.

    Example
    -------
    >>> medians, runs = alternating_medians(
    ...     {"a": len, "b": len}, [0], 2, 4, budget_seconds=0.0)
    >>> sorted(medians), runs
    (['a', 'b'], 2)
    """
    for run in runners.values():
        run(wavs)
    times = {name: [] for name in runners}
    started = time.perf_counter()
    runs = 0
    while runs < max_runs and (
        runs < min_runs or time.perf_counter() - started < budget_seconds
    ):
        for name, run in runners.items():
            begin = time.perf_counter()
            run(wavs)
            times[name].append(time.perf_counter() - begin)
        runs += 1
    return {name: statistics.median(t) for name, t in times.items()}, runs


def mobilenet_int8_markdown(section):
    """The static int8 section as a markdown table with its caption.

    Arguments
    ---------
    section : dict
        What :func:`measure_mobilenet_int8` returns.

    Returns
    -------
    str

    Example
    -------
    >>> section = {"clip_seconds": 10, "cpu": "x", "vnni": False,
    ...            "models": {"m": {"error": "ValueError: no"}}}
    >>> mobilenet_int8_markdown(section).splitlines()[-1]
    '| m | export failed: ValueError: no | | | | | |'
    """
    lines = [
        f"MobileNets, static int8 against float (onnxruntime, one thread, "
        f"{section['clip_seconds']} s clip, timed in turns; CPU: "
        f"{section['cpu'] or 'unknown'}, "
        f"{'with' if section['vnni'] else 'without'} VNNI). CCC: int8 vs "
        "float on the real speech of tests/data, lowest dimension, for "
        "students fitted on speech, not trained.",
        "",
        "| student | convolutions run in int8 | float | static int8 "
        "| int8 speed-up | CCC int8 vs float | float / int8 file |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, result in section["models"].items():
        if "error" in result:
            lines.append(
                f"| {name} | export failed: {result['error']} | | | | | |"
            )
            continue
        counts = result["int8_convolutions"]
        sizes = result["bytes"]
        lines.append(
            f"| {name} | {counts['int8']} of {counts['total']} "
            f"| {_ms(result['float_seconds'])} "
            f"| {_ms(result['int8_seconds'])} "
            f"| {result['speedup']:.2f}x | {result['int8_min_ccc']:.4f} "
            f"| {_size(sizes['model.onnx'])} / "
            f"{_size(sizes['model.int8.onnx'])} |"
        )
    return "\n".join(lines)


def _has_vnni():
    """Whether ``/proc/cpuinfo`` lists a VNNI extension (onnxruntime's
    fastest uint8 x int8 kernels), or None where it cannot be read."""
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as handle:
            flags = handle.read().split()
        return "avx512_vnni" in flags or "avx_vnni" in flags
    return None


def summarize(models, rates):
    """Derived figures and the targets.

    Adds each model's ``efficiency`` (counted MACs per second of compute
    over the best one-thread matmul rate) to ``models`` in place.

    Arguments
    ---------
    models : dict
        Model name -> result of :func:`measure_model`; must hold
        ``wav2small``.
    rates : dict
        Library -> one-thread matmul rate (:func:`machine_rate`).

    Returns
    -------
    dict
        Target name -> ``value``, ``target``, ``passed`` and context.
    """
    machine = max(rates.values())
    for result in models.values():
        latency = result["latency_seconds"]
        result["efficiency"] = {
            key: result["macs_per_audio_second"]
            * int(key.split("_")[-1][:-1])
            / seconds
            / machine
            for key, seconds in latency.items()
        }
    small = models["wav2small"]["latency_seconds"]
    small_ort = min(small["ort_float_10s"], small["ort_int8_10s"])
    small_runtime = (
        "ort_float"
        if small["ort_float_10s"] <= small["ort_int8_10s"]
        else "ort_int8"
    )
    targets = {}
    if "dawn" in models:
        dawn = models["dawn"]["latency_seconds"]
        # The teacher in its faster float runtime.
        candidates = {
            runtime: dawn[f"{runtime}_10s"]
            for runtime in ("pytorch", "ort_float")
            if f"{runtime}_10s" in dawn
        }
        teacher_runtime = min(candidates, key=candidates.get)
        teacher = candidates[teacher_runtime]
        speedup = teacher / small_ort
        mac_ratio = (
            models["dawn"]["macs_per_audio_second"]
            / models["wav2small"]["macs_per_audio_second"]
        )
        targets["speedup_vs_dawn"] = {
            "value": speedup,
            # speedup = MAC ratio x (student efficiency / teacher efficiency)
            "mac_ratio": mac_ratio,
            "teacher_seconds": teacher,
            "teacher_runtime": teacher_runtime,
            "wav2small_seconds": small_ort,
            "wav2small_runtime": small_runtime,
            "target": f">= {MIN_SPEEDUP_VS_TEACHER:g}x",
            "passed": speedup >= MIN_SPEEDUP_VS_TEACHER,
        }
    efficiency = models["wav2small"]["efficiency"][f"{small_runtime}_10s"]
    targets["wav2small_efficiency"] = {
        "value": efficiency,
        "runtime": small_runtime,
        "target": f">= {MIN_EFFICIENCY:.0%} of the one-thread matmul rate",
        "passed": efficiency >= MIN_EFFICIENCY,
    }
    return targets


def markdown_table(models, rates, machine_name):
    """The README table: one markdown row per model.

    Arguments
    ---------
    models : dict
        Model name -> result of :func:`measure_model` (after
        :func:`summarize`).
    rates : dict
        Library -> one-thread matmul rate.
    machine_name : str
        The CPU, for the caption.

    Returns
    -------
    str
        The caption and the table.
    """
    lines = [
        f"Machine: {machine_name}; one-thread float32 matmul: "
        + ", ".join(f"{k} {v / 1e9:.1f}" for k, v in rates.items())
        + " GMAC/s (best is the reference).",
        "",
        "| model | params | MMAC/s audio | ONNX float | ONNX int8 "
        "| PyTorch 1 s | ORT float 1 s | ORT int8 1 s "
        "| PyTorch 10 s | ORT float 10 s | ORT int8 10 s "
        "| RTF (ORT float) "
        "| memory added by a 10 s run: PyTorch / ORT float / ORT int8 "
        "| ORT int8 process peak | efficiency ORT int8 / float |",
        "|---" * 15 + "|",
    ]
    for name, r in models.items():
        lat = r["latency_seconds"]
        mem = r["peak_memory_10s_mb"]
        added = " / ".join(
            _get(mem, rt, "inference_mb", "{:.1f}") for rt in RUNTIMES
        )
        lines.append(
            f"| {name} | {r['parameters']:,} "
            f"| {r['macs_per_audio_second'] / 1e6:,.1f} "
            f"| {_size(r.get('onnx_float_bytes'))} "
            f"| {_size(r.get('onnx_int8_bytes'))} "
            + " ".join(
                f"| {_ms(lat.get(f'{rt}_{d}s'))}"
                for d in DURATIONS
                for rt in RUNTIMES
            )
            + f" | {_get(r, 'real_time_factor', 'ort_float_10s', '{:.2g}')} "
            f"| {added} MB "
            f"| {_get(mem, 'ort_int8', 'peak_rss_mb', '{:.0f} MB')} "
            f"| {_get(r, 'efficiency', 'ort_int8_10s', '{:.0%}')} "
            f"/ {_get(r, 'efficiency', 'ort_float_10s', '{:.0%}')} |"
        )
    return "\n".join(lines)


def _get(mapping, key, field, template):
    """``mapping[key][field]`` formatted by ``template``, or ``"n/a"``."""
    value = mapping.get(key, {}).get(field)
    return "n/a" if value is None else template.format(value)


def _size(count):
    """A byte count as KB or MB text (``"n/a"`` for ``None``)."""
    if count is None:
        return "n/a"
    if count >= 2**20:
        return f"{count / 2**20:,.1f} MB"
    return f"{count / 1024:,.1f} KB"


def _ms(seconds):
    """Seconds as ms (below 1 s) or s text (``"n/a"`` for ``None``)."""
    if seconds is None:
        return "n/a"
    return f"{seconds * 1000:,.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


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
    >>> parse_args(["--models", "wav2small", "--max_runs", "3"]).max_runs
    3
    >>> parse_args(["--only", "cli", "--cli_runs", "1"]).only
    'cli'
    >>> parse_args(["--only", "mobilenet_int8"]).only
    'mobilenet_int8'
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--models",
        nargs="+",
        default=list(STUDENTS) + list(TEACHERS),
        choices=list(STUDENTS) + list(TEACHERS),
    )
    parser.add_argument(
        "--student_budget",
        type=float,
        default=1.5,
        help="seconds of timed runs per student, runtime and duration",
    )
    parser.add_argument("--teacher_budget", type=float, default=2.0)
    parser.add_argument("--max_runs", type=int, default=50)
    parser.add_argument(
        "--no_streaming", action="store_true", help="skip the memory section"
    )
    parser.add_argument(
        "--no_cli", action="store_true", help="skip the CLI start-up section"
    )
    parser.add_argument(
        "--only",
        choices=("cli", "mobilenet_int8"),
        help="run only this section; it replaces that section and its "
        "target in an existing --out, whose other figures are kept "
        "(mobilenet_int8: the MobileNets of --models, all four by "
        "default)",
    )
    parser.add_argument(
        "--cli_runs",
        type=int,
        default=10,
        help="timed wav2small processes per model (CLI start-up)",
    )
    parser.add_argument(
        "--cli_cores",
        type=int,
        default=2,
        help="processors the wav2small processes may use (CLI start-up)",
    )
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks/results/inference.json"
    )
    args = parser.parse_args(argv)
    if args.cli_runs < 1 or args.cli_cores < 1:
        parser.error("--cli_runs and --cli_cores must be at least 1")
    return args


def main(argv=None):
    """Measures, prints the table and the targets, writes JSON + markdown.

    Arguments
    ---------
    argv : list of str, optional
        The arguments (``sys.argv[1:]`` by default).

    Returns
    -------
    int
        The exit status (0, whatever the verdicts).
    """
    args = parse_args(argv)
    started = time.perf_counter()
    if args.only == "cli":
        report = _read_report(args.out)
        report["cli_startup"] = _run_cli_section(args)
        report.setdefault("targets", {})[CLI_TARGET] = cli_target(
            report["cli_startup"]
        )
        _finish(report, args.out, started)
        return 0
    if args.only == "mobilenet_int8":
        names = [name for name in args.models if name in MOBILENETS]
        report = _read_report(args.out)
        torch.set_num_threads(1)
        report["mobilenet_int8"] = measure_mobilenet_int8(
            names or list(MOBILENETS), args
        )
        _finish(report, args.out, started)
        return 0
    if "wav2small" not in args.models:
        args.models.insert(0, "wav2small")
    torch.set_num_threads(1)
    rates = machine_rate()
    int8_rate = int8_matmul_rate()
    print(
        "one-thread matmul GMAC/s: "
        + ", ".join(f"{k} {v / 1e9:.1f}" for k, v in rates.items())
        + f"; int8 (onnxruntime MatMulInteger) {int8_rate / 1e9:.1f}"
    )
    workspace = Path(tempfile.mkdtemp(prefix="wav2small-inference-"))
    try:
        models = {
            name: measure_model(name, workspace, args) for name in args.models
        }
    finally:
        shutil.rmtree(workspace, ignore_errors=True)
    targets = summarize(models, rates)

    streaming = None
    if not args.no_streaming:
        import streaming_memory

        print("\n## streaming memory", flush=True)
        streaming = streaming_memory.measure()
        streaming["markdown"] = streaming_memory.markdown_table(streaming)
        peaks = [
            row["streaming"]["peak_mb"]
            for row in streaming["rows"]
            if "streaming" in row
        ]
        targets["streaming_flat_memory"] = {
            "value": peaks[-1] / peaks[0],
            "longest_over_shortest_mb": [peaks[-1], peaks[0]],
            "target": streaming["target"],
            "passed": bool(streaming["passed"]),
        }

    cli = None
    if not args.no_cli:
        cli = _run_cli_section(args)
        targets[CLI_TARGET] = cli_target(cli)

    cpu = cpu_model()
    machine_name = f"{platform.processor() or platform.machine()}"
    if cpu:
        machine_name = f"{cpu}, {os.cpu_count()} cores, 1 thread used"
    report = {
        "machine": {
            "name": machine_name,
            "cpu": cpu,
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "threads": 1,
            "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__,
            "matmul_macs_per_second": rates,
            "matmul_reference": max(rates, key=rates.get),
            "int8_matmul_macs_per_second": int8_rate,
        },
        "options": {k: str(v) for k, v in vars(args).items()},
        "models": models,
        "streaming": streaming,
        "cli_startup": cli,
        "targets": targets,
        "wall_seconds": time.perf_counter() - started,
    }
    _finish(report, args.out, started)
    return 0


def _run_cli_section(args):
    """Measures and prints the CLI start-up section."""
    print("\n## CLI start-up", flush=True)
    started = time.perf_counter()
    cli = measure_cli(args.cli_runs, args.cli_cores)
    cli["wall_seconds"] = time.perf_counter() - started
    for name in ("onnx_int8", "pytorch"):
        print(f"{name:<10} median {_ms(cli[name]['median_seconds'])}")
    return cli


def _read_report(path):
    """The report already at ``path`` (empty when there is none)."""
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise SystemExit(f"{path} is not a JSON report: {error}") from None


def report_tables(report):
    """The markdown tables of a report, each with its caption.

    Arguments
    ---------
    report : dict
        What :func:`main` writes as JSON (any section may be missing).

    Returns
    -------
    list of str
        The models table, the streaming table, the CLI start-up table and
        the MobileNets' static int8 table, those the report holds.

    Example
    -------
    >>> report_tables({"targets": {}})
    []
    """
    tables = []
    if report.get("models"):
        machine = report["machine"]
        name = machine.get("name") or (
            f"{machine.get('cpu') or machine.get('platform')}, "
            f"{machine['cpu_count']} cores, 1 thread used"
        )
        tables.append(
            markdown_table(
                report["models"], machine["matmul_macs_per_second"], name
            )
        )
    if report.get("streaming"):
        tables.append(report["streaming"]["markdown"])
    if report.get("cli_startup"):
        tables.append(cli_markdown(report["cli_startup"]))
    if report.get("mobilenet_int8"):
        tables.append(mobilenet_int8_markdown(report["mobilenet_int8"]))
    return tables


def verdict_lines(targets):
    """One line per target: PASS or MISS, its value and the target.

    Arguments
    ---------
    targets : dict
        Target name -> ``value``, ``target`` and ``passed``.

    Returns
    -------
    list of str

    Example
    -------
    >>> verdict_lines({"x": {"value": 0.5, "target": "<= 1 s",
    ...                      "passed": False}})
    ['MISS: x = 0.5 (<= 1 s)']
    """
    return [
        f"{'PASS' if t['passed'] else 'MISS'}: {name} = {t['value']:.3g} "
        f"({t['target']})"
        for name, t in targets.items()
    ]


def _finish(report, out, started):
    """Prints the tables and the verdicts; writes the JSON and the
    markdown (``.md``) beside it."""
    tables = report_tables(report)
    verdicts = verdict_lines(report.get("targets", {}))
    print("\n" + "\n\n".join(tables))
    print()
    print("\n".join(verdicts))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    markdown = out.with_suffix(".md")
    markdown.write_text(
        "\n\n".join([*tables, "\n".join(f"- {v}" for v in verdicts)]) + "\n"
    )
    print(f"\nwritten {out} and {markdown}")
    print(f"wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
