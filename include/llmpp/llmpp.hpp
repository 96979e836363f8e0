// llmpp: run decoder-only language models on the CPU. Include this one header.
#pragma once

#include "llmpp/core/checked.hpp"
#include "llmpp/core/dtype.hpp"
#include "llmpp/core/error.hpp"
#include "llmpp/core/fp16.hpp"
#include "llmpp/core/mmap.hpp"
#include "llmpp/core/tensor.hpp"
#include "llmpp/core/thread_pool.hpp"
#include "llmpp/io/safetensors.hpp"
#include "llmpp/kernels/linear.hpp"
#include "llmpp/model/config.hpp"
