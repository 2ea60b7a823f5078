// Shared helpers of the complex selective scan tests: the oracle, and a judgement of a backend's
// outputs against it and a bound, element by element.
#pragma once

#include <gtest/gtest.h>

#include <sstream>

#include "cpu/mamba_complex.hpp"
#include "touchstone/core/metrics.hpp"
#include "touchstone/reference/mamba_complex.hpp"
#include "touchstone/bounds/mamba_complex_bound.hpp"

namespace touchstone::mamba::testing {

inline ComplexScanResult<mp_real> complex_oracle(const ComplexScanProblem<double>& p,
                                                 unsigned bits = 256) {
  const WorkingPrecision precision(bits);
  return reference::selective_scan_complex<mp_real, mp_complex>(p);
}

template <class T>
ComplexScanResult<double> complex_as_double(const ComplexScanResult<T>& r) {
  return {r.out.template cast<double>(), r.last_state.template cast<double>()};
}

struct ComplexJudged {
  ErrorSummary out, last_state;
  // Nothing outside its bound; unjudged counted, NaN/Inf outside the domain allowed ([CORE-OWN-DOMAIN]).
  bool pass() const { return out.outside == 0 && last_state.outside == 0; }
  double max_ratio() const { return std::max(out.max_ratio, last_state.max_ratio); }
  std::string describe() const {
    std::ostringstream s;
    auto one = [&](const char* name, const ErrorSummary& e) {
      s << name << ": failures " << e.outside << ", max err/bound " << e.max_ratio << ", nan "
        << e.nan_expected << ", unbounded " << e.unjudged;
      if (e.worst >= 0)
        s << "; worst flat " << e.worst << " computed " << e.worst_computed << " exact "
          << e.worst_exact << " bound " << e.worst_bound;
      s << "\n";
    };
    one("out", out);
    one("last_state", last_state);
    return s.str();
  }
};

inline ComplexJudged judge_complex(const ComplexScanResult<double>& computed,
                                   const ComplexScanResult<mp_real>& exact,
                                   const ComplexScanResult<double>& bound, Format f) {
  return {compare("out", own_domain_view(computed.out, exact.out, bound.out), exact.out, &bound.out, f),
          compare("last_state", own_domain_view(computed.last_state, exact.last_state, bound.last_state),
                  exact.last_state, &bound.last_state, f)};
}

}  // namespace touchstone::mamba::testing
