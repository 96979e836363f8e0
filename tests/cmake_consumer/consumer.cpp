// A tiny program that uses llmpp the way a consumer would: include the umbrella header,
// build a model config and run a linear layer.
#include <llmpp/llmpp.hpp>

#include <cstdio>
#include <vector>

int main() {
  llmpp::ModelConfig config;
  config.n_vocab = 512;
  config.dim = 64;
  config.n_layers = 5;
  config.n_heads = 8;
  config.n_kv_heads = 4;
  config.ffn_dim = 172;
  config.validate("consumer");
  std::vector<float> w = {1, 2, 3, 4, 5, 6};  // (2, 3)
  std::vector<float> x = {1, 1, 1};
  std::vector<float> y(2);
  llmpp::kernels::matmul(llmpp::make_f32_view(w.data(), 2, 3), x.data(), 1, y.data());
  if (config.head_dim() != 8 || !config.is_gqa() || y[0] != 6.0f || y[1] != 15.0f) {
    std::printf("consumer: FAILED\n");
    return 1;
  }
  std::printf("consumer: llmpp works (head_dim %d, y = [%g, %g])\n", config.head_dim(), y[0], y[1]);
  return 0;
}
