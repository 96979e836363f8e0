// Typed exceptions. Every error that comes from user input names where it came from:
// the file, the field and the byte offset, so that a bad download can be diagnosed.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace llmpp {

// Base of every exception the library throws on purpose.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// A file's bytes do not follow its format (GGUF, safetensors, llama2.c, tokenizer files).
class FormatError : public Error {
 public:
  FormatError(std::string file, std::string field, uint64_t offset, const std::string& message)
      : Error(file + ": field '" + field + "' at byte offset " + std::to_string(offset) + ": " + message),
        file_(std::move(file)), field_(std::move(field)), offset_(offset) {}
  const std::string& file() const { return file_; }
  const std::string& field() const { return field_; }
  uint64_t offset() const { return offset_; }

 private:
  std::string file_, field_;
  uint64_t offset_;
};

// A model configuration that is well formed but describes an impossible or unsupported model.
class ConfigError : public Error {
 public:
  ConfigError(std::string source, std::string field, const std::string& message)
      : Error(source + ": config field '" + field + "': " + message),
        source_(std::move(source)), field_(std::move(field)) {}
  const std::string& source() const { return source_; }
  const std::string& field() const { return field_; }

 private:
  std::string source_, field_;
};

// Opening, mapping or reading a file failed at the OS level.
class IoError : public Error {
 public:
  IoError(std::string file, const std::string& message)
      : Error(file + ": " + message), file_(std::move(file)) {}
  const std::string& file() const { return file_; }

 private:
  std::string file_;
};

// A caller passed arguments that break an API precondition (shape mismatch, bad option).
class InvalidArgument : public Error {
 public:
  explicit InvalidArgument(const std::string& message) : Error(message) {}
};

// A request that would exceed a resource limit (context length, memory cap).
class LimitError : public Error {
 public:
  explicit LimitError(const std::string& message) : Error(message) {}
};

}  // namespace llmpp
