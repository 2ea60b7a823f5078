// Error metrics between a computed tensor and the oracle's exact tensor
// (spec/core.md [CORE-METRIC-ULP], [CORE-METRIC-VERDICT]).
#pragma once

#include <string>
#include <vector>

#include "touchstone/core/formats.hpp"
#include "touchstone/core/mp.hpp"
#include "touchstone/core/tensor.hpp"

namespace touchstone {

// ulp of the exact value x in format f: 2^(max(floor(log2|x|), emin) - p + 1); for x = 0 the
// subnormal quantum. Returned as a double (a power of two, exact).
double ulp_in(const mp_real& x, Format f);

// Summary of one output array against the oracle. Element rules ([CORE-METRIC-VERDICT]):
//  - exact NaN: passes iff computed is NaN;
//  - bound NaN (and exact not NaN): fails, the bound is undefined there;
//  - bound +inf (the element is outside the bound's domain, e.g. an intermediate may
//    overflow): counted in `unbounded`, always passes;
//  - otherwise passes iff computed is finite and |computed - exact| <= bound, the comparison made
//    exactly (in MPFR), not in double.
struct ErrorSummary {
  Index count = 0;
  Index failures = 0;
  Index nan_expected = 0;   // elements whose exact value is NaN (NaN propagation)
  Index unbounded = 0;      // elements with an infinite bound
  double max_abs = 0;       // max |computed - exact| over finite, bounded elements
  double max_rel = 0;       // max |computed - exact| / |exact| (inf when exact = 0 != computed)
  double max_ulps = 0;      // max |computed - exact| / ulp_in(exact, format)
  double max_ratio = 0;     // max |computed - exact| / bound (0/0 = 0)
  Index worst = -1;         // flat index of the worst element (first failure, else max ratio)
  double worst_computed = 0, worst_exact = 0, worst_bound = 0;
  struct Sample {
    Index index;
    double computed, exact, bound;
  };
  std::vector<Sample> first_failures;  // up to kMaxFailureSamples, in index order
  static constexpr std::size_t kMaxFailureSamples = 8;

  bool pass() const { return failures == 0; }
};

// `bound` may be null (no bound: only NaN agreement and the metrics are computed; every finite
// element passes). Shapes must agree (InvalidInput naming `name` otherwise).
ErrorSummary compare(const std::string& name, const Tensor<double>& computed,
                     const Tensor<mp_real>& exact, const Tensor<double>* bound, Format format);

}  // namespace touchstone
