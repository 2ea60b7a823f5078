// The algorithm registry (spec/core.md [CORE-REGISTRY]).
//
// Every algorithm is one Algorithm entry, found by its dotted name ("mamba.selective_scan"). An
// entry knows its inputs and outputs (named as the peer library names them), how to build a
// problem from default sizes or from a user's .npz, its oracle, its backends with their error
// bounds, and the bound of an unknown implementation (for `touchstone diff`). The CLI, the
// differential tests and the benchmarks iterate the registry: adding an algorithm is adding an
// entry.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "touchstone/core/formats.hpp"
#include "touchstone/core/metrics.hpp"
#include "touchstone/core/mp.hpp"
#include "touchstone/core/npy.hpp"
#include "touchstone/core/probabilistic.hpp"
#include "touchstone/core/tensor.hpp"

namespace touchstone {

struct ArraySpec {
  std::string name;     // the peer's name: u, delta, A, ...
  std::string shape;    // "(batch, dim, seqlen)"; alternatives separated by " | "
  std::string meaning;
  bool optional = false;
};

struct OptionSpec {
  std::string name;
  std::string meaning;
  std::string default_value;
};

using OptionMap = std::map<std::string, std::string>;
using Arrays = std::map<std::string, Tensor<double>>;
using ExactArrays = std::map<std::string, Tensor<mp_real>>;

// A problem of one algorithm, type-erased; made by that algorithm's entry.
class ProblemHandle {
 public:
  virtual ~ProblemHandle() = default;
  virtual std::string describe() const = 0;  // "batch=2 dim=4 ..."
  // The narrowest of float16, bfloat16, float32, float64 that holds every input value exactly.
  virtual Format input_format() const = 0;
  virtual Arrays inputs() const = 0;  // in the peer's names, for writing a fixture
  // InvalidInput("inputs", ...) unless every input value is a value of `format`: a backend that
  // computes in `format` would otherwise round its inputs and answer a different problem.
  void require_inputs_in(Format format) const;
};

// The float32 copy of a handle's problem, made on first use after require_inputs_in(float32):
// what a float32 backend runs on. `Problem64` has `cast<float>()` giving `Problem32`.
template <class Problem32>
class Float32Copy {
 public:
  template <class Problem64>
  const Problem32& get(const ProblemHandle& handle, const Problem64& problem) const {
    if (!copy_) {
      handle.require_inputs_in(Format::float32);
      copy_.emplace(problem.template cast<float>());
    }
    return *copy_;
  }

