// Reader for Hugging Face safetensors files (one file, or shards listed by
// model.safetensors.index.json). Tensors are views into the memory map: nothing is copied.
// Format: u64 little-endian header length N, N bytes of JSON {name: {dtype, shape,
// data_offsets: [begin, end]}, "__metadata__": {...}}, then the data; offsets are relative
// to the first byte after the header.
#pragma once

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "llmpp/core/checked.hpp"
#include "llmpp/core/error.hpp"
#include "llmpp/core/filesystem.hpp"
#include "llmpp/core/mmap.hpp"
#include "llmpp/core/tensor.hpp"

namespace llmpp::io {

class SafetensorsFile {
 public:
  static constexpr uint64_t max_header_bytes = 100ull * 1024 * 1024;

  explicit SafetensorsFile(const std::string& path) : map_(path) { parse(); }

  const std::string& path() const { return map_.path(); }
  const std::vector<TensorView>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const TensorView* find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &tensors_[it->second];
  }
  const TensorView& get(const std::string& name) const {
    const TensorView* t = find(name);
    if (!t) throw FormatError(path(), name, 8, "tensor not found");
    return *t;
  }

 private:
  static bool dtype_from_string(const std::string& s, DType& out) {
    static const std::pair<const char*, DType> table[] = {
        {"F32", DType::F32}, {"F16", DType::F16}, {"BF16", DType::BF16}, {"F64", DType::F64},
        {"I8", DType::I8},   {"I16", DType::I16}, {"I32", DType::I32},   {"I64", DType::I64}};
    for (const auto& [name, type] : table)
      if (s == name) {
        out = type;
        return true;
      }
    return false;
  }

  void parse() {
    const std::string& file = map_.path();
    if (map_.size() < 8) throw FormatError(file, "header_size", 0, "file is shorter than the 8-byte header length");
    uint64_t header_size;
    std::memcpy(&header_size, map_.data(), 8);
    if (header_size > max_header_bytes)
      throw FormatError(file, "header_size", 0, "header of " + std::to_string(header_size) + " bytes exceeds the 100 MB limit");
    if (header_size > map_.size() - 8)
      throw FormatError(file, "header_size", 0, "header of " + std::to_string(header_size) +
                                                    " bytes runs past the end of the " + std::to_string(map_.size()) + "-byte file");
    const char* begin = reinterpret_cast<const char*>(map_.data() + 8);
    // Duplicate top-level keys are refused: nlohmann/json would silently keep the last one.
    std::set<std::string> seen;
    std::string duplicate;
    nlohmann::json header;
    try {
      header = nlohmann::json::parse(
          begin, begin + header_size,
          [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
            if (depth == 1 && event == nlohmann::json::parse_event_t::key) {
              const std::string key = parsed.get<std::string>();
              if (!seen.insert(key).second && duplicate.empty()) duplicate = key;
            }
            return true;
          });
    } catch (const nlohmann::json::exception& e) {
      throw FormatError(file, "header", 8, std::string("header is not valid JSON: ") + e.what());
    }
    if (!duplicate.empty()) throw FormatError(file, duplicate, 8, "duplicate tensor name in header");
    if (!header.is_object()) throw FormatError(file, "header", 8, "header is not a JSON object");

    const uint64_t data_start = 8 + header_size;
    const uint64_t data_size = map_.size() - data_start;
    struct Range { uint64_t begin, end; std::string name; };
    std::vector<Range> ranges;
    for (auto it = header.begin(); it != header.end(); ++it) {
      const std::string& name = it.key();
      const nlohmann::json& info = it.value();
      if (name == "__metadata__") {
        if (!info.is_object()) throw FormatError(file, name, 8, "__metadata__ is not an object");
        for (auto m = info.begin(); m != info.end(); ++m)
          if (m.value().is_string()) metadata_[m.key()] = m.value().get<std::string>();
        continue;
      }
      auto fail = [&](const std::string& what) { throw FormatError(file, name, 8, what); };
      if (!info.is_object()) fail("entry is not an object");
      const auto dtype_it = info.find("dtype");
      const auto shape_it = info.find("shape");
      const auto offsets_it = info.find("data_offsets");
      if (dtype_it == info.end() || !dtype_it->is_string()) fail("missing or non-string 'dtype'");
      if (shape_it == info.end() || !shape_it->is_array()) fail("missing or non-array 'shape'");
      if (offsets_it == info.end() || !offsets_it->is_array() || offsets_it->size() != 2)
        fail("'data_offsets' must be an array of two integers");
      TensorView t;
      t.name = name;
      if (!dtype_from_string(dtype_it->get<std::string>(), t.type)) fail("unsupported dtype '" + dtype_it->get<std::string>() + "'");
      if (shape_it->size() > 4) fail("has " + std::to_string(shape_it->size()) + " dimensions; at most 4 are supported");
      t.n_dims = static_cast<int>(shape_it->size());
      uint64_t n_elements = 1, nonzero_product = 1;
      try {
        for (int d = 0; d < t.n_dims; ++d) {
          const auto& dim = (*shape_it)[static_cast<size_t>(t.n_dims - 1 - d)];
          if (!dim.is_number_unsigned()) fail("shape entries must be non-negative integers");
          const uint64_t v = dim.get<uint64_t>();
          if (v > static_cast<uint64_t>(INT64_MAX)) fail("shape entry too large");
          t.ne[static_cast<size_t>(d)] = static_cast<int64_t>(v);
          n_elements = checked_mul(n_elements, v, "element count");
          // TensorView multiplies the dims in int64 even when one of them is 0.
          nonzero_product = checked_mul(nonzero_product, std::max<uint64_t>(1, v), "element count");
        }
        checked_cast<int64_t>(nonzero_product, "element count");
        t.nbytes = checked_mul(n_elements, dtype_traits(t.type).block_bytes, "byte size");
      } catch (const OverflowError&) {
        fail("shape's byte size overflows 64 bits");
      }
      const auto& b = (*offsets_it)[0];
      const auto& e = (*offsets_it)[1];
      if (!b.is_number_unsigned() || !e.is_number_unsigned()) fail("'data_offsets' must be non-negative integers");
      const uint64_t off_begin = b.get<uint64_t>(), off_end = e.get<uint64_t>();
      if (off_end < off_begin) fail("data_offsets are inverted");
      if (off_end > data_size)
        throw FormatError(file, name, data_start + std::min(off_begin, data_size),
                          "data_offsets [" + std::to_string(off_begin) + ", " + std::to_string(off_end) +
                              ") run past the end of the data (" + std::to_string(data_size) + " bytes)");
      if (off_end - off_begin != t.nbytes)
        fail("dtype x shape is " + std::to_string(t.nbytes) + " bytes but data_offsets span " +
             std::to_string(off_end - off_begin));
      t.data = map_.data() + data_start + off_begin;
      // The format does not align tensor data. The kernels read whole elements, so a
      // misaligned tensor (rare: writers pad the header to 8 bytes) gets an aligned copy;
      // an empty one has nothing to read (and memcpy to an empty vector's null data is UB).
      const uint32_t element_bytes = dtype_traits(t.type).block_bytes;
      if (t.nbytes != 0 && reinterpret_cast<uintptr_t>(t.data) % element_bytes != 0) {
        std::vector<uint64_t>& copy = aligned_copies_.emplace_back((t.nbytes + 7) / 8);
        std::memcpy(copy.data(), t.data, t.nbytes);
        t.data = copy.data();
      }
      ranges.push_back({off_begin, off_end, name});
      index_[name] = tensors_.size();
      tensors_.push_back(std::move(t));
    }
    // Sorted by start, each range must begin after the furthest end so far (not only the
    // previous range's end: an empty or small range may sit inside a large one).
    std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) { return a.begin < b.begin; });
    size_t furthest = 0;
    for (size_t i = 1; i < ranges.size(); ++i) {
      if (ranges[i].begin < ranges[furthest].end && ranges[i].end > ranges[i].begin)
        throw FormatError(file, ranges[i].name, data_start + ranges[i].begin,
                          "data overlaps tensor '" + ranges[furthest].name + "'");
      if (ranges[i].end > ranges[furthest].end) furthest = i;
    }
  }

  MappedFile map_;
  std::vector<std::vector<uint64_t>> aligned_copies_;  // only for tensors the file misaligns
  std::vector<TensorView> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// All the tensors of a Hugging Face folder: model.safetensors, or the shards named by
