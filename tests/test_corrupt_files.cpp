// Corrupt safetensors files, shard indexes and Hugging Face folders. Each case checks the
// exception type and that the message names the offending field (tensor name, header
// field or config key) and the file.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

#include "llmpp/io/model_files.hpp"
#include "llmpp/io/safetensors.hpp"
#include "test_util.hpp"

namespace llmpp::io {
namespace {

namespace fs = std::filesystem;

// A fresh folder per test under the gtest temp dir.
class CorruptFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) / ("llmpp_corrupt_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& bytes) const {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return path;
  }
  // A safetensors file from a header text and `data_bytes` bytes of data.
  static std::string safetensors_bytes(const std::string& header, size_t data_bytes, uint64_t declared = UINT64_MAX) {
    const uint64_t n = declared == UINT64_MAX ? header.size() : declared;
    std::string out(reinterpret_cast<const char*>(&n), 8);
    return out + header + std::string(data_bytes, '\x01');
  }

  template <typename Error, typename Fn>
  static void expect_error(Fn&& fn, const std::string& field, const std::string& file, const std::string& also = "") {
    try {
      fn();
      ADD_FAILURE() << "no exception; expected one naming '" << field << "'";
    } catch (const Error& e) {
      const std::string message = e.what();
      EXPECT_EQ(e.field(), field) << message;
      EXPECT_NE(message.find(field), std::string::npos) << message;
      EXPECT_NE(message.find(file), std::string::npos) << message;
      if (!also.empty()) {
        EXPECT_NE(message.find(also), std::string::npos) << message;
      }
    } catch (const std::exception& e) {
      ADD_FAILURE() << "wrong exception type: " << e.what();
    }
  }
  void expect_file_error(const std::string& bytes, const std::string& field, const std::string& also = "") {
    const std::string path = write("model.safetensors", bytes);
    expect_error<FormatError>([&] { SafetensorsFile f(path); }, field, path, also);
  }

  fs::path dir_;
};

const char* const one_tensor = R"({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}})";

TEST_F(CorruptFiles, ValidFileParses) {
  const std::string path = write("model.safetensors", safetensors_bytes(one_tensor, 16));
  const SafetensorsFile f(path);
  EXPECT_EQ(f.get("w").ne[1], 2);
}

TEST_F(CorruptFiles, ShorterThanHeaderLength) { expect_file_error("abc", "header_size", "shorter"); }

TEST_F(CorruptFiles, HeaderLongerThanFile) {
  expect_file_error(safetensors_bytes(one_tensor, 16, 5000), "header_size", "past the end");
}

TEST_F(CorruptFiles, HeaderLengthOverflows) {
  expect_file_error(safetensors_bytes(one_tensor, 16, std::numeric_limits<uint64_t>::max() - 3), "header_size");
}

TEST_F(CorruptFiles, HeaderOver100MB) {
  expect_file_error(safetensors_bytes(one_tensor, 16, 101ull * 1024 * 1024), "header_size", "100 MB");
}

TEST_F(CorruptFiles, HeaderNotJson) { expect_file_error(safetensors_bytes("{\"w\": {", 16), "header", "JSON"); }

TEST_F(CorruptFiles, HeaderNotObject) { expect_file_error(safetensors_bytes("[1, 2]", 0), "header", "object"); }

TEST_F(CorruptFiles, DuplicateTensorName) {
  expect_file_error(safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                                         "w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                                      8),
                    "w", "duplicate");
}

TEST_F(CorruptFiles, InvertedOffsets) {
  expect_file_error(safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}})", 8), "w",
                    "inverted");
}

TEST_F(CorruptFiles, OffsetsPastEnd) {
  expect_file_error(safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", 12), "w",
                    "past the end");
}

TEST_F(CorruptFiles, OverlappingTensors) {
  expect_file_error(safetensors_bytes(R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                                         "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})",
                                      16),
                    "b", "overlaps tensor 'a'");
}

