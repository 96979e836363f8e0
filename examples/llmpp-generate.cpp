// llmpp-generate: generate text from a GGUF file, a Hugging Face folder or a llama2.c
// checkpoint, with the flags llama.cpp users know. Text goes to stdout; logs and timings
// go to stderr.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "llmpp/llmpp.hpp"
#include "llmpp/model/chat.hpp"

namespace {

struct Args {
  std::string model;
  std::string tokenizer;
  std::string prompt;
  bool has_prompt = false;
  int n_predict = 128;
  int n_ctx = 0;
  int n_threads = 0;
  std::string cache_type_k = "f32", cache_type_v = "f32";
  int64_t seed = -1;
  llmpp::sampling::SamplerParams sampler;
  std::vector<std::string> stop_strings;
  bool chat = false;
  std::string system_prompt;
  std::string template_name;
  std::string dump_logits;
  bool verbose = false;
  bool ignore_eos = false;
};

void print_usage(const char* program) {
  std::fprintf(stderr,
               "usage: %s [options]\n"
               "  -m PATH                 GGUF file, Hugging Face folder or llama2.c .bin (default: stories260K)\n"
               "  --tokenizer PATH        tokenizer for a llama2.c .bin (tokenizer.bin) or to override the model's\n"
               "  -p TEXT                 prompt\n"
               "  -f FILE                 read the prompt from a file\n"
               "  -n N                    tokens to generate (default 128; -1: until the context is full)\n"
               "  -c N                    context size (default: the model's)\n"
               "  -t N                    threads (default: all cores)\n"
               "  -ctk, -ctv TYPE         KV cache type for keys / values: f32 (default) or f16, the same for both\n"
               "  -s SEED                 sampling seed (default: random)\n"
               "  --temp T                temperature (default 0.8; 0: greedy)\n"
               "  --top-k K               top-k (default 40; 0: off)\n"
               "  --top-p P               top-p (default 0.95; 1: off)\n"
               "  --min-p P               min-p (default 0.05; 0: off)\n"
               "  --repeat-penalty X      repetition penalty (default 1.0: off)\n"
               "  --repeat-last-n N       tokens the penalties look at (default 64)\n"
               "  --stop TEXT             stop string (repeatable)\n"
               "  --ignore-eos            keep generating after the end-of-generation token\n"
               "  --chat                  interactive chat\n"
               "  --system TEXT           system prompt for --chat\n"
               "  --template NAME         chat template: llama2, llama3, mistral, chatml, phi3, gemma\n"
               "  --dump-logits FILE      write the logits of every prompt position (float32, n_tokens x n_vocab)\n"
               "  -v                      verbose\n",
               program);
}

[[noreturn]] void fail(const std::string& message) {
  std::fprintf(stderr, "llmpp-generate: error: %s\n", message.c_str());
  std::exit(1);
}

template <typename T>
T parse_number(const std::string& flag, const std::string& text) {
  std::istringstream in(text);
  T value{};
  in >> value;
  if (in.fail() || !in.eof()) fail("invalid value '" + text + "' for " + flag);
  return value;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot read prompt file '" + path + "'");
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

Args parse_args(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) fail("missing value for " + flag);
      return argv[++i];
    };
    if (flag == "-h" || flag == "--help") {
      print_usage(argv[0]);
      std::exit(0);
    } else if (flag == "-m" || flag == "--model") args.model = value();
    else if (flag == "--tokenizer" || flag == "-z") args.tokenizer = value();
    else if (flag == "-p" || flag == "--prompt") args.prompt = value(), args.has_prompt = true;
    else if (flag == "-f" || flag == "--file") args.prompt = read_file(value()), args.has_prompt = true;
    else if (flag == "-n" || flag == "--n-predict") args.n_predict = parse_number<int>(flag, value());
    else if (flag == "-c" || flag == "--ctx-size") args.n_ctx = parse_number<int>(flag, value());
    else if (flag == "-t" || flag == "--threads") args.n_threads = parse_number<int>(flag, value());
    else if (flag == "-ctk" || flag == "--cache-type-k") args.cache_type_k = value();
    else if (flag == "-ctv" || flag == "--cache-type-v") args.cache_type_v = value();
    else if (flag == "-s" || flag == "--seed") args.seed = parse_number<int64_t>(flag, value());
    else if (flag == "--temp") args.sampler.temperature = parse_number<float>(flag, value());
    else if (flag == "--top-k") args.sampler.top_k = parse_number<int>(flag, value());
    else if (flag == "--top-p") args.sampler.top_p = parse_number<float>(flag, value());
    else if (flag == "--min-p") args.sampler.min_p = parse_number<float>(flag, value());
    else if (flag == "--repeat-penalty") args.sampler.repeat_penalty = parse_number<float>(flag, value());
    else if (flag == "--repeat-last-n") args.sampler.repeat_last_n = parse_number<int>(flag, value());
    else if (flag == "--stop") args.stop_strings.push_back(value());
    else if (flag == "--ignore-eos") args.ignore_eos = true;
    else if (flag == "--chat" || flag == "-cnv") args.chat = true;
    else if (flag == "--system") args.system_prompt = value();
    else if (flag == "--template") args.template_name = value();
    else if (flag == "--dump-logits") args.dump_logits = value();
    else if (flag == "-v" || flag == "--verbose") args.verbose = true;
    else fail("unknown flag '" + flag + "' (see --help)");
  }
  if (args.n_threads < 0) fail("-t must be positive");
  if (args.n_ctx < 0) fail("-c must be positive");
  for (const std::string* type : {&args.cache_type_k, &args.cache_type_v})
    if (*type != "f32" && *type != "f16")
      fail("unsupported KV cache type '" + *type + "' for " + (type == &args.cache_type_k ? "-ctk" : "-ctv") +
           " (f32 or f16)");
  if (args.cache_type_k != args.cache_type_v)
    fail("-ctk " + args.cache_type_k + " and -ctv " + args.cache_type_v +
         " differ: llmpp keeps keys and values in one type, so give both the same");
  return args;
}

