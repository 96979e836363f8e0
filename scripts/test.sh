#!/usr/bin/env bash
# The whole test suite from a fresh clone: installs what is missing, builds (Release, both
# the AVX2 and the scalar flavour of every test), runs ctest, then builds and runs the two
# consumer projects (find_package after install, and add_subdirectory).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${LLMPP_BUILD_DIR:-$root/build}
jobs=${LLMPP_JOBS:-$(nproc)}
"$root/scripts/install-deps.sh"

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release ${LLMPP_SHARED_DIR:+-DLLMPP_SHARED_DIR="$LLMPP_SHARED_DIR"}
cmake --build "$build" -j "$jobs"
(cd "$build" && ctest --output-on-failure -j "$jobs")

# Consumer projects: prove find_package(llmpp) and add_subdirectory both work.
prefix="$build/install-prefix"
cmake --install "$build" --prefix "$prefix" >/dev/null
for kind in find_package add_subdirectory; do
  cbuild="$build/consumer-$kind"
  # find_package reads the installed prefix, add_subdirectory this checkout.
  if [ "$kind" = find_package ]; then where=(-DCMAKE_PREFIX_PATH="$prefix"); else where=(-DLLMPP_SOURCE_DIR="$root"); fi
  cmake -S "$root/tests/cmake_consumer/$kind" -B "$cbuild" -DCMAKE_BUILD_TYPE=Release "${where[@]}" >/dev/null
  cmake --build "$cbuild" -j "$jobs" >/dev/null
  "$cbuild/consumer"
done
echo "consumer projects: 2 passed, 0 failed"
