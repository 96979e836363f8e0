// Text generation on top of Model: a Session owns one sequence's KV cache and thread pool;
// generate() feeds a prompt, samples until a stop condition and streams the text through a
// callback. A session remembers the tokens in its cache, so the next call (the next chat
// turn) processes only the tokens that are new.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "llmpp/model/model.hpp"
#include "llmpp/sampling/sampler.hpp"
#include "llmpp/sampling/stop.hpp"
#include "llmpp/tokenizer/load.hpp"
#include "llmpp/tokenizer/streaming.hpp"

namespace llmpp {

// A model and its tokenizer, loaded together from one path.
struct LoadedModel {
  std::shared_ptr<const Model> model;
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer;
  double load_ms = 0.0;

  static LoadedModel load(const std::string& path, const std::string& tokenizer_path = "") {
    const auto start = std::chrono::steady_clock::now();
    LoadedModel loaded;
    auto model = Model::load(path, tokenizer_path);
    const io::ModelFiles& files = model->files();
    loaded.tokenizer = std::make_shared<const tokenizer::Tokenizer>(
        files.gguf ? tokenizer::load_tokenizer(*files.gguf) : tokenizer::load_tokenizer(files.tokenizer_path));
    loaded.model = std::move(model);
    loaded.load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    return loaded;
  }
};

struct SessionOptions {
  int n_ctx = 0;      // 0: the model's training context, at most 4096 (llama.cpp's default)
  int n_threads = 0;  // 0: all hardware threads
  int max_block = 256;
  uint64_t max_kv_cache_bytes = 0;  // 0: the machine's physical memory
  DType kv_cache_type = DType::F32;  // or F16 (StateOptions::kv_cache_type)
};

enum class StopReason { end_of_generation, stop_string, max_tokens, context_full, callback };

inline const char* stop_reason_name(StopReason reason) {
  switch (reason) {
    case StopReason::end_of_generation: return "end of generation token";
    case StopReason::stop_string: return "stop string";
    case StopReason::max_tokens: return "max tokens";
    case StopReason::context_full: return "context full";
    case StopReason::callback: return "stopped by callback";
  }
  return "?";
}

struct GenerateOptions {
  int max_tokens = 128;
  sampling::SamplerParams sampler;
  std::vector<std::string> stop_strings;  // never emitted themselves
  bool add_special = true;     // BOS/EOS as the tokenizer's post-processor says (first call only)
  bool parse_special = false;  // recognise special tokens in the prompt text
  bool ignore_eos = false;
  std::vector<int32_t> extra_end_ids;  // also end generation (a chat template's end-of-turn token)
  bool echo_prompt = false;    // also stream the prompt's text before the generated text
};

struct GenerateStats {
  int64_t n_prompt_tokens = 0;   // tokens actually processed for the prompt (new ones only)
  int64_t n_reused_tokens = 0;   // prompt tokens already in the KV cache
  int64_t n_generated = 0;
  double prompt_ms = 0.0, generate_ms = 0.0;
  double prompt_tokens_per_second() const { return prompt_ms > 0 ? 1000.0 * n_prompt_tokens / prompt_ms : 0.0; }
  double generate_tokens_per_second() const { return generate_ms > 0 ? 1000.0 * n_generated / generate_ms : 0.0; }
};

struct GenerateResult {
  std::string text;
  std::vector<int32_t> tokens;  // generated ids
  StopReason reason = StopReason::max_tokens;
  GenerateStats stats;
};

// Receives each piece of text as soon as it is final; return false to stop generating.
using TokenCallback = std::function<bool(std::string_view piece)>;

class Session {
 public:
  Session(const LoadedModel& loaded, const SessionOptions& options = {})
      : model_(loaded.model),
        tokenizer_(loaded.tokenizer),
        pool_(options.n_threads > 0 ? options.n_threads : ThreadPool::default_threads()),
        state_(model_->new_state(
            {options.n_ctx, options.max_block, options.max_kv_cache_bytes, options.kv_cache_type})),
        logits_(static_cast<size_t>(model_->config().n_vocab)) {}

  const Model& model() const { return *model_; }
  const tokenizer::Tokenizer& tokenizer() const { return *tokenizer_; }
  const std::vector<int32_t>& tokens() const { return tokens_; }  // the sequence in the KV cache
  int n_ctx() const { return state_.cache.n_ctx(); }
  DType kv_cache_type() const { return state_.cache.type(); }
  ThreadPool& pool() { return pool_; }
  void reset() {
    state_.cache.clear();
    tokens_.clear();
  }

