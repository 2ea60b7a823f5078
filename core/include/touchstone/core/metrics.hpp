// Error metrics and the per-element verdict between a computed tensor and the oracle's exact
// tensor (spec/core.md [CORE-METRIC-ULP], [CORE-METRIC-VERDICT]).
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "touchstone/core/formats.hpp"
#include "touchstone/core/mp.hpp"
#include "touchstone/core/tensor.hpp"

namespace touchstone {

// ulp of the exact value x in format f: 2^(max(floor(log2|x|), emin) - p + 1); for x = 0 the
// subnormal quantum. Returned as a double (a power of two, exact).
double ulp_in(const mp_real& x, Format f);
double ulp_in(double x, Format f);  // the same for a double x

// [CORE-METRIC-VERDICT] The verdict on a set of elements: PASS only when every element is
// within its bound; FAIL when any is outside; otherwise (some unjudged, none outside)
// INCONCLUSIVE, never PASS.
enum class Verdict { pass, fail, inconclusive };
const char* verdict_name(Verdict v);  // "PASS", "FAIL", "INCONCLUSIVE"
inline std::ostream& operator<<(std::ostream& os, Verdict v) { return os << verdict_name(v); }
// The verdict of two parts together: FAIL over INCONCLUSIVE over PASS.
Verdict combine(Verdict a, Verdict b);

// One output array against the oracle. Every element is exactly one of ([CORE-METRIC-VERDICT]):
//  - within: the oracle is NaN (or +-inf) and the computed value is the same NaN (infinity); or
//    the oracle's value overflows the format and the computed value is the infinity it rounds to;
//    or the bound is finite and |computed - exact| <= bound, compared exactly in MPFR;
//  - outside: non-finite where the oracle is finite, finite (or another non-finite value) where
//    the oracle is NaN or infinite, whatever the bound; or the error exceeds a finite bound;
//  - unjudged: both values finite but no finite bound (+inf: outside the bound's domain, NaN:
//    the bound's evaluation failed, or no bound given). Its error is still measured.
struct ErrorSummary {
  Index count = 0;
  Index within = 0, outside = 0, unjudged = 0;
  Index nan_expected = 0;   // elements whose exact value is NaN (NaN propagation)
  // Over every element where both values are finite, judged or not:
  double max_abs = 0;       // max |computed - exact| (inf once an element is outside as non-finite)
  double max_rel = 0;       // max |computed - exact| / |exact| (inf when exact = 0 != computed)
  double max_ulps = 0;      // max |computed - exact| / ulp_in(exact, format)
  // Tightness over the elements with a finite bound: |computed - exact| / bound (0/0 = 0).
  double max_ratio = 0, median_ratio = 0;
  Index worst = -1;         // flat index of the worst element: the first outside, else max ratio
  double worst_computed = 0, worst_exact = 0, worst_bound = 0;
  Index first_unjudged = -1;  // flat index of the first unjudged element
  struct Sample {
    Index index;
    double computed, exact, bound;
  };
  std::vector<Sample> first_failures;  // the first outside elements, in index order
  static constexpr std::size_t kMaxFailureSamples = 8;
  // [CORE-DIFF-TIERS] Elements settled by the certified float64 enclosure (|exact - v64| <= r)
  // rather than by the MPFR oracle, and the largest r among them: their reported errors, exact
  // values and ratios are measured from v64 and uncertain by at most this much.
  Index enclosed = 0;
  double error_uncertainty = 0;

  Verdict verdict() const {
    return outside ? Verdict::fail : unjudged ? Verdict::inconclusive : Verdict::pass;
  }
  bool pass() const { return verdict() == Verdict::pass; }
};

// [CORE-OWN-DOMAIN] touchstone's own backends may return NaN or +-inf where their own bound is
// not finite (outside the bound's domain; the family rules, e.g. [MAMBA-SCAN-NONFINITE]). This
// copy of `computed` takes the oracle's value at exactly those elements (their count added to
// *masked), so that judging it reports only a broken promise. For a user's outputs (`diff`) no
// such allowance exists.
Tensor<double> own_domain_view(const Tensor<double>& computed, const Tensor<mp_real>& exact,
                               const Tensor<double>& bound, Index* masked = nullptr);

// Builds an ErrorSummary from elements given in any order (each index once), so that a verdict
// can be assembled from slices and from two kinds of evidence: the oracle's exact value
// (`exact`, [CORE-METRIC-VERDICT]) or the certified enclosure of touchstone's float64 backend
// (`enclosed`, [CORE-DIFF-TIERS]). The summary does not depend on the order: the worst element is
// the outside one of least index, else the largest ratio (least index on ties); the failure
// samples are the outside elements of least index.
class SummaryBuilder {
 public:
  SummaryBuilder(Format format, Index count);
  // Judges element i against the oracle's exact value e and the bound b (compare's rules). `e`
  // must carry the oracle's precision.
  void exact(Index i, double computed, const mp_real& e, double bound);
  // Judges element i when the exact value is only known to lie in [v64 - r64, v64 + r64] (finite
  // v64 and r64, the exact value real) and the bound to lie in [bound_lo, bound_hi] (the bound of
  // an element depends on |exact| for narrow storage formats). Returns false, recording nothing,
  // when the enclosure cannot decide the verdict the oracle would give; the caller then needs the
  // exact value.
  bool enclosed(Index i, double computed, double v64, double r64, double bound_lo, double bound_hi);
  ErrorSummary finish();

 private:
  void note(Index i, double key, bool is_outside, double computed, double exact, double bound);
  void outside(Index i, double computed, double exact, double bound);
  Format format_;
  ErrorSummary s_;
  double worst_key_ = -1;
  bool worst_is_outside_ = false;
  std::vector<double> ratios_;
};

// `bound` may be null: no element is then judged except by the NaN/Inf rules, and the rest are
// unjudged (the metrics are still computed). Shapes must agree (InvalidInput naming `name`).
ErrorSummary compare(const std::string& name, const Tensor<double>& computed,
                     const Tensor<mp_real>& exact, const Tensor<double>* bound, Format format);

}  // namespace touchstone
