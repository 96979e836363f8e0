#!/usr/bin/env bash
# The test suite under sanitizers, without any CMakeLists change (flags go through
# CMAKE_CXX_FLAGS):
#   1. AddressSanitizer + UndefinedBehaviorSanitizer, no recovery: every test, AVX2 flavour
#      only, built into build-asan/ and run with ctest;
#   2. ThreadSanitizer: tests/test_concurrency.cpp (one model, four sessions on four threads)
#      and test_core's thread pool test, built into build-tsan/.
#
#   scripts/test-sanitizers.sh            # both
#   scripts/test-sanitizers.sh asan       # or only one of them
#   scripts/test-sanitizers.sh tsan
#
# Environment: LLMPP_JOBS (default 2), LLMPP_SHARED_DIR, LLMPP_ASAN_BUILD_DIR and
# LLMPP_TSAN_BUILD_DIR (default <repo>/build-asan and <repo>/build-tsan).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=${LLMPP_JOBS:-2}
what=${1:-all}
shared_flag=${LLMPP_SHARED_DIR:+-DLLMPP_SHARED_DIR=$LLMPP_SHARED_DIR}
# -O1: sanitizer reports keep usable stacks and the suite builds faster than at -O3.
common=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g" -DLLMPP_TEST_SCALAR=OFF
        -DLLMPP_BUILD_BENCH=OFF -DLLMPP_BUILD_EXAMPLES=OFF -DLLMPP_INSTALL=OFF ${shared_flag})

elapsed() { echo "$(( $(date +%s) - $1 )) s"; }

if [[ $what == all || $what == asan ]]; then
  build=${LLMPP_ASAN_BUILD_DIR:-$root/build-asan}
  start=$(date +%s)
  cmake -S "$root" -B "$build" "${common[@]}" \
        "-DCMAKE_CXX_FLAGS=-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" >/dev/null
  cmake --build "$build" -j "$jobs"
  echo "asan: build $(elapsed "$start")"
  start=$(date +%s)
  (cd "$build" &&
   ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1:check_initialization_order=1 \
   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
   ctest --output-on-failure -j "$jobs")
  echo "asan: ctest $(elapsed "$start")"
fi

if [[ $what == all || $what == tsan ]]; then
  build=${LLMPP_TSAN_BUILD_DIR:-$root/build-tsan}
  start=$(date +%s)
  cmake -S "$root" -B "$build" "${common[@]}" "-DCMAKE_CXX_FLAGS=-fsanitize=thread -fno-omit-frame-pointer" >/dev/null
  cmake --build "$build" -j "$jobs" --target test_concurrency test_core
  echo "tsan: build $(elapsed "$start")"
  start=$(date +%s)
  export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
  "$build/tests/test_concurrency"
  "$build/tests/test_core" --gtest_filter='ThreadPool*'
  echo "tsan: run $(elapsed "$start")"
fi
echo "sanitizer tests passed"
