// Writer for GGUF v3 (the layout is described in io/gguf.hpp). Metadata and tensor infos
// are collected first; write() then streams the file: header, metadata, tensor infos, and
// each tensor's data at its aligned offset. Tensors given as raw bytes are not copied (the
// caller keeps them alive until write()); tensors given as floats are converted to their
// target type (F16, BF16, or a GGML quantization through kernels::quantize_row) one row at
// a time while writing.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "llmpp/core/checked.hpp"
#include "llmpp/core/dtype.hpp"
#include "llmpp/core/error.hpp"
#include "llmpp/io/gguf.hpp"
#include "llmpp/kernels/quant.hpp"

namespace llmpp::io {

namespace detail {

// C++ type -> GGUF metadata type.
template <typename T> struct GGUFTypeOf;
template <> struct GGUFTypeOf<uint8_t> { static constexpr GGUFType value = GGUFType::u8; };
template <> struct GGUFTypeOf<int8_t> { static constexpr GGUFType value = GGUFType::i8; };
template <> struct GGUFTypeOf<uint16_t> { static constexpr GGUFType value = GGUFType::u16; };
template <> struct GGUFTypeOf<int16_t> { static constexpr GGUFType value = GGUFType::i16; };
template <> struct GGUFTypeOf<uint32_t> { static constexpr GGUFType value = GGUFType::u32; };
template <> struct GGUFTypeOf<int32_t> { static constexpr GGUFType value = GGUFType::i32; };
template <> struct GGUFTypeOf<uint64_t> { static constexpr GGUFType value = GGUFType::u64; };
template <> struct GGUFTypeOf<int64_t> { static constexpr GGUFType value = GGUFType::i64; };
template <> struct GGUFTypeOf<float> { static constexpr GGUFType value = GGUFType::f32; };
template <> struct GGUFTypeOf<double> { static constexpr GGUFType value = GGUFType::f64; };
template <> struct GGUFTypeOf<bool> { static constexpr GGUFType value = GGUFType::boolean; };

}  // namespace detail

class GGUFWriter {
 public:
  explicit GGUFWriter(uint64_t alignment = gguf_default_alignment) : alignment_(alignment) {
    if (alignment == 0 || (alignment & (alignment - 1)) != 0)
      throw InvalidArgument("GGUFWriter: alignment " + std::to_string(alignment) + " is not a power of two");
    if (alignment != gguf_default_alignment) add("general.alignment", static_cast<uint32_t>(alignment));
  }

  // ---- metadata: one overload per GGUF type, chosen by the C++ type ----
  template <typename T, typename = std::enable_if_t<std::is_arithmetic_v<T>>>
  void add(const std::string& key, T value) {
    GGUFValue v = start(key, detail::GGUFTypeOf<T>::value);
    if constexpr (std::is_same_v<T, bool>) v.scalar_bytes_[0] = value ? 1 : 0;
    else std::memcpy(v.scalar_bytes_, &value, sizeof(T));
    finish(std::move(v));
  }
  void add(const std::string& key, const std::string& value) {
    GGUFValue v = start(key, GGUFType::string);
    v.string_ = value;
    finish(std::move(v));
  }
  void add(const std::string& key, const char* value) { add(key, std::string(value)); }
  template <typename T, typename = std::enable_if_t<std::is_arithmetic_v<T>>>
  void add(const std::string& key, const std::vector<T>& values) {
    GGUFValue v = start(key, GGUFType::array);
    v.array_type_ = detail::GGUFTypeOf<T>::value;
    v.array_size_ = values.size();
    v.array_bytes_.resize(values.size() * sizeof(T));
    if constexpr (std::is_same_v<T, bool>) {
      for (size_t i = 0; i < values.size(); ++i) v.array_bytes_[i] = values[i] ? 1 : 0;
    } else if (!values.empty()) {
      std::memcpy(v.array_bytes_.data(), values.data(), v.array_bytes_.size());
    }
    finish(std::move(v));
  }
  void add(const std::string& key, const std::vector<std::string>& values) {
    GGUFValue v = start(key, GGUFType::array);
    v.array_type_ = GGUFType::string;
    v.array_size_ = values.size();
    v.strings_ = values;
    finish(std::move(v));
  }
  // A value read from another GGUF file, kept with its exact type.
  void add(const std::string& key, const GGUFValue& value) {
    GGUFValue v = value;
    v.key_ = key;
    v.file_.clear();
    if (!keys_.insert(key).second) throw InvalidArgument("GGUFWriter: duplicate metadata key '" + key + "'");
    metadata_.emplace_back(key, std::move(v));
  }
  bool has(const std::string& key) const { return keys_.count(key) != 0; }

