// Fuzzes model.safetensors.index.json (io/safetensors.hpp, SafetensorsSet): the input is
// the index, in a scratch folder that also holds two valid shards, a.safetensors (tensor
// "x") and b.safetensors (tensor "y"), so that hostile indexes can name real shards.
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>

#include "fuzz_util.hpp"
#include "llmpp/io/safetensors.hpp"

namespace {

// A safetensors file with one F32 tensor of shape [2] named `name`.
std::string tiny_safetensors(const std::string& name) {
  const std::string header = "{\"" + name + "\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
  std::string bytes(8, '\0');
  const uint64_t length = header.size();
  std::memcpy(&bytes[0], &length, 8);
  return bytes + header + std::string(8, '\0');
}

struct ShardFolder {
  std::string folder = llmpp::fuzz::scratch_dir() + "/llmpp-fuzz-" + std::to_string(getpid()) + "-shards";
  ShardFolder() {
    std::filesystem::create_directories(folder);
    for (const char* name : {"a", "b"}) {
      const std::string bytes = tiny_safetensors(name == std::string("a") ? "x" : "y");
      llmpp::fuzz::write_file(folder + "/" + name + ".safetensors", bytes.data(), bytes.size());
    }
  }
  ~ShardFolder() { std::filesystem::remove_all(folder); }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const ShardFolder shards;
  const std::string index_path = shards.folder + "/model.safetensors.index.json";
  llmpp::fuzz::write_file(index_path, data, size);
  try {
    const llmpp::io::SafetensorsSet set(shards.folder);
    for (const llmpp::TensorView* t : set.tensors()) {
      if (set.find(t->name) != t) llmpp::fuzz::violated("set index does not find '" + t->name + "'");
      llmpp::fuzz::check_shape(*t);
    }
  } catch (const llmpp::Error&) {
  }
  return 0;
}
