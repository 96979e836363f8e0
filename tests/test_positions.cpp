// Sinusoidal (Vaswani et al. 2017) and learned absolute positions against the PyTorch
// goldens of scripts/reference/gen_positions.py (float64 formula; torch.nn.Embedding with
// OPT's offset 2), quantised-table chunking, and positions past the table. Tolerance: 1e-6
// relative (angles are computed in double, up to position 20000).
#include <vector>

#include "llmpp/core/fp16.hpp"
#include "llmpp/layers/positions.hpp"
#include "test_util.hpp"

namespace llmpp::layers {
namespace {

constexpr float kTolerance = 1e-6f;

std::vector<int32_t> positions_of(const test::Golden& golden) {
  std::vector<int32_t> positions;
  for (int64_t p : golden.i64("positions")) positions.push_back(static_cast<int32_t>(p));
  return positions;
}

TEST(Positions, SinusoidalMatchesPaperFormula) {
  test::Golden golden("positions_sinusoidal");
  const int dim = std::stoi(golden.metadata().at("dim"));
  const std::vector<int32_t> positions = positions_of(golden);
  std::vector<float> x = golden.f32("x");
  add_sinusoidal_positions(x.data(), static_cast<int64_t>(positions.size()), dim, positions.data());
  test::expect_close(x, golden.f32("out"), kTolerance, "sinusoidal");
}

TEST(Positions, LearnedWithOffsets) {
  for (int offset : {0, 2}) {
    test::Golden golden("positions_learned_offset" + std::to_string(offset));
    const std::vector<int32_t> positions = positions_of(golden);
    std::vector<float> x = golden.f32("x");
    add_learned_positions(x.data(), static_cast<int64_t>(positions.size()), golden.view("table"), positions.data(),
                          offset);
    test::expect_close(x, golden.f32("out"), kTolerance, "offset " + std::to_string(offset));
  }
}

TEST(Positions, F16TableIsConvertedInChunks) {
  // 600 columns: two full 256-element chunks and a tail.
  const int64_t n_positions = 3, dim = 600;
  std::vector<uint16_t> table(static_cast<size_t>(n_positions * dim));
  std::vector<float> expected(static_cast<size_t>(dim));
  for (int64_t i = 0; i < dim; ++i) {
    table[static_cast<size_t>(2 * dim + i)] = fp32_to_fp16(0.25f * static_cast<float>(i % 17));
    expected[static_cast<size_t>(i)] = 1.0f + 0.25f * static_cast<float>(i % 17);  // exact in fp16
  }
  TensorView view;
  view.type = DType::F16;
  view.n_dims = 2;
  view.ne = {dim, n_positions, 1, 1};
  view.data = table.data();
  view.nbytes = table.size() * sizeof(uint16_t);
  std::vector<float> x(static_cast<size_t>(dim), 1.0f);
  const int32_t position = 1;
  add_learned_positions(x.data(), 1, view, &position, 1);
  test::expect_close(x, expected, 0.0f, "f16 chunks");
}

TEST(Positions, PastTheTableThrows) {
  test::Golden golden("positions_learned_offset2");
  const TensorView& table = golden.view("table");
  std::vector<float> x(static_cast<size_t>(table.cols()));
  const int32_t last = static_cast<int32_t>(table.rows()) - 2, negative = -1;
  EXPECT_NO_THROW(add_learned_positions(x.data(), 1, table, &last, 1));
  EXPECT_THROW(add_learned_positions(x.data(), 1, table, &last, 2), LimitError);
  EXPECT_THROW(add_learned_positions(x.data(), 1, table, &negative, 2), LimitError);
  EXPECT_THROW(add_sinusoidal_positions(x.data(), 1, 7, &last), InvalidArgument);
}

}  // namespace
}  // namespace llmpp::layers