llmpp::DType kv_cache_type(const Args& args) {
  return args.cache_type_k == "f16" ? llmpp::DType::F16 : llmpp::DType::F32;
}

std::string default_model_path() {
  if (const char* env = std::getenv("LLMPP_DEFAULT_MODEL"); env && *env) return env;
  return LLMPP_DEFAULT_MODEL;
}

void print_timings(double load_ms, const llmpp::GenerateStats& stats) {
  std::fprintf(stderr, "\nllmpp:        load time = %10.2f ms\n", load_ms);
  std::fprintf(stderr, "llmpp: prompt eval time = %10.2f ms / %5lld tokens (%8.2f ms per token, %10.2f tokens per second)\n",
               stats.prompt_ms, static_cast<long long>(stats.n_prompt_tokens),
               stats.n_prompt_tokens ? stats.prompt_ms / stats.n_prompt_tokens : 0.0, stats.prompt_tokens_per_second());
  std::fprintf(stderr, "llmpp:        eval time = %10.2f ms / %5lld runs   (%8.2f ms per token, %10.2f tokens per second)\n",
               stats.generate_ms, static_cast<long long>(stats.n_generated),
               stats.n_generated ? stats.generate_ms / stats.n_generated : 0.0, stats.generate_tokens_per_second());
}

// Touches every page of the weights once, so the first token does not pay for page faults,
// and shows a progress bar when stderr is a terminal.
void load_weights_with_progress(const llmpp::Model& model) {
  std::vector<const llmpp::TensorView*> tensors = {&model.weights().token_embd, &model.weights().output};
  for (const llmpp::LayerWeights& layer : model.weights().layers) {
    for (const llmpp::TensorView* t : {&layer.wq, &layer.wk, &layer.wv, &layer.wo, &layer.ffn.gate, &layer.ffn.up,
                                       &layer.ffn.down, &layer.moe.router})
      tensors.push_back(t);
    for (const auto& expert : layer.moe.experts)
      for (const llmpp::TensorView* t : {&expert.gate, &expert.up, &expert.down}) tensors.push_back(t);
  }
  uint64_t total = 0, done = 0;
  for (const auto* t : tensors) total += t->data ? t->nbytes : 0;
  const bool show = isatty(STDERR_FILENO) && total > (64u << 20);
  volatile uint8_t sink = 0;
  int last_percent = -1;
  for (const auto* t : tensors) {
    if (!t->data) continue;
    const auto* bytes = static_cast<const uint8_t*>(t->data);
    for (uint64_t i = 0; i < t->nbytes; i += 4096) sink = sink + bytes[i];
    done += t->nbytes;
    const int percent = static_cast<int>(100 * done / std::max<uint64_t>(total, 1));
    if (show && percent != last_percent) {
      const int width = 40, filled = percent * width / 100;
      std::fprintf(stderr, "\rloading [%s%s] %3d%%", std::string(static_cast<size_t>(filled), '#').c_str(),
                   std::string(static_cast<size_t>(width - filled), ' ').c_str(), percent);
      last_percent = percent;
    }
  }
  if (show) std::fprintf(stderr, "\n");
}