  // Makes the cache hold exactly `sequence` and leaves the logits of its last token in
  // logits(). Reuses the longest common prefix with what is cached; returns how many
  // tokens were reused. Throws LimitError when the sequence does not fit the context.
  int64_t feed(const std::vector<int32_t>& sequence) {
    if (sequence.empty()) throw InvalidArgument("feed: empty sequence");
    if (static_cast<int64_t>(sequence.size()) > n_ctx())
      throw LimitError("prompt of " + std::to_string(sequence.size()) + " tokens does not fit the context of " +
                       std::to_string(n_ctx()) + " tokens");
    size_t common = 0;
    while (common < tokens_.size() && common < sequence.size() && tokens_[common] == sequence[common]) ++common;
    if (common == sequence.size()) --common;  // the last token must run again to give logits
    if (common < tokens_.size()) {
      state_.cache.truncate(static_cast<int64_t>(common));
      tokens_.resize(common);
    }
    model_->forward(state_, sequence.data() + common, static_cast<int64_t>(sequence.size() - common), logits_.data(),
                    false, &pool_);
    tokens_.assign(sequence.begin(), sequence.end());
    return static_cast<int64_t>(common);
  }

  // Appends one token and computes its logits.
  void push(int32_t token) {
    model_->forward(state_, &token, 1, logits_.data(), false, &pool_);
    tokens_.push_back(token);
  }

  const float* logits() const { return logits_.data(); }

 private:
  std::shared_ptr<const Model> model_;
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer_;
  ThreadPool pool_;
  InferenceState state_;
  std::vector<int32_t> tokens_;  // (n_past) ids whose K/V are in the cache
  std::vector<float> logits_;    // (n_vocab) of the last token fed
};

// Generates from `prompt_tokens` appended to nothing: the session's cache is reused for
// the common prefix with what it already holds.
inline GenerateResult generate_from_tokens(Session& session, const std::vector<int32_t>& prompt_tokens,
                                           const GenerateOptions& options, const TokenCallback& on_text = {}) {
  using clock = std::chrono::steady_clock;
  const tokenizer::Tokenizer& tok = session.tokenizer();
  GenerateResult result;
  sampling::Sampler sampler(options.sampler, session.model().config().n_vocab);
  for (int32_t id : prompt_tokens) sampler.accept(id);  // penalties see the prompt, as in llama.cpp
  tokenizer::StreamingDecoder decoder(tok);
  sampling::StopStringMatcher stop(options.stop_strings);
  bool stopped_by_callback = false;
  auto emit = [&](const std::string& text) {
    if (text.empty() || stopped_by_callback) return;
    result.text += text;
    if (on_text && !on_text(text)) stopped_by_callback = true;
  };
  if (options.echo_prompt)
    for (int32_t id : prompt_tokens) emit(decoder.push(id));
  else
    for (int32_t id : prompt_tokens) decoder.push(id);  // keeps the decoder's leading-space state right

  const auto prompt_start = clock::now();
  result.stats.n_reused_tokens = session.feed(prompt_tokens);
  result.stats.n_prompt_tokens = static_cast<int64_t>(prompt_tokens.size()) - result.stats.n_reused_tokens;
  const auto generate_start = clock::now();
  result.stats.prompt_ms = std::chrono::duration<double, std::milli>(generate_start - prompt_start).count();

  result.reason = StopReason::max_tokens;
  for (int i = 0; i < options.max_tokens; ++i) {
    const int32_t next = sampler.sample(session.logits());
    sampler.accept(next);
    const bool is_end = tok.is_eog(next) || std::find(options.extra_end_ids.begin(), options.extra_end_ids.end(),
                                                       next) != options.extra_end_ids.end();
    if (!options.ignore_eos && is_end) {
      result.reason = StopReason::end_of_generation;
      break;
    }
    result.tokens.push_back(next);
    ++result.stats.n_generated;
    std::string released;
    const bool hit_stop = stop.feed(decoder.push(next), released);
    emit(released);
    if (hit_stop) {
      result.reason = StopReason::stop_string;
      break;
    }
    if (stopped_by_callback) {
      result.reason = StopReason::callback;
      break;
    }
    if (i + 1 == options.max_tokens) break;  // no need to run the last token
    if (static_cast<int64_t>(session.tokens().size()) >= session.n_ctx()) {
      result.reason = StopReason::context_full;
      break;
    }
    session.push(next);
  }
  if (result.reason != StopReason::stop_string) {
    std::string released;
    if (!stop.feed(decoder.flush(), released)) stop.flush(released);
    emit(released);
  }
  result.stats.generate_ms = std::chrono::duration<double, std::milli>(clock::now() - generate_start).count();
  return result;
}

// Tokenizes `prompt` (with BOS when the model wants one and the session is empty) and
// generates.
inline GenerateResult generate(Session& session, const std::string& prompt, const GenerateOptions& options,
                               const TokenCallback& on_text = {}) {
  std::vector<int32_t> tokens =
      session.tokenizer().encode(prompt, options.add_special, options.parse_special);
  if (tokens.empty()) {
    const int32_t bos = session.tokenizer().bos_id();
    if (bos < 0) throw InvalidArgument("empty prompt and the model has no BOS token to start from");
    tokens.push_back(bos);
  }
  return generate_from_tokens(session, tokens, options, on_text);
}

}  // namespace llmpp
