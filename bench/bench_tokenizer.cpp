// Encode throughput of the tokenizers on ~1 MB of mixed English, code and multilingual text,
// and the same text 10x longer (the time should grow 10x, not faster: no quadratic paths).
//
//   bench_tokenizer [--benchmark_filter=...]     ($LLMPP_SHARED_DIR, default ../shared)
//
// Targets: >= 10 MB/s single thread; the 10 MB case within 11x the time of the 1 MB case.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "llmpp/tokenizer/load.hpp"

namespace {

std::string shared_path(const std::string& relative) {
  if (const char* env = std::getenv("LLMPP_SHARED_DIR"); env && *env) return std::string(env) + "/" + relative;
  // bench/bench_tokenizer.cpp -> <repo>/../shared
  return (std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / "shared" / relative).string();
}

// Paragraphs of the kinds of text a model sees: prose, code, numbers, other scripts, emoji.
const char* const kSnippets[] = {
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends. ",
    "The committee's report, published on 12 March 2024, found that 37.5% of respondents preferred the new design. ",
    "In 1905 Albert Einstein published four papers that changed our understanding of space, time and matter.\n\n",
    "for (size_t i = 0; i < n_tokens; ++i) {\n    logits[i] = std::max(logits[i], -1e9f);\n}\n",
    "def fibonacci(n: int) -> int:\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n\n",
    "<div class=\"container\"><a href=\"https://example.com/path?q=1&lang=en\">Link</a></div>\n",
    "{\"name\": \"llmpp\", \"version\": \"0.1.0\", \"tags\": [\"c++\", \"llm\", \"cpu\"], \"stars\": 1234}\n",
    "Die Straßenbahn fährt über die Brücke, während die Möwen über dem Fluss kreisen. ",
    "Быстрая коричневая лиса перепрыгивает через ленивую собаку. Привет, мир! ",
    "我们的模型在中央处理器上运行，速度很快。今天天气很好，我们去公园散步吧。",
    "東京の桜は四月に満開になります。ラーメンとお寿司が大好きです。",
    "안녕하세요, 만나서 반갑습니다. 오늘은 날씨가 좋네요. ",
    "🦙🚀 Emoji time! 😀👍🏽 ❤️ 🇫🇷 ",
    "    return a_very_long_identifier_name_with_many_parts + AnotherCamelCaseIdentifier42;\n",
    "1234567890 3.14159265358979 2.71828 0xDEADBEEF 1e-12 -42 +7\n",
    "\t\tif (x == y && !z) { /* nothing */ }\n",
};

std::string mixed_text(size_t n_bytes) {
  std::mt19937 rng(12345);
  const size_t n_snippets = sizeof(kSnippets) / sizeof(kSnippets[0]);
  std::string text;
  text.reserve(n_bytes + 256);
  while (text.size() < n_bytes) text += kSnippets[rng() % n_snippets];
  return text;
}

// Loaded once per source; null when the file is not there.
const llmpp::tokenizer::Tokenizer* tokenizer_for(const std::string& relative) {
  static std::map<std::string, std::unique_ptr<llmpp::tokenizer::Tokenizer>> cache;
  auto it = cache.find(relative);
  if (it == cache.end()) {
    std::unique_ptr<llmpp::tokenizer::Tokenizer> tokenizer;
    const std::string path = shared_path(relative);
    if (std::filesystem::exists(path)) tokenizer = std::make_unique<llmpp::tokenizer::Tokenizer>(llmpp::tokenizer::load_tokenizer(path));
    it = cache.emplace(relative, std::move(tokenizer)).first;
  }
  return it->second.get();
}

void run_encode(benchmark::State& state, const std::string& source) {
  const llmpp::tokenizer::Tokenizer* tokenizer = tokenizer_for(source);
  if (!tokenizer) {
    state.SkipWithError(("missing " + shared_path(source)).c_str());
    return;
  }
  const std::string text = mixed_text(static_cast<size_t>(state.range(0)) << 20);
  size_t n_ids = 0;
  for (auto _ : state) {
    const std::vector<int32_t> ids = tokenizer->encode(text);
    n_ids = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(text.size()));
  state.counters["ids"] = static_cast<double>(n_ids);
  state.counters["bytes_per_id"] = static_cast<double>(text.size()) / static_cast<double>(n_ids);
}

void BM_EncodeLlamaSpm(benchmark::State& state) { run_encode(state, "vocab/ggml-vocab-llama-spm.gguf"); }
void BM_EncodeLlama3Json(benchmark::State& state) { run_encode(state, "tokenizers/llama3/tokenizer.json"); }

// Arg: megabytes of text. 1 MB for throughput, 10 MB for the scaling ratio.
BENCHMARK(BM_EncodeLlamaSpm)->Arg(1)->Arg(10)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_EncodeLlama3Json)->Arg(1)->Arg(10)->Unit(benchmark::kMillisecond)->MinTime(1.0);

}  // namespace

BENCHMARK_MAIN();
