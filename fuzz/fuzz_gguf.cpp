// Fuzzes the GGUF reader (io/gguf.hpp): header, metadata of every type, tensor infos and
// the data section. The reader only takes a path, so each input goes through a scratch file.
#include <cstdint>

#include "fuzz_util.hpp"
#include "llmpp/io/gguf.hpp"

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
  } catch (const llmpp::Error&) {
  }
  return 0;
}
