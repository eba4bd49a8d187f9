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
  (``benchmarks/streaming_memory.py``, one fresh process per point).

Students are exported with :func:`speechbrain_wav2small.export.export_onnx`
(the shipped export: Wav2Small in its fast form, int8 weights) and run with
the package's session settings; their weights are random, which does not
change their cost, so the export's int8 accuracy gate is off here. The
teachers are exported with the TorchScript exporter at a fixed batch of one
and quantised with onnxruntime's dynamic int8 quantisation.

Targets (PASS/MISS, ratios from this run):

* Wav2Small (11K) in onnxruntime is >= 200x faster than the Dawn teacher
  architecture in its faster runtime, on 10 s clips, one thread;
* Wav2Small (11K) in onnxruntime reaches >= 50% of the machine's one-thread
  multiply-accumulate rate;
* streaming peak memory at 1 h within 10% (or 2 MB) of its peak at 10 s.
"""

import argparse
import contextlib
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

DURATIONS = (1, 10)
RUNTIMES = ("pytorch", "ort_float", "ort_int8")
TEACHERS = {"dawn": "dawn", "wavlm_large": "wavlm_odyssey"}
PAPER_MEMORY_MB = 9.0

#: Targets: Wav2Small in onnxruntime at least this many times faster than the
#: Dawn teacher architecture, and at least this share of the machine's
#: one-thread multiply-accumulate rate (10 s clips, one thread).
MIN_SPEEDUP_VS_TEACHER = 200.0
MIN_EFFICIENCY = 0.5


# --------------------------------------------------------------------------
# Measurement helpers


def timed_runs(run, min_runs, max_runs, budget_seconds):
    """Median and all times (s) of ``run()`` after one warm-up call.

    Runs at least ``min_runs`` and at most ``max_runs`` times, and stops
    between the two once ``budget_seconds`` have passed.

    Arguments
    ---------
    run : callable
        Called without arguments.
    min_runs, max_runs : int
        Bounds on the number of timed runs.
    budget_seconds : float
        Time after which no run beyond ``min_runs`` starts.

    Returns
    -------
    median : float
        The median time in seconds.
    times : list of float
        Every timed run's seconds.

    Example
    -------
    >>> median, times = timed_runs(lambda: None, 3, 5, budget_seconds=0.0)
    >>> len(times), median >= 0
    (3, True)
    """
    run()
    times = []
    started = time.perf_counter()
    while len(times) < max_runs and (
        len(times) < min_runs or time.perf_counter() - started < budget_seconds
    ):
        begin = time.perf_counter()
        run()
        times.append(time.perf_counter() - begin)
    return statistics.median(times), times


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
        # Real speech calibrates the static int8 Wav2Small.
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
# Report


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
        "--out", type=Path, default=REPO / "benchmarks/results/inference.json"
    )
    return parser.parse_args(argv)


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
    if "wav2small" not in args.models:
        args.models.insert(0, "wav2small")
    torch.set_num_threads(1)
    started = time.perf_counter()
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

    machine_name = f"{platform.processor() or platform.machine()}"
    cpu = _cpu_model()
    if cpu:
        machine_name = f"{cpu}, {os.cpu_count()} cores, 1 thread used"
    table = markdown_table(models, rates, machine_name)
    print("\n" + table)
    if streaming is not None:
        print("\n" + streaming["markdown"])
    print()
    for name, target in targets.items():
        verdict = "PASS" if target["passed"] else "MISS"
        print(f"{verdict}: {name} = {target['value']:.3g} ({target['target']})")
    report = {
        "machine": {
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
        "targets": targets,
        "wall_seconds": time.perf_counter() - started,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    markdown = args.out.with_suffix(".md")
    markdown.write_text(
        table
        + ("\n\n" + streaming["markdown"] if streaming else "")
        + "\n\n"
        + "\n".join(
            f"- {'PASS' if t['passed'] else 'MISS'}: {n} = {t['value']:.3g} "
            f"({t['target']})"
            for n, t in targets.items()
        )
        + "\n"
    )
    print(f"\nwritten {args.out} and {markdown}")
    print(f"wall time {time.perf_counter() - started:.0f} s")
    return 0


def _cpu_model():
    """The CPU's model name from ``/proc/cpuinfo``, or ``None``."""
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    return None


if __name__ == "__main__":
    sys.exit(main())
