// Mixture-of-experts blocks against the PyTorch goldens of scripts/reference/gen_moe.py:
// Mixtral routing (8 SwiGLU experts, top-2, with and without renormalisation; dense
// reference), Switch top-1 routing with a capacity that 5 of 12 tokens overflow (Mesh
// TensorFlow dispatch/combine reference), token-by-token decoding against the block, and
// bad arguments. Tolerance: 1e-5 relative (fp32, float64 reference).
#include <string>
#include <vector>

#include "llmpp/core/thread_pool.hpp"
#include "llmpp/layers/moe.hpp"
#include "test_util.hpp"

namespace llmpp::layers {
namespace {

constexpr float kTolerance = 1e-5f;

struct MoeCase {
  test::Golden golden;
  MoeWeights weights;
  std::vector<float> x, expected;
  int64_t n_tokens, dim;

  explicit MoeCase(const std::string& name) : golden(name) {
    const int n_experts = std::stoi(golden.metadata().at("n_experts"));
    weights.router = golden.view("router");
    for (int e = 0; e < n_experts; ++e) {
      const std::string prefix = "expert" + std::to_string(e) + ".";
      FeedForwardWeights ffn;
      if (golden.has(prefix + "gate")) ffn.gate = golden.view(prefix + "gate");
      ffn.up = golden.view(prefix + "up");
      ffn.down = golden.view(prefix + "down");
      weights.experts.push_back(ffn);
    }
    x = golden.f32("x");
    expected = golden.f32("out");
    n_tokens = std::stoll(golden.metadata().at("n_tokens"));
    dim = std::stoll(golden.metadata().at("dim"));
  }
};

TEST(Moe, MixtralTop2WithAndWithoutRenormalisation) {
  ThreadPool pool(2);
  for (bool renormalize : {true, false}) {
    const MoeCase c(renormalize ? "moe_mixtral_top2_renorm" : "moe_mixtral_top2");
    MoeScratch scratch;
    std::vector<float> out(c.expected.size());
    moe_forward(c.weights, 2, renormalize, FfnType::gated, Activation::silu, c.x.data(), c.n_tokens, scratch,
                out.data());
    test::expect_close(out, c.expected, kTolerance, renormalize ? "renormalised" : "raw weights");
    // The chosen experts, in order of probability.
    const std::vector<int64_t> chosen = c.golden.i64("chosen");
    for (size_t i = 0; i < chosen.size(); ++i) EXPECT_EQ(scratch.chosen_expert[i], chosen[i]) << "slot " << i;

    moe_forward(c.weights, 2, renormalize, FfnType::gated, Activation::silu, c.x.data(), c.n_tokens, scratch,
                out.data(), &pool);
    test::expect_close(out, c.expected, kTolerance, "with a pool");
  }
}

TEST(Moe, MixtralTokenByTokenEqualsBlock) {
  const MoeCase c("moe_mixtral_top2_renorm");
  MoeScratch scratch;
  std::vector<float> out(c.expected.size());
  for (int64_t t = 0; t < c.n_tokens; ++t)
    moe_forward(c.weights, 2, true, FfnType::gated, Activation::silu, c.x.data() + t * c.dim, 1, scratch,
                out.data() + t * c.dim);
  test::expect_close(out, c.expected, kTolerance, "decode");
}

TEST(Moe, SwitchTop1DropsTokensOverCapacity) {
  const MoeCase c("moe_switch");
  const float capacity_factor = std::stof(c.golden.metadata().at("capacity_factor"));
  EXPECT_EQ(switch_expert_capacity(c.n_tokens, static_cast<int64_t>(c.weights.experts.size()), capacity_factor),
            std::stoll(c.golden.metadata().at("capacity")));
  MoeScratch scratch;
  std::vector<float> out(c.expected.size(), 99.0f);
  const int64_t dropped = switch_moe_forward(c.weights, capacity_factor, FfnType::plain, Activation::relu, c.x.data(),
                                             c.n_tokens, scratch, out.data());
  EXPECT_EQ(dropped, std::stoll(c.golden.metadata().at("dropped")));
  test::expect_close(out, c.expected, kTolerance, "switch");
  // Dropped tokens contribute exactly zero.
  for (int64_t t = 0; t < c.n_tokens; ++t) {
    if (scratch.chosen_expert[t] >= 0) continue;
    for (int64_t i = 0; i < c.dim; ++i) EXPECT_EQ(out[t * c.dim + i], 0.0f) << "token " << t;
  }
}

TEST(Moe, SwitchWithRoomForEveryTokenDropsNone) {
  const MoeCase c("moe_switch");
  MoeScratch scratch;
  std::vector<float> out(c.expected.size());
  // Capacity n_tokens: every token fits even if all choose one expert.
  const float capacity_factor = static_cast<float>(c.weights.experts.size());
  EXPECT_EQ(switch_moe_forward(c.weights, capacity_factor, FfnType::plain, Activation::relu, c.x.data(), c.n_tokens,
                               scratch, out.data()),
            0);
}

TEST(Moe, RejectsBadArguments) {
  const MoeCase c("moe_mixtral_top2");
  MoeScratch scratch;
  std::vector<float> out(c.expected.size());
  EXPECT_THROW(moe_forward(c.weights, 0, true, FfnType::gated, Activation::silu, c.x.data(), 1, scratch, out.data()),
               InvalidArgument);
  EXPECT_THROW(moe_forward(c.weights, 9, true, FfnType::gated, Activation::silu, c.x.data(), 1, scratch, out.data()),
               InvalidArgument);
  MoeWeights missing_expert = c.weights;
  missing_expert.experts.pop_back();
  EXPECT_THROW(
      moe_forward(missing_expert, 2, true, FfnType::gated, Activation::silu, c.x.data(), 1, scratch, out.data()),
      InvalidArgument);
  EXPECT_THROW(switch_moe_forward(c.weights, 0.0f, FfnType::gated, Activation::silu, c.x.data(), 1, scratch,
                                  out.data()),
               InvalidArgument);
}

}  // namespace
}  // namespace llmpp::layers