 private:
  mutable std::optional<Problem32> copy_;
};

// [CORE-DIFF-JOINT-BOUND] What Algorithm::any_order_and_cpu_f64_bound returns: the two bounds the
// fast tier of `diff` needs, from one evaluation.
struct AnyOrderAndCpuF64Bound {
  Arrays any_order;  // = any_order_bound(p, compute, elementary_ulps)
  Arrays cpu_f64;    // = the bound of the backend named "cpu-f64"
};

struct BackendSpec {
  std::string name;    // "cpu-f32"
  Format format;       // compute and output format
  std::string order;   // the association order in one line (the bound is for it)
  std::function<std::string()> unavailable_reason;  // empty: runs here
  std::function<Arrays(const ProblemHandle&)> run;
  std::function<Arrays(const ProblemHandle&)> bound;  // per-element absolute bound
};

class Algorithm {
 public:
  virtual ~Algorithm() = default;
  virtual std::string name() const = 0;
  virtual std::string summary() const = 0;
  virtual std::string spec_ref() const = 0;  // "spec/mamba.md [MAMBA-SCAN-DEF]"
  virtual std::vector<ArraySpec> inputs() const = 0;
  virtual std::vector<ArraySpec> outputs() const = 0;
  virtual std::vector<OptionSpec> options() const = 0;
  virtual std::vector<std::string> sizes() const = 0;  // default problem sizes for `check`
  virtual std::unique_ptr<ProblemHandle> generate(const std::string& size, Format format,
                                                  std::uint64_t seed) const = 0;
  // [CORE-INPUT-CHECK] A problem from a user's arrays and options. InvalidInput naming the array
  // or option when something is unknown, missing, mistyped or misshapen: core checks the arrays
  // against inputs() and options() first (check_inputs: names, dtypes, complex layouts, every
  // array's dimensions inferred together), then the entry reads them (problem_from_arrays), which
  // validates what the declarations cannot say (values, option words, cross-argument rules).
  std::unique_ptr<ProblemHandle> from_arrays(const NpyMap& arrays, const OptionMap& options) const;
  virtual std::unique_ptr<ProblemHandle> problem_from_arrays(const NpyMap& arrays,
                                                             const OptionMap& options) const = 0;
  // [CORE-ORACLE-VERIFIED] The oracle, checked: `oracle` at `precision_bits` (b) and at 2b must
  // agree (every element within 2^-(b/2) of its own modulus, or of 2^-(b/2) times the output's
  // largest modulus; NaN and infinities identical), else the precision doubles until two
  // successive evaluations agree; the higher-precision result is returned. InvalidInput
  // ("precision") past 16384 bits. Every caller (check, diff, eval, tests, fuzzers) gets this.
  ExactArrays reference(const ProblemHandle& p, unsigned precision_bits) const;
  // One evaluation of the oracle with MPFR at `precision_bits`: what an entry implements.
  virtual ExactArrays oracle(const ProblemHandle& p, unsigned precision_bits) const = 0;
  // `oracle`, refused (InvalidInput "precision") where a NaN output may be an artefact of MPFR's
  // finite exponent range ([CORE-ORACLE-RANGE]).
  ExactArrays oracle_in_range(const ProblemHandle& p, unsigned precision_bits) const;
  virtual const std::vector<BackendSpec>& backends() const = 0;
  // Bound for an unknown implementation computing in the usual format for `storage` and storing
  // its outputs in `storage`, in any association order, with elementary functions within
  // `elementary_ulps` ulps. `diff` asks for it at the compute format (float32 or float64) and adds
  // the rounding to a narrower storage format itself, from the oracle's values
  // ([CORE-DIFF-STORAGE], core/verdict.hpp diff_bound).
  virtual Arrays any_order_bound(const ProblemHandle& p, Format storage,
                                 double elementary_ulps) const = 0;
  // [CORE-DIFF-JOINT-BOUND] Optional: `any_order_bound(p, compute, elementary_ulps)` and the
  // "cpu-f64" backend's `bound(p)` from one evaluation, for an entry whose two bounds share their
  // work (the same recursion with two unit roundoffs); each half bit for bit what the separate
  // call returns (registry test JointBound). nullopt where the entry has none: `diff` makes the
  // two calls.
  virtual std::optional<AnyOrderAndCpuF64Bound> any_order_and_cpu_f64_bound(const ProblemHandle&,
                                                                            Format /*compute*/,
                                                                            double /*elementary_ulps*/) const {
    return std::nullopt;
  }
  // Empty when `any_order_bound` holds for every association order of the spec's formula;
  // otherwise the order it assumes, in one line, which `diff` states in its text and JSON
  // ([CORE-DIFF-ORDER]).
  virtual std::string any_order_assumption() const { return {}; }
  // [CORE-DIFF-PROBABILISTIC] The per-element probabilistic bound (Higham-Mary) of an unknown
  // implementation computing in `compute` (float32 or float64) in any association order, with
  // family-wise probability `alpha` under the model; nullopt where the entry has none.
  virtual std::optional<ProbabilisticBound> probabilistic_bound(const ProblemHandle&, Format /*compute*/,
                                                                double /*elementary_ulps*/,
                                                                double /*alpha*/) const {
    return std::nullopt;
  }
  // [CORE-SLICES] Named dimensions along which the problem falls apart into independent problems
  // (core/slices.hpp); empty when it does not, or the entry does not say.
  virtual std::vector<std::string> independent_axes() const { return {}; }
};

// [CORE-ORACLE-VERIFIED] Whether two evaluations of the oracle, at b and at 2b bits, agree:
// every element within 2^-(b/2) of its own modulus or of 2^-(b/2) times its output's largest
// modulus; NaN and infinities identical. Sets the working precision to 2b for its arithmetic.
bool oracle_agrees(const ExactArrays& lo, const ExactArrays& hi, unsigned b);

// [CORE-REGISTRY-BOUNDS] std::logic_error unless every backend of `a` returns exactly the
// outputs `a` declares (optional ones may be absent) and a bound for each output it returns, and
// the any-order bound covers every output of the oracle, on problem `p`. A missing bound is a
// defect of the entry, never a silent pass.
void check_entry_outputs(const Algorithm& a, const ProblemHandle& p, const ExactArrays& exact);

class Registry {
 public:
  void add(std::unique_ptr<Algorithm> algorithm);
  // InvalidInput("algorithm", ...) listing the known names when absent.
  const Algorithm& get(std::string_view name) const;
  std::vector<const Algorithm*> all() const;
  const BackendSpec& backend(const Algorithm& a, std::string_view name) const;

 private:
  std::vector<std::unique_ptr<Algorithm>> algorithms_;
};

// One output of one run judged against the oracle.
struct OutputJudgement {
  std::string output;
  ErrorSummary summary;
  Shape shape;  // the output's shape, for naming elements by index
};

// Judges every output the oracle produced that `computed` holds; an output in `computed` that
// the algorithm does not produce is an InvalidInput naming it. `bounds` may be null (every
// finite element unjudged); when given, it must hold a bound for every output judged, else
// std::logic_error (a defect of the entry, never a silent pass).
std::vector<OutputJudgement> judge(const Arrays& computed, const ExactArrays& exact,
                                   const Arrays* bounds, Format format);
// judge() of touchstone's own backend: every output through own_domain_view first
// ([CORE-OWN-DOMAIN]), so that NaN/Inf where the backend's bound is not finite is not outside.
std::vector<OutputJudgement> judge_own_backend(const Arrays& computed, const ExactArrays& exact,
                                               const Arrays& bounds, Format format);
// The verdict of several outputs together (PASS for none).
Verdict verdict_of(const std::vector<OutputJudgement>& judged);

}  // namespace touchstone
