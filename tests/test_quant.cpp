// GGML weight types: block layouts, dequantization against goldens decoded independently
// by scripts/reference/gen_quant_golden.py, quantizer round trips within each format's
// error bound, and the AVX2 dot products / activation quantizers against their scalar twins.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "llmpp/core/aligned.hpp"
#include "llmpp/kernels/quant.hpp"
#include "test_util.hpp"

namespace llmpp {
namespace {

using namespace kernels;

const DType kWeightTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q4_0, DType::Q4_1,
                              DType::Q5_0, DType::Q5_1, DType::Q8_0, DType::Q2_K, DType::Q3_K,
                              DType::Q4_K, DType::Q5_K, DType::Q6_K};

std::vector<float> random_normal(size_t n, uint32_t seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, sigma);
  std::vector<float> x(n);
  for (float& v : x) v = normal(rng);
  return x;
}

std::vector<uint8_t> quantize(DType type, const std::vector<float>& x) {
  std::vector<uint8_t> bytes(row_bytes(type, x.size()));
  quantize_row(type, x.data(), bytes.data(), static_cast<int64_t>(x.size()));
  return bytes;
}

std::vector<float> dequantize(DType type, const std::vector<uint8_t>& bytes, size_t n) {
  std::vector<float> y(n);
  dequantize_row(type, bytes.data(), y.data(), static_cast<int64_t>(n));
  return y;
}

template <typename Block>
std::vector<Block> as_blocks(const std::vector<uint8_t>& bytes) {
  std::vector<Block> blocks(bytes.size() / sizeof(Block));
  std::memcpy(blocks.data(), bytes.data(), blocks.size() * sizeof(Block));
  return blocks;
}

TEST(QuantBlocks, SizesMatchDTypeTraits) {
  EXPECT_EQ(sizeof(BlockQ4_0), dtype_traits(DType::Q4_0).block_bytes);
  EXPECT_EQ(sizeof(BlockQ4_1), dtype_traits(DType::Q4_1).block_bytes);
  EXPECT_EQ(sizeof(BlockQ5_0), dtype_traits(DType::Q5_0).block_bytes);
  EXPECT_EQ(sizeof(BlockQ5_1), dtype_traits(DType::Q5_1).block_bytes);
  EXPECT_EQ(sizeof(BlockQ8_0), dtype_traits(DType::Q8_0).block_bytes);
  EXPECT_EQ(sizeof(BlockQ8_1), dtype_traits(DType::Q8_1).block_bytes);
  EXPECT_EQ(sizeof(BlockQ2_K), dtype_traits(DType::Q2_K).block_bytes);
  EXPECT_EQ(sizeof(BlockQ3_K), dtype_traits(DType::Q3_K).block_bytes);
  EXPECT_EQ(sizeof(BlockQ4_K), dtype_traits(DType::Q4_K).block_bytes);
  EXPECT_EQ(sizeof(BlockQ5_K), dtype_traits(DType::Q5_K).block_bytes);
  EXPECT_EQ(sizeof(BlockQ6_K), dtype_traits(DType::Q6_K).block_bytes);
  EXPECT_EQ(sizeof(BlockQ8_K), dtype_traits(DType::Q8_K).block_bytes);
}

