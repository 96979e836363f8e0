// RoPE against the PyTorch goldens of scripts/reference/gen_rope.py: interleaved (complex
// multiplication as in Meta's reference) and half-split (HF rotate_half) layouts, partial
// rotary, a non-default theta, and the linear, dynamic NTK, YaRN, Llama 3 and LongRoPE
// frequency scalings, each for a long call (up to position 9000) and a short one within the
// training context. Tolerance: 1e-5 relative (frequencies and angles in double, cos/sin
// rounded to fp32).
#include <sstream>
#include <string>
#include <vector>

#include "llmpp/layers/rope.hpp"
#include "test_util.hpp"

namespace llmpp::layers {
namespace {

constexpr float kTolerance = 1e-5f;

std::vector<float> parse_list(const std::string& text) {
  std::vector<float> values;
  std::stringstream stream(text);
  for (std::string item; std::getline(stream, item, ',');) values.push_back(std::stof(item));
  return values;
}

struct RopeCase {
  test::Golden golden;
  int head_dim, rope_dim, n_heads;
  float theta;
  RopeLayout layout;
  RopeScaling scaling;

  explicit RopeCase(const std::string& name) : golden("rope_" + name) {
    const auto& meta = golden.metadata();
    auto number = [&](const char* key) { return std::stof(meta.at(key)); };
    head_dim = std::stoi(meta.at("head_dim"));
    rope_dim = std::stoi(meta.at("rope_dim"));
    n_heads = std::stoi(meta.at("n_heads"));
    theta = number("theta");
    layout = meta.at("layout") == "interleaved" ? RopeLayout::interleaved : RopeLayout::half_split;
    const std::string type = meta.count("scaling") ? meta.at("scaling") : "none";
    if (type == "linear") scaling.type = RopeScalingType::linear;
    if (type == "dynamic") scaling.type = RopeScalingType::dynamic_ntk;
    if (type == "yarn") scaling.type = RopeScalingType::yarn;
    if (type == "llama3") scaling.type = RopeScalingType::llama3;
    if (type == "longrope") scaling.type = RopeScalingType::longrope;
    if (meta.count("factor")) scaling.factor = number("factor");
    if (meta.count("original_max_position")) scaling.original_max_position = std::stoi(meta.at("original_max_position"));
    if (meta.count("low_freq_factor")) scaling.low_freq_factor = number("low_freq_factor");
    if (meta.count("high_freq_factor")) scaling.high_freq_factor = number("high_freq_factor");
    if (meta.count("short_factor")) scaling.short_factor = parse_list(meta.at("short_factor"));
    if (meta.count("long_factor")) scaling.long_factor = parse_list(meta.at("long_factor"));
  }

  Rope rope() const { return Rope(head_dim, rope_dim, theta, layout, scaling); }

  // Rotates the golden's x (or its first n_tokens rows) and compares with `expected`.
  void check(const std::string& expected, int64_t n_tokens, const std::string& label) const {
    std::vector<int32_t> positions;
    for (int64_t p : golden.i64("positions")) positions.push_back(static_cast<int32_t>(p));
    std::vector<float> x = golden.f32("x");
    x.resize(static_cast<size_t>(n_tokens * n_heads * head_dim));
    rope().apply(x.data(), n_tokens, n_heads, positions.data());
    test::expect_close(x, golden.f32(expected), kTolerance, label);
  }
};

class RopeGolden : public ::testing::TestWithParam<const char*> {};

TEST_P(RopeGolden, MatchesPyTorch) {
  const RopeCase c(GetParam());
  const int64_t n_tokens = static_cast<int64_t>(c.golden.i64("positions").size());
  c.check("out", n_tokens, std::string(GetParam()) + " long");
  c.check("out_short", 5, std::string(GetParam()) + " short");

  const std::vector<double> inv_freq = c.rope().inverse_frequencies(9001);
  const std::vector<float> inv_freq_f(inv_freq.begin(), inv_freq.end());
  test::expect_close(inv_freq_f, c.golden.f32("inv_freq"), 1e-6f, std::string(GetParam()) + " frequencies");
  EXPECT_NEAR(c.rope().attention_factor(), std::stof(c.golden.metadata().at("attention_factor")), 1e-6f);
}

INSTANTIATE_TEST_SUITE_P(Variants, RopeGolden,
                         ::testing::Values("interleaved", "half_split", "partial_half_split", "partial_interleaved",
                                           "theta", "linear", "dynamic", "yarn", "llama3", "longrope"));

TEST(Rope, ExplicitSequenceLengthOverridesThePositions) {
  // Dynamic NTK for one decode token at position 7 of a 9001-token sequence must use the
  // long sequence's base, as the full call did.
  const RopeCase c("dynamic");
  std::vector<float> x = c.golden.f32("x");
  const std::vector<float> expected = c.golden.f32("out");
  const size_t width = static_cast<size_t>(c.n_heads * c.head_dim);
  const int32_t position = 7;  // row 3 of the golden
  std::vector<float> row(x.begin() + 3 * width, x.begin() + 4 * width);
  c.rope().apply(row.data(), 1, c.n_heads, &position, 9001);
  test::expect_close(row.data(), expected.data() + 3 * width, width, kTolerance, "decode step");
}

TEST(Rope, FromModelConfig) {
  ModelConfig config;
  config.dim = 64;
  config.n_heads = 4;
  config.rope_dim = 8;
  config.rope_theta = 500000.0f;
  const Rope rope(config);
  EXPECT_EQ(rope.head_dim(), 16);
  EXPECT_EQ(rope.rope_dim(), 8);
  EXPECT_DOUBLE_EQ(rope.inverse_frequencies(1)[1], std::pow(500000.0, -0.25));
}

TEST(Rope, RejectsBadConfigurations) {
  EXPECT_THROW(Rope(16, 18, 10000.0f, RopeLayout::half_split), ConfigError);
  EXPECT_THROW(Rope(16, 7, 10000.0f, RopeLayout::half_split), ConfigError);
  EXPECT_THROW(Rope(16, 16, 0.0f, RopeLayout::half_split), ConfigError);
  RopeScaling yarn;
  yarn.type = RopeScalingType::yarn;
  yarn.factor = 4.0f;
  EXPECT_THROW(Rope(16, 16, 10000.0f, RopeLayout::half_split, yarn), ConfigError);  // no context length
  EXPECT_NO_THROW(Rope(16, 16, 10000.0f, RopeLayout::half_split, yarn, 4096));
  RopeScaling longrope;
  longrope.type = RopeScalingType::longrope;
  longrope.original_max_position = 64;
  longrope.short_factor = {1.0f, 1.0f};
  longrope.long_factor = {1.0f, 1.0f};
  EXPECT_THROW(Rope(16, 16, 10000.0f, RopeLayout::half_split, longrope), ConfigError);  // needs 8 factors
}

}  // namespace
}  // namespace llmpp::layers