  // ---- tensors: `ne` in GGML order (ne[0] innermost), 1 to 4 dimensions ----

  // Raw bytes already in `type`. Not copied: `data` must stay valid until write().
  void add_tensor(const std::string& name, DType type, const std::vector<int64_t>& ne, const void* data,
                  uint64_t nbytes) {
    Tensor t = make_tensor(name, type, ne);
    if (nbytes != t.nbytes)
      throw InvalidArgument("GGUFWriter: tensor '" + name + "' has " + std::to_string(nbytes) + " bytes, " +
                            dtype_name(type) + " " + t.shape + " needs " + std::to_string(t.nbytes));
    t.raw = data;
    push(std::move(t));
  }
  // Fills `out` with the ne[0] floats of row `row` (rows counted over ne[1..3]).
  using RowSource = std::function<void(uint64_t row, float* out)>;

  // Float rows, produced on demand while writing and encoded (quantized) as `type` through
  // kernels::quantize_row, so a converted model never sits in memory as a whole. `type`
  // must have a kernel (kernels::find_weight_type_kernels) and ne[0] must be whole blocks.
  void add_tensor(const std::string& name, const std::vector<int64_t>& ne, RowSource rows, DType type) {
    if (!kernels::find_weight_type_kernels(type))
      throw InvalidArgument(std::string("GGUFWriter: cannot encode floats as ") + dtype_name(type));
    Tensor t = make_tensor(name, type, ne);
    t.rows = std::move(rows);
    push(std::move(t));
  }
  // Float values (n_rows, ne[0]), kept until write().
  void add_tensor(const std::string& name, const std::vector<int64_t>& ne, std::vector<float> values, DType type) {
    const Tensor shape = make_tensor(name, type, ne);
    if (values.size() != shape.n_rows * static_cast<uint64_t>(shape.ne[0]))
      throw InvalidArgument("GGUFWriter: tensor '" + name + "' has " + std::to_string(values.size()) +
                            " values for its shape " + shape.shape);
    auto owned = std::make_shared<const std::vector<float>>(std::move(values));
    const uint64_t cols = static_cast<uint64_t>(shape.ne[0]);
    add_tensor(name, ne, [owned, cols](uint64_t row, float* out) {
      std::memcpy(out, owned->data() + row * cols, cols * sizeof(float));
    }, type);
  }

  void write(const std::string& path) const {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) throw IoError(path, "cannot open for writing");
    uint64_t pos = 0;
    auto put = [&](const void* p, uint64_t n) {
      out.write(static_cast<const char*>(p), static_cast<std::streamsize>(n));
      pos += n;
    };
    auto put_u32 = [&](uint32_t v) { put(&v, 4); };
    auto put_u64 = [&](uint64_t v) { put(&v, 8); };
    auto put_string = [&](const std::string& s) {
      put_u64(s.size());
      put(s.data(), s.size());
    };
    auto pad = [&] {
      static const char zeros[256] = {};
      uint64_t n = checked_align_up(pos, alignment_) - pos;
      while (n > 0) {
        const uint64_t chunk = std::min<uint64_t>(n, sizeof zeros);
        put(zeros, chunk);
        n -= chunk;
      }
    };

