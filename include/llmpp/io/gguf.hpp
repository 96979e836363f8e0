// Reader for GGUF v2 and v3, llama.cpp's model format. The file is memory-mapped and the
// tensors are views into the map: nothing is copied. Layout (all little-endian):
//   u32 magic "GGUF", u32 version, u64 tensor_count, u64 metadata_kv_count,
//   metadata: { string key, u32 type, value }*,
//   tensor infos: { string name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset }*,
//   padding to `general.alignment` (default 32), then the tensor data; each tensor's offset
//   is relative to the start of the data and a multiple of the alignment.
// A string is a u64 length and that many bytes; an array is a u32 element type, a u64 count
// and the elements.
//
// The file may be hostile: every count and length is checked against the bytes that remain
// before anything is allocated, and every failure is a FormatError naming the file, the
// field (header field, metadata key or tensor name) and the byte offset.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "llmpp/core/checked.hpp"
#include "llmpp/core/dtype.hpp"
#include "llmpp/core/error.hpp"
#include "llmpp/core/mmap.hpp"
#include "llmpp/core/tensor.hpp"
#include "llmpp/io/byte_reader.hpp"

namespace llmpp::io {

enum class GGUFType : uint32_t {
  u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7,
  string = 8, array = 9, u64 = 10, i64 = 11, f64 = 12,
};

inline constexpr uint32_t gguf_magic = 0x46554747;  // "GGUF" read as a little-endian u32
inline constexpr uint64_t gguf_default_alignment = 32;

inline bool gguf_type_is_known(uint32_t raw) { return raw <= static_cast<uint32_t>(GGUFType::f64); }

inline const char* gguf_type_name(GGUFType type) {
  static const char* const names[] = {"u8",  "i8",     "u16",   "i16", "u32", "i32", "f32",
                                      "bool", "string", "array", "u64", "i64", "f64"};
  const auto i = static_cast<uint32_t>(type);
  return gguf_type_is_known(i) ? names[i] : "unknown";
}

// Bytes of one scalar of `type`; 0 for string and array, which have variable size.
inline uint64_t gguf_type_size(GGUFType type) {
  switch (type) {
    case GGUFType::u8: case GGUFType::i8: case GGUFType::boolean: return 1;
    case GGUFType::u16: case GGUFType::i16: return 2;
    case GGUFType::u32: case GGUFType::i32: case GGUFType::f32: return 4;
    case GGUFType::u64: case GGUFType::i64: case GGUFType::f64: return 8;
    case GGUFType::string: case GGUFType::array: return 0;
  }
  return 0;
}

inline bool gguf_type_is_int(GGUFType t) {
  return t == GGUFType::u8 || t == GGUFType::i8 || t == GGUFType::u16 || t == GGUFType::i16 || t == GGUFType::u32 ||
         t == GGUFType::i32 || t == GGUFType::u64 || t == GGUFType::i64;
}
inline bool gguf_type_is_signed(GGUFType t) {
  return t == GGUFType::i8 || t == GGUFType::i16 || t == GGUFType::i32 || t == GGUFType::i64;
}
inline bool gguf_type_is_float(GGUFType t) { return t == GGUFType::f32 || t == GGUFType::f64; }

class GGUFWriter;

// One metadata value: a scalar, a string, or an array of scalars or strings. Scalars and
// numeric array elements keep their little-endian bytes, so every value round-trips exactly.
class GGUFValue {
 public:
  GGUFType type() const { return type_; }
  // The element type of an array; the value's own type otherwise.
  GGUFType array_type() const { return is_array() ? array_type_ : type_; }
  uint64_t array_size() const { return is_array() ? array_size_ : 0; }
  const std::string& key() const { return key_; }
  uint64_t offset() const { return offset_; }  // where the value starts in the file

  bool is_int() const { return gguf_type_is_int(type_); }
  bool is_float() const { return gguf_type_is_float(type_); }
  bool is_string() const { return type_ == GGUFType::string; }
  bool is_array() const { return type_ == GGUFType::array; }

