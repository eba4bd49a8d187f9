#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment.
#
# The pinned third-party stack (about 5 GB with torch's CUDA libraries) lives
# in a shared folder keyed by the hash of constraints.txt, so that every clone
# and every CI run on this machine reuses it instead of reinstalling. Each
# clone then gets a light local .venv that sees the shared packages through a
# .pth file and holds an editable install of this package (and its console
# script). A fresh machine builds both from PyPI.
#
# Usage: tools/make_venv.sh [VENV_DIR]   (default: .venv)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
LOCAL_VENV="${1:-.venv}"
CACHE_ROOT="${W2S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/speechbrain-wav2small}"
KEY="$(sha256sum constraints.txt | cut -c1-16)"
DEPS="$CACHE_ROOT/deps-$KEY"

if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "error: $PYTHON not found; install Python 3.11 or set PYTHON=" >&2
    exit 1
fi

mkdir -p "$CACHE_ROOT"
# Two clones building the same shared environment at once would corrupt it.
exec 9>"$CACHE_ROOT/.lock-$KEY"
flock 9
if [ ! -f "$DEPS/.complete" ]; then
    echo "Installing the pinned stack into $DEPS (once per constraints.txt)"
    "$PYTHON" -m venv "$DEPS"
    "$DEPS/bin/python" -m pip install --quiet --upgrade "pip>=24"
    # Every third-party requirement of setup.py plus the dev tools, pinned.
    "$DEPS/bin/python" -m pip install --quiet -c constraints.txt \
        torch torchaudio torchvision "speechbrain>=1.1.2,<1.2" transformers \
        timm onnx onnxruntime onnxscript huggingface_hub soundfile soxr safetensors numpy tqdm \
        matplotlib scipy pytest ruff
    touch "$DEPS/.complete"
fi
flock -u 9

DEPS_SITE="$("$DEPS/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
if [ ! -x "$LOCAL_VENV/bin/python" ]; then
    "$PYTHON" -m venv "$LOCAL_VENV"
    # The editable install of this package builds with these, offline.
    "$LOCAL_VENV/bin/python" -m pip install --quiet -c constraints.txt \
        setuptools wheel
fi
LOCAL_SITE="$("$LOCAL_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$DEPS_SITE" > "$LOCAL_SITE/_w2s_shared_deps.pth"
# Console scripts of the shared stack, run by the local interpreter so that
# they see this package too.
LOCAL_PY="$(cd "$LOCAL_VENV" && pwd)/bin/python"
printf '#!/bin/sh\nexec "%s" -m pytest "$@"\n' "$LOCAL_PY" > "$LOCAL_VENV/bin/pytest"
printf '#!/bin/sh\nexec "%s" -m torch.distributed.run "$@"\n' "$LOCAL_PY" \
    > "$LOCAL_VENV/bin/torchrun"
chmod +x "$LOCAL_VENV/bin/pytest" "$LOCAL_VENV/bin/torchrun"
ln -sf "$DEPS/bin/ruff" "$LOCAL_VENV/bin/ruff"

STAMP="$LOCAL_VENV/.installed-$(cat setup.py constraints.txt | sha256sum | cut -c1-16)"
if [ ! -f "$STAMP" ]; then
    "$LOCAL_VENV/bin/python" -m pip install --quiet --no-build-isolation \
        --no-deps -e .
    # Fail loudly if setup.py asks for something the shared stack lacks.
    if problems="$("$LOCAL_VENV/bin/python" -m pip check 2>&1 \
            | grep -i '^speechbrain-wav2small')"; then
        echo "error: the pinned stack does not satisfy setup.py:" >&2
        echo "$problems" >&2
        exit 1
    fi
    rm -f "$LOCAL_VENV"/.installed-*
    touch "$STAMP"
fi

# Development and test tools (yamllint, audonnx), pinned apart from the
# shared stack.
DEV_STAMP="$LOCAL_VENV/.dev-$(sha256sum dev-requirements.txt | cut -c1-16)"
if [ ! -f "$DEV_STAMP" ]; then
    "$LOCAL_VENV/bin/python" -m pip install --quiet -r dev-requirements.txt
    rm -f "$LOCAL_VENV"/.dev-*
    touch "$DEV_STAMP"
fi
