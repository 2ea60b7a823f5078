#include "touchstone/core/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace touchstone {

double ulp_in(const mp_real& x, Format f) {
  const FormatInfo& info = format_info(f);
  if (iszero(x) || !isfinite(x)) return std::ldexp(1.0, info.emin - info.precision + 1);
  // mpfr_get_exp(x) = e with x = m * 2^e, 0.5 <= |m| < 1, so floor(log2|x|) = e - 1.
  const long e = mpfr_get_exp(x.backend().data()) - 1;
  const long binade = std::max<long>(e, info.emin);
  return std::ldexp(1.0, static_cast<int>(binade - info.precision + 1));
}

ErrorSummary compare(const std::string& name, const Tensor<double>& computed,
                     const Tensor<mp_real>& exact, const Tensor<double>* bound, Format format) {
  if (!(computed.shape() == exact.shape()))
    throw InvalidInput(name, "expected shape " + exact.shape().str() + ", got " +
                                 computed.shape().str());
  if (bound && !(bound->shape() == exact.shape()))
    throw InvalidInput(name, "bound has shape " + bound->shape().str() + ", expected " +
                                 exact.shape().str());
  ErrorSummary s;
  s.count = exact.count();
  if (s.count == 0) return s;
  // Boost 1.74 gives a result the default precision, not its operands': work at the exact
  // values' precision so that |computed - exact| is formed with no rounding that matters.
  const WorkingPrecision precision(std::max(kMinPrecisionBits, precision_bits(exact[0])) + 64);
  double worst_key = -1;
  bool worst_is_failure = false;
  mp_real diff;
  auto note_worst = [&](Index i, double key, bool failed) {
    if (failed && s.first_failures.size() < ErrorSummary::kMaxFailureSamples)
      s.first_failures.push_back({i, computed[i], to_double(exact[i]),
                                  bound ? (*bound)[i] : std::numeric_limits<double>::quiet_NaN()});
    // The first failure wins; among passes, the largest key (ratio, or ulps without a bound).
    if (worst_is_failure) return;
    if (failed || key > worst_key) {
      worst_key = key;
      worst_is_failure = failed;
      s.worst = i;
      s.worst_computed = computed[i];
      s.worst_exact = to_double(exact[i]);
      s.worst_bound = bound ? (*bound)[i] : std::numeric_limits<double>::quiet_NaN();
    }
  };
  for (Index i = 0; i < s.count; ++i) {
    const double c = computed[i];
    const mp_real& e = exact[i];
    const double b = bound ? (*bound)[i] : std::numeric_limits<double>::infinity();
    if (isnan(e)) {
      ++s.nan_expected;
      if (!std::isnan(c)) {
        ++s.failures;
        note_worst(i, INFINITY, true);
      }
      continue;
    }
    if (bound && std::isnan(b)) {
      // A NaN bound where the exact value is not NaN means the bound's evaluation saw a NaN the
      // oracle did not: a defect in the bound, never a pass.
      ++s.failures;
      note_worst(i, INFINITY, true);
      continue;
    }
    if (bound && std::isinf(b)) {
      ++s.unbounded;
      continue;
    }
    if (!std::isfinite(c)) {
      ++s.failures;
      s.max_abs = s.max_rel = s.max_ulps = s.max_ratio = INFINITY;
      note_worst(i, INFINITY, true);
      continue;
    }
    diff = mp_real(c) - e;
    diff = abs(diff);
    const double err = to_double(diff);
    const double rel = iszero(e) ? (err == 0 ? 0.0 : INFINITY) : to_double(diff / abs(e));
    const double ulps = err / ulp_in(e, format);
    s.max_abs = std::max(s.max_abs, err);
    s.max_rel = std::max(s.max_rel, rel);
    s.max_ulps = std::max(s.max_ulps, ulps);
    bool failed = false;
    double key = ulps;
    if (bound) {
      // The verdict compares exactly: the difference is exact at the oracle's precision up to one
      // rounding, far below a double's resolution of the bound.
      failed = diff > mp_real(b);
      key = b > 0 ? err / b : (err == 0 ? 0.0 : INFINITY);
      s.max_ratio = std::max(s.max_ratio, key);
      if (failed) ++s.failures;
    }
    note_worst(i, key, failed);
  }
  return s;
}

}  // namespace touchstone