  int64_t as_int() const {
    if (!is_int()) fail(std::string("is ") + gguf_type_name(type_) + ", expected an integer");
    return to_int(type_, scalar_bytes_, "");
  }
  uint64_t as_uint() const {
    if (!is_int()) fail(std::string("is ") + gguf_type_name(type_) + ", expected an integer");
    return to_uint(type_, scalar_bytes_);
  }
  double as_double() const {
    if (!is_int() && !is_float()) fail(std::string("is ") + gguf_type_name(type_) + ", expected a number");
    return to_double(type_, scalar_bytes_);
  }
  bool as_bool() const {
    if (type_ != GGUFType::boolean) fail(std::string("is ") + gguf_type_name(type_) + ", expected bool");
    return scalar_bytes_[0] != 0;
  }
  const std::string& as_string() const {
    if (!is_string()) fail(std::string("is ") + gguf_type_name(type_) + ", expected string");
    return string_;
  }
  const std::vector<std::string>& as_strings() const {
    if (!is_array() || array_type_ != GGUFType::string) fail("is " + describe() + ", expected an array of strings");
    return strings_;
  }
  std::vector<int64_t> as_ints() const {
    if (!is_array() || !gguf_type_is_int(array_type_)) fail("is " + describe() + ", expected an array of integers");
    std::vector<int64_t> out(static_cast<size_t>(array_size_));
    const uint64_t size = gguf_type_size(array_type_);
    for (size_t i = 0; i < out.size(); ++i)
      out[i] = to_int(array_type_, array_bytes_.data() + i * size, "[" + std::to_string(i) + "]");
    return out;
  }
  std::vector<float> as_floats() const {
    if (!is_array() || !(gguf_type_is_int(array_type_) || gguf_type_is_float(array_type_)))
      fail("is " + describe() + ", expected an array of numbers");
    std::vector<float> out(static_cast<size_t>(array_size_));
    const uint64_t size = gguf_type_size(array_type_);
    for (size_t i = 0; i < out.size(); ++i)
      out[i] = static_cast<float>(to_double(array_type_, array_bytes_.data() + i * size));
    return out;
  }

  // "u32", "string", "array of f32", ...
  std::string describe() const {
    if (!is_array()) return gguf_type_name(type_);
    return std::string("array of ") + gguf_type_name(array_type_);
  }

 private:
  friend class GGUFFile;
  friend class GGUFWriter;

  [[noreturn]] void fail(const std::string& message) const { throw FormatError(file_, key_, offset_, message); }

  static uint64_t load_bits(const uint8_t* p, uint64_t size) {
    uint64_t bits = 0;
    std::memcpy(&bits, p, size);  // little-endian: the low bytes
    return bits;
  }
  static int64_t sign_extend(uint64_t bits, uint64_t size) {
    const unsigned shift = static_cast<unsigned>(64 - 8 * size);
    return static_cast<int64_t>(bits << shift) >> shift;
  }
  int64_t to_int(GGUFType type, const uint8_t* p, const std::string& where) const {
    const uint64_t size = gguf_type_size(type);
    const uint64_t bits = load_bits(p, size);
    if (gguf_type_is_signed(type)) return sign_extend(bits, size);
    if (bits > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail("value" + where + " " + std::to_string(bits) + " does not fit a signed 64-bit integer");
    return static_cast<int64_t>(bits);
  }
  uint64_t to_uint(GGUFType type, const uint8_t* p) const {
    const uint64_t size = gguf_type_size(type);
    const uint64_t bits = load_bits(p, size);
    if (gguf_type_is_signed(type)) {
      const int64_t v = sign_extend(bits, size);
      if (v < 0) fail("value " + std::to_string(v) + " is negative, expected an unsigned integer");
      return static_cast<uint64_t>(v);
    }
    return bits;
  }
  double to_double(GGUFType type, const uint8_t* p) const {
    if (type == GGUFType::f32) {
      float f;
      std::memcpy(&f, p, 4);
      return f;
    }
    if (type == GGUFType::f64) {
      double d;
      std::memcpy(&d, p, 8);
      return d;
    }
    if (gguf_type_is_signed(type)) return static_cast<double>(sign_extend(load_bits(p, gguf_type_size(type)), gguf_type_size(type)));
    return static_cast<double>(load_bits(p, gguf_type_size(type)));
  }

  GGUFType type_ = GGUFType::u8;
  GGUFType array_type_ = GGUFType::u8;
  uint64_t array_size_ = 0;
  uint8_t scalar_bytes_[8] = {};       // a scalar's bytes as stored
  std::string string_;                 // type string
  std::vector<std::string> strings_;   // array of strings
  std::vector<uint8_t> array_bytes_;   // array of scalars: (array_size, element size) bytes as stored
  std::string key_, file_;             // for error messages
  uint64_t offset_ = 0;
};

class GGUFFile {
 public:
  explicit GGUFFile(const std::string& path) : map_(path) { parse(); }

