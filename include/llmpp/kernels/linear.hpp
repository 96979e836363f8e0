// Linear layers over weights of any supported type: y = x · Wᵀ.
// This is the single entry point the layers and the model call; it dispatches on the
// weight type and on the number of tokens (decode: matrix-vector; prefill: matrix-matrix).
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <vector>

#include "llmpp/core/error.hpp"
#include "llmpp/core/fp16.hpp"
#include "llmpp/core/tensor.hpp"
#include "llmpp/core/thread_pool.hpp"

namespace llmpp::kernels {

// Converts one row of `n` elements of type `type` to float.
inline void dequantize_row(DType type, const void* src, float* dst, int64_t n) {
  switch (type) {
    case DType::F32: {
      const float* s = static_cast<const float*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = s[i];
      return;
    }
    case DType::F16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(s[i]);
      return;
    }
    case DType::BF16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(s[i]);
      return;
    }
    default:
      throw InvalidArgument(std::string("dequantize_row: unsupported type ") + dtype_name(type));
  }
}

// y (n_tokens, w.rows()) = x (n_tokens, w.cols()) · wᵀ, both row-major.
inline void matmul(const TensorView& w, const float* x, int64_t n_tokens, float* y, ThreadPool* pool = nullptr) {
  const int64_t n_in = w.cols(), n_out = w.rows();
  auto run = [&](auto&& body) {
    if (pool) pool->parallel_for(n_out, body, 16);
    else body(int64_t{0}, n_out);
  };
  using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::Map<const RowMajor> xm(x, n_tokens, n_in);
  if (w.type == DType::F32) {
    run([&](int64_t begin, int64_t end) {
      Eigen::Map<const RowMajor> wm(w.f32() + begin * n_in, end - begin, n_in);
      Eigen::Map<RowMajor, 0, Eigen::OuterStride<>> ym(y + begin, n_tokens, end - begin,
                                                       Eigen::OuterStride<>(n_out));
      ym.noalias() = xm * wm.transpose();
    });
    return;
  }
  // Generic path: dequantize each weight row once and reuse it for every token.
  run([&](int64_t begin, int64_t end) {
    std::vector<float> row(static_cast<size_t>(n_in));
    for (int64_t r = begin; r < end; ++r) {
      dequantize_row(w.type, w.row(r), row.data(), n_in);
      Eigen::Map<const Eigen::VectorXf> rv(row.data(), n_in);
      for (int64_t t = 0; t < n_tokens; ++t) y[t * n_out + r] = xm.row(t).dot(rv.transpose());
    }
  });
}

}  // namespace llmpp::kernels
