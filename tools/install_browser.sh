#!/usr/bin/env bash
# What the browser test (tests/test_web.py) needs beyond the Python stack:
# Debian's Chromium at /usr/bin/chromium, and the web page's onnxruntime-web
# files (tools/build_web.sh, which needs npm and the npm registry).
#
# Best effort, run by `make test`: whatever cannot be installed here (no
# apt-get, not root, no npm, no registry) is reported in one line and the
# script still exits 0, so that `make test` goes on; the browser test then
# skips, naming what is missing and this script, except under CI (CI=true),
# where it fails instead. Quick when everything is present: nothing is
# downloaded and nothing is rebuilt.
#
# Usage: tools/install_browser.sh
set -uo pipefail
cd "$(dirname "$0")/.."

CHROMIUM=/usr/bin/chromium

apt_usable() {
    command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]
}

# The Debian package of Chromium (headless, fake microphone): the browser
# the test drives.
if [ ! -x "$CHROMIUM" ]; then
    if apt_usable; then
        echo "Installing Debian's chromium (for the browser test)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq &&
            apt-get install -y -qq --no-install-recommends chromium \
                fonts-dejavu-core >/dev/null ||
            echo "warning: apt-get could not install chromium" >&2
    else
        echo "warning: $CHROMIUM is missing and cannot be installed here" \
            "(needs root and apt-get: apt-get install chromium); the" \
            "browser test will skip" >&2
    fi
fi

# npm for the onnxruntime-web build (Debian's npm where the machine has
# none, e.g. a bare CI image).
if ! command -v npm >/dev/null 2>&1 && apt_usable; then
    echo "Installing Debian's npm (for the web page's build)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq &&
        apt-get install -y -qq --no-install-recommends npm >/dev/null ||
        echo "warning: apt-get could not install npm" >&2
fi

if command -v npm >/dev/null 2>&1; then
    bash tools/build_web.sh ||
        echo "warning: tools/build_web.sh failed: the web page has no" \
            "onnxruntime-web files and the browser test will skip" >&2
else
    echo "warning: npm is missing (install Node.js and npm), so the web" \
        "page's onnxruntime-web files cannot be built (make web); the" \
        "browser test will skip" >&2
fi
exit 0