// The goldens are random blocks decoded by numpy from the published layouts. Both sides do
// the same float32 products, so the tolerance is 1e-6 of max(1, max |value|): exact up to
// the order of one rounding.
TEST(QuantDequantize, MatchesIndependentGolden) {
  test::Golden golden("quant_blocks");
  for (DType type : {DType::F16, DType::BF16, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q8_0,
                     DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
    const std::string name = dtype_name(type);
    const TensorView& raw = golden.view(name + ".bytes");
    ASSERT_EQ(raw.type, DType::I8) << name;
    std::vector<uint8_t> bytes(static_cast<size_t>(raw.n_elements()));
    std::memcpy(bytes.data(), raw.data, bytes.size());
    const std::vector<float> expected = golden.f32(name + ".values");
    ASSERT_EQ(row_bytes(type, expected.size()), bytes.size()) << name;
    test::expect_close(dequantize(type, bytes, expected.size()), expected, 1e-6f, name);
  }
}

TEST(QuantDequantize, UnsupportedTypesThrowNamingTheType) {
  float out[256];
  uint8_t in[512] = {};  // room for any 256-element row
  for (DType type : {DType::I8, DType::I32, DType::F64}) {
    try {
      dequantize_row(type, in, out, 256);
      FAIL() << "expected InvalidArgument for " << dtype_name(type);
    } catch (const InvalidArgument& e) {
      EXPECT_NE(std::string(e.what()).find(dtype_name(type)), std::string::npos) << e.what();
    }
    EXPECT_THROW(quantize_row(type, out, in, 256), InvalidArgument);
  }
  EXPECT_THROW(dequantize_row(DType::Q4_0, in, out, 33), InvalidArgument);  // not whole blocks
}

// Per-element error bound of quantize -> dequantize, read off the quantized blocks. fp16
// scales add a relative 2^-11 per stored fp16 factor (`half_ulp`).
std::vector<float> round_trip_bounds(DType type, const std::vector<uint8_t>& bytes, const std::vector<float>& x) {
  constexpr float half_ulp = 1.0f / 2048.0f;
  const float float_slack = 1e-6f * std::max(1.0f, test::max_abs(x.data(), x.size()));
  std::vector<float> bound(x.size());
  auto fill = [&](size_t begin, size_t count, float value) {
    for (size_t i = begin; i < begin + count; ++i) bound[i] = value + float_slack;
  };
  switch (type) {
    case DType::F16:  // round to nearest: half an ulp of 11 significant bits
      for (size_t i = 0; i < x.size(); ++i) bound[i] = std::fabs(x[i]) * half_ulp + 6e-8f;
      break;
    case DType::BF16:  // 8 significant bits
      for (size_t i = 0; i < x.size(); ++i) bound[i] = std::fabs(x[i]) / 256.0f;
      break;
    case DType::Q8_0: {  // round(x / d) never clamps: d / 2, plus |q| <= 127 times fp16(d)'s error
      const auto blocks = as_blocks<BlockQ8_0>(bytes);
      for (size_t b = 0; b < blocks.size(); ++b) fill(32 * b, 32, std::fabs(fp16_to_fp32(blocks[b].d)) * (0.5f + 128 * half_ulp));
      break;
    }
    case DType::Q4_0:  // the extreme maps exactly to level 0; the other sign's end may clamp one step short
    case DType::Q5_0: {
      const int half_levels = type == DType::Q4_0 ? 8 : 16;
      const auto d_of = [&](size_t b) {
        uint16_t d;
        std::memcpy(&d, bytes.data() + b * dtype_traits(type).block_bytes, 2);
        return std::fabs(fp16_to_fp32(d));
      };
      for (size_t b = 0; b < bytes.size() / dtype_traits(type).block_bytes; ++b)
        fill(32 * b, 32, d_of(b) * (1.0f + 2 * half_levels * half_ulp));
      break;
    }
    case DType::Q4_1:  // d = (max - min) / max_q covers the range: d / 2, plus fp16 error of d and m
    case DType::Q5_1: {
      const int max_q = type == DType::Q4_1 ? 15 : 31;
      const size_t block_bytes = dtype_traits(type).block_bytes;
      for (size_t b = 0; b < bytes.size() / block_bytes; ++b) {
        uint16_t d, m;
        std::memcpy(&d, bytes.data() + b * block_bytes, 2);
        std::memcpy(&m, bytes.data() + b * block_bytes + 2, 2);
        fill(32 * b, 32, fp16_to_fp32(d) * (0.5f + (max_q + 1) * half_ulp) + std::fabs(fp16_to_fp32(m)) * half_ulp);
      }
      break;
    }
    case DType::Q4_K:  // scales rounded up so the range is covered: half a sub-block step
    case DType::Q5_K: {
      const size_t block_bytes = dtype_traits(type).block_bytes;
      for (size_t b = 0; b < bytes.size() / block_bytes; ++b) {
        const uint8_t* block = bytes.data() + b * block_bytes;
        uint16_t d;
        std::memcpy(&d, block, 2);
        uint8_t scales[8], mins[8];
        scalar::unpack_scales_mins_k4(block + 4, scales, mins);
        for (int j = 0; j < 8; ++j) fill(256 * b + 32 * j, 32, 0.5f * fp16_to_fp32(d) * scales[j]);
      }
      break;
    }
    case DType::Q2_K: {  // per 16: affine like Q4_K, half a sub-block step
      const auto blocks = as_blocks<BlockQ2_K>(bytes);
      for (size_t b = 0; b < blocks.size(); ++b)
        for (int j = 0; j < 16; ++j)
          fill(256 * b + 16 * j, 16, 0.5f * fp16_to_fp32(blocks[b].d) * (blocks[b].scales[j] & 0x0f));
      break;
    }
    case DType::Q3_K: {  // per 16: symmetric like Q6_K, one step of the sub-block
      const auto blocks = as_blocks<BlockQ3_K>(bytes);
      for (size_t b = 0; b < blocks.size(); ++b) {
        int8_t scales[16];
        scalar::unpack_scales_q3_k(blocks[b].scales, scales);
        for (int j = 0; j < 16; ++j) fill(256 * b + 16 * j, 16, std::fabs(fp16_to_fp32(blocks[b].d) * scales[j]));
      }
      break;
    }
    case DType::Q6_K: {  // per 16: symmetric like Q4_0, so one step of the sub-block
      const auto blocks = as_blocks<BlockQ6_K>(bytes);
      for (size_t b = 0; b < blocks.size(); ++b)
        for (int j = 0; j < 16; ++j)
          fill(256 * b + 16 * j, 16, std::fabs(fp16_to_fp32(blocks[b].d) * blocks[b].scales[j]));
      break;
    }
    case DType::Q8_K: {  // float d, extreme at -128: one step on the clamped side
      const auto blocks = as_blocks<BlockQ8_K>(bytes);
      for (size_t b = 0; b < blocks.size(); ++b) fill(256 * b, 256, std::fabs(blocks[b].d) * 1.0001f);
      break;
    }
    default:
      fill(0, x.size(), 0.0f);
  }
  return bound;
}

// Relative RMS error of a Gaussian row, a little above step / sqrt(12) per format (the
// uniform rounding model) so a broken quantizer (wrong scale, lost bits) is caught even
// when it stays inside the max bound.
float rms_limit(DType type) {
  switch (type) {
    case DType::F32: return 0.0f;
    case DType::F16: return 3e-4f;   // measured 2.1e-4
    case DType::BF16: return 2.5e-3f;  // 1.6e-3
    case DType::Q8_0: case DType::Q8_1: case DType::Q8_K: return 0.008f;  // 0.005 - 0.0067
    case DType::Q6_K: return 0.025f;  // 0.018
    case DType::Q5_0: case DType::Q5_1: case DType::Q5_K: return 0.05f;  // 0.036 - 0.041
    case DType::Q3_K: return 0.2f;  // 0.156: 8 levels per 16 elements
    case DType::Q2_K: return 0.4f;  // 0.341: 4 levels per 16 elements
    default: return 0.1f;  // 4-bit types: 0.076 - 0.083
  }
}

TEST(QuantRoundTrip, WithinFormatBounds) {
  // 512 Gaussian values, a block of outliers, an all-zero block and a constant block.
  std::vector<float> x = random_normal(2048, 7);
  for (int i = 256; i < 288; ++i) x[i] *= 40.0f;
  for (int i = 512; i < 768; ++i) x[i] = 0.0f;
  for (int i = 768; i < 1024; ++i) x[i] = 0.75f;
  for (DType type : {DType::F32, DType::F16, DType::BF16, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1,
                     DType::Q8_0, DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::Q8_K}) {
    const std::vector<uint8_t> bytes = quantize(type, x);
    const std::vector<float> y = dequantize(type, bytes, x.size());
    const std::vector<float> bound = round_trip_bounds(type, bytes, x);
    int failures = 0;
    double err2 = 0.0, x2 = 0.0;
    for (size_t i = 0; i < x.size(); ++i) {
      const float err = std::fabs(y[i] - x[i]);
      if (!(err <= bound[i]) && failures++ < 3)
        ADD_FAILURE() << dtype_name(type) << " element " << i << ": x " << x[i] << " -> " << y[i] << ", bound " << bound[i];
      if (i >= 1024) {  // Gaussian tail of the row
        err2 += static_cast<double>(err) * err;
        x2 += static_cast<double>(x[i]) * x[i];
      }
    }
    EXPECT_LE(std::sqrt(err2 / x2), rms_limit(type)) << dtype_name(type);
  }
}

TEST(QuantRoundTrip, ActivationTypesQ8_1) {
  const std::vector<float> x = random_normal(256, 8);
  const auto blocks = as_blocks<BlockQ8_1>(quantize(DType::Q8_1, x));
  for (size_t b = 0; b < blocks.size(); ++b) {
    int sum = 0;
    for (int8_t q : blocks[b].qs) sum += q;
    // s is d * sum(q) rounded to fp16.
    EXPECT_NEAR(fp16_to_fp32(blocks[b].s), fp16_to_fp32(blocks[b].d) * sum,
                std::fabs(fp16_to_fp32(blocks[b].d) * sum) * 2e-3f + 1e-6f);
  }
  const auto k_blocks = as_blocks<BlockQ8_K>(quantize(DType::Q8_K, x));
  for (int j = 0; j < 16; ++j) {
    int sum = 0;
    for (int l = 0; l < 16; ++l) sum += k_blocks[0].qs[16 * j + l];
    EXPECT_EQ(k_blocks[0].bsums[j], sum);
  }
}

// ---------------------------------------------------------------------------------------
// Dot products
// ---------------------------------------------------------------------------------------

// A weight row and its activation row in the layout dot() takes.
struct DotCase {
  std::vector<uint8_t> weight, activation;
  std::vector<float> weight_values, activation_values;  // dequantized
};

DotCase make_dot_case(const WeightTypeKernels& k, int64_t n, uint32_t seed) {
  DotCase c;
  c.weight = quantize(k.type, random_normal(static_cast<size_t>(n), seed, 0.5f));
  c.weight_values = dequantize(k.type, c.weight, static_cast<size_t>(n));
  std::vector<float> x = random_normal(static_cast<size_t>(n), seed + 1000);
  if (k.activation_type == DType::F32) {
    c.activation.resize(sizeof(float) * n);
    std::memcpy(c.activation.data(), x.data(), c.activation.size());
    c.activation_values = x;
  } else {
    c.activation = quantize(k.activation_type, x);
    c.activation_values = dequantize(k.activation_type, c.activation, static_cast<size_t>(n));
  }
  return c;
}

// Row lengths in elements: ragged block counts (416 = 13 blocks of 32 takes every step of
// Q8_0's one-row loop: 8 blocks, 4, then 1; 32, 96, 320 and 416 leave 1, 3, 2 and 1 blocks
// past the AVX-512 kernels' groups of four), and for float types lengths that are not a
// multiple of the SIMD width.
std::vector<int64_t> dot_lengths(DType type) {
  const int64_t block = dtype_traits(type).block_size == 1 ? 1 : dtype_traits(type).block_size;
  if (block == 1) return {1, 7, 8, 31, 64, 100, 1027};
  if (block == 32) return {32, 96, 224, 320, 416, 1056, 4096};
  return {256, 768, 1280, 4096};
}

// Scale of a dot's rounding: sum |w_i a_i| of the dequantized operands.
double abs_dot(const DotCase& c) {
  double s = 0.0;
  for (size_t i = 0; i < c.weight_values.size(); ++i)
    s += std::fabs(static_cast<double>(c.weight_values[i]) * c.activation_values[i]);
  return s;
}

// The reference: the float64 dot of the dequantized operands.
double dequantized_dot(const DotCase& c) {
  double dot = 0.0;
  for (size_t i = 0; i < c.weight_values.size(); ++i)
    dot += static_cast<double>(c.weight_values[i]) * c.activation_values[i];
  return dot;
}

// Each type's dot equals dequantized_dot within 1e-5 of sum |w_i a_i|. Q4_1 / Q5_1 also
// carry m * s, where s = d * sum(q) is stored as fp16 (relative error 2^-11); with
// |m| <= max|w| and |s| <= sum|a| over the block, that term gets 2^-10 * max|w| * sum|a|
// per block (a factor 2 of margin).
double dequantized_dot_tolerance(const WeightTypeKernels& k, const DotCase& c) {
  double fp16_s_term = 0.0;
  if (k.activation_type == DType::Q8_1)
    for (size_t b = 0; b < c.weight_values.size() / 32; ++b) {
      double w_max = 0.0, a_sum = 0.0;
      for (size_t i = 32 * b; i < 32 * b + 32; ++i) {
        w_max = std::max(w_max, std::fabs(static_cast<double>(c.weight_values[i])));
        a_sum += std::fabs(c.activation_values[i]);
      }
      fp16_s_term += w_max * a_sum / 1024.0;
    }
  return 1e-5 * abs_dot(c) + fp16_s_term + 1e-30;
}

TEST(QuantDot, MatchesDequantizedDot) {
  uint32_t seed = 100;
  for (DType type : kWeightTypes) {
    const WeightTypeKernels& k = weight_type_kernels(type);
    for (int64_t n : dot_lengths(type)) {
      const DotCase c = make_dot_case(k, n, ++seed);
      const float actual = k.dot(c.weight.data(), c.activation.data(), n);
      EXPECT_NEAR(actual, dequantized_dot(c), dequantized_dot_tolerance(k, c)) << dtype_name(type) << " n=" << n;
    }
  }
}

// Several rows for dot_rows, `row_stride` bytes apart (with 8 bytes of padding between
// rows, so the stride is used, and F32 rows stay 4-byte aligned as in a real tensor), against
// one activation row.
struct DotRowsCase {
  std::vector<uint8_t> weights;  // (n_rows, row_stride)
  uint64_t row_stride = 0;
  std::vector<DotCase> rows;     // each row with the shared activation
};

DotRowsCase make_dot_rows_case(const WeightTypeKernels& k, int64_t n, int64_t n_rows, uint32_t seed) {
  DotRowsCase c;
  c.row_stride = row_bytes(k.type, static_cast<uint64_t>(n)) + 8;
  c.weights.assign(c.row_stride * n_rows, 0xa5);
  for (int64_t r = 0; r < n_rows; ++r) {
    DotCase row = make_dot_case(k, n, seed);  // same seed: same activation in every row
    row.weight = quantize(k.type, random_normal(static_cast<size_t>(n), seed + 7919 * (r + 1), 0.5f));
    row.weight_values = dequantize(k.type, row.weight, static_cast<size_t>(n));
    std::memcpy(c.weights.data() + r * c.row_stride, row.weight.data(), row.weight.size());
    c.rows.push_back(std::move(row));
  }
  return c;
}

// Runs dot_rows of every weight type over row counts that are and are not multiples of
// the kernels' 4-row passes; check(k, n, case, out) sees each result.
template <typename Check>
void for_each_dot_rows_result(uint32_t seed, Check check) {
  for (DType type : kWeightTypes) {
    const WeightTypeKernels& k = weight_type_kernels(type);
    for (int64_t n : dot_lengths(type))
      for (int64_t n_rows : {1, 4, 7, 9}) {
        const DotRowsCase c = make_dot_rows_case(k, n, n_rows, ++seed);
        std::vector<float> out(static_cast<size_t>(n_rows), -1.0f);
        k.dot_rows(c.weights.data(), c.row_stride, c.rows[0].activation.data(), n, out.data(), n_rows);
        check(k, n, c, out);
      }
  }
}

// dot_rows gives each row's dot within the tolerance of MatchesDequantizedDot.
TEST(QuantDot, RowsMatchDequantizedDot) {
  for_each_dot_rows_result(300, [](const WeightTypeKernels& k, int64_t n, const DotRowsCase& c,
                                   const std::vector<float>& out) {
    const DType type = k.type;
    const int64_t n_rows = static_cast<int64_t>(c.rows.size());
    for (int64_t r = 0; r < n_rows; ++r)
      EXPECT_NEAR(out[r], dequantized_dot(c.rows[r]), dequantized_dot_tolerance(k, c.rows[r]))
          << dtype_name(type) << " n=" << n << " rows=" << n_rows << " row " << r;
  });
}

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)

