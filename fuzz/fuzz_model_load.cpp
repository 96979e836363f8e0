// Fuzzes loading a whole model from GGUF (model/model.hpp): config from the metadata, every
// weight bound by name with its shape checked against the config, then, when the model is
// small, a forward pass of two tokens. A tensor whose shape disagrees with the config must be
// a typed error here, never an out-of-bounds read in a kernel.
#include <cstdint>

#include "fuzz_util.hpp"
#include "llmpp/model/model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const llmpp::fuzz::ScratchFile scratch("model.gguf");
  try {
    const std::shared_ptr<llmpp::Model> model = llmpp::Model::load(scratch.write(data, size));
    const llmpp::ModelConfig& c = model->config();
    // Bounded work per input: tiny models only (the seeds are dim 8 and 32).
    if (c.dim > 256 || c.n_layers > 4 || c.n_vocab > 4096 || c.ffn_dim > 1024 || c.q_dim() > 1024 ||
        c.n_heads > 64 || (c.is_moe() && c.n_experts > 8))
      return 0;
    llmpp::InferenceState state = model->new_state({8, 4});
    std::vector<float> logits(static_cast<size_t>(c.n_vocab));  // (n_vocab)
    const int32_t tokens[2] = {c.n_vocab - 1, size > 0 ? static_cast<int32_t>(data[0] % c.n_vocab) : 0};
    model->forward(state, tokens, 2, logits.data(), false, nullptr);
  } catch (const llmpp::Error&) {
  }
  return 0;
}
