// Families beyond LLaMA run by the one Model class, each from a tiny random Hugging Face
// checkpoint with its real config.json keys and tensor names, against the PyTorch
// reference of scripts/reference/gen_families.py (written from transformers' modeling_*
// definitions): GPT-2, OPT (pre-norm; post-norm with projections), BLOOM, Falcon (7B-style
// MQA; 40B-style GQA with two norms), Phi-3 (LongRoPE), Gemma. Plus a bad config.json
// per family, and the weight layouts the loader rewrites or views.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "llmpp/io/gguf_writer.hpp"
#include "llmpp/model/families.hpp"
#include "llmpp/model/model.hpp"
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

// ---- GGUF: the same models as llama.cpp's converter writes them ---------------------------

std::vector<float> floats_of(const TensorView& t) {
  std::vector<float> out(static_cast<size_t>(t.n_elements()));
  for (int64_t r = 0; r < t.rows(); ++r) kernels::dequantize_row(t.type, t.row(r), out.data() + r * t.cols(), t.cols());
  return out;
}

std::vector<float> concat(std::initializer_list<std::vector<float>> parts) {
  std::vector<float> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// Writes `family`'s tiny model as a GGUF with llama.cpp's metadata keys and tensor names:
// fused attn_qkv (and Phi-3's fused gate-first ffn_up), (out, in) matrices, Gemma's norm
// weights with the 1 added. The tensors come from the HF checkpoint as bound by Model
// (test HfFolder already checks that binding against PyTorch).
std::string write_gguf(const std::string& family, const std::string& arch) {
  auto hf = Model::load(tiny_folder(family));
  const ModelConfig& c = hf->config();
  const ModelWeights& w = hf->weights();
  io::GGUFWriter out;
  const std::string p = arch + ".";
  out.add("general.architecture", arch);
  out.add(p + "context_length", static_cast<uint32_t>(c.n_ctx_train));
  out.add(p + "embedding_length", static_cast<uint32_t>(c.dim));
  out.add(p + "block_count", static_cast<uint32_t>(c.n_layers));
  out.add(p + "feed_forward_length", static_cast<uint32_t>(c.ffn_dim));
  out.add(p + "attention.head_count", static_cast<uint32_t>(c.n_heads));
  out.add(p + "attention.head_count_kv", static_cast<uint32_t>(c.n_kv_heads));
  if (c.norm == NormType::rms_norm) out.add(p + "attention.layer_norm_rms_epsilon", c.norm_eps);
  else out.add(p + "attention.layer_norm_epsilon", c.norm_eps);
  if (c.positions == PositionType::rope) {
    out.add(p + "rope.freq_base", c.rope_theta);
    out.add(p + "rope.dimension_count", static_cast<uint32_t>(c.n_rot()));
  }
  if (c.head_dim_override) {
    out.add(p + "attention.key_length", static_cast<uint32_t>(c.head_dim()));
    out.add(p + "attention.value_length", static_cast<uint32_t>(c.head_dim()));
  }
  if (c.rope_scaling.type == RopeScalingType::longrope) {
    out.add(p + "rope.scaling.original_context_length", static_cast<uint32_t>(c.rope_scaling.original_max_position));
    const double s = static_cast<double>(c.n_ctx_train) / c.rope_scaling.original_max_position;
    out.add(p + "rope.scaling.attn_factor",
            static_cast<float>(std::sqrt(1.0 + std::log(s) / std::log(c.rope_scaling.original_max_position))));
    const int64_t n_pairs = c.n_rot() / 2;
    out.add_tensor("rope_factors_short.weight", {n_pairs}, c.rope_scaling.short_factor, DType::F32);
    out.add_tensor("rope_factors_long.weight", {n_pairs}, c.rope_scaling.long_factor, DType::F32);
  }
  auto matrix = [&](const std::string& name, std::vector<float> values, int64_t cols) {
    const int64_t rows = static_cast<int64_t>(values.size()) / cols;
    out.add_tensor(name, {cols, rows}, std::move(values), DType::F32);
  };
  auto vector = [&](const std::string& name, std::vector<float> values) {
    if (values.empty()) return;
    if (c.norm_weight_plus_one && name.find("norm") != std::string::npos)
      for (float& v : values) v += 1.0f;  // llama.cpp's Gemma converter adds the 1 once
    const int64_t n = static_cast<int64_t>(values.size());
    out.add_tensor(name, {n}, std::move(values), DType::F32);
  };
  matrix("token_embd.weight", floats_of(w.token_embd), c.dim);
  if (w.position_embd.valid()) matrix("position_embd.weight", floats_of(w.position_embd), c.dim);
  vector("token_embd_norm.weight", w.token_embd_norm);
  vector("token_embd_norm.bias", w.token_embd_norm_bias);
  vector("output_norm.weight", w.output_norm);
  vector("output_norm.bias", w.output_norm_bias);
  if (!c.tied_embeddings) matrix("output.weight", floats_of(w.output), c.dim);
  for (int l = 0; l < c.n_layers; ++l) {
    const LayerWeights& L = w.layers[static_cast<size_t>(l)];
    const std::string b = "blk." + std::to_string(l) + ".";
    vector(b + "attn_norm.weight", L.attn_norm);
    vector(b + "attn_norm.bias", L.attn_norm_bias);
    if (arch == "gemma") {
      matrix(b + "attn_q.weight", floats_of(L.wq), c.dim);
      matrix(b + "attn_k.weight", floats_of(L.wk), c.dim);
      matrix(b + "attn_v.weight", floats_of(L.wv), c.dim);
    } else {
      matrix(b + "attn_qkv.weight", concat({floats_of(L.wq), floats_of(L.wk), floats_of(L.wv)}), c.dim);
      vector(b + "attn_qkv.bias", concat({L.bq, L.bk, L.bv}));
    }
    matrix(b + "attn_output.weight", floats_of(L.wo), c.q_dim());
    vector(b + "attn_output.bias", L.bo);
    const std::string ffn_norm = c.parallel_residual ? "attn_norm_2" : "ffn_norm";
    vector(b + ffn_norm + ".weight", L.ffn_norm);
    vector(b + ffn_norm + ".bias", L.ffn_norm_bias);
    if (arch == "phi3") {
      matrix(b + "ffn_up.weight", concat({floats_of(L.ffn.gate), floats_of(L.ffn.up)}), c.dim);
    } else {
      if (L.ffn.gate.valid()) matrix(b + "ffn_gate.weight", floats_of(L.ffn.gate), c.dim);
      matrix(b + "ffn_up.weight", floats_of(L.ffn.up), c.dim);
    }
    vector(b + "ffn_up.bias", L.ffn_up_bias);
    matrix(b + "ffn_down.weight", floats_of(L.ffn.down), c.ffn_dim);
    vector(b + "ffn_down.bias", L.ffn_down_bias);
  }
  const std::string path = (std::filesystem::temp_directory_path() / ("llmpp_families_" + family + ".gguf")).string();
  out.write(path);
  return path;
}

struct GGUFCase {
  const char* family;  // tiny model folder
  const char* arch;    // llama.cpp's general.architecture
};

class FamilyGGUF : public ::testing::TestWithParam<GGUFCase> {};

// The GGUF path (llama.cpp's keys and names, no layout flags) gives PyTorch's logits
// within 1e-4 absolute and its greedy continuation.
TEST_P(FamilyGGUF, LogitsAndGreedyMatchPyTorch) {
  const GGUFCase param = GetParam();
  auto model = Model::load(write_gguf(param.family, param.arch));
  EXPECT_EQ(model->files().format, "gguf");
  EXPECT_EQ(model->config().architecture, param.arch);
  const test::Golden ref("tiny_models/" + std::string(param.family) + "/reference");
  const auto logits = all_logits(*model, to_i32(ref.i64("tokens")), 64, nullptr);
  const auto expected = ref.f32("logits");
  ASSERT_EQ(logits.size(), expected.size());
  EXPECT_LE(max_abs_difference(logits, expected), 1e-4f) << param.family;
  const auto expected_tokens = to_i32(ref.i64("greedy_tokens"));
  EXPECT_EQ(greedy(*model, to_i32(ref.i64("greedy_prompt")), expected_tokens.size()), expected_tokens) << param.family;
}

INSTANTIATE_TEST_SUITE_P(LlamaCppArchitectures, FamilyGGUF,
                         ::testing::Values(GGUFCase{"gpt2", "gpt2"}, GGUFCase{"bloom", "bloom"},
                                           GGUFCase{"falcon", "falcon"}, GGUFCase{"falcon_40b", "falcon"},
                                           GGUFCase{"phi3", "phi3"}, GGUFCase{"gemma", "gemma"}));

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