// The scalar twin of each AVX2 dot of a quantized type, type-erased the same way as the
// dispatch table.
float scalar_quant_dot(DType type, const void* w, const void* a, int64_t n) {
  switch (type) {
    case DType::Q4_0: return scalar::vec_dot(static_cast<const BlockQ4_0*>(w), static_cast<const BlockQ8_0*>(a), n);
    case DType::Q4_1: return scalar::vec_dot(static_cast<const BlockQ4_1*>(w), static_cast<const BlockQ8_1*>(a), n);
    case DType::Q5_0: return scalar::vec_dot(static_cast<const BlockQ5_0*>(w), static_cast<const BlockQ8_0*>(a), n);
    case DType::Q5_1: return scalar::vec_dot(static_cast<const BlockQ5_1*>(w), static_cast<const BlockQ8_1*>(a), n);
    case DType::Q8_0: return scalar::vec_dot(static_cast<const BlockQ8_0*>(w), static_cast<const BlockQ8_0*>(a), n);
    case DType::Q2_K: return scalar::vec_dot(static_cast<const BlockQ2_K*>(w), static_cast<const BlockQ8_K*>(a), n);
    case DType::Q3_K: return scalar::vec_dot(static_cast<const BlockQ3_K*>(w), static_cast<const BlockQ8_K*>(a), n);
    case DType::Q4_K: return scalar::vec_dot(static_cast<const BlockQ4_K*>(w), static_cast<const BlockQ8_K*>(a), n);
    case DType::Q5_K: return scalar::vec_dot(static_cast<const BlockQ5_K*>(w), static_cast<const BlockQ8_K*>(a), n);
    case DType::Q6_K: return scalar::vec_dot(static_cast<const BlockQ6_K*>(w), static_cast<const BlockQ8_K*>(a), n);
    default: throw InvalidArgument("no scalar dot");
  }
}

