// llmpp-convert: Hugging Face folder -> GGUF (Llama, Mistral, Mixtral, Qwen2, and GPT-2,
// BLOOM, Falcon, Phi-3, Gemma as llama.cpp defines them; OPT has no GGUF architecture).
//
//   llmpp-convert HF_FOLDER OUT.gguf [--type f32|f16|bf16|q8_0|q4_0|q4_k] [--name NAME] [--no-tokenizer]
//
// The output loads in llmpp and in llama.cpp: llama.cpp's metadata keys, canonical tensor
// names, q/k rows back in Meta's order for llama-type models, Mixtral experts stacked,
// fused qkv (and Phi-3's gate/up) for the other families. The tokenizer is copied from
// tokenizer.model (SentencePiece) or a GPT-2-style byte-level tokenizer.json.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "llmpp/model/family_to_gguf.hpp"

namespace {

void usage() {
  std::fprintf(stderr,
               "usage: llmpp-convert HF_FOLDER OUT.gguf [--type f32|f16|bf16|q8_0|q4_0|q4_k] [--name NAME] "
               "[--no-tokenizer]\n");
}

bool parse_type(const std::string& s, llmpp::DType& out) {
  static const std::pair<const char*, llmpp::DType> types[] = {
      {"f32", llmpp::DType::F32},   {"f16", llmpp::DType::F16},   {"bf16", llmpp::DType::BF16},
      {"q8_0", llmpp::DType::Q8_0}, {"q4_0", llmpp::DType::Q4_0}, {"q4_k", llmpp::DType::Q4_K},
  };
  for (const auto& [name, type] : types)
    if (s == name) {
      out = type;
      return true;
    }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    usage();
    return 2;
  }
  const std::string folder = argv[1], out_path = argv[2];
  llmpp::io::ConvertOptions options;
  for (int i = 3; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--type" && i + 1 < argc) {
      if (!parse_type(argv[++i], options.type)) {
        std::fprintf(stderr, "llmpp-convert: unknown --type '%s'\n", argv[i]);
        return 2;
      }
    } else if (arg == "--name" && i + 1 < argc) {
      options.name = argv[++i];
    } else if (arg == "--no-tokenizer") {
      options.copy_tokenizer = false;
    } else {
      usage();
      return 2;
    }
  }
  try {
    const llmpp::io::ConvertReport report = llmpp::convert_folder_to_gguf(folder, out_path, options);
    for (const std::string& note : report.notes) std::fprintf(stderr, "note: %s\n", note.c_str());
    std::printf("wrote %s: %d tensors, %s, tokenizer %s\n", out_path.c_str(), report.n_tensors,
                llmpp::dtype_name(options.type), report.tokenizer_copied ? "included" : "not included");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "llmpp-convert: %s\n", e.what());
    return 1;
  }
}
