// llmpp-bench: prompt processing (ppN) and text generation (tgN) speed, modelled on llama-bench.
// Every figure is also given as a share of a ceiling measured in the same run: pp as a share of the
// FP32 FMA peak (FLOPs of the prompt ÷ seconds ÷ peak) of the build's widest vectors, measured with
// the largest thread count of -t just before the model is loaded; tg as a share of the memory read
// bandwidth (bytes of weights and KV cache read per token × tokens/s ÷ bandwidth), the bandwidth
// measured with the run's own threads around each 16-token segment, since on a shared host it
// jumps between levels within seconds (34 and 60 GB/s on the same 2-core VM), and the share is
// the mean of the repetitions' own shares. Beside each tg figure, a plain AVX2 sum over the same
// weights, run between the token segments: its share of the ceiling measured the same way (what
// the measurement gives a pure read), and the tokens' bytes/s over its own (decode against a read
// of its weights in the same run). As in llama-bench, -d starts each test with that many tokens in the KV cache
// ("tg128 @ d4096"), and -ctk / -ctv choose the cache's type.

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "llmpp/io/gguf_writer.hpp"
#include "llmpp/model/model.hpp"
#include "synthetic_model.hpp"

namespace {

struct Args {
  std::vector<std::string> models;      // paths
  std::vector<std::string> synthetic;   // NAME:TYPE
  std::vector<int> threads;
  int n_prompt = 512;
  int n_gen = 128;
  std::vector<int> depths;  // -d: tokens already in the KV cache when a test starts (llama-bench's n_depth)
  std::vector<llmpp::DType> cache_types;  // -ctk / -ctv: keys and values share one type
  int repetitions = 5;
  std::string output = "md";
  std::string write_gguf;  // write the (first) synthetic model to this GGUF file and exit
};

[[noreturn]] void fail(const std::string& message) {
  std::fprintf(stderr, "llmpp-bench: error: %s\n", message.c_str());
  std::exit(1);
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(item);
  return out;
}

int to_int(const std::string& flag, const std::string& text) {
  char* end = nullptr;
  const long v = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || v < 0 || v > 1 << 20) fail("invalid value '" + text + "' for " + flag);
  return static_cast<int>(v);
}

// A -ctk / -ctv list: f32 or f16 each (llama.cpp's names).
std::vector<llmpp::DType> to_cache_types(const std::string& flag, const std::string& text) {
  std::vector<llmpp::DType> types;
  for (const std::string& name : split(text)) {
    if (name == "f32") types.push_back(llmpp::DType::F32);
    else if (name == "f16") types.push_back(llmpp::DType::F16);
    else fail("invalid value '" + name + "' for " + flag + " (the KV cache holds f32 or f16)");
  }
  if (types.empty()) fail("missing value for " + flag);
  return types;
}

