// llmpp-tokenize: print the token ids of a prompt, or check a tokenizer against llama.cpp's
// test-tokenizer-0 files.
//
//   llmpp-tokenize -m SOURCE -p TEXT [--no-bos] [--parse-special]
//   llmpp-tokenize -m SOURCE --check FILE.inp FILE.out
//
// SOURCE is anything load_tokenizer accepts: a .gguf, tokenizer.json, tokenizer.model,
// llama2.c tokenizer.bin, vocab.json or a Hugging Face folder.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "llmpp/tokenizer/load.hpp"
#include "llmpp/tokenizer/vocab_test_file.hpp"

namespace {

void print_usage() {
  std::fprintf(stderr,
               "usage: llmpp-tokenize -m SOURCE -p TEXT [--no-bos] [--parse-special]\n"
               "       llmpp-tokenize -m SOURCE --check FILE.inp FILE.out\n"
               "  -m SOURCE         .gguf, tokenizer.json, tokenizer.model, tokenizer.bin, vocab.json or a folder\n"
               "  -p TEXT           text to tokenize; the ids are printed on one line\n"
               "  --no-bos          do not add BOS/EOS\n"
               "  --parse-special   recognise special tokens such as <|im_end|> in TEXT\n"
               "  --check INP OUT   compare with expected ids (no BOS), print N/M, fail unless all match\n");
}

std::string join_ids(const std::vector<int32_t>& ids) {
  std::string line;
  for (int32_t id : ids) line += (line.empty() ? "" : " ") + std::to_string(id);
  return line;
}

int check(const llmpp::tokenizer::Tokenizer& tokenizer, const std::string& inp, const std::string& out) {
  const std::vector<llmpp::tokenizer::TokenizerCase> cases = llmpp::tokenizer::read_vocab_test_file(inp, out);
  size_t n_match = 0;
  for (const auto& test_case : cases) {
    const std::vector<int32_t> ids = tokenizer.encode(test_case.text, /*add_special=*/false);
    if (ids == test_case.ids) {
      ++n_match;
    } else {
      std::fprintf(stderr, "mismatch: '%s'\n  expected %s\n  got      %s\n", test_case.text.c_str(),
                   join_ids(test_case.ids).c_str(), join_ids(ids).c_str());
    }
  }
  std::printf("%zu/%zu match\n", n_match, cases.size());
  return n_match == cases.size() && !cases.empty() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string source = LLMPP_DEFAULT_MODEL;
  std::string prompt, check_inp, check_out;
  bool has_prompt = false, add_special = true, parse_special = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "-m" && i + 1 < argc) {
      source = argv[++i];
    } else if (arg == "-p" && i + 1 < argc) {
      prompt = argv[++i];
      has_prompt = true;
    } else if (arg == "--check" && i + 2 < argc) {
      check_inp = argv[++i];
      check_out = argv[++i];
    } else if (arg == "--no-bos") {
      add_special = false;
    } else if (arg == "--parse-special") {
      parse_special = true;
    } else if (arg == "-h" || arg == "--help") {
      print_usage();
      return 0;
    } else {
      std::fprintf(stderr, "llmpp-tokenize: bad argument '%s'\n", arg.c_str());
      print_usage();
      return 2;
    }
  }
  if (has_prompt == !check_inp.empty()) {
    std::fprintf(stderr, "llmpp-tokenize: give exactly one of -p TEXT or --check INP OUT\n");
    print_usage();
    return 2;
  }
  try {
    const llmpp::tokenizer::Tokenizer tokenizer = llmpp::tokenizer::load_tokenizer(source);
    if (!check_inp.empty()) return check(tokenizer, check_inp, check_out);
    std::printf("%s\n", join_ids(tokenizer.encode(prompt, add_special, parse_special)).c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "llmpp-tokenize: error: %s\n", e.what());
    return 1;
  }
}