  const std::string& path() const { return map_.path(); }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  const MappedFile& mapped_file() const { return map_; }

  const GGUFValue* find(const std::string& key) const {
    const auto it = key_index_.find(key);
    return it == key_index_.end() ? nullptr : &metadata_[it->second].second;
  }
  const GGUFValue& get(const std::string& key) const {
    const GGUFValue* v = find(key);
    if (!v) throw FormatError(path(), key, 0, "required metadata key is missing");
    return *v;
  }
  // Typed getters: the fallback when the key is absent, a FormatError when it has the wrong type.
  std::string get_string(const std::string& key, const std::string& fallback) const {
    const GGUFValue* v = find(key);
    return v ? v->as_string() : fallback;
  }
  int64_t get_int(const std::string& key, int64_t fallback) const {
    const GGUFValue* v = find(key);
    return v ? v->as_int() : fallback;
  }
  uint64_t get_uint(const std::string& key, uint64_t fallback) const {
    const GGUFValue* v = find(key);
    return v ? v->as_uint() : fallback;
  }
  float get_float(const std::string& key, float fallback) const {
    const GGUFValue* v = find(key);
    return v ? static_cast<float>(v->as_double()) : fallback;
  }
  bool get_bool(const std::string& key, bool fallback) const {
    const GGUFValue* v = find(key);
    return v ? v->as_bool() : fallback;
  }

  const std::vector<std::pair<std::string, GGUFValue>>& metadata() const { return metadata_; }
  const std::vector<TensorView>& tensors() const { return tensors_; }
  const TensorView* find_tensor(const std::string& name) const {
    const auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
  }

 private:
  // Smallest possible encodings, used to bound counts by the bytes that remain.
  static constexpr uint64_t min_kv_bytes = 8 + 4 + 1;               // empty key, type, u8 value
  static constexpr uint64_t min_tensor_info_bytes = 8 + 4 + 8 + 4 + 8;  // empty name, 1 dim, type, offset

  GGUFValue read_value(ByteReader& r, GGUFType type, const std::string& key) const {
    GGUFValue v;
    v.type_ = type;
    v.key_ = key;
    v.file_ = path();
    v.offset_ = r.offset();
    if (type == GGUFType::string) {
      v.string_ = read_string(r, key);
    } else if (type == GGUFType::array) {
      const uint32_t raw_element_type = r.read<uint32_t>(key);
      if (!gguf_type_is_known(raw_element_type))
        r.fail_at(key, v.offset_, "array has unknown element type " + std::to_string(raw_element_type));
      v.array_type_ = static_cast<GGUFType>(raw_element_type);
      if (v.array_type_ == GGUFType::array) r.fail_at(key, v.offset_, "nested arrays are not supported");
      v.array_size_ = r.read<uint64_t>(key);
      // Each element takes at least its scalar size, or 8 bytes for a string's length.
      const uint64_t element_min = v.array_type_ == GGUFType::string ? 8 : gguf_type_size(v.array_type_);
      if (v.array_size_ > r.remaining() / element_min)
        r.fail_at(key, v.offset_, "array of " + std::to_string(v.array_size_) + " " + gguf_type_name(v.array_type_) +
                                      " elements is longer than the " + std::to_string(r.remaining()) +
                                      " bytes that remain");
      if (v.array_type_ == GGUFType::string) {
        v.strings_.reserve(static_cast<size_t>(v.array_size_));
        for (uint64_t i = 0; i < v.array_size_; ++i) v.strings_.push_back(read_string(r, key + "[" + std::to_string(i) + "]"));
      } else {
        const uint64_t n_bytes = v.array_size_ * element_min;  // cannot overflow: bounded by remaining()
        const uint8_t* p = r.take(n_bytes, key);
        v.array_bytes_.assign(p, p + n_bytes);
      }
    } else {
      const uint8_t* p = r.take(gguf_type_size(type), key);
      std::memcpy(v.scalar_bytes_, p, gguf_type_size(type));
    }
    return v;
  }

