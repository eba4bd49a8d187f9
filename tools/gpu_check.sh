#!/usr/bin/env bash
# The GPU check: run it on a machine with at least one CUDA device, from
# anywhere, and paste its whole output into the report.
#
#   tools/gpu_check.sh                      # default: 540 s limit for pytest
#   GPU_CHECK_TIMEOUT=300 tools/gpu_check.sh
#   tools/gpu_check.sh -k labelling         # extra pytest arguments
#
# It prints the machine (nvidia-smi, driver, CUDA, GPUs), the software
# versions (Python, torch and its CUDA/cuDNN/NCCL, SpeechBrain,
# transformers, this package, the commit), then runs tests/test_gpu.py
# under a timeout while sampling GPU use every second, and ends with the
# pytest summary, the peak GPU memory and utilisation seen, and the exit
# status (pytest's; 124 when the timeout stopped it; 3 when PyTorch sees
# no CUDA device and every test was skipped).
#
# Environment:
#   PYTHON             interpreter (default: .venv/bin/python, else python3)
#   GPU_CHECK_TIMEOUT  seconds allowed to pytest (default: 540)
#   GPU_CHECK_LOG_DIR  where pytest.log, junit.xml and gpu_samples.csv go
#                      (default: $OUT if set, else a new temporary folder)

set -u

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO" || exit 2

if [[ -n "${PYTHON:-}" ]]; then
    PY="$PYTHON"
elif [[ -x .venv/bin/python ]]; then
    PY=.venv/bin/python
else
    PY=python3
fi
LIMIT="${GPU_CHECK_TIMEOUT:-540}"
LOG_DIR="${GPU_CHECK_LOG_DIR:-${OUT:-$(mktemp -d -t gpu_check.XXXXXX)}}"
mkdir -p "$LOG_DIR"

section() {
    # A visible header between the parts of the report.
    printf '\n===== %s =====\n' "$1"
}

section "machine"
date -u '+%Y-%m-%dT%H:%M:%SZ'
uname -srm
echo "CPU cores: $(nproc 2>/dev/null || echo '?')"
echo "repository: $REPO"
echo "commit: $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')"

section "nvidia-smi"
if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi
    nvidia-smi --query-gpu=index,name,driver_version,memory.total,compute_cap \
        --format=csv
else
    echo "nvidia-smi not found"
fi

section "software"
"$PY" - <<'PYTHON'
import platform

import torch

print("python", platform.python_version())
print("torch", torch.__version__, "| built for CUDA", torch.version.cuda)
print("cudnn", torch.backends.cudnn.version())
available = torch.cuda.is_available()
print("cuda available", available, "| devices", torch.cuda.device_count())
if available:
    print("nccl", ".".join(map(str, torch.cuda.nccl.version())))
    for index in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(index)
        print(
            f"  cuda:{index} {props.name}, {props.total_memory / 2**30:.1f} "
            f"GiB, capability {props.major}.{props.minor}"
        )
    print("bf16 supported", torch.cuda.is_bf16_supported())
for name in ("speechbrain", "transformers", "timm", "speechbrain_wav2small"):
    try:
        module = __import__(name)
        print(name, getattr(module, "__version__", "?"))
    except Exception as error:  # a report line, not a failure
        print(name, "import failed:", error)
PYTHON

section "tests/test_gpu.py (limit ${LIMIT} s)"
SAMPLER_PID=""
if command -v nvidia-smi >/dev/null 2>&1; then
    # Sampled alongside the tests: evidence that the runs used the GPU.
    nvidia-smi --query-gpu=index,utilization.gpu,memory.used \
        --format=csv,noheader,nounits -l 1 >"$LOG_DIR/gpu_samples.csv" &
    SAMPLER_PID=$!
fi
START=$(date +%s)
timeout --kill-after=20 "$LIMIT" "$PY" -m pytest -q -rs -p no:cacheprovider \
    --junitxml="$LOG_DIR/junit.xml" tests/test_gpu.py "$@" 2>&1 |
    tee "$LOG_DIR/pytest.log"
STATUS=${PIPESTATUS[0]}
ELAPSED=$(($(date +%s) - START))
if [[ -n "$SAMPLER_PID" ]]; then
    kill "$SAMPLER_PID" 2>/dev/null
    wait "$SAMPLER_PID" 2>/dev/null
fi

section "summary"
echo "pytest wall time: ${ELAPSED} s (limit ${LIMIT} s)"
if [[ -s "$LOG_DIR/gpu_samples.csv" ]]; then
    awk -F', *' '
        { if ($2 > util[$1]) util[$1] = $2; if ($3 > mem[$1]) mem[$1] = $3 }
        END { for (g in util) printf "GPU %s: peak utilisation %s %%, peak memory used %s MiB\n", g, util[g], mem[g] }
    ' "$LOG_DIR/gpu_samples.csv" | sort
fi
echo "logs: $LOG_DIR"
if [[ "$STATUS" -eq 0 ]] && grep -q "no CUDA device" "$LOG_DIR/pytest.log"; then
    # Everything skipped: on the machine meant for this check, a failure.
    echo "RESULT: NOT RUN, PyTorch sees no CUDA device (exit 3)"
    STATUS=3
elif [[ "$STATUS" -eq 124 || "$STATUS" -eq 137 ]]; then
    echo "RESULT: TIMEOUT after ${LIMIT} s (exit $STATUS)"
elif [[ "$STATUS" -eq 0 ]]; then
    echo "RESULT: PASS (exit 0)"
else
    echo "RESULT: FAIL (exit $STATUS)"
fi
exit "$STATUS"