// ... and of every type, the float ones included.
float scalar_dot(DType type, const void* w, const void* a, int64_t n) {
  const auto* x = static_cast<const float*>(a);
  switch (type) {
    case DType::F32: return scalar::dot_f32(static_cast<const float*>(w), x, n);
    case DType::F16: return scalar::dot_f16(static_cast<const uint16_t*>(w), x, n);
    case DType::BF16: return scalar::dot_bf16(static_cast<const uint16_t*>(w), x, n);
    default: return scalar_quant_dot(type, w, a, n);
  }
}

// Same inputs to both: agreement within 1e-5 of sum |w_i a_i| (only the float summation
// order differs; the integer block sums are exact in both).
TEST(QuantDot, Avx2MatchesScalar) {
  uint32_t seed = 500;
  for (DType type : kWeightTypes) {
    const WeightTypeKernels& k = weight_type_kernels(type);
    for (int64_t n : dot_lengths(type)) {
      const DotCase c = make_dot_case(k, n, ++seed);
      const float avx2 = k.dot(c.weight.data(), c.activation.data(), n);
      const float scalar = scalar_dot(type, c.weight.data(), c.activation.data(), n);
      EXPECT_NEAR(avx2, scalar, 1e-5 * abs_dot(c) + 1e-30) << dtype_name(type) << " n=" << n;
    }
  }
}