Args parse_args(int argc, char** argv) {
  Args args;
  std::vector<llmpp::DType> types_k, types_v;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) fail("missing value for " + flag);
      return argv[++i];
    };
    if (flag == "-m") for (auto& m : split(value())) args.models.push_back(m);
    else if (flag == "--synthetic") for (auto& s : split(value())) args.synthetic.push_back(s);
    else if (flag == "-t") for (auto& t : split(value())) args.threads.push_back(to_int(flag, t));
    else if (flag == "-p") args.n_prompt = to_int(flag, value());
    else if (flag == "-n") args.n_gen = to_int(flag, value());
    else if (flag == "-d" || flag == "--n-depth") for (auto& d : split(value())) args.depths.push_back(to_int(flag, d));
    else if (flag == "-ctk" || flag == "--cache-type-k") types_k = to_cache_types(flag, value());
    else if (flag == "-ctv" || flag == "--cache-type-v") types_v = to_cache_types(flag, value());
    else if (flag == "-r") args.repetitions = std::max(1, to_int(flag, value()));
    else if (flag == "-o") args.output = value();
    else if (flag == "--write-gguf") args.write_gguf = value();
    else if (flag == "-h" || flag == "--help") {
      std::printf(
          "usage: llmpp-bench [-m PATH[,PATH]] [--synthetic NAME:TYPE[,...]] [-t N[,N]] [-p 512] [-n 128] [-r 5] "
          "[-d 0[,N]] [-ctk f32|f16[,...]] [-ctv f32|f16[,...]] [-o md|json] [--write-gguf OUT.gguf]\n"
          "  -d: tokens in the KV cache before each test; -ctk/-ctv: the KV cache's type (keys and values alike)\n"
          "  synthetic models: tinyllama-1.1b, llama2-7b, mistral-7b, moe-small\n"
          "  types: F32, F16, BF16, Q8_0, Q4_0, Q2_K, Q3_K, Q4_K, Q4_K_M\n");
      std::exit(0);
    } else fail("unknown flag '" + flag + "'");
  }
  if (args.models.empty() && args.synthetic.empty()) args.synthetic.push_back("tinyllama-1.1b:Q4_0");
  if (args.threads.empty()) args.threads.push_back(llmpp::ThreadPool::default_threads());
  if (args.depths.empty()) args.depths.push_back(0);
  // llmpp keeps keys and values in one type, so the two lists must agree (either may be left out).
  if (!types_k.empty() && !types_v.empty() && types_k != types_v)
    fail("-ctk and -ctv must name the same types: llmpp keeps keys and values in one type");
  args.cache_types = !types_k.empty() ? types_k : types_v;
  if (args.cache_types.empty()) args.cache_types.push_back(llmpp::DType::F32);
  if (args.output != "md" && args.output != "json") fail("-o takes md or json");
  return args;
}

// Calls add(matrix, share) for every matrix a token is multiplied by, share being the fraction
// of tokens that use it: 1, or n_experts_per_tok / n_experts for a MoE expert's matrices.
template <typename Add>
void for_each_token_matrix(const llmpp::Model& model, Add&& add) {
  const llmpp::ModelConfig& c = model.config();
  for (const llmpp::LayerWeights& layer : model.weights().layers) {
    for (const llmpp::TensorView* m : {&layer.wq, &layer.wk, &layer.wv, &layer.wo}) add(*m, 1.0);
    if (c.is_moe()) {
      add(layer.moe.router, 1.0);
      const double share = static_cast<double>(c.n_experts_per_tok) / c.n_experts;
      for (const auto& e : layer.moe.experts)
        for (const llmpp::TensorView* m : {&e.gate, &e.up, &e.down}) add(*m, share);
    } else {
      for (const llmpp::TensorView* m : {&layer.ffn.gate, &layer.ffn.up, &layer.ffn.down}) add(*m, 1.0);
    }
  }
}

// Bytes of weights one decoded token reads: every matrix once (only the active experts of
// a MoE layer), the output head, and one embedding row.
uint64_t weight_bytes_per_token(const llmpp::Model& model) {
  const llmpp::ModelWeights& w = model.weights();
  double matrices = 0.0;
  for_each_token_matrix(model, [&](const llmpp::TensorView& m, double share) { matrices += share * m.nbytes; });
  return w.output.nbytes + w.token_embd.row_stride() + static_cast<uint64_t>(std::llround(matrices));
}

// The bytes of weight_bytes_per_token as spans of memory, for the streaming read that tg is
// compared with: every matrix of for_each_token_matrix, a MoE expert's over the first `share`
// of its bytes (so that the experts add up to the bytes of a token's active ones), and the
// output head (the one embedding row is left out).
std::vector<llmpp::bench::ByteSpan> token_weight_spans(const llmpp::Model& model) {
  std::vector<llmpp::bench::ByteSpan> spans;
  const auto add = [&](const llmpp::TensorView& m, double share) {
    const auto bytes = static_cast<uint64_t>(std::llround(share * static_cast<double>(m.nbytes)));
    if (m.data && bytes > 0) spans.push_back({static_cast<const uint8_t*>(m.data), bytes});
  };
  for_each_token_matrix(model, add);
  add(model.weights().output, 1.0);
  return spans;
}

// Keys the token at `position` attends to: every one before it and itself, or its window's.
int64_t keys_seen(const llmpp::ModelConfig& c, int64_t position) {
  return c.sliding_window > 0 ? std::min<int64_t>(position + 1, c.sliding_window) : position + 1;
}

