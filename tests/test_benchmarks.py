"""The benchmarks run end to end and their verdicts follow their numbers.

Short runs (Wav2Small only, few timed runs, streaming on 1-2 s files, a few
clips for the training speed): the figures themselves are the benchmarks'
business, not the tests'.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from speechbrain_wav2small.dataio.loading import loader_workers

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import inference  # noqa: E402
import streaming_memory  # noqa: E402


def run_benchmark(script, *arguments, timeout, cwd=None):
    """Runs ``benchmarks/<script>`` with ``arguments`` in a new process and
    returns the completed process (stdout and stderr captured as text)."""
    return subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / script), *arguments],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


def test_inference_benchmark_writes_every_figure(tmp_path):
    out = tmp_path / "inference.json"
    completed = run_benchmark(
        "inference.py",
        "--models",
        "wav2small",
        "--student_budget",
        "0.05",
        "--max_runs",
        "3",
        "--no_streaming",
        # The start-up section packages a model of its own; the CLI's
        # start-up is tested in test_cli_startup.py.
        "--no_cli",
        "--out",
        str(out),
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    report = json.loads(out.read_text())
    result = report["models"]["wav2small"]
    assert result["parameters"] == 10806
    assert result["macs_per_audio_second"] > 6e7
    assert result["int8"] == "static"
    assert result["onnx_int8_bytes"] < result["onnx_float_bytes"]
    for runtime in ("pytorch", "ort_float", "ort_int8"):
        for seconds in (1, 10):
            key = f"{runtime}_{seconds}s"
            assert result["latency_seconds"][key] > 0
            assert result["efficiency"][key] > 0
        assert result["peak_memory_10s_mb"][runtime]["inference_mb"] >= 0
    assert max(report["machine"]["matmul_macs_per_second"].values()) > 1e9
    target = report["targets"]["wav2small_efficiency"]
    verdict = "PASS" if target["passed"] else "MISS"
    assert f"{verdict}: wav2small_efficiency" in completed.stdout
    assert (tmp_path / "inference.md").read_text().startswith("Machine:")


def test_verdicts_agree_with_the_numbers():
    def model(macs, seconds):
        latency = {f"{rt}_10s": seconds[rt] for rt in ("pytorch", "ort_float")}
        latency["ort_int8_10s"] = seconds["ort_int8"]
        return {"macs_per_audio_second": macs, "latency_seconds": latency}

    rates = {"onnxruntime": 1e11}
    small = {"pytorch": 0.02, "ort_float": 0.012, "ort_int8": 0.008}
    for teacher_seconds, passed in ((1.59, False), (1.61, True)):
        models = {
            "wav2small": model(6.4e7, small),
            "dawn": model(
                1e10,
                {
                    "pytorch": 2.5,
                    "ort_float": teacher_seconds,
                    "ort_int8": 0.7,
                },
            ),
        }
        targets = inference.summarize(models, rates)
        speedup = targets["speedup_vs_dawn"]
        assert speedup["teacher_runtime"] == "ort_float"
        assert speedup["wav2small_runtime"] == "ort_int8"
        assert speedup["passed"] is passed
        assert speedup["passed"] == (speedup["value"] >= 200)
        # 6.4e7 MAC/s x 10 s / 8 ms / 1e11 MAC/s = 80%
        efficiency = targets["wav2small_efficiency"]
        assert abs(efficiency["value"] - 0.8) < 1e-9 and efficiency["passed"]


def test_streaming_memory_benchmark_small_run():
    report = streaming_memory.measure(
        durations=(1, 2),
        whole_clip_durations=(1,),
        default_allocator_durations=(),
    )
    rows = report["rows"]
    assert [row["seconds"] for row in rows][:2] == [1, 2]
    assert all(row["streaming"]["peak_mb"] >= 0 for row in rows)
    assert rows[0]["max_abs_output_difference"] <= 1e-4
    assert "9 MB" in streaming_memory.markdown_table(report)


def test_device_budget_small_run(tmp_path):
    """The device budget of the session's packaged int8 Wav2Small (one
    0.1 s step): every figure present, positive and consistent."""
    from fitted_students import packaged_wav2small

    built = packaged_wav2small()
    assert built["status"] == 0
    out = tmp_path / "device_budget.json"
    completed = run_benchmark(
        "device_budget.py",
        "--model",
        str(built["package"] / "model.int8.onnx"),
        "--steps",
        "0.1",
        "--out",
        str(out),
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "activations peak" in completed.stdout
    report = json.loads(out.read_text())
    activations = report["activations"]
    assert report["input_shape"] == [1, 48000]
    for value in (
        activations["peak_bytes"],
        activations["largest_tensor"]["bytes"],
        report["weights_bytes"],
        report["macs_per_second"],
        report["macs_per_second_pytorch"],
    ):
        assert value > 0
    assert activations["peak_bytes"] >= activations["largest_tensor"]["bytes"]
    assert activations["peak_bytes"] >= (
        activations["peak_int8_bytes"] + activations["peak_float32_bytes"]
    )
    whole = activations["peak_bytes"] + report["weights_bytes"]
    assert report["whole_window_bytes"] == whole
    assert report["whole_window_fits"] == (whole <= 320 * 1024)
    assert report["whole_window_excess_bytes"] == max(whole - 320 * 1024, 0)
    (step,) = report["streaming"]
    assert step["step_seconds"] == 0.1 and step["carried_state_bytes"] > 0
    assert step["total_bytes"] == (
        step["carried_state_bytes"]
        + step["step_activation_bytes_estimate"]
        + report["weights_bytes"]
    )


@pytest.mark.slow
def test_pipeline_benchmark_training_speed_section(tmp_path):
    out = tmp_path / "pipeline.json"
    completed = run_benchmark(
        "pipeline.py",
        "--sections",
        "training_speed",
        "--clips",
        "3",
        "--epochs",
        "1",
        "--out",
        str(out),
        timeout=600,
        cwd=REPO,
    )
    # Exit 1 is a MISS, which a short run on a busy machine may give.
    assert completed.returncode in (0, 1), completed.stderr[-3000:]
    section = json.loads(out.read_text())["sections"]["training_speed"]
    rates = section["audio_per_second"]
    assert rates["before"] > 0 and rates["now"] > 0
    assert section["speedup"] == pytest.approx(rates["now"] / rates["before"])
    assert section["passed"] == (section["speedup"] >= 1.5)
    verdict = "PASS" if section["passed"] else "MISS"
    assert f"{verdict}: Wav2Small trains" in completed.stdout
    assert section["runs"]["before"]["num_workers"] == 2
    assert section["runs"]["now"]["num_workers"] == loader_workers()
