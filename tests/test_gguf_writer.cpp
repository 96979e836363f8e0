// GGUFWriter: write, read back with GGUFFile, and check that every metadata type and every
// tensor round-trips exactly. Also re-writes the real stories260K GGUF and compares it
// value by value and byte by byte with the original.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "llmpp/io/gguf.hpp"
#include "llmpp/io/gguf_writer.hpp"
#include "test_util.hpp"

namespace llmpp::io {
namespace {

std::string temp_path(const std::string& tag) {
  return ::testing::TempDir() + "llmpp_gguf_writer_" + std::to_string(::getpid()) + "_" + tag + ".gguf";
}

TEST(GGUFWriter, EveryMetadataTypeRoundTrips) {
  GGUFWriter w;
  w.add("u8", uint8_t{200});
  w.add("i8", int8_t{-100});
  w.add("u16", uint16_t{65000});
  w.add("i16", int16_t{-32000});
  w.add("u32", uint32_t{4000000000u});
  w.add("i32", int32_t{-2000000000});
  w.add("u64", std::numeric_limits<uint64_t>::max());
  w.add("i64", std::numeric_limits<int64_t>::min());
  w.add("f32", 0.1f);
  w.add("f64", 0.1);
  w.add("bool_true", true);
  w.add("bool_false", false);
  w.add("string", std::string("héllo\n\0x", 9));
  w.add("empty_string", "");
  w.add("arr_u8", std::vector<uint8_t>{0, 255});
  w.add("arr_i8", std::vector<int8_t>{-128, 127});
  w.add("arr_u16", std::vector<uint16_t>{1, 65535});
  w.add("arr_i16", std::vector<int16_t>{-32768, 5});
  w.add("arr_u32", std::vector<uint32_t>{7, 4294967295u});
  w.add("arr_i32", std::vector<int32_t>{-1, 2, -3});
  w.add("arr_u64", std::vector<uint64_t>{0, uint64_t{1} << 63});
  w.add("arr_i64", std::vector<int64_t>{std::numeric_limits<int64_t>::min(), 42});
  w.add("arr_f32", std::vector<float>{1.5f, -0.0f, 3e-38f});
  w.add("arr_f64", std::vector<double>{1e300, -2.5});
  w.add("arr_bool", std::vector<bool>{true, false, true});
  w.add("arr_string", std::vector<std::string>{"a", "", "ccc"});
  w.add("arr_empty", std::vector<int32_t>{});
  EXPECT_THROW(w.add("u8", uint8_t{1}), InvalidArgument);  // duplicate key
  const std::string path = temp_path("metadata");
  w.write(path);

  const GGUFFile f(path);
  EXPECT_EQ(f.version(), 3u);
  ASSERT_EQ(f.metadata().size(), 27u);
  EXPECT_EQ(f.metadata()[0].first, "u8");  // file order = insertion order
  EXPECT_EQ(f.metadata()[26].first, "arr_empty");
  EXPECT_EQ(f.get("u8").type(), GGUFType::u8);
  EXPECT_EQ(f.get("u8").as_int(), 200);
  EXPECT_EQ(f.get("i8").type(), GGUFType::i8);
  EXPECT_EQ(f.get("i8").as_int(), -100);
  EXPECT_EQ(f.get("u16").as_int(), 65000);
  EXPECT_EQ(f.get("i16").as_int(), -32000);
  EXPECT_EQ(f.get("u32").as_uint(), 4000000000u);
  EXPECT_EQ(f.get("i32").as_int(), -2000000000);
  EXPECT_EQ(f.get("u64").as_uint(), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(f.get("i64").as_int(), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(f.get("f32").type(), GGUFType::f32);
  EXPECT_EQ(f.get("f32").as_double(), static_cast<double>(0.1f));  // exact: the float's bits
  EXPECT_EQ(f.get("f64").as_double(), 0.1);
  EXPECT_TRUE(f.get("bool_true").as_bool());
  EXPECT_FALSE(f.get("bool_false").as_bool());
  EXPECT_EQ(f.get("string").as_string(), std::string("héllo\n\0x", 9));
  EXPECT_EQ(f.get("empty_string").as_string(), "");
  EXPECT_EQ(f.get("arr_u8").as_ints(), (std::vector<int64_t>{0, 255}));
  EXPECT_EQ(f.get("arr_i8").as_ints(), (std::vector<int64_t>{-128, 127}));
  EXPECT_EQ(f.get("arr_u16").as_ints(), (std::vector<int64_t>{1, 65535}));
  EXPECT_EQ(f.get("arr_i16").as_ints(), (std::vector<int64_t>{-32768, 5}));
  EXPECT_EQ(f.get("arr_u32").as_ints(), (std::vector<int64_t>{7, 4294967295}));
  EXPECT_EQ(f.get("arr_i32").as_ints(), (std::vector<int64_t>{-1, 2, -3}));
  EXPECT_EQ(f.get("arr_u64").array_type(), GGUFType::u64);
  EXPECT_THROW(f.get("arr_u64").as_ints(), FormatError);  // 2^63 does not fit int64
  EXPECT_EQ(f.get("arr_i64").as_ints(), (std::vector<int64_t>{std::numeric_limits<int64_t>::min(), 42}));
  const std::vector<float> f32s = f.get("arr_f32").as_floats();
  ASSERT_EQ(f32s.size(), 3u);
  EXPECT_EQ(f32s[0], 1.5f);
  EXPECT_TRUE(std::signbit(f32s[1]));
  EXPECT_EQ(f32s[2], 3e-38f);
  EXPECT_EQ(f.get("arr_f64").array_type(), GGUFType::f64);
  EXPECT_EQ(f.get("arr_f64").as_floats(), (std::vector<float>{static_cast<float>(1e300), -2.5f}));
  EXPECT_EQ(f.get("arr_bool").array_type(), GGUFType::boolean);
  EXPECT_EQ(f.get("arr_bool").array_size(), 3u);
  EXPECT_EQ(f.get("arr_string").as_strings(), (std::vector<std::string>{"a", "", "ccc"}));
  EXPECT_EQ(f.get("arr_empty").array_size(), 0u);
  EXPECT_TRUE(f.get("arr_empty").as_ints().empty());
  std::remove(path.c_str());
}

TEST(GGUFWriter, TensorsRoundTripWithAlignment) {
  // Values k/8 are exact in F16 and BF16, so the decoded halves must equal them exactly.
  std::vector<float> values(2 * 6);  // (2, 6)
  for (size_t i = 0; i < values.size(); ++i) values[i] = (static_cast<float>(i) - 5.0f) / 8.0f;
  std::vector<uint8_t> q8(2 * 34);  // (2, 32) as Q8_0: two blocks of 34 bytes, opaque here
  for (size_t i = 0; i < q8.size(); ++i) q8[i] = static_cast<uint8_t>(i * 13 + 1);
  const std::vector<int32_t> ints = {-5, 6, 7};

  GGUFWriter w(64);
  w.add("general.architecture", "test");
  w.add_tensor("f32", {6, 2}, values, DType::F32);
  w.add_tensor("f16", {6, 2}, values, DType::F16);
  w.add_tensor("bf16", {6, 2}, values, DType::BF16);
  w.add_tensor("q8", DType::Q8_0, {32, 2}, q8.data(), q8.size());
  w.add_tensor("i32", DType::I32, {3}, ints.data(), ints.size() * 4);
  w.add_tensor("stacked", {2, 1, 3}, std::vector<float>(6, 2.0f), DType::F32);
  EXPECT_THROW(w.add_tensor("f32", {1}, std::vector<float>{1}, DType::F32), InvalidArgument);  // duplicate
  EXPECT_THROW(w.add_tensor("bad", DType::Q8_0, {31}, q8.data(), 34), InvalidArgument);       // not whole blocks
  EXPECT_THROW(w.add_tensor("short", DType::F32, {4}, values.data(), 12), InvalidArgument);   // wrong byte count
  const std::string path = temp_path("tensors");
  w.write(path);

  const GGUFFile f(path);
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.get_uint("general.alignment", 0), 64u);
  EXPECT_EQ(f.data_offset() % 64, 0u);
  ASSERT_EQ(f.tensors().size(), 6u);
  for (const TensorView& t : f.tensors())
    EXPECT_EQ((static_cast<const uint8_t*>(t.data) - f.mapped_file().data()) % 64, 0) << t.name;

  const TensorView* t32 = f.find_tensor("f32");
  ASSERT_NE(t32, nullptr);
  EXPECT_EQ(t32->ne[0], 6);
  EXPECT_EQ(t32->ne[1], 2);
  EXPECT_EQ(std::memcmp(t32->data, values.data(), values.size() * 4), 0);
  const TensorView* t16 = f.find_tensor("f16");
  const TensorView* tb16 = f.find_tensor("bf16");
  ASSERT_EQ(t16->type, DType::F16);
  ASSERT_EQ(tb16->type, DType::BF16);
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(fp16_to_fp32(static_cast<const uint16_t*>(t16->data)[i]), values[i]) << i;
    EXPECT_EQ(bf16_to_fp32(static_cast<const uint16_t*>(tb16->data)[i]), values[i]) << i;
  }
  // Known encodings: -5/8 = -0.625 is 0xB900 in IEEE half and 0xBF20 in bfloat16.
  EXPECT_EQ(static_cast<const uint16_t*>(t16->data)[0], 0xB900);
  EXPECT_EQ(static_cast<const uint16_t*>(tb16->data)[0], 0xBF20);
  const TensorView* tq = f.find_tensor("q8");
  EXPECT_EQ(tq->type, DType::Q8_0);
  EXPECT_EQ(tq->nbytes, q8.size());
  EXPECT_EQ(std::memcmp(tq->data, q8.data(), q8.size()), 0);
  EXPECT_EQ(std::memcmp(f.find_tensor("i32")->data, ints.data(), 12), 0);
  const TensorView* stacked = f.find_tensor("stacked");
  EXPECT_EQ(stacked->n_dims, 3);
  EXPECT_EQ(stacked->ne[2], 3);
  EXPECT_EQ(stacked->f32()[5], 2.0f);
  std::remove(path.c_str());
}

TEST(GGUFWriter, RewritesStories260KExactly) {
  LLMPP_REQUIRE_SHARED("models/stories260K/stories260K.gguf");
  const GGUFFile original(test::shared_path("models/stories260K/stories260K.gguf"));
  GGUFWriter w;
  for (const auto& [key, value] : original.metadata()) w.add(key, value);
  for (const TensorView& t : original.tensors())
    w.add_tensor(t.name, t.type, std::vector<int64_t>(t.ne.begin(), t.ne.begin() + t.n_dims), t.data, t.nbytes);
  const std::string path = temp_path("stories");
  w.write(path);

  const GGUFFile copy(path);
  ASSERT_EQ(copy.metadata().size(), original.metadata().size());
  for (size_t i = 0; i < original.metadata().size(); ++i) {
    const auto& [key, a] = original.metadata()[i];
    const auto& [copy_key, b] = copy.metadata()[i];
    EXPECT_EQ(copy_key, key);
    EXPECT_EQ(b.type(), a.type()) << key;
    EXPECT_EQ(b.array_type(), a.array_type()) << key;
    EXPECT_EQ(b.array_size(), a.array_size()) << key;
    EXPECT_EQ(b.describe(), a.describe()) << key;
  }
  EXPECT_EQ(copy.get("tokenizer.ggml.tokens").as_strings(), original.get("tokenizer.ggml.tokens").as_strings());
  EXPECT_EQ(copy.get("tokenizer.ggml.scores").as_floats(), original.get("tokenizer.ggml.scores").as_floats());
  EXPECT_EQ(copy.get("tokenizer.ggml.token_type").as_ints(), original.get("tokenizer.ggml.token_type").as_ints());
  EXPECT_EQ(copy.get_float("llama.attention.layer_norm_rms_epsilon", 0), 1e-5f);
  // Same layout as llama.cpp's writer: the whole file is byte-identical.
  ASSERT_EQ(copy.mapped_file().size(), original.mapped_file().size());
  EXPECT_EQ(std::memcmp(copy.mapped_file().data(), original.mapped_file().data(), original.mapped_file().size()), 0);
  std::remove(path.c_str());
}

TEST(GGUFWriter, QuantizedTensorsAreTheKernelsEncoding) {
  // The writer must store exactly what kernels::quantize_row produces, row by row, and
  // the file must decode to the input within the format's error (Q8_0: half a step of
  // d = max|x|/127, plus up to 127 steps of d's own F16 rounding (2^-11 relative), so
  // 0.6 d; Q4_0 and Q4_K: well under 0.2 of max|x| here).
  const int64_t rows = 3, cols = 256;
  std::vector<float> values(static_cast<size_t>(rows * cols));  // (rows, cols)
  for (size_t i = 0; i < values.size(); ++i) values[i] = std::sin(0.37f * static_cast<float>(i)) * (1.0f + (i % 7));
  GGUFWriter w;
  const DType types[] = {DType::Q8_0, DType::Q4_0, DType::Q4_K};
  for (DType type : types) w.add_tensor(dtype_name(type), {cols, rows}, values, type);
  EXPECT_THROW(w.add_tensor("bad_k", {32, 1}, std::vector<float>(32), DType::Q4_K), InvalidArgument);  // 256-blocks
  EXPECT_THROW(w.add_tensor("q8_k", {256}, std::vector<float>(256), DType::Q8_K), InvalidArgument);     // no weight kernel
  const std::string path = temp_path("quantized");
  w.write(path);

  const GGUFFile f(path);
  for (DType type : types) {
    const TensorView* t = f.find_tensor(dtype_name(type));
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->type, type);
    std::vector<uint8_t> expected(row_bytes(type, cols));
    std::vector<float> decoded(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) {
      kernels::quantize_row(type, values.data() + r * cols, expected.data(), cols);
      EXPECT_EQ(std::memcmp(t->row(r), expected.data(), expected.size()), 0) << dtype_name(type) << " row " << r;
      kernels::dequantize_row(type, t->row(r), decoded.data(), cols);
      const float tolerance = type == DType::Q8_0 ? 7.0f / 127.0f * 0.6f : 7.0f * 0.2f;
      for (int64_t i = 0; i < cols; ++i)
        ASSERT_NEAR(decoded[static_cast<size_t>(i)], values[static_cast<size_t>(r * cols + i)], tolerance)
            << dtype_name(type) << " row " << r << " col " << i;
    }
  }
  std::remove(path.c_str());
}

TEST(GGUFWriter, RejectsBadAlignment) {
  EXPECT_THROW(GGUFWriter(0), InvalidArgument);
  EXPECT_THROW(GGUFWriter(48), InvalidArgument);
}

}  // namespace
}  // namespace llmpp::io
