// Reader for llama2.c checkpoints (karpathy/llama2.c), fp32 only:
//  - legacy: a 28-byte header of 7 int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads,
//    vocab_size, seq_len; a negative vocab_size means the classifier is not shared), then the
//    weights in run.c's order, including the RoPE tables freq_cis_real/imag, which we skip.
//  - version 1 (export.py --version 1): u32 magic "ak42", int32 version = 1, the same 7
//    int32, u8 shared_classifier, zero padding to 256 bytes, then norms first and matrices
//    after, without RoPE tables.
// The tensors are views into the memory map under canonical GGUF names. llama2.c keeps q/k
// rows in Meta's order (RoPE pairs adjacent dimensions), like GGUF `llama`.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "llmpp/core/checked.hpp"
#include "llmpp/core/error.hpp"
#include "llmpp/core/mmap.hpp"
#include "llmpp/core/tensor.hpp"
#include "llmpp/io/byte_reader.hpp"
#include "llmpp/model/config.hpp"

namespace llmpp::io {

inline constexpr uint32_t llama2c_magic = 0x616b3432;  // "ak42"

class Llama2cFile {
 public:
  explicit Llama2cFile(const std::string& path) : map_(path) { parse(); }

  const std::string& path() const { return map_.path(); }
  int version() const { return version_; }  // 0: legacy
  const ModelConfig& config() const { return config_; }
  const std::vector<TensorView>& tensors() const { return tensors_; }
  const TensorView* find(const std::string& name) const {
    const auto it = index_.find(name);
    return it == index_.end() ? nullptr : &tensors_[it->second];
  }

 private:
  // One array of the file: `rows` x `cols` floats, once or once per layer.
  struct Segment {
    const char* field;      // llama2.c's name, for messages
    const char* canonical;  // GGUF name; {N} = layer; nullptr: skipped (RoPE tables)
    int64_t rows, cols;
    bool per_layer;
  };

