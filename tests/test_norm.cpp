// RMSNorm and LayerNorm against the PyTorch goldens of scripts/reference/gen_norm.py, the
// AVX2 reductions against their scalar twin, and bad shapes. Tolerance: 1e-5 relative
// (fp32 row reductions over at most 256 elements).
#include <random>
#include <string>
#include <vector>

#include "llmpp/layers/norm.hpp"
#include "test_util.hpp"

namespace llmpp::layers {
namespace {

constexpr float kTolerance = 1e-5f;
const int kDims[] = {67, 256};

struct NormCase {
  int n_tokens, dim;
  float eps;
  std::vector<float> x, weight, bias, expected;
};

NormCase load(const std::string& name) {
  test::Golden golden(name);
  NormCase c;
  c.n_tokens = std::stoi(golden.metadata().at("n_tokens"));
  c.dim = std::stoi(golden.metadata().at("dim"));
  c.eps = std::stof(golden.metadata().at("eps"));
  c.x = golden.f32("x");
  c.weight = golden.f32("weight");
  if (golden.has("bias")) c.bias = golden.f32("bias");
  c.expected = golden.f32("out");
  return c;
}

TEST(Norm, RmsNormMatchesPyTorch) {
  for (int dim : kDims) {
    const NormCase c = load("norm_rms_" + std::to_string(dim));
    std::vector<float> out(c.x.size());
    rms_norm(c.x.data(), c.weight.data(), c.n_tokens, c.dim, c.eps, false, out.data());
    test::expect_close(out, c.expected, kTolerance, "rms dim " + std::to_string(dim));
  }
}

TEST(Norm, GemmaRmsNormScalesByOnePlusWeight) {
  for (int dim : kDims) {
    const NormCase c = load("norm_rms_gemma_" + std::to_string(dim));
    std::vector<float> out(c.x.size());
    rms_norm(c.x.data(), c.weight.data(), c.n_tokens, c.dim, c.eps, true, out.data());
    test::expect_close(out, c.expected, kTolerance, "gemma dim " + std::to_string(dim));
  }
}

TEST(Norm, LayerNormWithAndWithoutBiasMatchesPyTorch) {
  for (int dim : kDims) {
    for (const char* variant : {"norm_layer_", "norm_layer_nobias_"}) {
      const NormCase c = load(variant + std::to_string(dim));
      std::vector<float> out(c.x.size());
      layer_norm(c.x.data(), c.weight.data(), c.bias.empty() ? nullptr : c.bias.data(), c.n_tokens, c.dim, c.eps,
                 out.data());
      test::expect_close(out, c.expected, kTolerance, variant + std::to_string(dim));
    }
  }
}

TEST(Norm, InPlaceEqualsOutOfPlace) {
  const NormCase c = load("norm_rms_256");
  std::vector<float> in_place = c.x;
  rms_norm(in_place.data(), c.weight.data(), c.n_tokens, c.dim, c.eps, false, in_place.data());
  test::expect_close(in_place, c.expected, kTolerance, "in place");
}

#if defined(__AVX2__) && defined(__FMA__)
TEST(Norm, Avx2EqualsScalar) {
  // Llama-2-7B width plus a ragged tail, values with a large mean.
  const int dim = 4096 + 13, n_tokens = 3;
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(2.0f, 3.0f);
  std::vector<float> x(static_cast<size_t>(n_tokens) * dim), weight(dim), bias(dim);
  for (float& v : x) v = normal(rng);
  for (float& v : weight) v = normal(rng);
  for (float& v : bias) v = normal(rng);
  std::vector<float> simd(x.size()), scalar(x.size());
  for (bool plus_one : {false, true}) {
    rms_norm_with<Avx2NormOps>(x.data(), weight.data(), n_tokens, dim, 1e-5f, plus_one, simd.data());
    rms_norm_with<ScalarNormOps>(x.data(), weight.data(), n_tokens, dim, 1e-5f, plus_one, scalar.data());
    test::expect_close(simd, scalar, kTolerance, "rms");
  }
  for (const float* b : {static_cast<const float*>(nullptr), static_cast<const float*>(bias.data())}) {
    layer_norm_with<Avx2NormOps>(x.data(), weight.data(), b, n_tokens, dim, 1e-5f, simd.data());
    layer_norm_with<ScalarNormOps>(x.data(), weight.data(), b, n_tokens, dim, 1e-5f, scalar.data());
    test::expect_close(simd, scalar, kTolerance, "layer");
  }
}
#endif

TEST(Norm, RejectsBadShapes) {
  float x[4] = {1, 2, 3, 4}, w[4] = {1, 1, 1, 1}, out[4];
  EXPECT_THROW(rms_norm(x, w, 1, 0, 1e-5f, false, out), InvalidArgument);
  EXPECT_THROW(layer_norm(x, w, nullptr, -1, 4, 1e-5f, out), InvalidArgument);
  EXPECT_THROW(rms_norm(x, w, 1, 4, -1.0f, false, out), InvalidArgument);
}

}  // namespace
}  // namespace llmpp::layers
