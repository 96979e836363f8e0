// Fuzzes the GGUF reader (io/gguf.hpp): header, metadata of every type, tensor infos and
// the data section; then what is read from the metadata: the model config
// (io/gguf_config.hpp) and the tokenizer (tokenizer/load.hpp), which is then used. The
// reader only takes a path, so each input goes through a scratch file.
#include <cstdint>

#include "fuzz_tokenizer_util.hpp"
#include "llmpp/io/gguf.hpp"
#include "llmpp/io/gguf_config.hpp"
#include "llmpp/tokenizer/load.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const llmpp::fuzz::ScratchFile scratch("model.gguf");
  try {
    const llmpp::io::GGUFFile file(scratch.write(data, size));
    // Every accessor of every value either answers or throws a typed error.
    for (const auto& [key, value] : file.metadata()) {
      try { (void)value.as_int(); } catch (const llmpp::Error&) {}
      try { (void)value.as_uint(); } catch (const llmpp::Error&) {}
      try { (void)value.as_double(); } catch (const llmpp::Error&) {}
      try { (void)value.as_bool(); } catch (const llmpp::Error&) {}
      try { (void)value.as_string(); } catch (const llmpp::Error&) {}
      try { (void)value.as_strings(); } catch (const llmpp::Error&) {}
      try { (void)value.as_ints(); } catch (const llmpp::Error&) {}
      try { (void)value.as_floats(); } catch (const llmpp::Error&) {}
      if (file.find(key) != &value) llmpp::fuzz::violated("metadata index does not find '" + key + "'");
    }
    for (const llmpp::TensorView& t : file.tensors()) {
      llmpp::fuzz::check_tensor(t, file.mapped_file());
      if (file.find_tensor(t.name) != &t) llmpp::fuzz::violated("tensor index does not find '" + t.name + "'");
    }
    try {
      const llmpp::ModelConfig c = llmpp::io::gguf_config(file);
      (void)c.q_dim();
      (void)c.kv_dim();
    } catch (const llmpp::Error&) {
    }
    const llmpp::tokenizer::Tokenizer tok = llmpp::tokenizer::load_tokenizer(file);
    llmpp::fuzz::exercise(tok);
  } catch (const llmpp::Error&) {
  }
  return 0;
}