  static std::string read_string(ByteReader& r, const std::string& field) {
    const uint64_t start = r.offset();
    const uint64_t length = r.read<uint64_t>(field);
    if (length > r.remaining())
      r.fail_at(field, start, "string length " + std::to_string(length) + " exceeds the " +
                                  std::to_string(r.remaining()) + " bytes that remain");
    const uint8_t* p = r.take(length, field);
    return std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(length));
  }

  void parse() {
    ByteReader r(path(), map_.data(), map_.size());
    const uint32_t magic = r.read<uint32_t>("magic");
    if (magic != gguf_magic) r.fail_at("magic", 0, "not a GGUF file (magic bytes are not 'GGUF')");
    version_ = r.read<uint32_t>("version");
    if (version_ == 1) r.fail_at("version", 4, "GGUF v1 is not supported (convert it with a recent llama.cpp)");
    if (version_ != 2 && version_ != 3) {
      const bool byte_swapped = (version_ & 0xffffu) == 0 && (version_ >> 24) <= 3;
      r.fail_at("version", 4, "unsupported version " + std::to_string(version_) +
                                  (byte_swapped ? " (a big-endian GGUF?)" : "") + "; only 2 and 3 are supported");
    }
    const uint64_t n_tensors = r.read<uint64_t>("tensor_count");
    if (n_tensors > r.remaining() / min_tensor_info_bytes)
      r.fail_at("tensor_count", 8, std::to_string(n_tensors) + " tensors cannot fit in the " +
                                       std::to_string(r.remaining()) + " bytes that remain");
    const uint64_t n_kv = r.read<uint64_t>("metadata_kv_count");
    if (n_kv > r.remaining() / min_kv_bytes)
      r.fail_at("metadata_kv_count", 16, std::to_string(n_kv) + " metadata entries cannot fit in the " +
                                             std::to_string(r.remaining()) + " bytes that remain");

    for (uint64_t i = 0; i < n_kv; ++i) {
      const uint64_t entry_offset = r.offset();
      std::string key = read_string(r, "metadata[" + std::to_string(i) + "].key");
      if (key_index_.count(key)) r.fail_at(key, entry_offset, "duplicate metadata key");
      const uint32_t raw_type = r.read<uint32_t>(key);
      if (!gguf_type_is_known(raw_type)) r.fail_at(key, r.offset() - 4, "unknown value type " + std::to_string(raw_type));
      GGUFValue value = read_value(r, static_cast<GGUFType>(raw_type), key);
      key_index_.emplace(key, metadata_.size());
      metadata_.emplace_back(std::move(key), std::move(value));
    }

    alignment_ = gguf_default_alignment;
    if (const GGUFValue* a = find("general.alignment")) {
      if (!a->is_int()) r.fail_at("general.alignment", a->offset(), std::string("is ") + a->describe() + ", expected u32");
      const uint64_t alignment = a->as_uint();
      if (alignment == 0 || (alignment & (alignment - 1)) != 0)
        r.fail_at("general.alignment", a->offset(), std::to_string(alignment) + " is not a power of two");
      alignment_ = alignment;
    }

    struct TensorInfo { uint64_t info_offset, data_offset; };
    std::vector<TensorInfo> infos;
    for (uint64_t i = 0; i < n_tensors; ++i) {
      const uint64_t info_offset = r.offset();
      TensorView t;
      t.name = read_string(r, "tensor[" + std::to_string(i) + "].name");
      if (tensor_index_.count(t.name)) r.fail_at(t.name, info_offset, "duplicate tensor name");
      const uint32_t n_dims = r.read<uint32_t>(t.name);
      if (n_dims == 0 || n_dims > 4)
        r.fail_at(t.name, r.offset() - 4, "n_dims is " + std::to_string(n_dims) + "; 1 to 4 are supported");
      t.n_dims = static_cast<int>(n_dims);
      for (uint32_t d = 0; d < n_dims; ++d) {
        const uint64_t ne = r.read<uint64_t>(t.name);
        if (ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
          r.fail_at(t.name, r.offset() - 8, "ne[" + std::to_string(d) + "] = " + std::to_string(ne) + " is too large");
        t.ne[d] = static_cast<int64_t>(ne);
      }
      const uint64_t type_offset = r.offset();
      const uint32_t raw_type = r.read<uint32_t>(t.name);
      if (!dtype_is_known(raw_type)) r.fail_at(t.name, type_offset, "unknown tensor type " + std::to_string(raw_type));
      t.type = static_cast<DType>(raw_type);
      const DTypeTraits traits = dtype_traits(t.type);
      if (static_cast<uint64_t>(t.ne[0]) % traits.block_size != 0)
        r.fail_at(t.name, info_offset, "ne[0] = " + std::to_string(t.ne[0]) + " is not a multiple of the " +
                                           traits.name + " block size " + std::to_string(traits.block_size));
      try {
        uint64_t n_rows = 1;
        for (int d = 1; d < 4; ++d) n_rows = checked_mul(n_rows, static_cast<uint64_t>(t.ne[d]), "row count");
        // Every partial product must fit int64: TensorView::rows() and n_elements() multiply the
        // dims left to right, and a zero dim does not stop ne[1] * ne[2] from overflowing first.
        uint64_t nonzero_product = 1;
        for (const int64_t n : t.ne) nonzero_product = checked_mul(nonzero_product, std::max<uint64_t>(1, n), "element count");
        checked_cast<int64_t>(nonzero_product, "element count");
        t.nbytes = checked_mul(row_bytes(t.type, static_cast<uint64_t>(t.ne[0])), n_rows, "byte size");
      } catch (const OverflowError&) {
        r.fail_at(t.name, info_offset, "shape " + t.shape_string() + " overflows 64 bits");
      }
      const uint64_t offset = r.read<uint64_t>(t.name);
      if (offset % alignment_ != 0)
        r.fail_at(t.name, r.offset() - 8, "data offset " + std::to_string(offset) + " is not a multiple of the alignment " +
                                              std::to_string(alignment_));
      tensor_index_.emplace(t.name, tensors_.size());
      tensors_.push_back(std::move(t));
      infos.push_back({info_offset, offset});
    }

    try {
      data_offset_ = checked_align_up(r.offset(), alignment_, "data offset");
    } catch (const OverflowError&) {
      r.fail("data_offset", "aligning the data start to " + std::to_string(alignment_) + " overflows");
    }
    if (n_tensors > 0 && data_offset_ > map_.size())
      r.fail("data_offset", "tensor data would start at " + std::to_string(data_offset_) + ", past the end of the " +
                                std::to_string(map_.size()) + "-byte file");

    // Every tensor inside the file, no two overlapping.
    const uint64_t data_size = map_.size() - std::min(data_offset_, map_.size());
    for (size_t i = 0; i < tensors_.size(); ++i) {
      TensorView& t = tensors_[i];
      if (infos[i].data_offset > data_size || t.nbytes > data_size - infos[i].data_offset)
        r.fail_at(t.name, infos[i].info_offset,
                  "data [" + std::to_string(infos[i].data_offset) + ", +" + std::to_string(t.nbytes) +
                      ") runs past the end of the data section (" + std::to_string(data_size) + " bytes)");
      t.data = map_.data() + data_offset_ + infos[i].data_offset;
    }
    std::vector<size_t> order(tensors_.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return infos[a].data_offset < infos[b].data_offset; });
    uint64_t covered_end = 0;
    size_t covering = 0;
    for (size_t k = 0; k < order.size(); ++k) {
      const size_t i = order[k];
      const uint64_t begin = infos[i].data_offset, end = begin + tensors_[i].nbytes;
      if (k > 0 && begin < covered_end && end > begin)
        r.fail_at(tensors_[i].name, infos[i].info_offset, "data overlaps tensor '" + tensors_[covering].name + "'");
      if (end > covered_end) {
        covered_end = end;
        covering = i;
      }
    }
  }

  MappedFile map_;
  uint32_t version_ = 0;
  uint64_t alignment_ = gguf_default_alignment;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GGUFValue>> metadata_;
  std::unordered_map<std::string, size_t> key_index_;
  std::vector<TensorView> tensors_;
  std::unordered_map<std::string, size_t> tensor_index_;
};

}  // namespace llmpp::io
