// Checked arithmetic for sizes read from files. These stay on in release builds: a size
// that overflows is a hostile or corrupt file, never an assert.
#pragma once

#include <cstdint>
#include <limits>
#include <string>

#include "llmpp/core/error.hpp"

namespace llmpp {

// Thrown by the helpers below; loaders catch it and rethrow as FormatError with context.
class OverflowError : public Error {
 public:
  explicit OverflowError(const std::string& what) : Error("integer overflow in " + what) {}
};

inline uint64_t checked_add(uint64_t a, uint64_t b, const char* what = "size") {
  uint64_t r;
  if (__builtin_add_overflow(a, b, &r)) throw OverflowError(what);
  return r;
}

inline uint64_t checked_mul(uint64_t a, uint64_t b, const char* what = "size") {
  uint64_t r;
  if (__builtin_mul_overflow(a, b, &r)) throw OverflowError(what);
  return r;
}

// Rounds `value` up to a multiple of `alignment` (a power of two or any positive value).
inline uint64_t checked_align_up(uint64_t value, uint64_t alignment, const char* what = "alignment") {
  if (alignment == 0) throw OverflowError(what);
  const uint64_t rem = value % alignment;
  return rem == 0 ? value : checked_add(value, alignment - rem, what);
}

// Narrowing that refuses values the destination type cannot hold.
template <typename To, typename From>
To checked_cast(From value, const char* what = "value") {
  static_assert(std::numeric_limits<To>::is_integer && std::numeric_limits<From>::is_integer);
  if constexpr (std::numeric_limits<From>::is_signed) {
    if (value < 0) {
      if (!std::numeric_limits<To>::is_signed ||
          static_cast<int64_t>(value) < static_cast<int64_t>(std::numeric_limits<To>::min()))
        throw OverflowError(what);
      return static_cast<To>(value);
    }
  }
  if (static_cast<uint64_t>(value) > static_cast<uint64_t>(std::numeric_limits<To>::max()))
    throw OverflowError(what);
  return static_cast<To>(value);
}

}  // namespace llmpp