    put_u32(gguf_magic);
    put_u32(3);
    put_u64(tensors_.size());
    put_u64(metadata_.size());
    for (const auto& [key, v] : metadata_) {
      put_string(key);
      put_u32(static_cast<uint32_t>(v.type_));
      if (v.type_ == GGUFType::string) {
        put_string(v.string_);
      } else if (v.type_ == GGUFType::array) {
        put_u32(static_cast<uint32_t>(v.array_type_));
        put_u64(v.array_size_);
        if (v.array_type_ == GGUFType::string)
          for (const std::string& s : v.strings_) put_string(s);
        else
          put(v.array_bytes_.data(), v.array_bytes_.size());
      } else {
        put(v.scalar_bytes_, gguf_type_size(v.type_));
      }
    }
    uint64_t offset = 0;  // of each tensor, relative to the data section
    for (const Tensor& t : tensors_) {
      put_string(t.name);
      put_u32(static_cast<uint32_t>(t.n_dims));
      for (int d = 0; d < t.n_dims; ++d) put_u64(static_cast<uint64_t>(t.ne[d]));
      put_u32(static_cast<uint32_t>(t.type));
      put_u64(offset);
      offset = checked_align_up(checked_add(offset, t.nbytes), alignment_);
    }
    pad();
    std::vector<float> floats;  // (ne[0]) one row before encoding
    std::vector<uint8_t> row;   // (row_bytes) one encoded row
    for (const Tensor& t : tensors_) {
      if (!t.rows) {
        if (t.nbytes > 0) put(t.raw, t.nbytes);
      } else {
        row.resize(row_bytes(t.type, static_cast<uint64_t>(t.ne[0])));
        floats.resize(static_cast<size_t>(t.ne[0]));
        for (uint64_t r = 0; r < t.n_rows; ++r) {
          t.rows(r, floats.data());
          kernels::quantize_row(t.type, floats.data(), row.data(), t.ne[0]);
          put(row.data(), row.size());
        }
      }
      pad();
    }
    out.flush();
    if (!out) throw IoError(path, "write failed");
  }

 private:
  struct Tensor {
    std::string name;
    DType type;
    int n_dims;
    int64_t ne[4];
    uint64_t n_rows, nbytes;
    std::string shape;  // for messages
    const void* raw = nullptr;  // the bytes, or else...
    RowSource rows;             // ...the float rows to encode
  };

  GGUFValue start(const std::string& key, GGUFType type) {
    if (keys_.count(key)) throw InvalidArgument("GGUFWriter: duplicate metadata key '" + key + "'");
    GGUFValue v;
    v.type_ = type;
    v.key_ = key;
    return v;
  }
  void finish(GGUFValue v) {
    keys_.insert(v.key_);
    std::string key = v.key_;
    metadata_.emplace_back(std::move(key), std::move(v));
  }

  Tensor make_tensor(const std::string& name, DType type, const std::vector<int64_t>& ne) const {
    if (tensor_names_.count(name)) throw InvalidArgument("GGUFWriter: duplicate tensor '" + name + "'");
    if (ne.empty() || ne.size() > 4)
      throw InvalidArgument("GGUFWriter: tensor '" + name + "' needs 1 to 4 dimensions, got " + std::to_string(ne.size()));
    Tensor t;
    t.name = name;
    t.type = type;
    t.n_dims = static_cast<int>(ne.size());
    t.n_rows = 1;
    for (int d = 0; d < 4; ++d) {
      t.ne[d] = d < t.n_dims ? ne[static_cast<size_t>(d)] : 1;
      if (t.ne[d] < 0) throw InvalidArgument("GGUFWriter: tensor '" + name + "' has a negative dimension");
      if (d > 0) t.n_rows = checked_mul(t.n_rows, static_cast<uint64_t>(t.ne[d]));
    }
    t.nbytes = checked_mul(row_bytes(type, static_cast<uint64_t>(t.ne[0])), t.n_rows);  // checks whole blocks
    t.shape = "[";
    for (int d = t.n_dims - 1; d >= 0; --d) t.shape += std::to_string(t.ne[d]) + (d ? ", " : "]");
    return t;
  }
  void push(Tensor t) {
    tensor_names_.insert(t.name);
    tensors_.push_back(std::move(t));
  }

  uint64_t alignment_;
  std::vector<std::pair<std::string, GGUFValue>> metadata_;
  std::set<std::string> keys_;
  std::vector<Tensor> tensors_;
  std::set<std::string> tensor_names_;
};

}  // namespace llmpp::io
