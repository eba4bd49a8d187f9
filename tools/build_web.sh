#!/usr/bin/env bash
# Builds the web page's runtime: installs onnxruntime-web at the version
# pinned by speechbrain_wav2small/web/package-lock.json (`npm ci`, into
# build/web/, which git ignores) and copies exactly the files listed in
# speechbrain_wav2small/web/vendor-files.txt into
# speechbrain_wav2small/web/vendor/ (git-ignored; setup.py's package_data
# puts it in a wheel built after this). The page loads the runtime from
# there only, never from a CDN.
#
# Skips all work when vendor/ already holds the files of this lockfile and
# list (a stamp records their hash). Needs npm and the npm registry.
#
# Usage: tools/build_web.sh   (or: make web)
set -euo pipefail
cd "$(dirname "$0")/.."

WEB=speechbrain_wav2small/web
VENDOR="$WEB/vendor"
BUILD=build/web
LIST="$WEB/vendor-files.txt"
FILES="$(grep -v '^#' "$LIST" | grep -v '^[[:space:]]*$')"
KEY="$(cat "$WEB/package.json" "$WEB/package-lock.json" "$LIST" \
    | sha256sum | cut -c1-16)"

up_to_date() {
    [ "$(cat "$VENDOR/.stamp" 2>/dev/null)" = "$KEY" ] || return 1
    for name in $FILES; do
        [ -s "$VENDOR/$name" ] || return 1
    done
}

if up_to_date; then
    echo "$VENDOR is up to date"
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "error: npm not found: install Node.js (18 or newer) with npm," \
        "then run make web" >&2
    exit 1
fi

echo "Building $VENDOR (npm ci in $BUILD)"
rm -rf "$BUILD"
mkdir -p "$BUILD"
cp "$WEB/package.json" "$WEB/package-lock.json" "$BUILD/"
# --ignore-scripts: the runtime is plain files; no dependency needs to run
# code at install time.
(cd "$BUILD" && npm ci --ignore-scripts --no-audit --no-fund \
    --loglevel=error)

DIST="$BUILD/node_modules/onnxruntime-web/dist"
# Copy into a fresh folder and swap it in, so that an interrupted build
# never leaves a half-filled vendor/ with a valid stamp.
rm -rf "$VENDOR.partial"
mkdir -p "$VENDOR.partial"
for name in $FILES; do
    cp "$DIST/$name" "$VENDOR.partial/$name"
done
MANIFEST="./$BUILD/node_modules/onnxruntime-web/package.json"
VERSION="$(node -p "require('$MANIFEST').version" 2>/dev/null || echo unknown)"
echo "$KEY" >"$VENDOR.partial/.stamp"
rm -rf "$VENDOR"
mv "$VENDOR.partial" "$VENDOR"
echo "$VENDOR: onnxruntime-web $VERSION ($(du -sh "$VENDOR" | cut -f1))"
