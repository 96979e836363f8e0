// Safetensors reader on the real stories260K Hugging Face folders (F32 single file, BF16
// sharded with an index). Facts: /work/shared/README.md and the files' own headers.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "llmpp/core/fp16.hpp"
#include "llmpp/io/safetensors.hpp"
#include "test_util.hpp"

namespace llmpp::io {
namespace {

TEST(Safetensors, Stories260KSingleFile) {
  LLMPP_REQUIRE_SHARED("models/stories260K-hf/model.safetensors");
  const SafetensorsFile f(test::shared_path("models/stories260K-hf/model.safetensors"));
  EXPECT_EQ(f.tensors().size(), 2u + 5u * 9u);  // tied: no lm_head.weight
  EXPECT_EQ(f.metadata().at("format"), "pt");
  const TensorView& embedding = f.get("model.embed_tokens.weight");
  EXPECT_EQ(embedding.type, DType::F32);
  EXPECT_EQ(embedding.n_dims, 2);
  EXPECT_EQ(embedding.ne[0], 64);   // PyTorch shape [512, 64]: innermost first
  EXPECT_EQ(embedding.ne[1], 512);
  EXPECT_EQ(embedding.nbytes, 512u * 64u * 4u);
  const TensorView& k = f.get("model.layers.4.self_attn.k_proj.weight");
  EXPECT_EQ(k.ne[0], 64);
  EXPECT_EQ(k.ne[1], 32);  // 4 KV heads x head_dim 8
  EXPECT_EQ(f.get("model.layers.0.mlp.down_proj.weight").ne[0], 172);
  EXPECT_EQ(f.find("lm_head.weight"), nullptr);
  EXPECT_THROW(f.get("lm_head.weight"), FormatError);
}

TEST(Safetensors, Stories260KShardedBF16) {
  LLMPP_REQUIRE_SHARED("models/stories260K-hf-bf16/model.safetensors.index.json");
  const SafetensorsSet bf16(test::shared_path("models/stories260K-hf-bf16"));
  const SafetensorsSet f32(test::shared_path("models/stories260K-hf"));
  EXPECT_EQ(bf16.files().size(), 2u);
  ASSERT_EQ(bf16.tensors().size(), 47u);
  for (const TensorView* t : bf16.tensors()) {
    EXPECT_EQ(t->type, DType::BF16) << t->name;
    const TensorView* full = f32.find(t->name);
    ASSERT_NE(full, nullptr) << t->name;
    ASSERT_EQ(full->ne, t->ne) << t->name;
    // Same weights rounded to BF16 (round to nearest even, as PyTorch does).
    const auto* halves = static_cast<const uint16_t*>(t->data);
    for (int64_t i = 0; i < t->n_elements(); ++i)
      ASSERT_EQ(halves[i], fp32_to_bf16(full->f32()[i])) << t->name << "[" << i << "]";
  }
}

}  // namespace
}  // namespace llmpp::io
