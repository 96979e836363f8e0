// Fuzzes config.json (io/hf_config.hpp): architecture detection, typed fields, RoPE scaling
// and ModelConfig::validate. A config that validates must give sizes that fit an int.
#include <cstdint>

#include <nlohmann/json.hpp>

#include "fuzz_util.hpp"
#include "llmpp/io/hf_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(data, data + size);
  } catch (const nlohmann::json::parse_error&) {
    return 0;  // not JSON: hf_config_from_file turns this into a FormatError before us
  }
  try {
    const llmpp::ModelConfig c = llmpp::io::hf_config_from_json(j, "config.json");
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
