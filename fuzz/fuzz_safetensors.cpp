// Fuzzes one safetensors file (io/safetensors.hpp): the header length, the JSON header and
// every tensor's dtype, shape and data_offsets.
#include <cstdint>

#include "fuzz_util.hpp"
#include "llmpp/io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const llmpp::fuzz::ScratchFile scratch("model.safetensors");
  try {
    const llmpp::io::SafetensorsFile file(scratch.write(data, size));
    // SafetensorsFile keeps its mapping private, so the bounds are checked by touching
    // both ends of every tensor (past the mapping, that faults).
    for (const llmpp::TensorView& t : file.tensors()) {
      if (file.find(t.name) != &t) llmpp::fuzz::violated("tensor index does not find '" + t.name + "'");
      llmpp::fuzz::check_shape(t);
    }
    (void)file.metadata();
  } catch (const llmpp::Error&) {
  }
  return 0;
}
