// Helpers shared by the tests: where the data lives, golden tensors written by the PyTorch
// scripts in scripts/reference/, and comparisons whose tolerance scales with the reference.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "llmpp/io/safetensors.hpp"

namespace llmpp::test {

// ../shared, or $LLMPP_SHARED_DIR when set, so a user can point the tests elsewhere.
inline std::string shared_dir() {
  if (const char* env = std::getenv("LLMPP_SHARED_DIR"); env && *env) return env;
  return LLMPP_SHARED_DIR_DEFAULT;
}
inline std::string shared_path(const std::string& relative) { return shared_dir() + "/" + relative; }
inline std::string data_path(const std::string& relative) { return std::string(LLMPP_TEST_DATA_DIR) + "/" + relative; }

// Skips (loudly) when ../shared is not there: outside this environment the tests of the
// real-model files cannot run.
#define LLMPP_REQUIRE_SHARED(relative)                                                        \
  do {                                                                                          \
    if (!std::filesystem::exists(::llmpp::test::shared_path(relative)))                         \
      GTEST_SKIP() << "shared data missing: " << ::llmpp::test::shared_path(relative)          \
                   << " (set LLMPP_SHARED_DIR)";                                                \
  } while (0)

// A golden file: tests/data/<name>.safetensors written by scripts/reference/*.py.
class Golden {
 public:
  explicit Golden(const std::string& name) : file_(data_path(name + ".safetensors")) {}
  std::vector<float> f32(const std::string& tensor) const {
    const TensorView& t = file_.get(tensor);
    if (t.type != DType::F32) throw std::runtime_error(tensor + " is not F32");
    return std::vector<float>(t.f32(), t.f32() + t.n_elements());
  }
  std::vector<int64_t> i64(const std::string& tensor) const {
    const TensorView& t = file_.get(tensor);
    if (t.type != DType::I64) throw std::runtime_error(tensor + " is not I64");
    const auto* p = static_cast<const int64_t*>(t.data);
    return std::vector<int64_t>(p, p + t.n_elements());
  }
  const TensorView& view(const std::string& tensor) const { return file_.get(tensor); }
  bool has(const std::string& tensor) const { return file_.find(tensor) != nullptr; }
  const std::map<std::string, std::string>& metadata() const { return file_.metadata(); }

 private:
  io::SafetensorsFile file_;
};

inline float max_abs(const float* x, size_t n) {
  float m = 0.0f;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(x[i]));
  return m;
}

// Asserts max |actual - expected| <= rel_tol * max(1, max |expected|): a tolerance relative
// to the reference's magnitude, so large activations are not held to an absolute bound.
inline void expect_close(const float* actual, const float* expected, size_t n, float rel_tol,
                         const std::string& label = "") {
  const float scale = std::max(1.0f, max_abs(expected, n));
  float worst = 0.0f;
  size_t worst_i = 0;
  for (size_t i = 0; i < n; ++i) {
    const float err = std::fabs(actual[i] - expected[i]);
    if (!(err <= worst)) {  // also catches NaN
      worst = std::isnan(err) ? INFINITY : err;
      worst_i = i;
    }
  }
  EXPECT_LE(worst, rel_tol * scale) << label << ": worst element " << worst_i << " got " << actual[worst_i]
                                    << " expected " << expected[worst_i] << " (tolerance " << rel_tol
                                    << " x scale " << scale << ")";
}
inline void expect_close(const std::vector<float>& actual, const std::vector<float>& expected, float rel_tol,
                         const std::string& label = "") {
  ASSERT_EQ(actual.size(), expected.size()) << label;
  expect_close(actual.data(), expected.data(), actual.size(), rel_tol, label);
}

// One run of a command-line program: its exit code, stdout and stderr.
struct ProgramRun {
  int exit_code;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs `program arguments` through the shell (arguments quoted by the caller).
inline ProgramRun run_program(const char* program, const std::string& arguments) {
  // ctest runs tests in parallel processes: each run gets its own stderr file.
  static int n_runs = 0;
  const std::string err_path = ::testing::TempDir() + "llmpp_program_stderr_" + std::to_string(getpid()) + "_" +
                               std::to_string(n_runs++) + ".txt";
  const std::string command = std::string(program) + " " + arguments + " 2>" + err_path;
  ProgramRun r{};
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return {-1, "", "popen failed"};
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) r.out.append(buffer, n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream err(err_path);
  r.err.assign(std::istreambuf_iterator<char>(err), std::istreambuf_iterator<char>());
  std::remove(err_path.c_str());
  return r;
}

}  // namespace llmpp::test
