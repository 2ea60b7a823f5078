// The verdict loop that `touchstone check`, `touchstone diff`, the registry-driven tests and the
// fuzzer share (spec/core.md [CORE-VERDICT-LOOP]): run or take outputs, get the verified oracle
// and the bound, judge every element, return a report. The CLI only renders reports.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "touchstone/core/registry.hpp"

namespace touchstone {

// Exit codes of every command ([CORE-EXIT]): the verdict passed; a bound or verdict failed; the
// input or usage was invalid; the verdict is inconclusive (no element outside, some unjudged).
inline constexpr int kExitPass = 0;
inline constexpr int kExitFail = 1;
inline constexpr int kExitInvalid = 2;
inline constexpr int kExitInconclusive = 3;
// `diff --strict` only: the verdict passed but an output is SUSPECT ([CORE-DIFF-SUSPECT]).
inline constexpr int kExitSuspect = 4;
int exit_code(Verdict v);

// One line of an output's verdict for a report: "out: 3 of 64 element(s) outside the bound,
// first at (0, 2)" or "... unjudged (no finite bound), first at ..."; empty when it passed.
std::string verdict_reason(const OutputJudgement& j);

// ---- check: every backend against the oracle and its own bound ----

struct CheckRequest {
  std::vector<const Algorithm*> algorithms;
  std::vector<std::string> backends;  // empty: all
  std::vector<std::string> sizes;     // empty: each algorithm's defaults
  std::uint64_t seed = 0;
  unsigned precision = 256;
};

struct CheckRow {
  std::string algorithm, backend, size, problem;
  Format format = Format::float32;
  bool skipped = false;
  std::string reason;  // why skipped, or why not PASS
  Verdict verdict = Verdict::pass;
  double time_ms = 0, max_ulps = 0, max_ratio = 0;
  std::vector<OutputJudgement> outputs;
};

struct CheckReport {
  std::vector<CheckRow> rows;
  double seconds = 0;
  Verdict verdict() const;  // over the rows that ran
};

// `progress` (may be empty) receives a line before each oracle and backend run.
CheckReport run_check(const CheckRequest& request,
                      const std::function<void(const std::string&)>& progress = {});

// ---- diff: a user's outputs against the oracle and the any-order bound ----

// Which oracle `diff` judges with ([CORE-DIFF-TIERS]): `fast` first judges every element against
// the certified enclosure of touchstone's cpu-f64 backend and recomputes with MPFR only what that
// cannot settle; `mpfr` evaluates the MPFR oracle everywhere. Both give the same verdict.
enum class OracleTier { fast, mpfr };

// [CORE-DIFF-SUSPECT] A second, statistical look at an output that the rigorous bound judges,
// clearly separate from the verdict: evidence that a kernel is wrong in a way the worst-case bound
// cannot see, because no single element reveals it. Never certified; never turns a PASS into a
// FAIL (an output is SUSPECT, exit 0, unless `--strict`).
//  - signed bias: b = sum e_i x_i / sum x_i^2 over the elements whose exact value x_i and error
//    e_i = theirs_i - x_i are finite and nonzero: the least-squares relative scaling of their
//    answer, (1 + b) x. SUSPECT when at least kSuspectMinErrors errors, |b| >= kSuspectBiasUnits
//    unit roundoffs of the compute format, and at least kSuspectAgreement of the errors point the
//    way of b (sign(e_i x_i) = sign(b)).
//  - baseline: their largest error is more than kSuspectOverBaseline times that of touchstone's
//    own backend of the same format on the same inputs, and more than kSuspectMinUlps ulps.
inline constexpr Index kSuspectMinErrors = 128;
inline constexpr double kSuspectBiasUnits = 2;
inline constexpr double kSuspectAgreement = 0.75;
inline constexpr double kSuspectOverBaseline = 32;
inline constexpr double kSuspectMinUlps = 8;

struct Suspicion {
  std::string output;
  Index errors = 0;            // the elements the bias is measured over
  double relative_bias = 0;    // b
  double bias_units = 0;       // b / u (u the compute format's unit roundoff)
  double agreement = 0;        // fraction of those errors with sign(e x) = sign(b)
  double over_baseline = std::numeric_limits<double>::quiet_NaN();  // max abs / baseline's; NaN: none
  bool bias = false, baseline = false;
  // [CORE-DIFF-PROBABILISTIC] Where the entry has a probabilistic bound for this output (in its
  // compute format, not a narrower storage): the elements whose error is certainly beyond it, the
  // first of them (flat index; -1: none), the largest error over that bound among the judged
  // elements, and the statement's lambda, theta count and family-wise probability.
  bool probabilistic_available = false;
  Index beyond_probabilistic = 0;
  Index first_beyond = -1;
  double max_over_probabilistic = 0;
  double lambda = 0, thetas = 0, alpha = 0;
  bool probabilistic = false;  // beyond_probabilistic > 0
  bool suspect() const { return bias || baseline || probabilistic; }
};

// [CORE-DIFF-PROBABILISTIC] Counts one output's elements against its probabilistic bound, fed
// with a lower bound on each element's error (any order of elements).
class ProbabilisticCounter {
 public:
  explicit ProbabilisticCounter(const Tensor<double>* bound = nullptr) : bound_(bound) {}
  bool active() const { return bound_ != nullptr; }
  void add(Index i, double theirs, double exact, double error_lower);
  void finish(Suspicion& s) const;