  void parse() {
    ByteReader r(path(), map_.data(), map_.size());
    const uint32_t first = r.read<uint32_t>("dim");
    uint64_t header_bytes = 28;
    if (first == llama2c_magic) {
      version_ = r.read<int32_t>("version");
      if (version_ != 1)
        r.fail_at("version", 4, "llama2.c version " + std::to_string(version_) + " is not supported (only 1: fp32)");
      header_bytes = 256;
    } else {
      r.seek(0, "dim");
    }
    const char* names[7] = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"};
    int32_t p[7];
    for (int i = 0; i < 7; ++i) p[i] = r.read<int32_t>(names[i]);
    bool shared = p[5] > 0;
    if (version_ == 1) {
      const uint8_t flag = r.read<uint8_t>("shared_classifier");
      if (flag > 1) r.fail_at("shared_classifier", 36, "must be 0 or 1, got " + std::to_string(flag));
      shared = flag == 1;
    }
    r.require(header_bytes - r.offset(), "header");
    for (int i = 0; i < 7; ++i) {
      const bool ok = i == 5 ? p[i] != 0 && p[i] != INT32_MIN : p[i] > 0;
      if (!ok) r.fail_at(names[i], (header_bytes == 256 ? 8 : 0) + 4 * static_cast<uint64_t>(i),
                         "must be positive, got " + std::to_string(p[i]));
    }

    ModelConfig& c = config_;
    c.architecture = "llama";
    c.dim = p[0];
    c.ffn_dim = p[1];
    c.n_layers = p[2];
    c.n_heads = p[3];
    c.n_kv_heads = p[4];
    c.n_vocab = p[5] < 0 ? -p[5] : p[5];
    c.n_ctx_train = p[6];
    c.norm_eps = 1e-5f;  // run.c hard-codes it
    c.rope_theta = 10000.0f;
    c.rope_layout = RopeLayout::interleaved;
    c.tied_embeddings = shared;
    c.validate(path());  // heads divide dim, KV heads divide heads: before sizes are derived

    const int64_t dim = c.dim, hidden = c.ffn_dim, kv_dim = c.kv_dim(), head_size = c.head_dim();
    const int64_t rope_table = static_cast<int64_t>(c.n_ctx_train) * (head_size / 2);
    std::vector<Segment> segments;
    if (version_ == 0) {
      segments = {
          {"token_embedding_table", "token_embd.weight", c.n_vocab, dim, false},
          {"rms_att_weight", "blk.{N}.attn_norm.weight", 1, dim, true},
          {"wq", "blk.{N}.attn_q.weight", dim, dim, true},
          {"wk", "blk.{N}.attn_k.weight", kv_dim, dim, true},
          {"wv", "blk.{N}.attn_v.weight", kv_dim, dim, true},
          {"wo", "blk.{N}.attn_output.weight", dim, dim, true},
          {"rms_ffn_weight", "blk.{N}.ffn_norm.weight", 1, dim, true},
          {"w1", "blk.{N}.ffn_gate.weight", hidden, dim, true},
          {"w2", "blk.{N}.ffn_down.weight", dim, hidden, true},
          {"w3", "blk.{N}.ffn_up.weight", hidden, dim, true},
          {"rms_final_weight", "output_norm.weight", 1, dim, false},
          {"freq_cis_real", nullptr, 1, rope_table, false},
          {"freq_cis_imag", nullptr, 1, rope_table, false},
      };
    } else {
      segments = {
          {"rms_att_weight", "blk.{N}.attn_norm.weight", 1, dim, true},
          {"rms_ffn_weight", "blk.{N}.ffn_norm.weight", 1, dim, true},
          {"rms_final_weight", "output_norm.weight", 1, dim, false},
          {"token_embedding_table", "token_embd.weight", c.n_vocab, dim, false},
          {"wq", "blk.{N}.attn_q.weight", dim, dim, true},
          {"wk", "blk.{N}.attn_k.weight", kv_dim, dim, true},
          {"wv", "blk.{N}.attn_v.weight", kv_dim, dim, true},
          {"wo", "blk.{N}.attn_output.weight", dim, dim, true},
          {"w1", "blk.{N}.ffn_gate.weight", hidden, dim, true},
          {"w2", "blk.{N}.ffn_down.weight", dim, hidden, true},
          {"w3", "blk.{N}.ffn_up.weight", hidden, dim, true},
      };
    }
    if (!shared) segments.push_back({"wcls", "output.weight", c.n_vocab, dim, false});

    uint64_t offset = header_bytes;
    for (const Segment& s : segments) {
      const int n_copies = s.per_layer ? c.n_layers : 1;
      uint64_t each = 0, total = 0;
      try {
        each = checked_mul(checked_mul(static_cast<uint64_t>(s.rows), static_cast<uint64_t>(s.cols)), sizeof(float));
        total = checked_mul(each, static_cast<uint64_t>(n_copies));
      } catch (const OverflowError&) {
        r.fail_at(s.field, offset, "size overflows 64 bits");
      }
      if (total > map_.size() - offset)
        r.fail_at(s.field, offset, "needs " + std::to_string(total) + " bytes but the file has " +
                                       std::to_string(map_.size() - offset) + " left (header says dim " +
                                       std::to_string(dim) + ", " + std::to_string(c.n_layers) + " layers)");
      for (int l = 0; s.canonical && l < n_copies; ++l) {
        TensorView t;
        t.name = layer_name(s.canonical, l);
        t.type = DType::F32;
        t.n_dims = s.rows == 1 ? 1 : 2;
        t.ne = {s.cols, s.rows, 1, 1};
        t.data = map_.data() + offset + each * static_cast<uint64_t>(l);
        t.nbytes = each;
        index_[t.name] = tensors_.size();
        tensors_.push_back(std::move(t));
      }
      offset += total;
    }
    if (offset != map_.size())
      r.fail_at("file_size", offset, std::to_string(map_.size() - offset) +
                                         " bytes follow the last tensor; the header does not describe this file");
  }

  static std::string layer_name(const char* pattern, int layer) {
    std::string s = pattern;
    const size_t at = s.find("{N}");
    if (at != std::string::npos) s.replace(at, 3, std::to_string(layer));
    return s;
  }

  MappedFile map_;
  int version_ = 0;
  ModelConfig config_;
  std::vector<TensorView> tensors_;
  std::unordered_map<std::string, size_t> index_;
};

}  // namespace llmpp::io
