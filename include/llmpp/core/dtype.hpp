// Element types of weight tensors. The numeric values are GGML's type ids, so a GGUF
// tensor's type field maps to DType without a table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "llmpp/core/checked.hpp"

namespace llmpp {

enum class DType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  BF16 = 30,
};

// Elements per block and bytes per block of a type. Plain types are blocks of one.
struct DTypeTraits {
  const char* name;
  uint32_t block_size;  // elements
  uint32_t block_bytes; // bytes
  bool known;
};

inline DTypeTraits dtype_traits(DType type) {
  switch (type) {
    case DType::F32: return {"F32", 1, 4, true};
    case DType::F16: return {"F16", 1, 2, true};
    case DType::BF16: return {"BF16", 1, 2, true};
    case DType::Q4_0: return {"Q4_0", 32, 18, true};
    case DType::Q4_1: return {"Q4_1", 32, 20, true};
    case DType::Q5_0: return {"Q5_0", 32, 22, true};
    case DType::Q5_1: return {"Q5_1", 32, 24, true};
    case DType::Q8_0: return {"Q8_0", 32, 34, true};
    case DType::Q8_1: return {"Q8_1", 32, 36, true};
    case DType::Q2_K: return {"Q2_K", 256, 84, true};
    case DType::Q3_K: return {"Q3_K", 256, 110, true};
    case DType::Q4_K: return {"Q4_K", 256, 144, true};
    case DType::Q5_K: return {"Q5_K", 256, 176, true};
    case DType::Q6_K: return {"Q6_K", 256, 210, true};
    case DType::Q8_K: return {"Q8_K", 256, 292, true};
    case DType::I8: return {"I8", 1, 1, true};
    case DType::I16: return {"I16", 1, 2, true};
    case DType::I32: return {"I32", 1, 4, true};
    case DType::I64: return {"I64", 1, 8, true};
    case DType::F64: return {"F64", 1, 8, true};
  }
  return {"unknown", 0, 0, false};
}

inline bool dtype_is_known(uint32_t raw) { return dtype_traits(static_cast<DType>(raw)).known; }
inline const char* dtype_name(DType type) { return dtype_traits(type).name; }
inline bool dtype_is_quantized(DType type) { return dtype_traits(type).block_size > 1; }

// Bytes of a row of `n` elements. Throws OverflowError, or InvalidArgument when `n` is not a
// whole number of blocks.
inline uint64_t row_bytes(DType type, uint64_t n) {
  const DTypeTraits t = dtype_traits(type);
  if (!t.known) throw InvalidArgument("unknown tensor type " + std::to_string(static_cast<uint32_t>(type)));
  if (n % t.block_size != 0)
    throw InvalidArgument(std::string("row of ") + std::to_string(n) + " elements is not a whole number of " +
                          t.name + " blocks of " + std::to_string(t.block_size));
  return checked_mul(n / t.block_size, t.block_bytes, "row byte size");
}

}  // namespace llmpp