TEST_F(CorruptFiles, OverlapBehindEmptyTensor) {
  // An empty tensor between a large one and an overlapping one must not hide the overlap.
  expect_file_error(safetensors_bytes(R"({"big": {"dtype": "F32", "shape": [8], "data_offsets": [0, 32]},
                                         "empty": {"dtype": "F32", "shape": [0], "data_offsets": [4, 4]},
                                         "inside": {"dtype": "F32", "shape": [2], "data_offsets": [16, 24]}})",
                                      32),
                    "inside", "overlaps tensor 'big'");
}

TEST_F(CorruptFiles, DtypeTimesShapeIsNotTheByteRange) {
  expect_file_error(safetensors_bytes(R"({"w": {"dtype": "BF16", "shape": [2, 2], "data_offsets": [0, 16]}})", 16),
                    "w", "8 bytes");
}

TEST_F(CorruptFiles, ShapeOverflows) {
  expect_file_error(
      safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 16]}})", 16),
      "w", "overflow");
}

TEST_F(CorruptFiles, BadEntries) {
  expect_file_error(safetensors_bytes(R"({"w": 3})", 0), "w", "not an object");
  expect_file_error(safetensors_bytes(R"({"w": {"shape": [1], "data_offsets": [0, 4]}})", 4), "w", "dtype");
  expect_file_error(safetensors_bytes(R"({"w": {"dtype": "F8_E4M3", "shape": [1], "data_offsets": [0, 1]}})", 1),
                    "w", "unsupported dtype");
  expect_file_error(safetensors_bytes(R"({"w": {"dtype": "F32", "shape": 4, "data_offsets": [0, 16]}})", 16), "w",
                    "shape");
  expect_file_error(safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [1,1,1,1,4], "data_offsets": [0, 16]}})", 16),
                    "w", "5 dimensions");
  expect_file_error(safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}})", 16), "w",
                    "non-negative");
  expect_file_error(safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0]}})", 16), "w",
                    "two integers");
  expect_file_error(safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [-16, 0]}})", 16), "w",
                    "non-negative");
  expect_file_error(safetensors_bytes(R"({"__metadata__": [1]})", 0), "__metadata__", "not an object");
}

TEST_F(CorruptFiles, EveryTruncationIsAFormatError) {
  const std::string bytes = safetensors_bytes(one_tensor, 16);
  for (size_t n = 0; n < bytes.size(); ++n) {
    const std::string path = write("cut.safetensors", bytes.substr(0, n));
    EXPECT_THROW(SafetensorsFile{path}, FormatError) << n;
  }
}

// ---- Shard indexes ----

const char* const two_shards = R"({"metadata": {}, "weight_map": {"a": "part-1.safetensors", "b": "part-2.safetensors"}})";

