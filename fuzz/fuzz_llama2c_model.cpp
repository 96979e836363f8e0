// Fuzzes llama2.c's model .bin reader (io/llama2c.hpp): the legacy 28-byte and the
// version-1 256-byte headers, and the size of every weight array the header implies.
#include <cstdint>

#include "fuzz_util.hpp"
#include "llmpp/io/llama2c.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const llmpp::fuzz::ScratchFile scratch("model.bin");
  try {
    const llmpp::io::Llama2cFile file(scratch.write(data, size));
    const llmpp::ModelConfig& c = file.config();
    (void)c.q_dim();
    (void)c.kv_dim();
    for (const llmpp::TensorView& t : file.tensors()) {
      llmpp::fuzz::check_shape(t);
      if (file.find(t.name) != &t) llmpp::fuzz::violated("tensor index does not find '" + t.name + "'");
    }
  } catch (const llmpp::Error&) {
  }
  return 0;
}
