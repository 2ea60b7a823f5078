// The `touchstone` commands (README "Command line"; spec/core.md [CORE-CLI]).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "touchstone/core/registry.hpp"
#include "touchstone/core/verdict.hpp"

namespace touchstone::cli {

// Exit codes ([CORE-EXIT], core/verdict.hpp): 0 pass, 1 fail, 2 invalid input or usage,
// 3 inconclusive.
using touchstone::kExitFail;
using touchstone::kExitInconclusive;
using touchstone::kExitInvalid;
using touchstone::kExitPass;

struct CheckOptions {
  std::vector<std::string> algorithms;  // empty: all
  std::vector<std::string> backends;    // empty: all
  std::vector<std::string> sizes;       // empty: the algorithm's defaults
  std::uint64_t seed = 0;
  unsigned precision = 256;
  std::string json_path, html_path;
  std::string spec_base = "spec-html/";  // --spec-url: the rendered spec, seen from the HTML file
};
int run_list(bool json, const std::vector<std::string>& names = {});
int run_check(const CheckOptions& o);

struct EvalOptions {
  std::string algorithm, inputs, output;
  std::string backend;  // empty: the oracle; else that backend's outputs, in its format
  unsigned precision = 256;
  std::vector<std::string> options;  // k=v
};
int run_eval(const EvalOptions& o);

struct DiffOptions {
  std::string algorithm, inputs, outputs, format, json_path, oracle = "fast";
  bool progress_lines = false;
  bool strict = false;  // a SUSPECT output exits kExitSuspect ([CORE-DIFF-SUSPECT])
  unsigned precision = 256;
  double elementary_ulps = kDefaultElementaryUlps;
  std::vector<std::string> options;
};
int run_diff(const DiffOptions& o);

struct GenerateOptions {
  std::string algorithm, size, format = "float32", output;
  std::uint64_t seed = 0;
};
int run_generate(const GenerateOptions& o);

struct BenchOptions {
  std::vector<std::string> algorithms, backends;
  std::string size = "bench";
  int repeats = 5;
};
int run_bench(const BenchOptions& o);

}  // namespace touchstone::cli
