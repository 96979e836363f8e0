// A non-owning view of a weight tensor that lives in a memory-mapped file (or in a buffer
// the model owns). Shapes follow GGML: ne[0] is the innermost (contiguous) dimension, so a
// linear layer's weight (out_features, in_features) has ne[0] = in_features, ne[1] =
// out_features: the same bytes as PyTorch's row-major [out, in].
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "llmpp/core/dtype.hpp"

namespace llmpp {

struct TensorView {
  std::string name;
  DType type = DType::F32;
  int n_dims = 0;
  std::array<int64_t, 4> ne{1, 1, 1, 1};  // (ne[3], ne[2], ne[1], ne[0]) row-major
  const void* data = nullptr;
  uint64_t nbytes = 0;

  bool valid() const { return data != nullptr; }
  int64_t cols() const { return ne[0]; }                   // elements per row
  int64_t rows() const { return ne[1] * ne[2] * ne[3]; }  // rows of ne[0] elements
  int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  uint64_t row_stride() const { return row_bytes(type, static_cast<uint64_t>(ne[0])); }
  const uint8_t* row(int64_t i) const {
    return static_cast<const uint8_t*>(data) + static_cast<uint64_t>(i) * row_stride();
  }
  const float* f32() const { return static_cast<const float*>(data); }

  std::string shape_string() const {
    std::string s = "[";
    for (int d = n_dims - 1; d >= 0; --d) s += std::to_string(ne[d]) + (d ? ", " : "");
    return s + "]";
  }
};

// Builds a view over a row-major float matrix (rows, cols), e.g. for tests.
inline TensorView make_f32_view(const float* data, int64_t rows, int64_t cols, std::string name = {}) {
  TensorView t;
  t.name = std::move(name);
  t.type = DType::F32;
  t.n_dims = 2;
  t.ne = {cols, rows, 1, 1};
  t.data = data;
  t.nbytes = static_cast<uint64_t>(rows * cols) * sizeof(float);
  return t;
}

}  // namespace llmpp