// FLOPs of one forward pass over an n-token prompt that follows `depth` tokens already in the
// KV cache (2 per multiply-add): every matrix once per token (the active experts of a MoE
// layer), the attention scores and weighted values of each head over the positions each token
// sees, and the output head once (only the last token's logits are computed).
double prompt_flops(const llmpp::Model& model, int64_t n, int64_t depth) {
  const llmpp::ModelConfig& c = model.config();
  double per_token = 0.0;
  for_each_token_matrix(model, [&](const llmpp::TensorView& m, double share) {
    per_token += share * static_cast<double>(m.n_elements());
  });
  double positions_seen = 0.0;  // sum over the prompt's tokens of the keys each attends to
  for (int64_t i = depth; i < depth + n; ++i)
    positions_seen += static_cast<double>(keys_seen(c, i));
  const double attention = 2.0 * c.n_heads * c.head_dim() * positions_seen * c.n_layers;  // q.k and p.v
  return 2.0 * (per_token * static_cast<double>(n) + attention +
                static_cast<double>(model.weights().output.n_elements()));
}

uint64_t model_bytes(const llmpp::Model& model) {
  uint64_t bytes = weight_bytes_per_token(model) - model.weights().token_embd.row_stride();
  if (model.weights().output.data != model.weights().token_embd.data) bytes += model.weights().token_embd.nbytes;
  return bytes;
}

struct Stat {
  double mean = 0, stddev = 0;
};
Stat stats(const std::vector<double>& v) {
  Stat s;
  for (double x : v) s.mean += x;
  s.mean /= static_cast<double>(v.size());
  for (double x : v) s.stddev += (x - s.mean) * (x - s.mean);
  s.stddev = v.size() > 1 ? std::sqrt(s.stddev / static_cast<double>(v.size() - 1)) : 0.0;
  return s;
}

struct Row {
  std::string model, type;
  double size_gib;
  int threads;
  std::string cache;  // the KV cache's type: f32 or f16
  int depth;          // tokens in the cache when the test starts
  std::string test;
  Stat tokens_per_second;
  double bandwidth_share;  // tg only; < 0 for pp
  double fma_share;        // pp only; < 0 for tg
  // Bytes/s and FLOP/s: for tg the mean of the bandwidths measured before its repetitions,
  // else the ceilings measured before this model.
  double bandwidth, fma_peak;
  // tg only (< 0 for pp): the streaming sum's share of its ceiling, and the tokens' bytes/s
  // over the sum's (the tg loop says how both are measured).
  double read_share = -1.0, of_read = -1.0;
};

// One "Name: N kB" field of /proc/self/status, in KiB (-1 when absent).
long status_kib(const char* format) {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long kib = -1;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, format, &kib) == 1) break;
  std::fclose(f);
  return kib;
}

// Current resident set (VmRSS) and its high-water mark since the last reset (VmHWM), in KiB.
long current_rss_kib() { return status_kib("VmRSS: %ld kB"); }
long peak_rss_kib() { return status_kib("VmHWM: %ld kB"); }

