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

const DType kTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1,
                        DType::Q8_0, DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K};

// y (n_tokens, w's rows) against the float64 product of w's dequantized values and x, within
// allowed_error.
void expect_matches_reference(const Weight& w, const std::vector<float>& x, int64_t n_tokens,
                              const std::vector<float>& y, const std::string& label) {
  const WeightTypeKernels& k = weight_type_kernels(w.view.type);
  const int64_t n_in = w.view.cols(), n_out = w.view.rows();
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
        ADD_FAILURE() << label << " " << dtype_name(w.view.type) << " n_tokens=" << n_tokens << " (" << t << ", " << r
                      << "): got " << y[t * n_out + r] << " expected " << expected << " bound " << bound;
    }
  }
}

TEST(Matmul, MatchesDequantizedFloatMatmul) {
  const int64_t n_in = 512, n_out = 37;  // 37 rows: ragged against tiles and thread chunks
  ThreadPool pool(2);
  uint32_t seed = 1;
  for (DType type : kTypes) {
    const Weight w = make_weight(type, n_out, n_in, ++seed);
    for (int64_t n_tokens : {1, 3, 17, 64}) {
      const std::vector<float> x = random_normal(static_cast<size_t>(n_tokens * n_in), ++seed);
      std::vector<float> y(static_cast<size_t>(n_tokens * n_out), NAN);
      matmul(w.view, x.data(), n_tokens, y.data(), n_tokens % 2 ? &pool : nullptr);
      expect_matches_reference(w, x, n_tokens, y, "matmul");
    }
  }
}

// Prefill shapes that do not fill the AVX-512 product's tiles (kernels/avx512/gemm.hpp: 6
// tokens x 64 rows x 256 columns per panel), and the Eigen path in other builds: inner sizes
// with a last panel of 232 and of 8 columns (F32, F16, BF16 rows need no whole blocks), a
// width that is whole panels (768, every quantized type), 130 rows (two full row blocks and 2)
// and 23 tokens (three tiles and 5), one thread and two. Tolerance as above.
TEST(Matmul, PrefillRaggedShapesMatchReference) {
  ThreadPool pool(2);
  uint32_t seed = 500;
  for (DType type : kTypes) {
    const bool element_type = dtype_traits(type).block_size == 1;
    for (int64_t n_in : {int64_t{1000}, int64_t{520}, int64_t{768}}) {
      if (!element_type && n_in % dtype_traits(type).block_size != 0) continue;
      const Weight w = make_weight(type, 130, n_in, ++seed);
      for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
        const std::vector<float> x = random_normal(static_cast<size_t>(23 * n_in), ++seed);
        std::vector<float> y(static_cast<size_t>(23 * 130), NAN);
        matmul(w.view, x.data(), 23, y.data(), p);
        expect_matches_reference(w, x, 23, y, "prefill n_in=" + std::to_string(n_in));
      }
    }
  }
}

// Several weights with one input: each output against its own float64 reference. Sets whose
// kernels share an activation type decode as one range of rows (pieces of it straddle the
// weights: 70, 19 and 45 rows against pieces of 16, nine of them in the last set); the others
// (mixed activation types, F32) and prefill go weight by weight.
TEST(MatmulSharedInput, EachProductMatchesDequantizedFloatMatmul) {
  const int64_t n_in = 512;
  const int64_t n_rows[] = {70, 19, 45};
  ThreadPool pool(2);
  uint32_t seed = 500;
  const std::vector<std::vector<DType>> sets = {{DType::Q4_K, DType::Q6_K, DType::Q4_K},
                                                {DType::Q4_0, DType::Q4_0},
                                                {DType::Q8_0, DType::Q5_0, DType::Q4_1},
                                                {DType::F16, DType::BF16, DType::F16},
                                                {DType::F32, DType::F32},
                                                std::vector<DType>(9, DType::Q8_0)};
  for (const std::vector<DType>& types : sets) {
    std::vector<Weight> weights;
    for (size_t i = 0; i < types.size(); ++i) weights.push_back(make_weight(types[i], n_rows[i % 3], n_in, ++seed));
    for (int64_t n_tokens : {1, 3, 17}) {
      for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
        const std::vector<float> x = random_normal(static_cast<size_t>(n_tokens * n_in), ++seed);
        std::vector<std::vector<float>> ys;
        std::vector<MatmulProduct> products;
        for (const Weight& w : weights) ys.emplace_back(static_cast<size_t>(n_tokens * w.view.rows()), NAN);
        for (size_t i = 0; i < weights.size(); ++i) products.push_back({&weights[i].view, ys[i].data()});
        matmul_shared_input(products.data(), static_cast<int>(products.size()), x.data(), n_tokens, p);
        for (size_t i = 0; i < weights.size(); ++i)
          expect_matches_reference(weights[i], x, n_tokens, ys[i],
                                   "product " + std::to_string(i) + (p ? " threads=2" : " threads=1"));
      }
    }
  }
}

// Checked as matmul, every product before any is computed; weights of another width are
// refused naming both.
TEST(MatmulSharedInput, BadProductThrowsBeforeAnyIsComputed) {
  const Weight a = make_weight(DType::Q4_0, 8, 64, 1), b = make_weight(DType::Q4_0, 8, 96, 2);
  Weight broken = make_weight(DType::Q4_0, 8, 64, 3);
  broken.view.nbytes = 36;  // fewer bytes than 8 rows need
  const std::vector<float> x(96, 1.0f);
  std::vector<float> ya(8, NAN), yb(8, NAN);
  const MatmulProduct mismatched[] = {{&a.view, ya.data()}, {&b.view, yb.data()}};
  try {
    matmul_shared_input(mismatched, 2, x.data(), 1);
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(a.view.name), std::string::npos) << what;
    EXPECT_NE(what.find("96"), std::string::npos) << what;
  }
  const MatmulProduct with_broken[] = {{&a.view, ya.data()}, {&broken.view, yb.data()}};
  EXPECT_THROW(matmul_shared_input(with_broken, 2, x.data(), 1), InvalidArgument);
  for (float v : ya) EXPECT_TRUE(std::isnan(v)) << "the first product ran before the second was checked";
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
  std::vector<uint8_t> bytes(row_bytes(DType::I32, 256) * 4);
  TensorView w;
  w.name = "blk.0.ffn_down.weight";
  w.type = DType::I32;
  w.n_dims = 2;
  w.ne = {256, 4, 1, 1};
  w.data = bytes.data();
  w.nbytes = bytes.size();
  float x[256] = {}, y[4];
  try {
    matmul(w, x, 1, y);
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("I32"), std::string::npos) << e.what();
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
