// Families beyond LLaMA run by the one Model class, each from a tiny random Hugging Face
// checkpoint with its real config.json keys and tensor names, against the PyTorch
// reference of scripts/reference/gen_families.py (written from transformers' modeling_*
// definitions): GPT-2, OPT (pre-norm; post-norm with projections), BLOOM, Falcon (7B-style
// MQA; 40B-style GQA with two norms), Phi-3 (LongRoPE), Gemma. Plus a bad config.json
// per family, and the weight layouts the loader rewrites or views. The GGUF form is the one
// model/family_to_gguf.hpp writes (llama.cpp's architectures; OPT has none), with the
// folder's character-level tokenizer (scripts/reference/gen_tiny_tokenizer.py).
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "llmpp/model/families.hpp"
#include "llmpp/model/family_to_gguf.hpp"
#include "llmpp/model/model.hpp"
#include "llmpp/tokenizer/load.hpp"
#include "test_util.hpp"

namespace llmpp {
namespace {

std::string tiny_folder(const std::string& name) { return test::data_path("tiny_models/" + name); }

std::vector<int32_t> to_i32(const std::vector<int64_t>& v) { return std::vector<int32_t>(v.begin(), v.end()); }

std::vector<float> all_logits(const Model& model, const std::vector<int32_t>& tokens, int max_block, ThreadPool* pool) {
  StateOptions options;
  options.n_ctx = 128;
  options.max_block = max_block;
  InferenceState state = model.new_state(options);
  std::vector<float> logits(tokens.size() * static_cast<size_t>(model.config().n_vocab));
  model.forward(state, tokens.data(), static_cast<int64_t>(tokens.size()), logits.data(), true, pool);
  return logits;
}

float max_abs_difference(const std::vector<float>& a, const std::vector<float>& b) {
  float worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
  return worst;
}

// n_new greedy tokens after `prompt`, through the KV cache.
std::vector<int32_t> greedy(const Model& model, const std::vector<int32_t>& prompt, size_t n_new) {
  InferenceState state = model.new_state({128, 64});
  std::vector<float> logits(static_cast<size_t>(model.config().n_vocab));
  model.forward(state, prompt.data(), static_cast<int64_t>(prompt.size()), logits.data(), false, nullptr);
  std::vector<int32_t> generated;
  for (size_t i = 0; i < n_new; ++i) {
    const int32_t next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    generated.push_back(next);
    model.forward(state, &next, 1, logits.data(), false, nullptr);
  }
  return generated;
}

class Family : public ::testing::TestWithParam<const char*> {
 protected:
  std::string name() const { return GetParam(); }
  test::Golden reference() const { return test::Golden("tiny_models/" + name() + "/reference"); }
};

// Every position's logits within 1e-4 absolute of PyTorch (fp32 through two layers; the
// logits reach |40|, so this is ~3e-6 relative at the largest).
TEST_P(Family, LogitsOfEveryPositionMatchPyTorch) {
  auto model = Model::load(tiny_folder(name()));
  const test::Golden ref = reference();
  const auto tokens = to_i32(ref.i64("tokens"));
  ThreadPool pool(2);
  const auto logits = all_logits(*model, tokens, 64, &pool);
  const auto expected = ref.f32("logits");
  ASSERT_EQ(logits.size(), expected.size());
  EXPECT_LE(max_abs_difference(logits, expected), 1e-4f) << name();
}

// The KV cache path: one token at a time and uneven blocks give the one-block logits
// within 1e-5 relative (Phi-3 excluded: LongRoPE picks its factors by the length seen so
// far, so a prefix shorter than the original context is rotated differently, as in HF).
TEST_P(Family, BlockPrefillEqualsTokenByToken) {
  if (name() == "phi3") GTEST_SKIP() << "LongRoPE frequencies depend on the sequence length";
  auto model = Model::load(tiny_folder(name()));
  const auto tokens = to_i32(reference().i64("tokens"));
  const auto one_block = all_logits(*model, tokens, 64, nullptr);
  for (int block : {1, 7}) {
    const auto blocked = all_logits(*model, tokens, block, nullptr);
    test::expect_close(blocked, one_block, 1e-5f, name() + " block " + std::to_string(block));
  }
}

// Greedy continuation of 32 tokens equals PyTorch's.
TEST_P(Family, GreedyContinuationMatchesPyTorch) {
  const test::Golden ref = reference();
  auto model = Model::load(tiny_folder(name()));
  const auto expected = to_i32(ref.i64("greedy_tokens"));
  EXPECT_EQ(greedy(*model, to_i32(ref.i64("greedy_prompt")), expected.size()), expected) << name();
}

INSTANTIATE_TEST_SUITE_P(Reference, Family,
                         ::testing::Values("gpt2", "opt", "opt_350m", "bloom", "falcon", "falcon_40b", "phi3",
                                           "gemma"));

// ---- GGUF: the same models as the library's converter writes them -------------------------

// A temp file per process and tag: ctest runs the tests in parallel.
std::string temp_gguf(const std::string& tag) {
  return ::testing::TempDir() + "llmpp_families_" + std::to_string(::getpid()) + "_" + tag + ".gguf";
}

struct GGUFCase {
  const char* family;  // tiny model folder
  const char* arch;    // llama.cpp's general.architecture
};

class FamilyGGUF : public ::testing::TestWithParam<GGUFCase> {};

// convert_family_to_gguf (llama.cpp's keys, names and layouts; no layout flags on the
// reading side) gives PyTorch's logits within 1e-4 absolute and its greedy continuation.
TEST_P(FamilyGGUF, ConvertedLogitsAndGreedyMatchPyTorch) {
  const GGUFCase param = GetParam();
  const std::string path = temp_gguf(param.family);
  const io::ConvertReport report = convert_family_to_gguf(tiny_folder(param.family), path);
  EXPECT_TRUE(report.tokenizer_copied);
  auto model = Model::load(path);
  EXPECT_EQ(model->files().format, "gguf");
  EXPECT_EQ(model->config().architecture, param.arch);
  EXPECT_EQ(report.n_tensors, static_cast<int>(model->files().gguf->tensors().size()));
  for (const TensorView& t : model->files().gguf->tensors()) EXPECT_EQ(t.type, DType::F32) << t.name;
  const test::Golden ref("tiny_models/" + std::string(param.family) + "/reference");
  const auto logits = all_logits(*model, to_i32(ref.i64("tokens")), 64, nullptr);
  const auto expected = ref.f32("logits");
  ASSERT_EQ(logits.size(), expected.size());
  EXPECT_LE(max_abs_difference(logits, expected), 1e-4f) << param.family;
  const auto expected_tokens = to_i32(ref.i64("greedy_tokens"));
  EXPECT_EQ(greedy(*model, to_i32(ref.i64("greedy_prompt")), expected_tokens.size()), expected_tokens) << param.family;
  std::remove(path.c_str());
}

// llama.cpp's layouts, checked on the file rather than through the model: fused qkv (Gemma
// apart), Phi-3's gate rows before the up rows, Gemma's norms with the 1 added, a tied
// head written as no output.weight, Falcon 40B's second norm as attn_norm_2.
TEST_P(FamilyGGUF, TensorNamesAndLayoutsAreLlamaCpps) {
  const GGUFCase param = GetParam();
  const std::string path = temp_gguf(std::string(param.family) + "_names");
  convert_family_to_gguf(tiny_folder(param.family), path);
  const io::GGUFFile file(path);
  auto hf = Model::load(tiny_folder(param.family));
  const LayerWeights& L = hf->weights().layers[0];
  const std::string arch = param.arch;
  EXPECT_EQ(file.get_string("general.architecture", ""), arch);
  EXPECT_EQ(file.find_tensor("blk.0.attn_qkv.weight") != nullptr, arch != "gemma");
  EXPECT_EQ(file.find_tensor("output.weight") == nullptr, hf->weights().output.data == hf->weights().token_embd.data);
  EXPECT_EQ(file.find_tensor("blk.0.attn_norm_2.weight") != nullptr, std::string(param.family) == "falcon_40b");
  auto row = [](const TensorView& t, int64_t r) { return reinterpret_cast<const float*>(t.row(r)); };
  if (const TensorView* qkv = file.find_tensor("blk.0.attn_qkv.weight")) {  // rows: q, then k, then v
    ASSERT_EQ(qkv->rows(), L.wq.rows() + L.wk.rows() + L.wv.rows());
    for (const auto& [part, first] : {std::pair<const TensorView*, int64_t>{&L.wq, 0}, {&L.wk, L.wq.rows()},
                                      {&L.wv, L.wq.rows() + L.wk.rows()}})
      for (int64_t r = 0; r < part->rows(); ++r)
        ASSERT_EQ(std::memcmp(row(*qkv, first + r), row(*part, r), static_cast<size_t>(qkv->row_stride())), 0) << r;
  }
  if (arch == "phi3") {
    const TensorView* up = file.find_tensor("blk.0.ffn_up.weight");
    ASSERT_NE(up, nullptr);
    EXPECT_EQ(up->rows(), 2 * L.ffn.gate.rows());
    EXPECT_EQ(std::memcmp(row(*up, 0), row(L.ffn.gate, 0), static_cast<size_t>(up->row_stride())), 0);
    EXPECT_EQ(std::memcmp(row(*up, L.ffn.gate.rows()), row(L.ffn.up, 0), static_cast<size_t>(up->row_stride())), 0);
    EXPECT_NE(file.find_tensor("rope_factors_long.weight"), nullptr);
  }
  if (arch == "gemma") {
    const TensorView* norm = file.find_tensor("blk.0.attn_norm.weight");
    ASSERT_NE(norm, nullptr);
    for (int64_t i = 0; i < norm->n_elements(); ++i) EXPECT_EQ(norm->f32()[i], L.attn_norm[static_cast<size_t>(i)] + 1.0f);
  }
  std::remove(path.c_str());
}

// The tokenizer.json of the folder is in the GGUF under llama.cpp's gpt2 keys, and the
// GGUF's tokenizer (byte_level_from_gguf) is the folder's: same tokens, types, ids, text.
TEST_P(FamilyGGUF, TokenizerIsCopiedAsGpt2Keys) {
  const GGUFCase param = GetParam();
  const std::string path = temp_gguf(std::string(param.family) + "_tokenizer");
  convert_family_to_gguf(tiny_folder(param.family), path);
  const io::GGUFFile file(path);
  EXPECT_EQ(file.get_string("tokenizer.ggml.model", ""), "gpt2");
  EXPECT_EQ(file.get_string("tokenizer.ggml.pre", ""), "gpt-2");
  EXPECT_TRUE(file.get("tokenizer.ggml.merges").as_strings().empty());
  EXPECT_EQ(file.get_int("tokenizer.ggml.bos_token_id", -1), 95);
  EXPECT_EQ(file.get_int("tokenizer.ggml.eos_token_id", -1), 95);
  const tokenizer::Tokenizer from_gguf = tokenizer::load_tokenizer(file);
  const tokenizer::Tokenizer from_folder = tokenizer::load_tokenizer(tiny_folder(param.family));
  EXPECT_EQ(from_gguf.vocab().tokens, from_folder.vocab().tokens);
  EXPECT_EQ(from_gguf.vocab().types, from_folder.vocab().types);
  EXPECT_EQ(from_gguf.bos_id(), from_folder.bos_id());
  EXPECT_EQ(from_gguf.eos_id(), from_folder.eos_id());
  EXPECT_EQ(from_gguf.vocab().add_bos, from_folder.vocab().add_bos);
  const std::string text = "Hello world, it's <|endoftext|> 42!";
  EXPECT_EQ(from_gguf.encode(text, true, true), from_folder.encode(text, true, true));
  EXPECT_EQ(from_gguf.encode(text, true, false), from_folder.encode(text, true, false));
  std::remove(path.c_str());
}

INSTANTIATE_TEST_SUITE_P(LlamaCppArchitectures, FamilyGGUF,
                         ::testing::Values(GGUFCase{"gpt2", "gpt2"}, GGUFCase{"bloom", "bloom"},
                                           GGUFCase{"falcon", "falcon"}, GGUFCase{"falcon_40b", "falcon"},
                                           GGUFCase{"phi3", "phi3"}, GGUFCase{"gemma", "gemma"}));

// F16 and Q8_0 matrices (Q4_K's 256-wide blocks do not fit 32-wide rows: F16 with a note).
// Against PyTorch's F32 logits (|logit| <= 33) the max error measured 0.0095 with F16 and
// 0.26 with Q8_0 matrices: the bounds leave 5x and 2x.
TEST(FamilyGGUFTypes, F16AndQ8_0MatricesRunCloseToPyTorch) {
  const test::Golden ref("tiny_models/gpt2/reference");
  const auto expected = ref.f32("logits");
  for (const auto& [type, tolerance] : {std::pair<DType, float>{DType::F16, 0.05f}, {DType::Q8_0, 0.5f}}) {
    io::ConvertOptions options;
    options.type = type;
    const std::string path = temp_gguf(std::string("gpt2_") + dtype_name(type));
    const io::ConvertReport report = convert_family_to_gguf(tiny_folder("gpt2"), path, options);
    EXPECT_TRUE(report.notes.empty()) << report.notes.front();
    auto model = Model::load(path);
    EXPECT_EQ(model->files().gguf->find_tensor("blk.0.attn_qkv.weight")->type, type);
    EXPECT_EQ(model->files().gguf->find_tensor("blk.0.attn_qkv.bias")->type, DType::F32);
    EXPECT_EQ(model->files().gguf->get_int("general.file_type", -1), io::llama_file_type(type));
    const auto logits = all_logits(*model, to_i32(ref.i64("tokens")), 64, nullptr);
    EXPECT_LE(max_abs_difference(logits, expected), tolerance) << dtype_name(type);
    std::remove(path.c_str());
  }
  io::ConvertOptions q4_k;
  q4_k.type = DType::Q4_K;
  const std::string path = temp_gguf("gemma_q4_k");
  const io::ConvertReport report = convert_family_to_gguf(tiny_folder("gemma"), path, q4_k);
  ASSERT_FALSE(report.notes.empty());
  EXPECT_NE(report.notes.front().find("stored as F16"), std::string::npos) << report.notes.front();
  EXPECT_EQ(io::GGUFFile(path).find_tensor("blk.0.attn_q.weight")->type, DType::F16);
  std::remove(path.c_str());
}

// OPT has no llama.cpp architecture; a config the GGUF keys cannot say is refused, no file left.
TEST(FamilyGGUFTypes, OptAndInexpressibleConfigsAreRefused) {
  const std::string path = temp_gguf("opt");
  try {
    convert_family_to_gguf(tiny_folder("opt"), path);
    ADD_FAILURE() << "OPT converted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.field(), "architectures");
    EXPECT_NE(std::string(e.what()).find("opt"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(path));

  // GPT-2 with a ReLU MLP: llama.cpp's gpt2 always runs the tanh GELU.
  nlohmann::json gpt2 = io::load_json_file(tiny_folder("gpt2") + "/config.json");
  gpt2["activation_function"] = "relu";
  const std::filesystem::path dir = ::testing::TempDir() + "llmpp_families_relu_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "config.json") << gpt2.dump();
  std::filesystem::copy_file(tiny_folder("gpt2") + "/model.safetensors", dir / "model.safetensors",
                             std::filesystem::copy_options::overwrite_existing);
  try {
    convert_family_to_gguf(dir.string(), path);
    ADD_FAILURE() << "ReLU GPT-2 converted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.field(), "activation");
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  std::filesystem::remove_all(dir);
}

// Phi-3's sliding window (2047 in Phi-3 mini) goes through phi3.attention.sliding_window.
TEST(FamilyGGUFTypes, Phi3SlidingWindowSurvivesConversion) {
  nlohmann::json phi3 = io::load_json_file(tiny_folder("phi3") + "/config.json");
  phi3["sliding_window"] = 24;
  const std::filesystem::path dir = ::testing::TempDir() + "llmpp_families_window_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "config.json") << phi3.dump();
  std::filesystem::copy_file(tiny_folder("phi3") + "/model.safetensors", dir / "model.safetensors",
                             std::filesystem::copy_options::overwrite_existing);
  const std::string path = temp_gguf("phi3_window");
  const io::ConvertReport report = convert_family_to_gguf(dir.string(), path);
  EXPECT_FALSE(report.tokenizer_copied);  // the folder has none
  EXPECT_EQ(Model::load(path)->config().sliding_window, 24);
  std::remove(path.c_str());
  std::filesystem::remove_all(dir);
}

// ---- the character-level tokenizer of every tiny folder -----------------------------------

// scripts/reference/gen_tiny_tokenizer.py: id = byte - 0x20 for printable ASCII, 95 is
// <|endoftext|> (BOS and EOS, special); no BOS is added, as for GPT-2.
TEST(TinyTokenizer, EveryFolderEncodesCharactersAsByteMinus32) {
  for (const auto& entry : std::filesystem::directory_iterator(test::data_path("tiny_models"))) {
    const std::string name = entry.path().filename().string();
    const tokenizer::Tokenizer tok = tokenizer::load_tokenizer(entry.path().string());
    EXPECT_EQ(tok.n_vocab(), 96) << name;
    EXPECT_EQ(tok.bos_id(), 95) << name;
    EXPECT_EQ(tok.eos_id(), 95) << name;
    EXPECT_TRUE(tok.is_eog(95)) << name;
    const std::vector<int32_t> hello = {'H' - 32, 'e' - 32, 'l' - 32, 'l' - 32, 'o' - 32, 0,
                                        'w' - 32, 'o' - 32, 'r' - 32, 'l' - 32, 'd' - 32};
    EXPECT_EQ(tok.encode("Hello world", true, false), hello) << name;
    EXPECT_EQ(tok.decode(hello), "Hello world") << name;
    EXPECT_EQ(tok.encode("a<|endoftext|>", true, true), (std::vector<int32_t>{'a' - 32, 95})) << name;
    // Every reference sequence's text encodes back to the sequence (up to its first id 95).
    const auto tokens = to_i32(test::Golden("tiny_models/" + name + "/reference").i64("tokens"));
    std::string text;
    std::vector<int32_t> expected;
    for (int32_t id : tokens) {
      if (id == 95) break;
      text += static_cast<char>(id + 32);
      expected.push_back(id);
    }
    EXPECT_EQ(tok.encode(text, true, false), expected) << name;
  }
}

// ---- what each config row sets ------------------------------------------------------------

TEST(FamilyConfig, FlagsFollowTheConfigJson) {
  const ModelConfig gpt2 = Model::load(tiny_folder("gpt2"))->config();
  EXPECT_EQ(gpt2.positions, PositionType::learned);
  EXPECT_TRUE(gpt2.linear_weights_transposed);
  EXPECT_EQ(gpt2.activation, Activation::gelu_tanh);

  const ModelConfig opt = Model::load(tiny_folder("opt_350m"))->config();
  EXPECT_TRUE(opt.post_norm);
  EXPECT_FALSE(opt.output_norm);
  EXPECT_EQ(opt.embed_dim(), 16);
  EXPECT_EQ(opt.position_offset, 2);

  const ModelConfig bloom = Model::load(tiny_folder("bloom"))->config();
  EXPECT_EQ(bloom.positions, PositionType::alibi);
  EXPECT_TRUE(bloom.embedding_norm);
  EXPECT_EQ(bloom.qkv_layout, QkvLayout::grouped);

  const ModelConfig falcon = Model::load(tiny_folder("falcon"))->config();
  EXPECT_EQ(falcon.n_kv_heads, 1);
  EXPECT_TRUE(falcon.parallel_residual);
  EXPECT_FALSE(falcon.parallel_ffn_norm);
  const ModelConfig falcon_40b = Model::load(tiny_folder("falcon_40b"))->config();
  EXPECT_EQ(falcon_40b.n_kv_heads, 2);
  EXPECT_TRUE(falcon_40b.parallel_ffn_norm);

  const ModelConfig phi3 = Model::load(tiny_folder("phi3"))->config();
  EXPECT_EQ(phi3.rope_scaling.type, RopeScalingType::longrope);
  EXPECT_FLOAT_EQ(phi3.rope_scaling.factor, 4.0f);  // 128 / 32
  EXPECT_EQ(phi3.rope_scaling.original_max_position, 32);

  const ModelConfig gemma = Model::load(tiny_folder("gemma"))->config();
  EXPECT_EQ(gemma.head_dim(), 16);
  EXPECT_EQ(gemma.q_dim(), 64);
  EXPECT_TRUE(gemma.norm_weight_plus_one && gemma.scale_embeddings && gemma.tied_embeddings);
}

// Fused projections that are contiguous bind as views into the mapped file; layouts that
// are not (GPT-2's Conv1D, BLOOM/Falcon's grouped qkv) are rewritten once into owned buffers.
TEST(FamilyWeights, FusedProjectionsAreViewsWhereContiguous) {
  auto phi3 = Model::load(tiny_folder("phi3"));
  const LayerWeights& L = phi3->weights().layers[0];
  EXPECT_TRUE(phi3->weights().converted.empty());
  EXPECT_EQ(L.wk.data, L.wq.row(L.wq.rows()));  // k rows follow q rows in the same mapping
  EXPECT_EQ(L.wv.data, L.wk.row(L.wk.rows()));
  EXPECT_EQ(L.ffn.up.data, L.ffn.gate.row(L.ffn.gate.rows()));

  auto falcon_40b = Model::load(tiny_folder("falcon_40b"));
  EXPECT_EQ(falcon_40b->weights().converted.size(), 2u);  // one regrouped query_key_value per layer
  auto falcon_7b = Model::load(tiny_folder("falcon"));     // one KV group: already contiguous
  EXPECT_TRUE(falcon_7b->weights().converted.empty());
  auto gpt2 = Model::load(tiny_folder("gpt2"));
  EXPECT_EQ(gpt2->weights().converted.size(), 2u * 4u);  // c_attn, attn c_proj, c_fc, mlp c_proj per layer
  auto gemma = Model::load(tiny_folder("gemma"));
  EXPECT_TRUE(gemma->weights().converted.empty());
}

// The grouped → contiguous rewrite on a hand-made layout: 2 KV groups of 2 query heads.
TEST(FamilyWeights, UngroupQkvOrdersQueriesThenKeysThenValues) {
  // Units named by value: group g holds q(g,0), q(g,1), k(g), v(g).
  const std::vector<uint8_t> grouped = {10, 11, 18, 19, 12, 13, 28, 29};
  const std::vector<uint8_t> out = detail::ungroup_qkv(grouped.data(), 2, 2, 1);
  EXPECT_EQ(out, (std::vector<uint8_t>{10, 11, 12, 13, 18, 28, 19, 29}));
}

// ---- bad config.json, one per family ------------------------------------------------------

// Writes `config` to a fresh folder (the config is read before any weight file).
std::string folder_with_config(const std::string& name, const nlohmann::json& config) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("llmpp_families_" + name);
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "config.json") << config.dump();
  return dir.string();
}

nlohmann::json config_of(const std::string& family) {
  return io::load_json_file(tiny_folder(family) + "/config.json");
}

// Loading must throw ConfigError whose message names `field`.
void expect_config_error(const std::string& family, const nlohmann::json& config, const std::string& field) {
  const std::string folder = folder_with_config(family + "_" + field, config);
  try {
    Model::load(folder);
    ADD_FAILURE() << family << ": no error for a bad " << field;
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
  }
}

TEST(FamilyBadConfig, EachFamilyNamesTheBadKey) {
  nlohmann::json bloom = config_of("bloom");
  bloom["hidden_size"] = 50;  // 6 heads do not divide it
  expect_config_error("bloom", bloom, "n_head");

  nlohmann::json falcon = config_of("falcon_40b");
  falcon["num_ln_in_parallel_attn"] = 3;
  expect_config_error("falcon", falcon, "num_ln_in_parallel_attn");
  falcon = config_of("falcon_40b");
  falcon["parallel_attn"] = false;
  expect_config_error("falcon", falcon, "parallel_attn");
  falcon = config_of("falcon");
  falcon["alibi"] = true;
  expect_config_error("falcon", falcon, "alibi");

  nlohmann::json gpt2 = config_of("gpt2");
  gpt2["n_embd"] = "32";
  expect_config_error("gpt2", gpt2, "n_embd");
  gpt2 = config_of("gpt2");
  gpt2["activation_function"] = "swishy";
  expect_config_error("gpt2", gpt2, "hidden_act");

  nlohmann::json opt = config_of("opt");
  opt.erase("ffn_dim");
  expect_config_error("opt", opt, "ffn_dim");
  opt = config_of("opt");
  opt["word_embed_proj_dim"] = -4;
  expect_config_error("opt", opt, "word_embed_proj_dim");

  nlohmann::json phi3 = config_of("phi3");
  phi3["rope_scaling"]["type"] = "linear";
  expect_config_error("phi3", phi3, "rope_scaling.type");
  phi3 = config_of("phi3");
  phi3["rope_scaling"]["long_factor"] = {1.0, 2.0};  // needs head_dim / 2 = 4
  expect_config_error("phi3", phi3, "rope_scaling.long_factor");

  nlohmann::json gemma = config_of("gemma");
  gemma["num_key_value_heads"] = 3;
  expect_config_error("gemma", gemma, "num_key_value_heads");
}

// A tensor of the wrong shape names the file's tensor through the family's table.
TEST(FamilyBadConfig, MisshapenFusedTensorNamesTheTensor) {
  nlohmann::json falcon = config_of("falcon");
  falcon["multi_query"] = false;  // the file's qkv has 4 + 2 heads, not 3 x 4
  const std::string folder = folder_with_config("falcon_mha", falcon);
  std::filesystem::copy_file(tiny_folder("falcon") + "/model.safetensors", folder + "/model.safetensors",
                             std::filesystem::copy_options::overwrite_existing);
  try {
    Model::load(folder);
    ADD_FAILURE() << "no error";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("attn_qkv"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace llmpp
