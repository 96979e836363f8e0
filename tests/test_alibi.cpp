// ALiBi slopes against the ALiBi paper's reference get_slopes (goldens alibi_8 and alibi_12
// from scripts/reference/gen_attention.py) and the paper's stated values. Attention with the
// bias is checked in test_attention.cpp. Tolerance: 1e-6 relative (the slopes are powers of 2
// computed in double and rounded once).
#include <cmath>
#include <vector>

#include "llmpp/layers/alibi.hpp"
#include "test_util.hpp"

namespace llmpp::layers {
namespace {

TEST(Alibi, MatchesReferenceSlopes) {
  for (const char* name : {"alibi_8", "alibi_12"}) {  // 12: not a power of 2
    const test::Golden golden(name);
    const std::vector<float> expected = golden.f32("slopes");
    test::expect_close(alibi_slopes(static_cast<int>(expected.size())), expected, 1e-6f, name);
  }
}

// Press et al. 2021, section 3: "For a model with 8 heads, the slopes are 1/2, 1/4, ..., 1/256".
TEST(Alibi, EightHeadsArePowersOfOneHalf) {
  const std::vector<float> slopes = alibi_slopes(8);
  ASSERT_EQ(slopes.size(), 8u);
  for (int h = 0; h < 8; ++h) EXPECT_EQ(slopes[static_cast<size_t>(h)], std::ldexp(1.0f, -(h + 1)));
}

// Non-powers of 2: the 8-head sequence, then the odd terms 2^-0.5, 2^-1.5, ... of the 16-head one.
TEST(Alibi, NonPowerOfTwoInterleaves) {
  const std::vector<float> slopes = alibi_slopes(12);
  ASSERT_EQ(slopes.size(), 12u);
  for (int h = 0; h < 8; ++h) EXPECT_FLOAT_EQ(slopes[static_cast<size_t>(h)], std::ldexp(1.0f, -(h + 1)));
  for (int h = 8; h < 12; ++h) EXPECT_FLOAT_EQ(slopes[static_cast<size_t>(h)], std::exp2(-0.5f - (h - 8)));
  EXPECT_FLOAT_EQ(alibi_slopes(1)[0], std::ldexp(1.0f, -8));
  EXPECT_FLOAT_EQ(alibi_slopes(3)[2], std::exp2(-2.0f));  // 2 heads: 1/16, 1/256; extra 2^-(8/4)
}

TEST(Alibi, MaxBiasScalesTheExponents) {
  const std::vector<float> slopes = alibi_slopes(4, 16.0f);  // 2^-4, 2^-8, 2^-12, 2^-16
  for (int h = 0; h < 4; ++h) EXPECT_FLOAT_EQ(slopes[static_cast<size_t>(h)], std::ldexp(1.0f, -4 * (h + 1)));
}

TEST(Alibi, RejectsNoHeads) {
  EXPECT_THROW(alibi_slopes(0), InvalidArgument);
  EXPECT_THROW(alibi_slopes(-3), InvalidArgument);
}

}  // namespace
}  // namespace llmpp::layers
