// Opening a model from any supported layout: a GGUF file, a Hugging Face folder
// (config.json + safetensors), or a llama2.c checkpoint. Every layout yields the same
// thing: a ModelConfig and a WeightSource that answers by canonical (GGUF) tensor name.
#pragma once

#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include "llmpp/core/error.hpp"
#include "llmpp/core/filesystem.hpp"
#include "llmpp/core/mmap.hpp"
#include "llmpp/core/tensor.hpp"
#include "llmpp/io/gguf.hpp"
#include "llmpp/io/gguf_config.hpp"
#include "llmpp/io/hf_config.hpp"
#include "llmpp/io/llama2c.hpp"
#include "llmpp/io/safetensors.hpp"
#include "llmpp/model/config.hpp"
#include "llmpp/model/families.hpp"
#include "llmpp/model/weight_names.hpp"

namespace llmpp::io {

class WeightSource {
 public:
  virtual ~WeightSource() = default;
  virtual const TensorView* find(const std::string& canonical_name) const = 0;  // nullptr if absent
  virtual std::string path() const = 0;
};

struct ModelFiles {
  ModelConfig config;
  std::unique_ptr<WeightSource> weights;
  std::string tokenizer_path;  // GGUF file itself, HF folder (tokenizer.json/tokenizer.model), or tokenizer.bin
  std::string format;          // "gguf", "hf", "llama2c"
  std::shared_ptr<const GGUFFile> gguf;  // set when format == gguf (the tokenizer reads its metadata)
};

// GGUF names are already canonical.
class GGUFWeightSource : public WeightSource {
 public:
  explicit GGUFWeightSource(std::shared_ptr<const GGUFFile> file) : file_(std::move(file)) {}
  const TensorView* find(const std::string& name) const override { return file_->find_tensor(name); }
  std::string path() const override { return file_->path(); }

 private:
  std::shared_ptr<const GGUFFile> file_;
};

// Safetensors files of a Hugging Face folder, renamed through the family's table.
class HFWeightSource : public WeightSource {
 public:
  HFWeightSource(const std::string& folder, const WeightNameTable& names) : folder_(folder), files_(folder), names_(names) {}
  const TensorView* find(const std::string& name) const override {
    const std::string file_name = to_file_name(names_, name);
    return file_name.empty() ? nullptr : files_.find(file_name);
  }
  std::string path() const override { return folder_; }
  const SafetensorsSet& files() const { return files_; }
  const WeightNameTable& names() const { return names_; }

 private:
  std::string folder_;
  SafetensorsSet files_;
  const WeightNameTable& names_;
};

class Llama2cWeightSource : public WeightSource {
 public:
  explicit Llama2cWeightSource(const std::string& path) : file_(path) {}
  const TensorView* find(const std::string& name) const override { return file_.find(name); }
  std::string path() const override { return file_.path(); }
  const Llama2cFile& file() const { return file_; }

 private:
  Llama2cFile file_;
};

namespace detail {

inline ModelFiles open_gguf(const std::string& path) {
  ModelFiles m;
  m.format = "gguf";
  m.gguf = std::make_shared<const GGUFFile>(path);
  const GGUFFamily* family = find_gguf_family(*m.gguf);  // gpt2, bloom, falcon, phi3, gemma
  m.config = family ? gguf_family_config(*family, *m.gguf) : gguf_config(*m.gguf);
  m.weights = std::make_unique<GGUFWeightSource>(m.gguf);
  m.tokenizer_path = path;
  return m;
}

inline ModelFiles open_hf(const std::string& folder) {
  const std::string config_path = (std::filesystem::path(folder) / "config.json").string();
  const nlohmann::json j = load_json_file(config_path);
  ModelFiles m;
  m.format = "hf";
  if (const HFFamily* family = find_hf_family(j)) {  // GPT-2, OPT, BLOOM, Falcon, Phi-3, Gemma
    m.config = hf_family_config(*family, j, config_path);
    m.weights = std::make_unique<HFWeightSource>(folder, family->names(m.config));
    m.tokenizer_path = folder;
    return m;
  }
  m.config = hf_config_from_json(j, config_path);
  const std::string architecture = hf_architecture(j, config_path).class_name;
  const WeightNameTable* names = find_weight_name_table(architecture);
  if (!names) throw ConfigError(config_path, "architectures", "no weight-name table for '" + architecture + "'");
  m.weights = std::make_unique<HFWeightSource>(folder, *names);
  m.tokenizer_path = folder;
  return m;
}

// llama2.c ships its tokenizer separately: tokenizer.bin next to the model, else the one
// tok*.bin file there (tok512.bin for stories260K).
inline std::string find_llama2c_tokenizer(const std::string& model_path) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(model_path).parent_path().empty() ? fs::path(".") : fs::path(model_path).parent_path();
  if (path_exists(dir / "tokenizer.bin")) return (dir / "tokenizer.bin").string();
  std::string found;
  for (const fs::path& file : files_in(dir)) {
    const std::string name = file.filename().string();
    if (name.rfind("tok", 0) == 0 && file.extension() == ".bin") {
      if (!found.empty()) return {};  // ambiguous: the caller must say
      found = file.string();
    }
  }
  return found;
}

inline ModelFiles open_llama2c(const std::string& path) {
  ModelFiles m;
  m.format = "llama2c";
  auto source = std::make_unique<Llama2cWeightSource>(path);
  m.config = source->file().config();
  m.weights = std::move(source);
  m.tokenizer_path = find_llama2c_tokenizer(path);
  return m;
}

}  // namespace detail

// Detects the layout of `path`: a folder with config.json is a Hugging Face model, a file
// starting with "GGUF" is GGUF, a .bin file (or one starting with llama2.c's magic) is a
// llama2.c checkpoint. `tokenizer_path`, when given, replaces the detected tokenizer.
inline ModelFiles open_model_files(const std::string& path, const std::string& tokenizer_path = "") {
  namespace fs = std::filesystem;
  ModelFiles m;
  if (is_folder(path)) {
    if (!path_exists(fs::path(path) / "config.json")) throw IoError(path, "folder has no config.json");
    m = detail::open_hf(path);
  } else {
    if (!path_exists(path)) throw IoError(path, "no such file");
    uint32_t magic = 0;
    {
      const MappedFile probe(path);
      if (probe.size() >= 4) std::memcpy(&magic, probe.data(), 4);
    }
    const std::string extension = fs::path(path).extension().string();
    if (magic == gguf_magic) {
      m = detail::open_gguf(path);
    } else if (magic == llama2c_magic || extension == ".bin") {
      m = detail::open_llama2c(path);
    } else if (extension == ".safetensors" || extension == ".json") {
      m = detail::open_hf(fs::path(path).parent_path().string());
    } else {
      throw FormatError(path, "magic", 0, "not a GGUF file, a llama2.c .bin checkpoint or a Hugging Face folder");
    }
  }
  if (!tokenizer_path.empty()) m.tokenizer_path = tokenizer_path;
  return m;
}

}  // namespace llmpp::io