// AVX2 dot_rows against the scalar dot of each row: within 1e-5 of sum |w_i a_i|.
TEST(QuantDot, RowsAvx2MatchScalar) {
  for_each_dot_rows_result(700, [](const WeightTypeKernels& k, int64_t n, const DotRowsCase& c,
                                   const std::vector<float>& out) {
    for (size_t r = 0; r < c.rows.size(); ++r) {
      const float scalar = scalar_dot(k.type, c.weights.data() + r * c.row_stride, c.rows[r].activation.data(), n);
      EXPECT_NEAR(out[r], scalar, 1e-5 * abs_dot(c.rows[r]) + 1e-30)
          << dtype_name(k.type) << " n=" << n << " rows=" << c.rows.size() << " row " << r;
    }
  });
}

// F16 and BF16 dot_rows read a short activation that starts on 32 bytes once per row and any
// other eight rows at a time (avx2::quant_simd::kOneRowMaxActivationBytes): both loops against
// the scalar dot of each row, within 1e-5 of sum |w_i a_i|. Lengths on both sides of the
// limit, with an odd 16 and a tail of fewer than 16; row counts below, at and past a multiple
// of 8; the activation 32-byte aligned and 16 bytes off.
TEST(QuantDot, FloatRowsBothLoopsMatchScalar) {
  constexpr int64_t kLimit = avx2::quant_simd::kOneRowMaxActivationBytes / sizeof(float);
  uint32_t seed = 1300;
  for (DType type : {DType::F16, DType::BF16}) {
    const WeightTypeKernels& k = weight_type_kernels(type);
    for (int64_t n : {int64_t{48}, int64_t{1027}, kLimit - 16, kLimit, kLimit + 16})
      for (int64_t n_rows : {1, 7, 8, 17})
        for (size_t offset_floats : {0, 4}) {
          const DotRowsCase c = make_dot_rows_case(k, n, n_rows, ++seed);
          AlignedVector<float> activation(static_cast<size_t>(n) + offset_floats);
          std::memcpy(activation.data() + offset_floats, c.rows[0].activation.data(), n * sizeof(float));
          std::vector<float> out(static_cast<size_t>(n_rows), -1.0f);
          k.dot_rows(c.weights.data(), c.row_stride, activation.data() + offset_floats, n, out.data(), n_rows);
          for (int64_t r = 0; r < n_rows; ++r) {
            const float scalar = scalar_dot(type, c.weights.data() + r * c.row_stride, c.rows[r].activation.data(), n);
            EXPECT_NEAR(out[r], scalar, 1e-5 * abs_dot(c.rows[r]) + 1e-30)
                << dtype_name(type) << " n=" << n << " rows=" << n_rows << " offset " << offset_floats << " row " << r;
          }
        }
  }
}

