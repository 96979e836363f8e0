// llmpp: run decoder-only language models on the CPU. Include this one header.
//
//   llmpp::LoadedModel loaded = llmpp::LoadedModel::load("model.gguf");  // or an HF folder
//   llmpp::Session session(loaded);
//   llmpp::generate(session, "Once upon a time", {}, on_text);
#pragma once

// core
#include "llmpp/core/checked.hpp"
#include "llmpp/core/dtype.hpp"
#include "llmpp/core/error.hpp"
#include "llmpp/core/filesystem.hpp"
#include "llmpp/core/fp16.hpp"
#include "llmpp/core/mmap.hpp"
#include "llmpp/core/tensor.hpp"
#include "llmpp/core/thread_pool.hpp"

// kernels
#include "llmpp/kernels/linear.hpp"
#include "llmpp/kernels/quant.hpp"

// layers
#include "llmpp/layers/alibi.hpp"
#include "llmpp/layers/attention.hpp"
#include "llmpp/layers/embedding.hpp"
#include "llmpp/layers/feed_forward.hpp"
#include "llmpp/layers/kv_cache.hpp"
#include "llmpp/layers/moe.hpp"
#include "llmpp/layers/norm.hpp"
#include "llmpp/layers/positions.hpp"
#include "llmpp/layers/rope.hpp"

// file formats
#include "llmpp/io/gguf.hpp"
#include "llmpp/io/gguf_config.hpp"
#include "llmpp/io/gguf_writer.hpp"
#include "llmpp/io/hf_config.hpp"
#include "llmpp/io/llama2c.hpp"
#include "llmpp/io/model_files.hpp"
#include "llmpp/io/safetensors.hpp"

// tokenizers
#include "llmpp/tokenizer/chat_template.hpp"
#include "llmpp/tokenizer/load.hpp"
#include "llmpp/tokenizer/streaming.hpp"
#include "llmpp/tokenizer/tokenizer.hpp"

// sampling
#include "llmpp/sampling/rng.hpp"
#include "llmpp/sampling/sampler.hpp"
#include "llmpp/sampling/stop.hpp"

// model
#include "llmpp/model/chat.hpp"
#include "llmpp/model/config.hpp"
#include "llmpp/model/generate.hpp"
#include "llmpp/model/model.hpp"
#include "llmpp/model/weights.hpp"