TEST_F(CorruptFiles, ShardedValid) {
  write("part-1.safetensors", safetensors_bytes(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", 4));
  write("part-2.safetensors", safetensors_bytes(R"({"b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", 4));
  write("model.safetensors.index.json", two_shards);
  const SafetensorsSet set(dir_.string());
  EXPECT_EQ(set.tensors().size(), 2u);
}

TEST_F(CorruptFiles, MissingShard) {
  write("part-1.safetensors", safetensors_bytes(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", 4));
  const std::string index = write("model.safetensors.index.json", two_shards);
  expect_error<FormatError>([&] { SafetensorsSet s(dir_.string()); }, "weight_map", index, "part-2.safetensors");
}

// Found by fuzz_safetensors_index in a 30-minute run: a shard name longer than the system's
// NAME_MAX made std::filesystem::exists throw filesystem_error ("File name too long") past the
// typed errors. Such a shard is missing like any other.
TEST_F(CorruptFiles, ShardNameLongerThanTheSystemAllows) {
  const std::string shard = std::string(300, 'p') + ".safetensors";
  const std::string index = write("model.safetensors.index.json", R"({"weight_map": {"a": ")" + shard + R"("}})");
  expect_error<FormatError>([&] { SafetensorsSet s(dir_.string()); }, "weight_map", index, "is missing");
}

// The same for a path the caller gives: not there, as an IoError naming it.
TEST_F(CorruptFiles, ModelPathLongerThanTheSystemAllows) {
  const std::string path = (dir_ / std::string(300, 'm')).string();
  try {
    open_model_files(path);
    ADD_FAILURE() << "no exception";
  } catch (const IoError& e) {
    EXPECT_EQ(e.file(), path);
    EXPECT_NE(std::string(e.what()).find("no such file"), std::string::npos) << e.what();
  }
}

TEST_F(CorruptFiles, TensorMissingFromItsShard) {
  write("part-1.safetensors", safetensors_bytes(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", 4));
  write("part-2.safetensors", safetensors_bytes(R"({"c": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", 4));
  const std::string index = write("model.safetensors.index.json", two_shards);
  expect_error<FormatError>([&] { SafetensorsSet s(dir_.string()); }, "weight_map.b", index, "not in shard");
}

TEST_F(CorruptFiles, TensorInTwoShards) {
  write("part-1.safetensors", safetensors_bytes(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", 4));
  const std::string second =
      write("part-2.safetensors", safetensors_bytes(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                                                        "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                                                    8));
  write("model.safetensors.index.json", two_shards);
  expect_error<FormatError>([&] { SafetensorsSet s(dir_.string()); }, "a", second, "another shard");
}

TEST_F(CorruptFiles, ShardOutsideFolder) {
  const std::string index =
      write("model.safetensors.index.json", R"({"weight_map": {"a": "../elsewhere/x.safetensors"}})");
  expect_error<FormatError>([&] { SafetensorsSet s(dir_.string()); }, "weight_map.a", index, "leaves the folder");
}

TEST_F(CorruptFiles, IndexNotJsonOrNoWeightMap) {
  std::string index = write("model.safetensors.index.json", "{weight_map");
  expect_error<FormatError>([&] { SafetensorsSet s(dir_.string()); }, "index", index, "JSON");
  index = write("model.safetensors.index.json", R"({"metadata": {}})");
  expect_error<FormatError>([&] { SafetensorsSet s(dir_.string()); }, "weight_map", index);
}

// ---- Hugging Face folders with a bad config.json ----

// Writes config.json (from the stories260K config with one change) and a matching tiny file.
std::string stories_config(const std::string& key, const nlohmann::json& value, bool erase = false) {
  nlohmann::json j = {{"architectures", {"LlamaForCausalLM"}}, {"hidden_size", 64}, {"intermediate_size", 172},
                      {"num_hidden_layers", 5}, {"num_attention_heads", 8}, {"num_key_value_heads", 4},
                      {"vocab_size", 512}, {"max_position_embeddings", 512}, {"rms_norm_eps", 1e-5},
                      {"tie_word_embeddings", true}};
  if (erase) j.erase(key);
  else j[key] = value;
  return j.dump();
}

TEST_F(CorruptFiles, ConfigHeadsDoNotDivideHiddenSize) {
  const std::string config = write("config.json", stories_config("num_attention_heads", 7));
  expect_error<ConfigError>([&] { open_model_files(dir_.string()); }, "num_attention_heads", config, "hidden_size 64");
}

TEST_F(CorruptFiles, ConfigKvHeadsDoNotDivideHeads) {
  const std::string config = write("config.json", stories_config("num_key_value_heads", 3));
  expect_error<ConfigError>([&] { open_model_files(dir_.string()); }, "num_key_value_heads", config);
}

TEST_F(CorruptFiles, ConfigMissingRequiredKey) {
  const std::string config = write("config.json", stories_config("vocab_size", nullptr, true));
  expect_error<ConfigError>([&] { open_model_files(dir_.string()); }, "vocab_size", config, "missing");
}

TEST_F(CorruptFiles, ConfigWrongType) {
  const std::string config = write("config.json", stories_config("num_hidden_layers", "5"));
  expect_error<ConfigError>([&] { open_model_files(dir_.string()); }, "num_hidden_layers", config, "integer");
}

TEST_F(CorruptFiles, ConfigNotJson) {
  const std::string config = write("config.json", "{\"hidden_size\": 64");
  expect_error<FormatError>([&] { open_model_files(dir_.string()); }, "config.json", config, "JSON");
}

TEST_F(CorruptFiles, FolderWithoutWeights) {
  write("config.json", stories_config("hidden_size", 64));
  EXPECT_THROW(open_model_files(dir_.string()), IoError);
}

}  // namespace
}  // namespace llmpp::io