// dot_rows_tokens (several activation rows, `activation_stride` bytes apart, into rows of
// out `out_stride` floats apart) against the scalar dot of each (row, token), within 1e-5 of
// sum |w_i a_i|; ragged row and token counts, so that the passes of 4 rows by 8 tokens (the
// AVX-512 kernels, in a build for them) and by 4, and the tails, all run. The padding
// between activation rows and between output rows must stay untouched.
TEST(QuantDot, RowsTokensAvx2MatchScalar) {
  uint32_t seed = 900;
  for (DType type : kWeightTypes) {
    const WeightTypeKernels& k = weight_type_kernels(type);
    for (int64_t n : dot_lengths(type))
      for (int64_t n_rows : {4, 9})
        for (int64_t n_tokens : {1, 6, 13}) {
          const DotRowsCase c = make_dot_rows_case(k, n, n_rows, ++seed);
          const uint64_t activation_bytes = c.rows[0].activation.size(), activation_stride = activation_bytes + 16;
          std::vector<DotCase> tokens;
          std::vector<uint8_t> activations(activation_stride * n_tokens, 0x5a);
          for (int64_t t = 0; t < n_tokens; ++t) {
            tokens.push_back(make_dot_case(k, n, seed * 131 + static_cast<uint32_t>(t)));
            std::memcpy(activations.data() + t * activation_stride, tokens.back().activation.data(), activation_bytes);
          }
          const int64_t out_stride = n_rows + 3;
          std::vector<float> out(static_cast<size_t>(out_stride * n_tokens), -1.0f);
          k.dot_rows_tokens(c.weights.data(), c.row_stride, activations.data(), activation_stride, n, n_tokens,
                            out.data(), out_stride, n_rows);
          for (int64_t t = 0; t < n_tokens; ++t) {
            for (int64_t r = 0; r < n_rows; ++r) {
              DotCase pair = tokens[t];
              pair.weight_values = c.rows[r].weight_values;
              const float scalar = scalar_dot(type, c.weights.data() + r * c.row_stride, tokens[t].activation.data(), n);
              EXPECT_NEAR(out[t * out_stride + r], scalar, 1e-5 * abs_dot(pair) + 1e-30)
                  << dtype_name(type) << " n=" << n << " rows=" << n_rows << " tokens=" << n_tokens << " (" << t
                  << ", " << r << ")";
            }
            for (int64_t r = n_rows; r < out_stride; ++r) EXPECT_EQ(out[t * out_stride + r], -1.0f);
          }
        }
  }
}

