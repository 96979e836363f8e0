// Fuzzes config.json (io/hf_config.hpp): architecture detection, typed fields, RoPE scaling
// and ModelConfig::validate. A config that validates must give sizes that fit an int.
#include <cstdint>

#include "fuzz_util.hpp"
#include "llmpp/io/hf_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const llmpp::fuzz::ScratchFile scratch("config.json");
  try {
    // Through the file loader, so that its handling of malformed JSON is fuzzed too.
    const llmpp::ModelConfig c = llmpp::io::hf_config_from_file(scratch.write(data, size));
    // UBSan reports a signed overflow in any of these.
    (void)c.head_dim();
    (void)c.q_dim();
    (void)c.kv_dim();
    (void)c.n_rot();
    if (c.head_dim() <= 0) llmpp::fuzz::violated("validated config has head_dim " + std::to_string(c.head_dim()));
  } catch (const llmpp::Error&) {
  }
  return 0;
}
