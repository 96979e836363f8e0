// The llmpp-bench program as scripts run it: the tests a run asks for (-p, -n, -d, -ctk) in
// its JSON and markdown output, and one-line errors for what it refuses. Speeds themselves
// are not checked here (they belong to benchmarks, not tests).
#include <algorithm>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "test_util.hpp"

#if defined(LLMPP_BENCH_PROGRAM)
namespace llmpp {
namespace {

test::ProgramRun run(const std::string& arguments) { return test::run_program(LLMPP_BENCH_PROGRAM, arguments); }

std::string model_arguments() { return "-m '" + test::shared_path("models/stories260K/stories260K.gguf") + "' -t 1 -r 1"; }

TEST(LlmppBench, JsonListsEachCacheTypeAndDepth) {
  LLMPP_REQUIRE_SHARED("models/stories260K/stories260K.gguf");
  const test::ProgramRun r = run(model_arguments() + " -p 8 -n 8 -d 0,16 -ctk f32,f16 -o json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json doc = nlohmann::json::parse(r.out);
  const nlohmann::json& results = doc.at("results");
  ASSERT_EQ(results.size(), 8u) << r.out;
  // Thread count, then cache type, then depth, then pp before tg, as llama-bench orders them.
  const std::vector<std::string> tests = {"pp8", "tg8", "pp8 @ d16", "tg8 @ d16"};
  for (size_t i = 0; i < results.size(); ++i) {
    const nlohmann::json& row = results[i];
    SCOPED_TRACE(row.dump());
    EXPECT_EQ(row.at("kv_cache_type"), i < 4 ? "f32" : "f16");
    EXPECT_EQ(row.at("n_depth"), i % 4 < 2 ? 0 : 16);
    EXPECT_EQ(row.at("test"), tests[i % 4]);
    EXPECT_EQ(row.at("threads"), 1);
    EXPECT_GT(row.at("tokens_per_second").get<double>(), 0.0);
    const bool tg = i % 2 == 1;
    EXPECT_EQ(row.at("bandwidth_share").is_null(), !tg);
    EXPECT_EQ(row.at("fma_peak_share").is_null(), tg);
  }
}

TEST(LlmppBench, MarkdownNamesTheCacheOnlyWhenAskedFor) {
  LLMPP_REQUIRE_SHARED("models/stories260K/stories260K.gguf");
  const test::ProgramRun plain = run(model_arguments() + " -p 4 -n 4");
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_EQ(plain.out.find("| KV cache |"), std::string::npos) << plain.out;
  EXPECT_NE(plain.out.find("| pp4 |"), std::string::npos) << plain.out;
  EXPECT_NE(plain.out.find("| tg4 |"), std::string::npos) << plain.out;

  const test::ProgramRun half = run(model_arguments() + " -p 4 -n 4 -d 8 -ctk f16 -ctv f16");
  ASSERT_EQ(half.exit_code, 0) << half.err;
  EXPECT_NE(half.out.find("| threads | KV cache | test |"), std::string::npos) << half.out;
  EXPECT_NE(half.out.find("| f16 | pp4 @ d8 |"), std::string::npos) << half.out;
  EXPECT_NE(half.out.find("| f16 | tg4 @ d8 |"), std::string::npos) << half.out;
}

TEST(LlmppBench, RefusedCacheTypesAreOneLineErrors) {
  for (const char* arguments : {"-ctk q8_0", "-ctk f16 -ctv f32", "-d x"}) {
    SCOPED_TRACE(arguments);
    const test::ProgramRun r = run(arguments);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(r.err.rfind("llmpp-bench: error: ", 0), 0u) << r.err;
  }
  EXPECT_NE(run("-ctk q8_0").err.find("-ctk"), std::string::npos);
  EXPECT_NE(run("-ctk f16 -ctv f32").err.find("-ctv"), std::string::npos);
}

}  // namespace
}  // namespace llmpp
#endif  // LLMPP_BENCH_PROGRAM
