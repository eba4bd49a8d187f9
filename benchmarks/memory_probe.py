"""Peak memory of one inference, measured in a fresh process.

Used by ``benchmarks/inference.py`` (one process per model and runtime, so
memory freed by earlier work cannot hide an allocation)::

    python benchmarks/memory_probe.py ort model.onnx 10
    python benchmarks/memory_probe.py pytorch wav2small 10

Prints one JSON line: ``setup_rss_mb`` (resident set after loading the
model, before the run: interpreter, runtime and weights), ``peak_rss_mb``
(the process's peak resident set up to the end of the run) and
``inference_mb`` (their difference: what the inference itself adds). The
ONNX path imports onnxruntime only, not PyTorch.
"""

import json
import sys
from pathlib import Path

import numpy as np

from speechbrain_wav2small import SAMPLE_RATE

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))


def status_mb(field):
    """A ``/proc/self/status`` memory field in MB.

    Arguments
    ---------
    field : str
        The field name, e.g. ``"VmRSS"`` or ``"VmHWM"``.

    Returns
    -------
    float
        Its value in MB (the file gives kB).

    Example
    -------
    >>> status_mb("VmRSS") > 0
    True
    """
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def reset_peak():
    """Sets the kernel's peak-RSS mark (``VmHWM``) to the current RSS.

    Writes ``5`` to ``/proc/self/clear_refs`` (Linux).
    """
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def load(runtime, target, threads=1):
    """A callable running one batch-1 clip (float32 [1, time]).

    Arguments
    ---------
    runtime : str
        ``"ort"`` (an ONNX file, onnxruntime only) or anything else for
        PyTorch (a model name of ``benchmarks/inference.py``).
    target : str
        The ONNX file or the model name.
    threads : int
        Threads of the runtime.

    Returns
    -------
    callable
        ``run(wavs)`` -> the model's outputs.
    """
    if runtime == "ort":
        from speechbrain_wav2small.inference.onnx_emotion import load_session

        session = load_session(target, threads)
        names = [value.name for value in session.get_inputs()]
        ones = np.ones(1, np.float32)

        def run(wavs):
            """The session's outputs, feeding only the inputs it has."""
            feed = {"wavs": wavs, "wav_lens": ones}
            return session.run(None, {k: feed[k] for k in names})

        return run
    import torch
    from inference import build_model

    torch.set_num_threads(threads)
    model = build_model(target)

    def run(wavs):
        """The model's scores for ``wavs``, in inference mode."""
        with torch.inference_mode():
            return model(torch.from_numpy(wavs))

    return run


def main(argv=None):
    """Loads, resets the peak mark, runs once, prints the JSON line.

    Arguments
    ---------
    argv : list of str, optional
        ``runtime target seconds`` (``sys.argv[1:]`` by default).
    """
    runtime, target, seconds = (argv or sys.argv[1:])[:3]
    rng = np.random.default_rng(0)
    wavs = (
        0.1 * rng.standard_normal((1, int(float(seconds) * SAMPLE_RATE)))
    ).astype(np.float32)
    run = load(runtime, target)
    setup = status_mb("VmRSS")
    reset_peak()
    run(wavs)
    peak = status_mb("VmHWM")
    print(
        json.dumps(
            {
                "setup_rss_mb": setup,
                "peak_rss_mb": peak,
                "inference_mb": peak - setup,
            }
        )
    )


if __name__ == "__main__":
    main()
