// Token embedding against torch.nn.Embedding (scripts/reference/gen_embedding.py): an F32
// table with and without Gemma's sqrt(dim) scale, an F16 table against its float values,
// and out-of-range ids. Tolerance: 1e-6 relative (a gather and one multiplication).
#include <cmath>
#include <vector>

#include "llmpp/layers/embedding.hpp"
#include "test_util.hpp"

namespace llmpp::layers {
namespace {

constexpr float kTolerance = 1e-6f;

std::vector<int32_t> tokens_of(const test::Golden& golden) {
  std::vector<int32_t> tokens;
  for (int64_t id : golden.i64("tokens")) tokens.push_back(static_cast<int32_t>(id));
  return tokens;
}

TEST(Embedding, F32TableWithAndWithoutScale) {
  test::Golden golden("embedding");
  const std::vector<int32_t> tokens = tokens_of(golden);
  const TensorView& table = golden.view("table");
  std::vector<float> out(tokens.size() * static_cast<size_t>(table.cols()));
  embed_tokens(table, tokens.data(), static_cast<int64_t>(tokens.size()), out.data());
  test::expect_close(out, golden.f32("plain"), kTolerance, "plain");
  embed_tokens(table, tokens.data(), static_cast<int64_t>(tokens.size()), out.data(),
               std::sqrt(static_cast<float>(table.cols())));
  test::expect_close(out, golden.f32("scaled"), kTolerance, "scaled by sqrt(dim)");
}

TEST(Embedding, F16TableGivesItsFloatValues) {
  test::Golden golden("embedding");
  const std::vector<int32_t> tokens = tokens_of(golden);
  const TensorView& table = golden.view("table_f16");
  ASSERT_EQ(table.type, DType::F16);
  std::vector<float> out(tokens.size() * static_cast<size_t>(table.cols()));
  embed_tokens(table, tokens.data(), static_cast<int64_t>(tokens.size()), out.data());
  test::expect_close(out, golden.f32("from_f16"), 0.0f, "f16");
}

TEST(Embedding, OutOfRangeIdThrows) {
  test::Golden golden("embedding");
  const TensorView& table = golden.view("table");
  std::vector<float> out(2 * static_cast<size_t>(table.cols()));
  const int32_t too_big[] = {1, static_cast<int32_t>(table.rows())};
  const int32_t negative[] = {-1};
  EXPECT_THROW(embed_tokens(table, too_big, 2, out.data()), InvalidArgument);
  EXPECT_THROW(embed_tokens(table, negative, 1, out.data()), InvalidArgument);
}

}  // namespace
}  // namespace llmpp::layers
