#!/usr/bin/env bash
# Builds every libFuzzer target (fuzz/fuzz_*.cpp) with clang, ASan and UBSan into
# build-fuzz/, writes the seed corpus (scripts/gen_fuzz_corpus.py), then runs each target for
# SECONDS (default 60). fuzz_tokenize runs once per vocabulary of the shared folder, for
# max(10, SECONDS / 4) seconds each. Fails when any target crashes, leaks, times out or
# allocates past the caps; the input that did it is in build-fuzz/artifacts/.
#
#   scripts/fuzz.sh [SECONDS]
#   LLMPP_FUZZ_TARGETS="gguf safetensors" scripts/fuzz.sh 30   # a subset
#
# Environment: LLMPP_FUZZ_BUILD_DIR (default <repo>/build-fuzz), LLMPP_JOBS (build jobs,
# default 2), LLMPP_SHARED_DIR (the shared models and tokenizers).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
build=${LLMPP_FUZZ_BUILD_DIR:-$root/build-fuzz}
jobs=${LLMPP_JOBS:-2}
shared=${LLMPP_SHARED_DIR:-$root/../shared}
start=$(date +%s)

cmake -S "$root/fuzz" -B "$build" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DLLMPP_SHARED_DIR="$shared" >/dev/null
cmake --build "$build" -j "$jobs"
python3 "$root/scripts/gen_fuzz_corpus.py" "$build/corpus" --shared "$shared"
echo "build and corpus: $(( $(date +%s) - start )) s"

# Every run starts from the seeds plus what earlier runs found (build-fuzz/corpus-found/).
fuzz_flags=(-malloc_limit_mb=2048 -rss_limit_mb=3072 -timeout=30 -print_final_stats=1)
failures=()
summary=()

# run_target NAME BINARY SECONDS CORPUS [ENV...]
run_target() {
  local name=$1 binary=$2 time=$3 corpus=$4
  shift 4
  local found="$build/corpus-found/$name" log="$build/logs/$name.log"
  mkdir -p "$found" "$build/logs" "$build/artifacts"
  local status=ok
  if ! env "$@" "$binary" "${fuzz_flags[@]}" -max_total_time="$time" \
         -artifact_prefix="$build/artifacts/$name-" "$found" "$corpus" >"$log" 2>&1; then
    status=FAILED
    failures+=("$name")
  fi
  # libFuzzer's last status line ("#N DONE cov: C ft: F corp: ...") and its final stats.
  local last execs cov ft rate
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  summary+=("$(printf '%-38s %-6s execs %-9s exec/s %-6s cov %-6s ft %s' "$name" "$status" "${execs:-?}" \
                      "${rate:-?}" "${cov:-?}" "${ft:-?}")")
  echo "${summary[-1]}"
  if [[ $status != ok ]]; then
    grep -E 'ERROR|SUMMARY|violated|Test unit written|runtime error' "$log" | head -n 12 || true
  fi
}

targets=${LLMPP_FUZZ_TARGETS:-$(cd "$build" && ls fuzz_* | grep -v '\.' | sed 's/^fuzz_//' | sort)}
for target in $targets; do
  if [[ $target == tokenize ]]; then
    per_vocab=$(( seconds / 4 > 10 ? seconds / 4 : 10 ))
    for vocab in models/stories260K/tok512.model models/stories260K/tok512.bin \
                 tokenizers/llama2-spm/tokenizer.model tokenizers/mistral-v1-spm/tokenizer.model \
                 tokenizers/llama3/tokenizer.json tokenizers/qwen3/tokenizer.json \
                 tokenizers/phi-3.5-mini/tokenizer.json tokenizers/gpt2 \
                 vocab/ggml-vocab-llama-spm.gguf vocab/ggml-vocab-phi-3.gguf vocab/ggml-vocab-gpt-2.gguf \
                 vocab/ggml-vocab-starcoder.gguf vocab/ggml-vocab-deepseek-llm.gguf; do
      [[ -e $shared/$vocab ]] || { echo "skipping tokenize over $vocab: not in $shared"; continue; }
      run_target "tokenize:${vocab//\//_}" "$build/fuzz_tokenize" "$per_vocab" "$build/corpus/tokenize" \
                 LLMPP_FUZZ_VOCAB="$shared/$vocab"
    done
  else
    run_target "$target" "$build/fuzz_$target" "$seconds" "$build/corpus/$target"
  fi
done

echo
echo "fuzz summary (${seconds} s per target, $(( $(date +%s) - start )) s in all):"
printf '  %s\n' "${summary[@]}"
if (( ${#failures[@]} > 0 )); then
  # Repeated after the summary, because a CI log is often read from its tail: what broke and
  # where in llmpp, enough to find the bug without the machine's build-fuzz/ folder.
  for name in "${failures[@]}"; do
    echo "--- $name:"
    grep -m 3 -E 'ERROR|runtime error|violated' "$build/logs/$name.log" || true
    grep -E '^ *#[0-9]+ .* in (llmpp::|LLVMFuzzerTestOneInput)' "$build/logs/$name.log" | head -n 8 |
      sed -E 's/ \(.*BuildId[^)]*\)//' || true
  done
  echo "FAILED: ${failures[*]} (logs in $build/logs, inputs in $build/artifacts)"
  exit 1
fi
echo "all fuzz targets passed"
