// Feed-forward blocks against the PyTorch goldens of scripts/reference/gen_feed_forward.py:
// SwiGLU, GeGLU (tanh GELU), GELU (erf), GELU (tanh) and ReLU, each with and without biases,
// with and without a thread pool; the AVX2 activations against their scalar twin; scratch
// reuse and bad shapes. Tolerance: 1e-5 relative (fp32, float64 reference).
#include <cmath>
#include <string>
#include <vector>

#include "llmpp/core/thread_pool.hpp"
#include "llmpp/layers/feed_forward.hpp"
#include "test_util.hpp"

namespace llmpp::layers {
namespace {

constexpr float kTolerance = 1e-5f;

Activation parse_activation(const std::string& name) {
  if (name == "silu") return Activation::silu;
  if (name == "gelu_erf") return Activation::gelu_erf;
  if (name == "gelu_tanh") return Activation::gelu_tanh;
  return Activation::relu;
}

// A golden's weights, biases and input; the views point into the golden's mapping.
struct FfnCase {
  test::Golden golden;
  FfnType type;
  Activation activation;
  int n_tokens;
  std::vector<float> x, gate_bias, up_bias, down_bias;
  FeedForwardWeights weights;

  explicit FfnCase(const std::string& name) : golden(name) {
    type = golden.metadata().at("type") == "gated" ? FfnType::gated : FfnType::plain;
    activation = parse_activation(golden.metadata().at("activation"));
    n_tokens = std::stoi(golden.metadata().at("n_tokens"));
    x = golden.f32("x");
    weights.up = golden.view("up");
    weights.down = golden.view("down");
    if (golden.has("gate")) weights.gate = golden.view("gate");
    if (golden.has("up_bias")) {
      up_bias = golden.f32("up_bias");
      down_bias = golden.f32("down_bias");
      weights.up_bias = up_bias.data();
      weights.down_bias = down_bias.data();
    }
    if (golden.has("gate_bias")) {
      gate_bias = golden.f32("gate_bias");
      weights.gate_bias = gate_bias.data();
    }
  }
};

class FeedForwardGolden : public ::testing::TestWithParam<const char*> {};

TEST_P(FeedForwardGolden, MatchesPyTorch) {
  for (const char* suffix : {"", "_bias"}) {
    const std::string name = std::string("ffn_") + GetParam() + suffix;
    const FfnCase c(name);
    const std::vector<float> expected = c.golden.f32("out");
    std::vector<float> out(expected.size());
    FeedForwardScratch scratch;
    feed_forward(c.type, c.activation, c.weights, c.x.data(), c.n_tokens, scratch, out.data());
    test::expect_close(out, expected, kTolerance, name);

    ThreadPool pool(2);
    std::fill(out.begin(), out.end(), 0.0f);
    feed_forward(c.type, c.activation, c.weights, c.x.data(), c.n_tokens, scratch, out.data(), &pool);
    test::expect_close(out, expected, kTolerance, name + " with a pool");
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, FeedForwardGolden,
                         ::testing::Values("swiglu", "geglu", "gelu_erf", "gelu_tanh", "relu"));

TEST(FeedForward, ScratchIsReusedForSmallerBlocks) {
  const FfnCase c("ffn_swiglu");
  FeedForwardScratch scratch(c.n_tokens, c.weights.up.rows());
  const float* hidden = scratch.hidden.data();
  std::vector<float> out(c.x.size());
  feed_forward(c.type, c.activation, c.weights, c.x.data(), c.n_tokens, scratch, out.data());
  feed_forward(c.type, c.activation, c.weights, c.x.data(), 1, scratch, out.data());
  EXPECT_EQ(scratch.hidden.data(), hidden);
}

TEST(FeedForward, RejectsMismatchedShapes) {
  const FfnCase c("ffn_swiglu");
  std::vector<float> out(c.x.size());
  FeedForwardScratch scratch;
  FeedForwardWeights no_gate = c.weights;
  no_gate.gate = TensorView{};
  EXPECT_THROW(feed_forward(FfnType::gated, c.activation, no_gate, c.x.data(), 1, scratch, out.data()),
               InvalidArgument);
  FeedForwardWeights bad_down = c.weights;
  bad_down.down = c.weights.gate;  // (ffn_dim, dim) where (dim, ffn_dim) belongs
  EXPECT_THROW(feed_forward(FfnType::plain, c.activation, bad_down, c.x.data(), 1, scratch, out.data()),
               InvalidArgument);
}

#if defined(__AVX2__) && defined(__FMA__)
TEST(FeedForward, Avx2ActivationsEqualScalar) {
  // x over [-30, 30] in steps of 1/128 (both saturated ends and the curved middle), with
  // biases and a gate product; 1003 elements, so the scalar tail runs too.
  const int64_t n = 1003 * 8 - 5;
  std::vector<float> x(static_cast<size_t>(n)), bias(static_cast<size_t>(n)), up(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    x[static_cast<size_t>(i)] = -30.0f + static_cast<float>(i) / 128.0f;
    bias[static_cast<size_t>(i)] = 0.01f * static_cast<float>(i % 7);
    up[static_cast<size_t>(i)] = 1.0f + 0.001f * static_cast<float>(i % 13);
  }
  for (Activation act : {Activation::silu, Activation::gelu_erf, Activation::gelu_tanh, Activation::relu}) {
    for (bool gated : {false, true}) {
      std::vector<float> simd = x, scalar = x;
      Avx2ActivationOps::apply(act, simd.data(), bias.data(), gated ? up.data() : nullptr, nullptr, n);
      ScalarActivationOps::apply(act, scalar.data(), bias.data(), gated ? up.data() : nullptr, nullptr, n);
      // Element-wise: error relative to max(1, |scalar|); A&S 7.1.26's erf is within 1.5e-7.
      float worst = 0.0f;
      for (size_t i = 0; i < simd.size(); ++i)
        worst = std::max(worst, std::fabs(simd[i] - scalar[i]) / std::max(1.0f, std::fabs(scalar[i])));
      EXPECT_LE(worst, 1e-6f) << "activation " << static_cast<int>(act) << (gated ? " gated" : "");
    }
  }
}
#endif

}  // namespace
}  // namespace llmpp::layers
