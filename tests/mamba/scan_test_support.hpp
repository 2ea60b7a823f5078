// Shared helpers of the selective scan tests: run a backend or the oracle on a problem and judge
// the result against a bound, with a readable failure message.
#pragma once

#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <cstring>
#include <sstream>

#include "cpu/mamba.hpp"
#include "cuda/device.hpp"
#include "cuda/mamba.hpp"
#include "touchstone/core/metrics.hpp"
#include "touchstone/reference/mamba.hpp"
#include "touchstone/bounds/mamba_bound.hpp"

namespace touchstone::mamba::testing {

// The oracle at 256 bits.
inline SelectiveScanResult<mp_real> oracle(const SelectiveScanProblem<double>& p) {
  const WorkingPrecision precision(256);
  return reference::selective_scan<mp_real>(p);
}

template <class T>
SelectiveScanResult<double> as_double(const SelectiveScanResult<T>& r) {
  return {r.out.template cast<double>(), r.last_state.template cast<double>()};
}

struct Judged {
  ErrorSummary out, last_state;
  // Nothing outside its bound ([CORE-METRIC-VERDICT]); unjudged elements (a bound of +inf) are
  // counted, not failed, and NaN/Inf there is the family's documented behaviour ([CORE-OWN-DOMAIN]).
  bool pass() const { return out.outside == 0 && last_state.outside == 0; }
  std::string describe(const SelectiveScanProblem<double>& p) const {
    std::ostringstream s;
    auto one = [&](const char* name, const ErrorSummary& e, const Shape& shape) {
      s << name << ": failures " << e.outside << ", max err/bound " << e.max_ratio
        << ", max ulps " << e.max_ulps << ", nan " << e.nan_expected << ", unbounded "
        << e.unjudged;
      if (e.worst >= 0)
        s << "; worst at " << index_string(shape, e.worst) << " computed " << e.worst_computed
          << " exact " << e.worst_exact << " bound " << e.worst_bound;
      s << "\n";
      for (const auto& f : e.first_failures)
        s << "  failure at " << index_string(shape, f.index) << ": computed " << f.computed
          << " exact " << f.exact << " bound " << f.bound << "\n";
    };
    one("out", out, Shape{p.batch(), p.dim(), p.seqlen()});
    one("last_state", last_state, Shape{p.batch(), p.dim(), p.dstate()});
    return s.str();
  }
};

inline Judged judge(const SelectiveScanResult<double>& computed,
                    const SelectiveScanResult<mp_real>& exact,
                    const SelectiveScanResult<double>& bound, Format f) {
  return {compare("out", own_domain_view(computed.out, exact.out, bound.out), exact.out, &bound.out, f),
          compare("last_state", own_domain_view(computed.last_state, exact.last_state, bound.last_state),
                  exact.last_state, &bound.last_state, f)};
}

// Every input of a (small) problem, for failure messages: RapidCheck shrinks failing problems
// to a few elements, so this is short where it matters.
inline std::string dump_problem(const SelectiveScanProblem<double>& p) { return dump_inputs(p); }

// Bitwise equality of two double tensors (NaN payloads aside: any NaN equals any NaN).
inline bool same_bits(const Tensor<double>& a, const Tensor<double>& b) {
  if (!(a.shape() == b.shape())) return false;
  for (Index i = 0; i < a.count(); ++i) {
    if (std::isnan(a[i]) && std::isnan(b[i])) continue;
    if (std::memcmp(&a[i], &b[i], sizeof(double)) != 0) return false;
  }
  return true;
}

}  // namespace touchstone::mamba::testing
