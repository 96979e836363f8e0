// Tokenizer conformance cases in llama.cpp's test-tokenizer-0 format: NAME.inp holds the test
// strings, each followed by the line "__ggml_vocab_test__" (text after the last separator is
// not a case); line i of NAME.out holds the expected ids of string i, space separated, without
// BOS. Used by the conformance tests and by `llmpp-tokenize --check`.
#pragma once

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "llmpp/core/error.hpp"

namespace llmpp::tokenizer {

struct TokenizerCase {
  std::string text;
  std::vector<int32_t> ids;
};

inline std::string read_text_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw IoError(path, "cannot open");
  std::ostringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

inline std::vector<TokenizerCase> read_vocab_test_file(const std::string& inp_path, const std::string& out_path) {
  static const std::string separator = "\n__ggml_vocab_test__\n";
  const std::string inputs = read_text_file(inp_path);
  std::vector<TokenizerCase> cases;
  for (size_t begin = 0, end; (end = inputs.find(separator, begin)) != std::string::npos; begin = end + separator.size())
    cases.push_back({inputs.substr(begin, end - begin), {}});

  std::istringstream outputs(read_text_file(out_path));
  std::string line;
  size_t index = 0;
  uint64_t offset = 0;
  while (std::getline(outputs, line)) {
    if (index >= cases.size())
      throw FormatError(out_path, "line " + std::to_string(index + 1), offset,
                        "more expected-id lines than the " + std::to_string(cases.size()) + " cases of " + inp_path);
    std::istringstream numbers(line);
    std::string number;
    while (numbers >> number) {
      size_t used = 0;
      long long id = -1;
      try {
        id = std::stoll(number, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != number.size() || id < 0 || id > INT32_MAX)
        throw FormatError(out_path, "line " + std::to_string(index + 1), offset, "'" + number + "' is not a token id");
      cases[index].ids.push_back(static_cast<int32_t>(id));
    }
    offset += line.size() + 1;
    ++index;
  }
  if (index != cases.size())
    throw FormatError(out_path, "lines", offset,
                      std::to_string(index) + " lines for the " + std::to_string(cases.size()) + " cases of " + inp_path);
  return cases;
}

}  // namespace llmpp::tokenizer
