// kernels::matmul over every weight type, decode and prefill paths, against the textbook
// float64 product of the dequantized weights (dequantization itself is checked against
// independent goldens in tests/test_quant.cpp).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "llmpp/kernels/linear.hpp"
#include "test_util.hpp"

namespace llmpp {
namespace {

using namespace kernels;

std::vector<float> random_normal(size_t n, uint32_t seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, sigma);
  std::vector<float> x(n);
  for (float& v : x) v = normal(rng);
  return x;
}

// A (n_out, n_in) weight of type `type` and its dequantized floats.
struct Weight {
  std::vector<uint8_t> bytes;
  std::vector<float> values;  // (n_out, n_in)
  TensorView view;
};

Weight make_weight(DType type, int64_t n_out, int64_t n_in, uint32_t seed) {
  Weight w;
  const std::vector<float> source = random_normal(static_cast<size_t>(n_out * n_in), seed, 0.3f);
  const uint64_t stride = row_bytes(type, static_cast<uint64_t>(n_in));
  w.bytes.resize(stride * n_out);
  w.values.resize(source.size());
  for (int64_t r = 0; r < n_out; ++r) {
    quantize_row(type, source.data() + r * n_in, w.bytes.data() + r * stride, n_in);
    dequantize_row(type, w.bytes.data() + r * stride, w.values.data() + r * n_in, n_in);
  }
  w.view.name = std::string("w_") + dtype_name(type);
  w.view.type = type;
  w.view.n_dims = 2;
  w.view.ne = {n_in, n_out, 1, 1};
  w.view.data = w.bytes.data();
  w.view.nbytes = w.bytes.size();
  return w;
}

// Allowed |y - y_ref| of output (t, r). Float paths (F32/F16/BF16 weights, and the prefill
// path, which multiplies dequantized weights in float): 1e-5 of sum_i |w_i x_i|. The decode
// path first quantizes x to the weight type's activation partner, which moves each x_i by
// at most `activation_step` of its block's max |x|: Q8_0 / Q8_1 round to d / 2 with
// d = max/127 (plus fp16(d)'s 2^-11 relative error times 127 levels: 0.5625 d); Q8_K
// clamps its far end by one step of max/128. Q8_1's fp16 s = d * sum(q) adds 2^-11 of
// max|w| sum|x| per block (see tests/test_quant.cpp).
double allowed_error(const WeightTypeKernels& k, bool quantized_activations, const float* w, const float* x,
                     int64_t n_in) {
  double bound = 0.0;
  for (int64_t i = 0; i < n_in; ++i) bound += 1e-5 * std::fabs(static_cast<double>(w[i]) * x[i]);
  if (!quantized_activations || k.activation_type == DType::F32) return bound + 1e-30;
  const int64_t block = dtype_traits(k.activation_type).block_size;
  const double activation_step = k.activation_type == DType::Q8_K ? 1.0 / 128 : 0.5625 / 127;
  for (int64_t b = 0; b < n_in / block; ++b) {
    double x_max = 0.0, w_abs = 0.0, w_max = 0.0, x_abs = 0.0;
    for (int64_t i = b * block; i < (b + 1) * block; ++i) {
      x_max = std::max(x_max, std::fabs(static_cast<double>(x[i])));
      w_max = std::max(w_max, std::fabs(static_cast<double>(w[i])));
      w_abs += std::fabs(w[i]);
      x_abs += std::fabs(x[i]);
    }
    bound += w_abs * x_max * activation_step * 1.001;
    if (k.activation_type == DType::Q8_1) bound += w_max * x_abs / 1024.0;
  }
  return bound + 1e-30;
}

const DType kTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q4_0, DType::Q4_1, DType::Q5_0,
                        DType::Q5_1, DType::Q8_0, DType::Q4_K, DType::Q5_K, DType::Q6_K};

