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

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::pass: return "PASS";
    case Verdict::fail: return "FAIL";
    case Verdict::inconclusive: return "INCONCLUSIVE";
  }
  return "?";
}

Verdict combine(Verdict a, Verdict b) {
  if (a == Verdict::fail || b == Verdict::fail) return Verdict::fail;
  if (a == Verdict::inconclusive || b == Verdict::inconclusive) return Verdict::inconclusive;
  return Verdict::pass;
}

Tensor<double> own_domain_view(const Tensor<double>& computed, const Tensor<mp_real>& exact,
                               const Tensor<double>& bound, Index* masked) {
  Tensor<double> v = computed;
  if (!(computed.shape() == exact.shape()) || !(bound.shape() == exact.shape())) return v;  // compare names it
  for (Index i = 0; i < v.count(); ++i)
    if (!std::isfinite(v[i]) && !std::isfinite(bound[i])) {
      v[i] = to_double(exact[i]);
      if (masked) ++*masked;
    }
  return v;
}

ErrorSummary compare(const std::string& name, const Tensor<double>& computed,
                     const Tensor<mp_real>& exact, const Tensor<double>* bound, Format format) {
  if (!(computed.shape() == exact.shape()))
    throw InvalidInput(name, "expected shape " + exact.shape().str() + ", got " +
                                 computed.shape().str());
  if (bound && !(bound->shape() == exact.shape()))
    throw InvalidInput(name, "bound has shape " + bound->shape().str() + ", expected " +
                                 exact.shape().str());
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  ErrorSummary s;
  s.count = exact.count();
  if (s.count == 0) return s;
  // Boost 1.74 gives a result the default precision, not its operands': work at the exact
  // values' precision so that |computed - exact| is formed with no rounding that matters.
  const WorkingPrecision precision(std::max(kMinPrecisionBits, precision_bits(exact[0])) + 64);
  double worst_key = -1;
  bool worst_is_outside = false;
  std::vector<double> ratios;
  mp_real diff;
  auto note = [&](Index i, double key, bool is_outside) {
    const double b = bound ? (*bound)[i] : kNaN;
    if (is_outside && s.first_failures.size() < ErrorSummary::kMaxFailureSamples)
      s.first_failures.push_back({i, computed[i], to_double(exact[i]), b});
    // The first outside element wins; before any, the largest key (ratio, else ulps).
    if (worst_is_outside) return;
    if (is_outside || key > worst_key) {
      worst_key = key;
      worst_is_outside = is_outside;
      s.worst = i;
      s.worst_computed = computed[i];
      s.worst_exact = to_double(exact[i]);
      s.worst_bound = b;
    }
  };
  auto outside = [&](Index i) {
    ++s.outside;
    note(i, INFINITY, true);
  };
  for (Index i = 0; i < s.count; ++i) {
    const double c = computed[i];
    const mp_real& e = exact[i];
    if (isnan(e)) {  // NaN propagation: the oracle's NaN must be matched, whatever the bound
      ++s.nan_expected;
      if (std::isnan(c)) ++s.within;
      else outside(i);
      continue;
    }
    if (!isfinite(e)) {  // an exact infinity (from infinite inputs): the same infinity
      if (std::isinf(c) && (c > 0) == (e > 0)) ++s.within;
      else outside(i);
      continue;
    }
    if (!std::isfinite(c)) {
      // An exact value beyond the format's range rounds to the infinity of its sign: that
      // infinity is the correctly rounded answer, within. (The threshold, max + half an ulp, is a
      // double, so rounding e to double first decides this exactly.)
      const double ed = to_double(e);
      if (std::isinf(c) && std::isinf(round_to_format(ed, format)) && (c > 0) == (ed > 0)) {
        ++s.within;
        continue;
      }
      // Otherwise NaN or Inf where the oracle is finite: outside, whatever the bound.
      s.max_abs = s.max_rel = s.max_ulps = INFINITY;
      outside(i);
      continue;
    }
    // Both finite: the error is measured whether or not the element can be judged.
    diff = mp_real(c) - e;
    diff = abs(diff);
    const double err = to_double(diff);
    const double rel = iszero(e) ? (err == 0 ? 0.0 : INFINITY) : to_double(diff / abs(e));
    const double ulps = err / ulp_in(e, format);
    s.max_abs = std::max(s.max_abs, err);
    s.max_rel = std::max(s.max_rel, rel);
    s.max_ulps = std::max(s.max_ulps, ulps);
    const double b = bound ? (*bound)[i] : kNaN;
    if (!std::isfinite(b)) {  // no finite bound: outside the bound's domain, unjudged
      ++s.unjudged;
      if (s.first_unjudged < 0) s.first_unjudged = i;
      if (!worst_is_outside && s.worst < 0) note(i, -0.5, false);
      continue;
    }
    // The verdict compares exactly: the difference is exact at the oracle's precision up to one
    // rounding, far below a double's resolution of the bound.
    const bool is_outside = diff > mp_real(b);
    const double ratio = b > 0 ? err / b : (err == 0 ? 0.0 : INFINITY);
    ratios.push_back(ratio);
    s.max_ratio = std::max(s.max_ratio, ratio);
    if (is_outside) outside(i);
    else {
      ++s.within;
      note(i, ratio, false);
    }
  }
  if (!ratios.empty()) {
    auto mid = ratios.begin() + static_cast<std::ptrdiff_t>(ratios.size() / 2);
    std::nth_element(ratios.begin(), mid, ratios.end());
    s.median_ratio = *mid;
  }
  return s;
}

}  // namespace touchstone
