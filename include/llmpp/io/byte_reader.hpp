// A bounds-checked little-endian cursor over a file's bytes, shared by the binary readers
// (GGUF, llama2.c). Every read checks the remaining length first, and every failure is a
// FormatError naming the file, the field being read and the byte offset where it starts.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "llmpp/core/error.hpp"

namespace llmpp::io {

class ByteReader {
 public:
  ByteReader(std::string file, const uint8_t* data, uint64_t size) : file_(std::move(file)), data_(data), size_(size) {}

  const std::string& file() const { return file_; }
  uint64_t offset() const { return pos_; }
  uint64_t size() const { return size_; }
  uint64_t remaining() const { return size_ - pos_; }
  const uint8_t* here() const { return data_ + pos_; }

  [[noreturn]] void fail(const std::string& field, const std::string& message) const { fail_at(field, pos_, message); }
  [[noreturn]] void fail_at(const std::string& field, uint64_t offset, const std::string& message) const {
    throw FormatError(file_, field, offset, message);
  }

  // Throws unless `n` more bytes are there.
  void require(uint64_t n, const std::string& field) const {
    if (n > remaining())
      fail(field, "file is truncated: needs " + std::to_string(n) + " bytes, only " + std::to_string(remaining()) +
                      " remain");
  }

  template <typename T>
  T read(const std::string& field) {
    static_assert(std::is_trivially_copyable_v<T>);
    require(sizeof(T), field);
    T value;
    std::memcpy(&value, data_ + pos_, sizeof(T));  // the format is little-endian, like every supported host
    pos_ += sizeof(T);
    return value;
  }

  // Returns a pointer to the next `n` bytes and moves past them.
  const uint8_t* take(uint64_t n, const std::string& field) {
    require(n, field);
    const uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }

  void seek(uint64_t offset, const std::string& field) {
    if (offset > size_)
      fail(field, "offset " + std::to_string(offset) + " is past the end of the " + std::to_string(size_) + "-byte file");
    pos_ = offset;
  }

 private:
  std::string file_;
  const uint8_t* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
};

}  // namespace llmpp::io
