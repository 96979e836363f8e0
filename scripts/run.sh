#!/usr/bin/env bash
# The main job from a fresh clone: installs what is missing, builds llmpp-generate and
# generates text from the default model (stories260K). Extra arguments go to llmpp-generate.
# The model comes from ../shared when it is there; otherwise it is downloaded once from
# Hugging Face (ggml-org/models) into models/, which git ignores.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${LLMPP_BUILD_DIR:-$root/build}
"$root/scripts/install-deps.sh"

shared=${LLMPP_SHARED_DIR:-$root/../shared}
model="$shared/models/stories260K/stories260K.gguf"
if [ ! -f "$model" ]; then
  model="$root/models/stories260K.gguf"
  if [ ! -f "$model" ]; then
    mkdir -p "$root/models"
    url=https://huggingface.co/ggml-org/models/resolve/main/tinyllamas/stories260K.gguf
    echo "downloading $url" >&2
    curl -fL --retry 3 -o "$model.part" "$url"
    mv "$model.part" "$model"
  fi
fi

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DLLMPP_BUILD_TESTS=OFF -DLLMPP_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target llmpp-generate >&2
if [ $# -eq 0 ]; then set -- -p "Once upon a time" -n 200 --temp 0; fi
exec "$build/examples/llmpp-generate" -m "$model" "$@"