TEST(Matmul, MatchesDequantizedFloatMatmul) {
  const int64_t n_in = 512, n_out = 37;  // 37 rows: ragged against tiles and thread chunks
  ThreadPool pool(2);
  uint32_t seed = 1;
  for (DType type : kTypes) {
    const WeightTypeKernels& k = weight_type_kernels(type);
    const Weight w = make_weight(type, n_out, n_in, ++seed);
    for (int64_t n_tokens : {1, 3, 17, 64}) {
      const std::vector<float> x = random_normal(static_cast<size_t>(n_tokens * n_in), ++seed);
      std::vector<float> y(static_cast<size_t>(n_tokens * n_out), NAN);
      matmul(w.view, x.data(), n_tokens, y.data(), n_tokens % 2 ? &pool : nullptr);
      const bool quantized_activations = n_tokens < kPrefillMinTokens || k.integer_prefill;
      int failures = 0;
      for (int64_t t = 0; t < n_tokens; ++t) {
        for (int64_t r = 0; r < n_out; ++r) {
          const float* w_row = w.values.data() + r * n_in;
          const float* x_row = x.data() + t * n_in;
          double expected = 0.0;
          for (int64_t i = 0; i < n_in; ++i) expected += static_cast<double>(w_row[i]) * x_row[i];
          const double err = std::fabs(y[t * n_out + r] - expected);
          const double bound = allowed_error(k, quantized_activations, w_row, x_row, n_in);
          if (!(err <= bound) && failures++ < 3)
            ADD_FAILURE() << dtype_name(type) << " n_tokens=" << n_tokens << " (" << t << ", " << r << "): got "
                          << y[t * n_out + r] << " expected " << expected << " bound " << bound;
        }
      }
    }
  }
}

// Work is split by rows (prefill: in whole tiles), so the thread count must not change a
// single bit of the quantized-type paths. F32 goes to Eigen, whose kernels round
// differently at the edges of a row chunk: 1e-6 there.
TEST(Matmul, ThreadCountDoesNotChangeResult) {
  ThreadPool pool(2);
  for (DType type : {DType::Q4_0, DType::Q4_K, DType::F16, DType::F32}) {
    const Weight w = make_weight(type, 70, 256, 77);
    for (int64_t n_tokens : {1, 20}) {
      const std::vector<float> x = random_normal(static_cast<size_t>(n_tokens * 256), 78);
      std::vector<float> single(static_cast<size_t>(n_tokens * 70)), threaded(single.size());
      matmul(w.view, x.data(), n_tokens, single.data());
      matmul(w.view, x.data(), n_tokens, threaded.data(), &pool);
      if (type == DType::F32) test::expect_close(threaded, single, 1e-6f, "F32");
      else EXPECT_EQ(single, threaded) << dtype_name(type) << " n_tokens=" << n_tokens;
    }
  }
}

TEST(Matmul, UnsupportedTypeThrowsNamingIt) {
  std::vector<uint8_t> bytes(row_bytes(DType::Q3_K, 256) * 4);
  TensorView w;
  w.name = "blk.0.ffn_down.weight";
  w.type = DType::Q3_K;
  w.n_dims = 2;
  w.ne = {256, 4, 1, 1};
  w.data = bytes.data();
  w.nbytes = bytes.size();
  float x[256] = {}, y[4];
  try {
    matmul(w, x, 1, y);
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("Q3_K"), std::string::npos) << e.what();
  }
}

TEST(Matmul, MalformedViewsThrow) {
  std::vector<uint8_t> bytes(64);
  TensorView w;
  w.name = "bad";
  w.type = DType::Q4_0;
  w.n_dims = 2;
  w.ne = {48, 1, 1, 1};
  w.data = bytes.data();
  float x[64] = {}, y[2];
  EXPECT_THROW(matmul(w, x, 1, y), InvalidArgument);
  w.ne = {64, 2, 1, 1};  // needs 2 rows of 36 bytes
  w.nbytes = 64;
  EXPECT_THROW(matmul(w, x, 1, y), InvalidArgument);
}

}  // namespace
}  // namespace llmpp