// model.safetensors.index.json. Every name the index lists must be found in its shard.
class SafetensorsSet {
 public:
  explicit SafetensorsSet(const std::string& folder_or_file) {
    namespace fs = std::filesystem;
    const fs::path p(folder_or_file);
    if (is_file(p)) {
      add_file(p.string());
      return;
    }
    const fs::path index = p / "model.safetensors.index.json";
    if (path_exists(index)) {
      load_index(index.string());
      return;
    }
    if (path_exists(p / "model.safetensors")) {
      add_file((p / "model.safetensors").string());
      return;
    }
    throw IoError(folder_or_file, "no model.safetensors or model.safetensors.index.json");
  }

  const TensorView* find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : it->second;
  }
  std::vector<const TensorView*> tensors() const {
    std::vector<const TensorView*> out;
    for (const auto& [name, t] : index_) out.push_back(t);
    return out;
  }
  const std::vector<std::unique_ptr<SafetensorsFile>>& files() const { return files_; }

 private:
  void add_file(const std::string& path) {
    files_.push_back(std::make_unique<SafetensorsFile>(path));
    for (const TensorView& t : files_.back()->tensors()) {
      if (index_.count(t.name)) throw FormatError(path, t.name, 8, "tensor also present in another shard");
      index_[t.name] = &t;
    }
  }

  void load_index(const std::string& index_path) {
    MappedFile map(index_path);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(map.data(), map.data() + map.size());
    } catch (const nlohmann::json::exception& e) {
      throw FormatError(index_path, "index", 0, std::string("not valid JSON: ") + e.what());
    }
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
      throw FormatError(index_path, "weight_map", 0, "missing or not an object");
    const std::filesystem::path dir = std::filesystem::path(index_path).parent_path();
    std::map<std::string, std::string> wanted;
    std::set<std::string> shards;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      if (!it.value().is_string()) throw FormatError(index_path, "weight_map." + it.key(), 0, "shard name is not a string");
      const std::string shard = it.value().get<std::string>();
      if (shard.find('/') != std::string::npos || shard.find("..") != std::string::npos)
        throw FormatError(index_path, "weight_map." + it.key(), 0, "shard name '" + shard + "' leaves the folder");
      wanted[it.key()] = shard;
      shards.insert(shard);
    }
    for (const std::string& shard : shards) {
      const std::string shard_path = (dir / shard).string();
      if (!is_file(shard_path))
        throw FormatError(index_path, "weight_map", 0, "shard '" + shard + "' is missing");
      add_file(shard_path);
    }
    for (const auto& [name, shard] : wanted)
      if (!index_.count(name))
        throw FormatError(index_path, "weight_map." + name, 0, "tensor is not in shard '" + shard + "'");
  }

  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorView*> index_;
};

}  // namespace llmpp::io
