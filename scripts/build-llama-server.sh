#!/usr/bin/env bash
# Build llama.cpp's server from the llama.cpp sources vendored in the installed llama-cpp-python
# (its source distribution on PyPI), into the bijou cache; prints the binary's path. Safe to run again.
# Used by `bijou export llama-server` bundles, benchmarks/llama_server_check.py and the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
VERSION=$("$PY" -c "from importlib.metadata import version; print(version('llama-cpp-python'))")
CACHE=${BIJOU_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/bijou}
TARGET="$CACHE/llama-server/$VERSION"
if [ -x "$TARGET/llama-server" ]; then echo "$TARGET/llama-server"; exit 0; fi
command -v cmake >/dev/null || "$PY" -m pip -q install cmake
CMAKE=$(command -v cmake || echo .venv/bin/cmake)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"$PY" -m pip download -q --no-deps --no-binary llama-cpp-python "llama-cpp-python==$VERSION" -d "$WORK" >&2
tar xzf "$WORK"/llama_cpp_python-*.tar.gz -C "$WORK"
SRC=$(echo "$WORK"/llama_cpp_python-*/vendor/llama.cpp)
echo "building llama-server $VERSION (a few minutes)" >&2
"$CMAKE" -S "$SRC" -B "$WORK/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF -DBUILD_SHARED_LIBS=OFF \
  -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF >"$WORK/cmake.log" 2>&1 || { tail -20 "$WORK/cmake.log" >&2; exit 1; }
"$CMAKE" --build "$WORK/build" --target llama-server -j "$(nproc)" >"$WORK/build.log" 2>&1 \
  || { tail -20 "$WORK/build.log" >&2; exit 1; }
mkdir -p "$(dirname "$TARGET")"
mkdir "$WORK/out" && cp "$WORK/build/bin/llama-server" "$WORK/out/"
mv "$WORK/out" "$TARGET"
echo "$TARGET/llama-server"