 private:
  const Tensor<double>* bound_;
  Index beyond_ = 0, first_ = -1;
  double max_ratio_ = 0;
};

// The signed-bias statistic's sums, added to element by element in any order.
class BiasAccumulator {
 public:
  void add(double theirs, double exact);
  Suspicion finish(const std::string& output, Format compute) const;

 private:
  long double sum_ex_ = 0, sum_xx_ = 0;
  Index positive_ = 0, negative_ = 0;
};

struct DiffReport {
  std::string algorithm, problem;
  Format format = Format::float32;   // what their outputs are judged as
  Format compute = Format::float32;  // the format the bound assumes they computed in
  // [CORE-DIFF-FORMATS] The outputs judged in another format than `format` (each computed in
  // compute_format_for() of it).
  std::map<std::string, Format> output_formats;
  Format format_of(const std::string& output) const;
  double elementary_ulps = 0;
  unsigned precision = 0;
  // Empty when the bound holds for any association order; else the order it assumes
  // ([CORE-DIFF-ORDER]).
  std::string order_assumed;
  std::vector<OutputJudgement> outputs;
  // touchstone's own CPU backend of the compute format, rounded to `format`, judged the same way.
  std::string baseline_backend, baseline_note;
  std::vector<OutputJudgement> baseline;
  std::vector<std::string> notes;  // e.g. values that are not values of `format`
  Verdict verdict = Verdict::pass;
  // How the oracle was consulted ([CORE-DIFF-TIERS]): the tier used, why the fast tier was not
  // (empty when it was, or not asked for), how many elements (theirs and the baseline's) the
  // float64 enclosure settled and how many needed MPFR (of theirs, not the baseline's), and over
  // how many independent slices.
  OracleTier oracle = OracleTier::mpfr;
  std::string oracle_note;
  Index enclosed = 0, recomputed = 0;
  Index slices = 1, slices_recomputed = 0;
  double seconds_bound = 0, seconds_enclosure = 0, seconds_oracle = 0;
  // [CORE-DIFF-SUSPECT] One per output of theirs, in the order of `outputs`.
  std::vector<Suspicion> suspicions;
  bool suspect() const;
};

// The exit code of a diff: exit_code(verdict), except kExitSuspect for a PASS that is SUSPECT
// when `strict`.
int diff_exit_code(const DiffReport& r, bool strict);

// What `diff` assumes of a user's elementary functions unless told (--elementary-ulps).
inline constexpr double kDefaultElementaryUlps = 4;

// [CORE-SLICES] The verified oracle ([CORE-ORACLE-VERIFIED]) of each listed slice of `slicer`'s
// problem, on all cores (TOUCHSTONE_THREADS), each slice doubling its own precision until two
// evaluations agree. `done(slice, exact)` is called on the calling thread, a chunk of slices at a
// time, so that memory holds one chunk's MPFR values, not the problem's.
class ProblemSlicer;
void verified_slices(const Algorithm& a, const ProblemSlicer& slicer, const std::vector<Index>& slices,
                     unsigned precision, const std::function<void(Index, const ExactArrays&)>& done,
                     const std::function<void(const std::string&)>& progress = {});

struct DiffRequest {
  Format format = Format::float32;  // the format their outputs are judged as (stored in)
  // Per output, where it differs from `format` ([CORE-DIFF-FORMATS]): peers return mixed dtypes
  // in one call (a bfloat16 `out` with a float32 `last_state`).
  std::map<std::string, Format> output_formats;
  double elementary_ulps = kDefaultElementaryUlps;
  unsigned precision = 256;  // the oracle's starting precision in bits
  OracleTier oracle = OracleTier::fast;
  // [CORE-DIFF-PROBABILISTIC] The family-wise probability of the probabilistic bound; 0 turns it off.
  double probabilistic_alpha = kProbabilisticAlpha;
  std::function<void(const std::string&)> progress;  // may be empty
};

// `theirs`: the user's outputs by the entry's output names (any non-empty subset). Gets the
// verified oracle (by the requested tier) and the any-order bound, judges, adds the baseline.
DiffReport run_diff(const Algorithm& a, const ProblemHandle& problem, const Arrays& theirs,
                    const DiffRequest& request);

// A user's outputs as read from a .npz: every array must be a float (or complex) array
// (InvalidInput naming it otherwise); `format` is the format their dtypes share (float16, float32 or float64), empty
// when they differ; `formats` each one's.
struct TheirOutputs {
  Arrays arrays;
  std::optional<Format> format;
  std::map<std::string, Format> formats;
};
TheirOutputs their_outputs(const NpyMap& arrays);

// The format a bound assumes outputs stored in `storage` were computed in: float64 for float64,
// float32 for the rest.
Format compute_format_for(Format storage);

// [CORE-DIFF-FORMATS] `--format` as written: a comma-separated list of a format (every output
// not named) and NAME=FORMAT items (that output), e.g. "bfloat16" or
// "out=bfloat16,last_state=float32". Fills q.format (else the outputs' shared dtype `dtypes`
// gives it; where they differ each output not named takes its own) and q.output_formats.
// InvalidInput("--format") for unknown formats, names not among `theirs`, or a name given twice.
void set_formats(DiffRequest& q, const std::string& spec, const TheirOutputs& theirs);

// The rounding half of diff_bound at one element: the bound b at the compute format widened by
// the rounding to `storage` of a value of modulus at most x (+inf where it may overflow).
// Non-decreasing in x and in b.
double storage_bound(double b, double x, Format storage);

// [CORE-DIFF-STORAGE] The bound `diff` judges outputs stored in `storage` with: the entry's
// any-order bound b at the compute format (float32, or float64 for float64 storage), plus, for a
// narrower storage format, the rounding of a computed value y (|y - exact| <= b) to it:
// u_s (|exact| + b) + eta_s; +inf where |exact| + b may overflow `storage`. The oracle's |exact|
// is far tighter than a magnitude bound built from the summands (which once let a 1% error pass
// in bfloat16 on seven entries).
Arrays diff_bound(const Algorithm& a, const ProblemHandle& problem, Format storage,
                  double elementary_ulps, const ExactArrays& exact);

// The judging half of run_diff, given the oracle's `exact` outputs and `bounds` =
// diff_bound(a, problem, format, elementary_ulps, exact): what the registry-wide verdict test runs
// many wrong answers through without recomputing either. `with_baseline`: also run and judge
// touchstone's own CPU backend.
DiffReport judge_diff(const Algorithm& a, const ProblemHandle& problem, const Arrays& theirs,
                      Format format, double elementary_ulps, const ExactArrays& exact,
                      const Arrays& bounds, bool with_baseline);

}  // namespace touchstone