// Sets the high-water mark back to the current RSS ("5" to /proc/self/clear_refs, Linux
// 4.0+), so that each model's peak leaves out the bandwidth probe's 1 GiB buffer and the
// models measured before it.
void reset_peak_rss() {
  if (std::FILE* f = std::fopen("/proc/self/clear_refs", "w")) {
    std::fputs("5", f);
    std::fclose(f);
  }
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Writes a synthetic model as a llama GGUF with the project's writer (tensors as raw bytes).
void write_synthetic_gguf(const std::string& spec, const std::string& path) {
  const llmpp::io::ModelFiles files = llmpp::bench::synthetic_model_files(spec);
  const llmpp::ModelConfig& c = files.config;
  llmpp::io::GGUFWriter writer;
  writer.add("general.architecture", "llama");
  writer.add("general.name", "llmpp synthetic " + spec);
  writer.add("llama.context_length", static_cast<uint32_t>(c.n_ctx_train));
  writer.add("llama.embedding_length", static_cast<uint32_t>(c.dim));
  writer.add("llama.block_count", static_cast<uint32_t>(c.n_layers));
  writer.add("llama.feed_forward_length", static_cast<uint32_t>(c.ffn_dim));
  writer.add("llama.attention.head_count", static_cast<uint32_t>(c.n_heads));
  writer.add("llama.attention.head_count_kv", static_cast<uint32_t>(c.n_kv_heads));
  writer.add("llama.attention.layer_norm_rms_epsilon", c.norm_eps);
  writer.add("llama.rope.freq_base", c.rope_theta);
  writer.add("llama.rope.dimension_count", static_cast<uint32_t>(c.head_dim()));
  writer.add("llama.vocab_size", static_cast<uint32_t>(c.n_vocab));
  // llama.cpp's name for a model without a vocabulary (it then takes llama.vocab_size dummy
  // tokens), so that its llama-bench reads the same file for a comparison on one machine.
  writer.add("tokenizer.ggml.model", "no_vocab");
  if (c.is_moe()) {
    writer.add("llama.expert_count", static_cast<uint32_t>(c.n_experts));
    writer.add("llama.expert_used_count", static_cast<uint32_t>(c.n_experts_per_tok));
  }
  const auto& weights = static_cast<const llmpp::bench::SyntheticWeights&>(*files.weights);
  for (const auto& [name, t] : weights.tensors()) {
    std::vector<int64_t> ne(t.ne.begin(), t.ne.begin() + t.n_dims);
    writer.add_tensor(name, t.type, ne, t.data, t.nbytes);
  }
  writer.write(path);
}

// Load figures of a model file: time to map and bind it vs. time to read the file once,
// and resident memory after loading and after generating 16 tokens.
void report_load(const std::string& path, int n_threads) {
  // Reading the file once (from the page cache when it is warm) is the yardstick. It reads
  // through a mapping, one byte per page, as decoding will: fread would fill a cold page cache
  // with read-ahead's small folios, which the model's mapping then gets instead of the 2 MiB
  // ones its faults bring in (core/mmap.hpp; 42% instead of all of a 590 MiB file mapped by
  // 2 MiB entries).
  auto start = std::chrono::steady_clock::now();
  uint64_t file_bytes = 0;
  const auto read_file = [&](const std::string& file_path) {
    const llmpp::MappedFile file(file_path);
    volatile uint8_t sink = 0;
    for (uint64_t offset = 0; offset < file.size(); offset += 4096) sink = sink + file.data()[offset];
    file_bytes += file.size();
  };
  if (std::filesystem::is_directory(path)) {  // a Hugging Face folder: every file in it
    for (const auto& entry : std::filesystem::directory_iterator(path))
      if (entry.is_regular_file()) read_file(entry.path().string());
  } else {
    read_file(path);
  }
  const double read_s = seconds_since(start);
  const long rss_before = current_rss_kib();
  start = std::chrono::steady_clock::now();
  auto model = llmpp::Model::load(path);
  const double load_s = seconds_since(start);
  const long rss_loaded = current_rss_kib();
  llmpp::ThreadPool pool(n_threads);
  llmpp::StateOptions options;
  options.n_ctx = 64;
  llmpp::InferenceState state = model->new_state(options);
  std::vector<float> logits(static_cast<size_t>(model->config().n_vocab));
  int32_t token = 1;
  for (int i = 0; i < 16; ++i) {
    model->forward(state, &token, 1, logits.data(), false, &pool);
    token = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  }
  const long rss_generated = current_rss_kib();
  const double mib = 1024.0 * 1024.0;
  // To stderr, so that stdout stays one table or one JSON document.
  std::fprintf(stderr,
               "load: %s: file %.1f MiB; read once %.1f ms; Model::load %.2f ms (%.2f%% of the read); "
               "RSS before %.1f MiB, after load %.1f MiB, after 16 tokens %.1f MiB (peak %.1f MiB); KV cache %.1f MiB; "
               "budget file + KV + 64 MiB = %.1f MiB\n",
               path.c_str(), file_bytes / mib, read_s * 1e3, load_s * 1e3, 100.0 * load_s / read_s, rss_before / 1024.0,
               rss_loaded / 1024.0, rss_generated / 1024.0, peak_rss_kib() / 1024.0, state.cache.bytes() / mib,
               (file_bytes + state.cache.bytes()) / mib + 64.0);
}

// One model's tests and what they add up: its peak RSS before the latest probe reset it, and
// its largest KV cache.
struct ModelUnderTest {
  const llmpp::Model& model;
  std::string label, type;
  double size_gib;
  double bandwidth, fma_peak;  // measured just before the model was loaded
  uint64_t kv_bytes = 0;
  long peak_kib = 0;
};

// Bytes of the KV cache that decoding the token at `position` reads: the keys and values of
// every position it attends to, in every layer.
double kv_bytes_read(const llmpp::ModelConfig& c, llmpp::DType cache_type, int64_t position) {
  return 2.0 * static_cast<double>(llmpp::layers::KVCache::element_bytes_of(cache_type)) * c.n_layers * c.kv_dim() *
         static_cast<double>(keys_seen(c, position));
}

// ppN and tgN of one model with `pool`'s threads and a `cache_type` KV cache that holds
// `depth` tokens when each repetition starts (llama-bench's "pp512 @ d4096").
void run_tests(ModelUnderTest& m, const Args& args, llmpp::ThreadPool& pool, llmpp::DType cache_type, int depth,
               std::vector<Row>& rows) {
  const llmpp::Model& model = m.model;
  const llmpp::ModelConfig& c = model.config();
  std::mt19937 rng(1234);
  std::vector<int32_t> tokens(static_cast<size_t>(std::max(args.n_prompt, 1)));  // the prompt, then tg's first
  for (auto& t : tokens) t = static_cast<int32_t>(rng() % static_cast<uint32_t>(c.n_vocab));
  std::vector<int32_t> context(static_cast<size_t>(depth));  // what the cache holds before each test
  for (auto& t : context) t = static_cast<int32_t>(rng() % static_cast<uint32_t>(c.n_vocab));
  std::vector<float> logits(static_cast<size_t>(c.n_vocab));

  llmpp::StateOptions options;
  options.n_ctx = depth + args.n_prompt + args.n_gen + 1;
  options.kv_cache_type = cache_type;
  // The prompt goes in the library's default blocks (256 tokens): pp512 is as fast as in
  // one block of 512 (Q4_0 34.2 vs 33.6 t/s, Q4_K_M 38.2 vs 37.8) with half the
  // activation buffers, which a 512-token block made exceed 10% of a 0.6 GB model.
  if (args.n_prompt > 0) options.max_block = std::min(args.n_prompt, options.max_block);
  llmpp::InferenceState state = model.new_state(options);
  m.kv_bytes = std::max<uint64_t>(m.kv_bytes, state.cache.bytes());
  // Each repetition starts from the same `depth` tokens: the cache is cut back to them, or, where
  // a rolling (sliding-window) cache would have overwritten some, filled again.
  const bool can_cut_back = !state.cache.rolling() ||
                            int64_t{depth} + std::max(args.n_prompt, args.n_gen) <= state.cache.capacity();
  bool filled = false;
  const auto start_at_depth = [&] {
    if (filled && can_cut_back) {
      state.cache.truncate(depth);
      return;
    }
    state.cache.clear();
    if (depth > 0) model.forward(state, context.data(), depth, logits.data(), false, &pool);
    filled = true;
  };
  const std::string at_depth = depth > 0 ? " @ d" + std::to_string(depth) : "";
  const std::string cache = cache_type == llmpp::DType::F16 ? "f16" : "f32";

  if (args.n_prompt > 0) {
    std::vector<double> speeds;
    for (int r = 0; r <= args.repetitions; ++r) {  // the first run warms up and is not counted
      start_at_depth();
      const auto start = std::chrono::steady_clock::now();
      model.forward(state, tokens.data(), args.n_prompt, logits.data(), false, &pool);
      const double s = seconds_since(start);
      if (r > 0) speeds.push_back(args.n_prompt / s);
    }
    const Stat st = stats(speeds);
    const double flops_per_second = prompt_flops(model, args.n_prompt, depth) / args.n_prompt * st.mean;
    rows.push_back({m.label, m.type, m.size_gib, pool.size(), cache, depth, "pp" + std::to_string(args.n_prompt) + at_depth,
                    st, -1.0, flops_per_second / m.fma_peak, m.bandwidth, m.fma_peak});
  }
  if (args.n_gen > 0) {
    // The ceiling follows the tokens: this host's bandwidth flips between states within
    // seconds, so one probe before a repetition can catch another state than its tokens
    // ran in (shares of 108% and 48% in one run). The tokens run in segments of
    // kTokensPerProbe with a short probe (256 MiB, best of 3 passes: within 2% of 1 GiB,
    // best of 5) on each side; a segment's ceiling is the larger of its two probes, and
    // the share is the bytes read over the time-weighted ceiling,
    // sum(bytes) / sum(segment seconds x segment ceiling). Probe time is not token time.
    // After each segment, a plain streaming sum reads the same weights as many times
    // (bench::read_spans_seconds), between probes of its own: its share of the ceiling,
    // measured the same way, shows what this measurement gives a pure read (a best-of-3
    // probe and the larger of two put it under 100%), and the tokens' bytes/s over the
    // sum's, their segments interleaved, is decode's rate against a read of its weights.
    // A token's bytes are the weights' and the KV cache entries it attends to (kv_bytes_read);
    // the sum reads the weights only.
    constexpr int kTokensPerProbe = 16;
    const auto probe = [&] {
      m.peak_kib = std::max(m.peak_kib, peak_rss_kib());
      const double b = llmpp::bench::measure_read_bandwidth(pool, size_t{256} << 20, 3);
      reset_peak_rss();  // the probe's buffer is not the model's memory
      return b;
    };
    const double weight_bytes = static_cast<double>(weight_bytes_per_token(model));
    const std::vector<llmpp::bench::ByteSpan> spans = token_weight_spans(model);
    double span_bytes = 0;
    for (const auto& span : spans) span_bytes += static_cast<double>(span.bytes);
    double bytes = 0;  // one repetition's
    for (int i = 0; i < args.n_gen; ++i) bytes += weight_bytes + kv_bytes_read(c, cache_type, int64_t{depth} + i);
    std::vector<double> speeds, shares, bandwidths, read_shares, of_read;
    double before = 0;  // the probe before the next segment: a repetition's last serves the next one
    for (int r = 0; r <= args.repetitions; ++r) {  // the first run warms up and is not counted
      start_at_depth();
      int32_t token = tokens[0];
      double seconds = 0, ceiling_seconds = 0;  // token time; sum of segment seconds x ceiling
      double read_seconds = 0, read_ceiling_seconds = 0;  // the same for the streaming sum
      if (r == 1) before = probe();
      for (int first = 0; first < args.n_gen; first += kTokensPerProbe) {
        const int n = std::min(kTokensPerProbe, args.n_gen - first);
        const auto start = std::chrono::steady_clock::now();
        for (int i = 0; i < n; ++i) {
          model.forward(state, &token, 1, logits.data(), false, &pool);
          token = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
        }
        const double s = seconds_since(start);
        seconds += s;
        if (r > 0) {
          const double after = probe();
          ceiling_seconds += s * std::max(before, after);
          double read_s = 0;
          for (int i = 0; i < n; ++i) read_s += llmpp::bench::read_spans_seconds(pool, spans);
          read_seconds += read_s;
          const double after_read = probe();
          read_ceiling_seconds += read_s * std::max(after, after_read);
          before = after_read;
        }
      }
      if (r > 0) {
        speeds.push_back(args.n_gen / seconds);
        bandwidths.push_back(ceiling_seconds / seconds);
        shares.push_back(bytes / ceiling_seconds);
        read_shares.push_back(span_bytes * args.n_gen / read_ceiling_seconds);
        of_read.push_back((bytes / seconds) / (span_bytes * args.n_gen / read_seconds));
        std::fprintf(stderr,
                     "llmpp-bench: %s tg%d%s repetition %d: %.2f t/s, bandwidth %.1f GB/s, share %.0f%%; "
                     "a streaming sum over the same weights: %.1f GB/s, share %.0f%%; "
                     "tokens at %.0f%% of its rate\n",
                     m.label.c_str(), args.n_gen, at_depth.c_str(), r, speeds.back(), bandwidths.back() / 1e9,
                     100 * shares.back(), span_bytes * args.n_gen / read_seconds / 1e9, 100 * read_shares.back(),
                     100 * of_read.back());
      }
    }
    rows.push_back({m.label, m.type, m.size_gib, pool.size(), cache, depth, "tg" + std::to_string(args.n_gen) + at_depth,
                    stats(speeds), stats(shares).mean, -1.0, stats(bandwidths).mean, m.fma_peak,
                    stats(read_shares).mean, stats(of_read).mean});
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse_args(argc, argv);
  if (!args.write_gguf.empty()) {
    try {
      if (args.synthetic.empty()) fail("--write-gguf needs --synthetic NAME:TYPE");
      write_synthetic_gguf(args.synthetic.front(), args.write_gguf);
      std::fprintf(stderr, "llmpp-bench: wrote %s to %s\n", args.synthetic.front().c_str(), args.write_gguf.c_str());
    } catch (const std::exception& e) {
      fail(e.what());
    }
    return 0;
  }
  for (const auto& m : args.models) {
    try {
      report_load(m, args.threads.front());
    } catch (const std::exception& e) {
      fail(e.what());
    }
  }
  std::vector<Row> rows;
  struct Memory {
    std::string model;
    double peak_mib, weights_mib, kv_mib;
  };
  std::vector<Memory> memory;  // one per model
  double bandwidth = 0, fma_peak = 0;  // the latest measurement
  double bandwidth_at_start = 0, fma_peak_at_start = 0;
  try {
    const int max_threads = *std::max_element(args.threads.begin(), args.threads.end());
    const auto measure_ceilings = [&](const std::string& before) {
      llmpp::ThreadPool probe(max_threads);
      bandwidth = llmpp::bench::measure_read_bandwidth(probe);
      fma_peak = llmpp::bench::measure_fma_peak(probe);
      std::fprintf(stderr,
                   "llmpp-bench: memory read bandwidth %.1f GB/s, FP32 FMA peak %.1f GFLOP/s (%d threads, before %s)\n",
                   bandwidth / 1e9, fma_peak / 1e9, max_threads, before.c_str());
    };
    std::vector<std::pair<std::string, std::string>> specs;  // (label, what)
    for (const auto& m : args.models) specs.push_back({m, "file"});
    for (const auto& s : args.synthetic) specs.push_back({s, "synthetic"});
    for (const auto& [label, kind] : specs) {
      measure_ceilings(label);
      if (bandwidth_at_start == 0) {  // the first model's
        bandwidth_at_start = bandwidth;
        fma_peak_at_start = fma_peak;
      }
      reset_peak_rss();  // after the measurement: its buffer is not the model's memory
      std::shared_ptr<llmpp::Model> model =
          kind == "file" ? llmpp::Model::load(label)
                         : std::make_shared<llmpp::Model>(llmpp::bench::synthetic_model_files(label));
      ModelUnderTest m{*model,
                       label,
                       kind == "file" ? std::string(llmpp::dtype_name(model->weights().layers[0].wq.type))
                                      : label.substr(label.find(':') + 1),
                       static_cast<double>(model_bytes(*model)) / (1u << 30),
                       bandwidth,
                       fma_peak};
      for (int n_threads : args.threads) {
        llmpp::ThreadPool pool(n_threads);
        for (const llmpp::DType cache_type : args.cache_types)
          for (const int depth : args.depths) run_tests(m, args, pool, cache_type, depth, rows);
      }
      // Issue 6's memory bound: peak RSS at most (weights + KV cache) + 10%.
      const double weights_mib = static_cast<double>(model_bytes(*model)) / (1 << 20);
      const double kv_mib = static_cast<double>(m.kv_bytes) / (1 << 20);
      memory.push_back({label, std::max(m.peak_kib, peak_rss_kib()) / 1024.0, weights_mib, kv_mib});
    }
  } catch (const std::exception& e) {
    fail(e.what());
  }
  const double rss_mib = memory.empty() ? 0.0
                                        : std::max_element(memory.begin(), memory.end(), [](const Memory& a, const Memory& b) {
                                            return a.peak_mib < b.peak_mib;
                                          })->peak_mib;
  if (args.output == "md") {
    const auto percent = [](double share) {
      return share >= 0 ? std::to_string(static_cast<int>(std::lround(share * 100))) + "%" : std::string();
    };
    // As llama-bench, the KV cache's type gets a column only when a run asks for other than the default.
    const bool cache_column = args.cache_types != std::vector<llmpp::DType>{llmpp::DType::F32};
    std::printf("| model | type | size GiB | threads |%s test | t/s | share of bandwidth ceiling | share of FMA peak "
                "| bandwidth GB/s | FMA peak GFLOP/s | plain sum of the weights: share of ceiling "
                "| t/s over the plain sum's rate |\n",
                cache_column ? " KV cache |" : "");
    std::printf("|---|---|---:|---:|%s---|---:|---:|---:|---:|---:|---:|---:|\n", cache_column ? "---|" : "");
    for (const Row& r : rows) {
      const std::string cache = cache_column ? " " + r.cache + " |" : "";
      std::printf("| %s | %s | %.2f | %d |%s %s | %.2f ± %.2f | %s | %s | %.1f | %.1f | %s | %s |\n", r.model.c_str(),
                  r.type.c_str(), r.size_gib, r.threads, cache.c_str(), r.test.c_str(), r.tokens_per_second.mean,
                  r.tokens_per_second.stddev, percent(r.bandwidth_share).c_str(), percent(r.fma_share).c_str(),
                  r.bandwidth / 1e9, r.fma_peak / 1e9, percent(r.read_share).c_str(), percent(r.of_read).c_str());
    }
    std::printf("\nmemory read bandwidth at start: %.1f GB/s; FP32 FMA peak at start: %.1f GFLOP/s "
                "(each row's own in the table); peak RSS: %.0f MiB\n",
                bandwidth_at_start / 1e9, fma_peak_at_start / 1e9, rss_mib);
    for (const Memory& m : memory)
      std::printf("peak RSS %s: %.1f MiB; weights %.1f MiB + KV cache %.1f MiB, + 10%% = %.1f MiB\n", m.model.c_str(),
                  m.peak_mib, m.weights_mib, m.kv_mib, 1.1 * (m.weights_mib + m.kv_mib));
  } else {
    std::printf("{\n  \"bandwidth_gb_s\": %.3f,\n  \"fma_peak_gflop_s\": %.3f,\n  \"peak_rss_mib\": %.1f,\n  \"results\": [\n",
                bandwidth_at_start / 1e9, fma_peak_at_start / 1e9, rss_mib);
    const auto share_or_null = [](double share) { return share >= 0 ? std::to_string(share) : std::string("null"); };
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      std::printf("    {\"model\": \"%s\", \"type\": \"%s\", \"size_gib\": %.3f, \"threads\": %d, "
                  "\"kv_cache_type\": \"%s\", \"n_depth\": %d, \"test\": \"%s\", "
                  "\"tokens_per_second\": %.3f, \"stddev\": %.3f, \"bandwidth_share\": %s, \"fma_peak_share\": %s, "
                  "\"bandwidth_gb_s\": %.3f, \"fma_peak_gflop_s\": %.3f, \"weights_sum_bandwidth_share\": %s, "
                  "\"tokens_over_weights_sum\": %s}%s\n",
                  r.model.c_str(), r.type.c_str(), r.size_gib, r.threads, r.cache.c_str(), r.depth, r.test.c_str(),
                  r.tokens_per_second.mean, r.tokens_per_second.stddev, share_or_null(r.bandwidth_share).c_str(),
                  share_or_null(r.fma_share).c_str(), r.bandwidth / 1e9, r.fma_peak / 1e9,
                  share_or_null(r.read_share).c_str(), share_or_null(r.of_read).c_str(),
                  i + 1 < rows.size() ? "," : "");
    }
    std::printf("  ]\n}\n");
  }
  return 0;
}