int run_chat(const Args& args, const llmpp::LoadedModel& loaded, llmpp::Session& session,
             const llmpp::GenerateOptions& options) {
  const llmpp::tokenizer::ChatTemplateKind kind = llmpp::choose_chat_template(*loaded.tokenizer, args.template_name);
  llmpp::ChatSession chat(session, kind, args.system_prompt);
  std::fprintf(stderr, "llmpp: chat template %s; type a message, Ctrl-D to quit\n",
               llmpp::tokenizer::chat_template_name(kind));
  auto print = [](std::string_view piece) {
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
    return true;
  };
  std::string pending = args.has_prompt ? args.prompt : std::string();
  llmpp::GenerateStats last;
  for (int turn = 1;; ++turn) {
    std::string line;
    if (!pending.empty()) {
      line.swap(pending);
    } else {
      std::printf("\n> ");
      std::fflush(stdout);
      if (!std::getline(std::cin, line)) break;
      if (line.empty()) {
        --turn;
        continue;
      }
    }
    const llmpp::GenerateResult result = chat.send(line, options, print);
    std::printf("\n");
    std::fflush(stdout);
    last = result.stats;
    std::fprintf(stderr, "llmpp: turn %d: %lld new prompt tokens (%lld reused from the cache), %lld generated (%s)\n",
                 turn, static_cast<long long>(result.stats.n_prompt_tokens),
                 static_cast<long long>(result.stats.n_reused_tokens), static_cast<long long>(result.stats.n_generated),
                 llmpp::stop_reason_name(result.reason));
  }
  print_timings(loaded.load_ms, last);
  return 0;
}

void dump_logits(const llmpp::LoadedModel& loaded, const std::vector<int32_t>& tokens, int n_ctx, int n_threads,
                 llmpp::DType cache_type, const std::string& path) {
  const llmpp::Model& model = *loaded.model;
  llmpp::StateOptions options;
  options.n_ctx = std::max<int>(n_ctx, static_cast<int>(tokens.size()));
  options.kv_cache_type = cache_type;
  llmpp::InferenceState state = model.new_state(options);
  llmpp::ThreadPool pool(n_threads > 0 ? n_threads : llmpp::ThreadPool::default_threads());
  std::vector<float> logits(tokens.size() * static_cast<size_t>(model.config().n_vocab));
  model.forward(state, tokens.data(), static_cast<int64_t>(tokens.size()), logits.data(), true, &pool);
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(logits.data()), static_cast<std::streamsize>(logits.size() * sizeof(float)));
  if (!out) fail("cannot write logits to '" + path + "'");
  std::fprintf(stderr, "llmpp: wrote %zu x %d logits to %s\n", tokens.size(), model.config().n_vocab, path.c_str());
}

int run(const Args& args) {
  std::string model_path = args.model;
  if (model_path.empty()) {
    model_path = default_model_path();
    if (!std::filesystem::exists(model_path)) {
      std::fprintf(stderr,
                   "llmpp-generate: error: no -m given and the default model %s is absent.\n"
                   "Download a model, for example:\n"
                   "  curl -L -o stories260K.gguf "
                   "https://huggingface.co/ggml-org/models/resolve/main/tinyllamas/stories260K.gguf\n"
                   "  curl -L -o tinyllama.gguf https://huggingface.co/TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF/"
                   "resolve/main/tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf\n"
                   "then run: llmpp-generate -m stories260K.gguf -p \"Once upon a time\"\n",
                   model_path.c_str());
      return 1;
    }
  }
  const llmpp::LoadedModel loaded = llmpp::LoadedModel::load(model_path, args.tokenizer);
  const llmpp::ModelConfig& config = loaded.model->config();
  if (args.verbose)
    std::fprintf(stderr, "llmpp: %s (%s): %d layers, dim %d, %d heads, %d KV heads, vocab %d, context %d\n",
                 model_path.c_str(), config.architecture.c_str(), config.n_layers, config.dim, config.n_heads,
                 config.n_kv_heads, config.n_vocab, config.n_ctx_train);

  llmpp::SessionOptions session_options;
  session_options.n_ctx = args.n_ctx;
  session_options.n_threads = args.n_threads;
  session_options.kv_cache_type = kv_cache_type(args);
  llmpp::GenerateOptions options;
  options.sampler = args.sampler;
  options.sampler.seed = args.seed >= 0 ? static_cast<uint64_t>(args.seed) : std::random_device{}();
  options.stop_strings = args.stop_strings;
  options.ignore_eos = args.ignore_eos;

  if (!args.dump_logits.empty()) {
    std::vector<int32_t> tokens = loaded.tokenizer->encode(args.prompt, true, false);
    if (tokens.empty()) fail("--dump-logits needs a prompt that has at least one token");
    dump_logits(loaded, tokens, args.n_ctx, args.n_threads, session_options.kv_cache_type, args.dump_logits);
    return 0;
  }

  load_weights_with_progress(*loaded.model);
  llmpp::Session session(loaded, session_options);
  options.max_tokens = args.n_predict < 0 ? session.n_ctx() : args.n_predict;
  if (args.chat) return run_chat(args, loaded, session, options);
  options.echo_prompt = true;
  auto print = [](std::string_view piece) {
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
    return true;
  };
  const llmpp::GenerateResult result = llmpp::generate(session, args.prompt, options, print);
  std::printf("\n");
  if (args.verbose) std::fprintf(stderr, "llmpp: stopped: %s\n", llmpp::stop_reason_name(result.reason));
  print_timings(loaded.load_ms, result.stats);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse_args(argc, argv);
  try {
    return run(args);
  } catch (const std::exception& e) {
    fail(e.what());
  }
}