// Quants, scales and activations at the ends of their ranges, where an int16 sum inside a
// multi-row kernel would saturate first (the bounds noted in avx2/quant.hpp): every row filled
// with one byte (0xff: the largest quants, 6-bit scales and mins; 0x80 / 0x7f: int8 extremes;
// 0x00), fp16 scales set to 1, against activations of all `lowest`, all 127, or alternating,
// through dot_rows and through dot_rows_tokens.
// `lowest` is -128 for Q8_K, whose quantizer maps the extreme there, and -127 for Q8_0, whose
// quantizer never goes below (d = amax / 127), as ggml's. AVX2 dot_rows against the scalar dot of each row, within 1e-5 of sum |w_i a_i|.
TEST(QuantDot, RowsAvx2MatchScalarAtTheExtremes) {
  constexpr int64_t n = 512, n_rows = 9;
  constexpr uint16_t kHalfOne = 0x3c00;
  const uint8_t fills[] = {0xff, 0x80, 0x7f, 0x00};
  for (DType type : {DType::Q4_0, DType::Q8_0, DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
    const WeightTypeKernels& k = weight_type_kernels(type);
    const uint64_t row_stride = row_bytes(type, n), block_bytes = row_bytes(type, dtype_traits(type).block_size);
    // Byte offsets of the fp16 scale fields in a block.
    const std::vector<size_t> half_fields = type == DType::Q6_K                            ? std::vector<size_t>{208}
                                            : type == DType::Q4_K || type == DType::Q5_K ? std::vector<size_t>{0, 2}
                                            : type == DType::Q2_K                        ? std::vector<size_t>{80, 82}
                                            : type == DType::Q3_K                        ? std::vector<size_t>{108}
                                                                                         : std::vector<size_t>{0};
    for (int pattern = 0; pattern < 3; ++pattern) {
      std::vector<uint8_t> weights(row_stride * n_rows);
      for (int64_t r = 0; r < n_rows; ++r) {
        uint8_t* row = weights.data() + r * row_stride;
        std::memset(row, fills[(r + pattern) % 4], row_stride);
        for (uint64_t b = 0; b < row_stride; b += block_bytes)
          for (size_t field : half_fields) std::memcpy(row + b + field, &kHalfOne, 2);
      }
      const float lowest = k.activation_type == DType::Q8_K ? -128.0f : -127.0f;
      std::vector<float> activation_values(n);
      for (int64_t i = 0; i < n; ++i)
        activation_values[i] = pattern == 0 ? lowest : pattern == 1 ? 127.0f : (i % 2 ? 127.0f : lowest);
      std::vector<uint8_t> activation(row_bytes(k.activation_type, n));
      if (k.activation_type == DType::Q8_K) {
        auto* blocks = reinterpret_cast<BlockQ8_K*>(activation.data());
        for (int64_t b = 0; b < n / 256; ++b) {
          blocks[b].d = 1.0f;
          for (int j = 0; j < 256; ++j) blocks[b].qs[j] = static_cast<int8_t>(activation_values[256 * b + j]);
          for (int j = 0; j < 16; ++j) {
            int sum = 0;
            for (int l = 0; l < 16; ++l) sum += blocks[b].qs[16 * j + l];
            blocks[b].bsums[j] = static_cast<int16_t>(sum);
          }
        }
      } else {
        ASSERT_EQ(k.activation_type, DType::Q8_0);
        auto* blocks = reinterpret_cast<BlockQ8_0*>(activation.data());
        for (int64_t b = 0; b < n / 32; ++b) {
          blocks[b].d = kHalfOne;
          for (int j = 0; j < 32; ++j) blocks[b].qs[j] = static_cast<int8_t>(activation_values[32 * b + j]);
        }
      }
      std::vector<float> out(n_rows);
      k.dot_rows(weights.data(), row_stride, activation.data(), n, out.data(), n_rows);
      // The same activation as 13 tokens through dot_rows_tokens (passes of 8, 4 and 1 tokens):
      // each must equal dot_rows.
      constexpr int kTokens = 13;
      std::vector<uint8_t> repeated;
      for (int t = 0; t < kTokens; ++t) repeated.insert(repeated.end(), activation.begin(), activation.end());
      std::vector<float> token_out(kTokens * n_rows);
      k.dot_rows_tokens(weights.data(), row_stride, repeated.data(), activation.size(), n, kTokens, token_out.data(),
                        n_rows, n_rows);
      for (int t = 0; t < kTokens; ++t)
        for (int64_t r = 0; r < n_rows; ++r)
          EXPECT_EQ(token_out[t * n_rows + r], out[r]) << dtype_name(type) << " pattern " << pattern << " token " << t
                                                       << " row " << r;
      for (int64_t r = 0; r < n_rows; ++r) {
        const uint8_t* row = weights.data() + r * row_stride;
        std::vector<float> w(n);
        k.dequantize_row(row, w.data(), n);
        double abs_sum = 0;
        for (int64_t i = 0; i < n; ++i) abs_sum += std::fabs(static_cast<double>(w[i]) * activation_values[i]);
        EXPECT_NEAR(out[r], scalar_quant_dot(type, row, activation.data(), n), 1e-5 * abs_sum + 1e-30)
            << dtype_name(type) << " pattern " << pattern << " row " << r << " (fill 0x" << std::hex
            << int{fills[(r + pattern) % 4]} << std::dec << ")";
      }
    }
  }
}

// F16 and BF16 dot_rows keep what the weights say: a row holding +inf gives +inf (the
// activation is positive, so the sign is the weight's), -inf gives -inf, NaN gives NaN, as in
// the scalar dot; a row of subnormal weights counts in full (within 1e-5 of sum |w_i a_i|,
// with no absolute slack that would let a flush to zero pass). Rows 0-3 run in the 4-row pass,
// row 4 alone; with n = 45 the NaN sits in the scalar tail. (avx2/quant.hpp notes a faster F16
// widening that was rejected because it read exponent 31 as finite.)
TEST(QuantDot, FloatRowsKeepInfNanAndSubnormalWeights) {
  for (DType type : {DType::F16, DType::BF16}) {
    const WeightTypeKernels& k = weight_type_kernels(type);
    const bool f16 = type == DType::F16;
    const auto to_float = [f16](uint16_t bits) { return f16 ? fp16_to_fp32(bits) : bf16_to_fp32(bits); };
    for (int64_t n : {64, 45}) {
      constexpr int64_t n_rows = 5;
      std::vector<float> x = random_normal(static_cast<size_t>(n), 77);
      for (float& v : x) v = std::fabs(v) + 0.5f;
      const uint64_t stride = row_bytes(type, n);
      std::vector<uint16_t> w(static_cast<size_t>(n * n_rows));
      const std::vector<float> values = random_normal(w.size(), 78, 0.1f);
      quantize_row(type, values.data(), w.data(), static_cast<int64_t>(w.size()));
      for (int64_t i = 0; i < n; ++i)  // row 1: subnormals of both signs
        w[n + i] = static_cast<uint16_t>((i % 2 ? 0x8000 : 0) | (1 + i * 37 % (f16 ? 1023 : 127)));
      w[3] = f16 ? 0x7c00 : 0x7f80;                  // row 0: +inf
      w[2 * n + 40] = f16 ? 0xfc00 : 0xff80;         // row 2: -inf
      w[4 * n + n - 1] = f16 ? 0x7e00 : 0x7fc0;      // row 4: NaN
      std::vector<float> out(n_rows, 0.0f);
      k.dot_rows(w.data(), stride, x.data(), n, out.data(), n_rows);
      for (int64_t r = 0; r < n_rows; ++r) {
        const uint16_t* row = w.data() + r * n;
        const float scalar = scalar_dot(type, row, x.data(), n);
        const std::string where = std::string(dtype_name(type)) + " n=" + std::to_string(n) + " row " + std::to_string(r);
        if (std::isnan(scalar)) {
          EXPECT_TRUE(std::isnan(out[r])) << where << ": " << out[r];
        } else if (std::isinf(scalar)) {
          EXPECT_EQ(out[r], scalar) << where;
        } else {
          double abs_sum = 0.0;
          for (int64_t i = 0; i < n; ++i) abs_sum += std::fabs(static_cast<double>(to_float(row[i])) * x[i]);
          EXPECT_NEAR(out[r], scalar, 1e-5 * abs_sum) << where;
          EXPECT_NE(out[r], 0.0f) << where;
        }
      }
    }
  }
}

// Activation quantizers and the plain-float encoders produce the scalar twin's exact bytes
// (both round to nearest-even).
TEST(QuantActivation, Avx2MatchesScalarBytes) {
  std::vector<float> x = random_normal(4096, 9, 3.0f);
  for (int i = 0; i < 32; ++i) x[64 + i] = 0.0f;  // an all-zero block
  for (DType type : {DType::Q8_0, DType::Q8_1, DType::Q8_K, DType::F16, DType::BF16}) {
    const std::vector<uint8_t> avx2 = quantize(type, x);
    std::vector<uint8_t> scalar(avx2.size());
    switch (type) {
      case DType::Q8_0: scalar::quantize_row(x.data(), reinterpret_cast<BlockQ8_0*>(scalar.data()), 4096); break;
      case DType::Q8_1: scalar::quantize_row(x.data(), reinterpret_cast<BlockQ8_1*>(scalar.data()), 4096); break;
      case DType::Q8_K: scalar::quantize_row(x.data(), reinterpret_cast<BlockQ8_K*>(scalar.data()), 4096); break;
      case DType::F16: scalar::quantize_row_f16(x.data(), reinterpret_cast<uint16_t*>(scalar.data()), 4096); break;
      default: scalar::quantize_row_bf16(x.data(), reinterpret_cast<uint16_t*>(scalar.data()), 4096); break;
    }
    EXPECT_EQ(avx2, scalar) << dtype_name(type);
  }
}

TEST(QuantDequantize, Avx2MatchesScalar) {
  const std::vector<float> x = random_normal(1024, 11);
  for (DType type : kWeightTypes) {
    const std::vector<uint8_t> bytes = quantize(type, x);
    const std::vector<float> fast = dequantize(type, bytes, x.size());
    std::vector<float> reference(x.size());
    std::vector<uint8_t> reference_bytes = bytes;
    // The scalar path: decode block by block through the portable kernels.
    switch (type) {
      case DType::F32: std::memcpy(reference.data(), bytes.data(), bytes.size()); break;
      case DType::F16: scalar::dequantize_row_f16(reinterpret_cast<const uint16_t*>(bytes.data()), reference.data(), 1024); break;
      case DType::BF16: scalar::dequantize_row_bf16(reinterpret_cast<const uint16_t*>(bytes.data()), reference.data(), 1024); break;
      case DType::Q4_0: scalar::dequantize_row(as_blocks<BlockQ4_0>(bytes).data(), reference.data(), 1024); break;
      case DType::Q4_1: scalar::dequantize_row(as_blocks<BlockQ4_1>(bytes).data(), reference.data(), 1024); break;
      case DType::Q5_0: scalar::dequantize_row(as_blocks<BlockQ5_0>(bytes).data(), reference.data(), 1024); break;
      case DType::Q5_1: scalar::dequantize_row(as_blocks<BlockQ5_1>(bytes).data(), reference.data(), 1024); break;
      case DType::Q8_0: scalar::dequantize_row(as_blocks<BlockQ8_0>(bytes).data(), reference.data(), 1024); break;
      case DType::Q2_K: scalar::dequantize_row(as_blocks<BlockQ2_K>(bytes).data(), reference.data(), 1024); break;
      case DType::Q3_K: scalar::dequantize_row(as_blocks<BlockQ3_K>(bytes).data(), reference.data(), 1024); break;
      case DType::Q4_K: scalar::dequantize_row(as_blocks<BlockQ4_K>(bytes).data(), reference.data(), 1024); break;
      case DType::Q5_K: scalar::dequantize_row(as_blocks<BlockQ5_K>(bytes).data(), reference.data(), 1024); break;
      default: scalar::dequantize_row(as_blocks<BlockQ6_K>(bytes).data(), reference.data(), 1024); break;
    }
    test::expect_close(fast, reference, 1e-6f, dtype_name(type));
  }
}

#endif

}  // namespace
}  // namespace llmpp
