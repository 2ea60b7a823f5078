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

double ulp_in(double x, Format f) {
  const FormatInfo& info = format_info(f);
  if (x == 0 || !std::isfinite(x)) return std::ldexp(1.0, info.emin - info.precision + 1);
  const int binade = std::max(std::ilogb(x), info.emin);
  return std::ldexp(1.0, binade - info.precision + 1);
}

SummaryBuilder::SummaryBuilder(Format format, Index count) : format_(format) { s_.count = count; }

void SummaryBuilder::note(Index i, double key, bool is_outside, double computed, double exact,
                          double bound) {
  if (is_outside) {
    // Keep the outside elements of least index, in index order.
    auto& f = s_.first_failures;
    auto at = std::lower_bound(f.begin(), f.end(), i,
                               [](const ErrorSummary::Sample& x, Index j) { return x.index < j; });
    if (f.size() < ErrorSummary::kMaxFailureSamples || at != f.end()) {
      f.insert(at, {i, computed, exact, bound});
      if (f.size() > ErrorSummary::kMaxFailureSamples) f.pop_back();
    }
  }
  // The outside element of least index wins; before any, the largest key (ratio, else -0.5 for an
  // unjudged element), the least index on ties.
  bool better;
  if (worst_is_outside_) better = is_outside && i < s_.worst;
  else if (is_outside) better = true;
  else better = s_.worst < 0 || key > worst_key_ || (key == worst_key_ && i < s_.worst);
  if (!better) return;
  worst_key_ = key;
  worst_is_outside_ = is_outside;
  s_.worst = i;
  s_.worst_computed = computed;
  s_.worst_exact = exact;
  s_.worst_bound = bound;
}

void SummaryBuilder::outside(Index i, double computed, double exact, double bound) {
  ++s_.outside;
  note(i, INFINITY, true, computed, exact, bound);
}

void SummaryBuilder::exact(Index i, double c, const mp_real& e, double b) {
  if (isnan(e)) {  // NaN propagation: the oracle's NaN must be matched, whatever the bound
    ++s_.nan_expected;
    if (std::isnan(c)) ++s_.within;
    else outside(i, c, to_double(e), b);
    return;
  }
  if (!isfinite(e)) {  // an exact infinity (from infinite inputs): the same infinity
    if (std::isinf(c) && (c > 0) == (e > 0)) ++s_.within;
    else outside(i, c, to_double(e), b);
    return;
  }
  if (!std::isfinite(c)) {
    // An exact value beyond the format's range rounds to the infinity of its sign: that infinity
    // is the correctly rounded answer, within. (The threshold, max + half an ulp, is a double, so
    // rounding e to double first decides this exactly.)
    const double ed = to_double(e);
    if (std::isinf(c) && std::isinf(round_to_format(ed, format_)) && (c > 0) == (ed > 0)) {
      ++s_.within;
      return;
    }
    // Otherwise NaN or Inf where the oracle is finite: outside, whatever the bound.
    s_.max_abs = s_.max_rel = s_.max_ulps = INFINITY;
    outside(i, c, ed, b);
    return;
  }
  // Both finite: the error is measured whether or not the element can be judged. Boost 1.74
  // gives a result the default precision, not its operands': work at the exact value's precision
  // so that |computed - exact| is formed with no rounding that matters.
  const WorkingPrecision precision(std::max(kMinPrecisionBits, precision_bits(e)) + 64);
  mp_real diff = mp_real(c) - e;
  diff = abs(diff);
  const double err = to_double(diff);
  const double rel = iszero(e) ? (err == 0 ? 0.0 : INFINITY) : to_double(diff / abs(e));
  const double ulps = err / ulp_in(e, format_);
  s_.max_abs = std::max(s_.max_abs, err);
  s_.max_rel = std::max(s_.max_rel, rel);
  s_.max_ulps = std::max(s_.max_ulps, ulps);
  if (!std::isfinite(b)) {  // no finite bound: outside the bound's domain, unjudged
    ++s_.unjudged;
    if (s_.first_unjudged < 0 || i < s_.first_unjudged) s_.first_unjudged = i;
    note(i, -0.5, false, c, to_double(e), b);
    return;
  }
  // The verdict compares exactly: the difference is exact at the oracle's precision up to one
  // rounding, far below a double's resolution of the bound.
  const bool is_outside = diff > mp_real(b);
  const double ratio = b > 0 ? err / b : (err == 0 ? 0.0 : INFINITY);
  ratios_.push_back(ratio);
  s_.max_ratio = std::max(s_.max_ratio, ratio);
  if (is_outside) outside(i, c, to_double(e), b);
  else {
    ++s_.within;
    note(i, ratio, false, c, to_double(e), b);
  }
}

bool SummaryBuilder::enclosed(Index i, double c, double v, double r, double b_lo, double b_hi) {
  if (!std::isfinite(v) || !std::isfinite(r) || std::isnan(b_lo) || std::isnan(b_hi)) return false;
  const double e_lo = v - r * (1 + 0x1p-50) - std::fabs(v) * 0x1p-52;  // <= every exact value
  const double e_hi = v + r * (1 + 0x1p-50) + std::fabs(v) * 0x1p-52;  // >= every exact value
  auto settle = [&] {
    ++s_.enclosed;
    s_.error_uncertainty = std::max(s_.error_uncertainty, r);
  };
  if (!std::isfinite(c)) {
    // The exact value is finite. Within only as the infinity it rounds to (compare's rule), which
    // rounding is monotone: decided when both ends of the enclosure round alike.
    const double lo = round_to_format(e_lo, format_), hi = round_to_format(e_hi, format_);
    const bool both_finite = std::isfinite(lo) && std::isfinite(hi);
    const bool both_same_inf = std::isinf(lo) && lo == hi;
    if (std::isnan(c) || both_finite || (both_same_inf && c != lo)) {
      s_.max_abs = s_.max_rel = s_.max_ulps = INFINITY;
      settle();
      outside(i, c, v, b_lo);
      return true;
    }
    if (both_same_inf && c == lo) {
      settle();
      ++s_.within;
      return true;
    }
    return false;
  }
  // |c - v| in double is within a relative 2^-53 of the true difference d; the bounds on the
  // error |c - exact|, which lies in [d - r, d + r], are rounded outwards.
  const double d = std::fabs(c - v);
  const double err_hi = (d + r) * (1 + 0x1p-50);
  const double err_lo = std::max(0.0, d * (1 - 0x1p-51) - r) * (1 - 0x1p-51);
  if (std::isinf(b_lo) && std::isinf(b_hi)) {  // no finite bound wherever the exact value lies
    settle();
    s_.max_abs = std::max(s_.max_abs, d);
    s_.max_rel = std::max(s_.max_rel, v == 0 ? (d == 0 ? 0.0 : INFINITY) : d / std::fabs(v));
    s_.max_ulps = std::max(s_.max_ulps, d / ulp_in(v, format_));
    ++s_.unjudged;
    if (s_.first_unjudged < 0 || i < s_.first_unjudged) s_.first_unjudged = i;
    note(i, -0.5, false, c, v, b_lo);
    return true;
  }
  if (!std::isfinite(b_lo) || !std::isfinite(b_hi)) return false;
  const bool is_within = err_hi <= b_lo, is_outside = err_lo > b_hi;
  if (!is_within && !is_outside) return false;
  settle();
  s_.max_abs = std::max(s_.max_abs, d);
  s_.max_rel = std::max(s_.max_rel, v == 0 ? (d == 0 ? 0.0 : INFINITY) : d / std::fabs(v));
  s_.max_ulps = std::max(s_.max_ulps, d / ulp_in(v, format_));
  const double ratio = b_lo > 0 ? d / b_lo : (d == 0 ? 0.0 : INFINITY);
  ratios_.push_back(ratio);
  s_.max_ratio = std::max(s_.max_ratio, ratio);
  if (is_outside) outside(i, c, v, b_lo);
  else {
    ++s_.within;
    note(i, ratio, false, c, v, b_lo);
  }
  return true;
}

ErrorSummary SummaryBuilder::finish() {
  if (!ratios_.empty()) {
    auto mid = ratios_.begin() + static_cast<std::ptrdiff_t>(ratios_.size() / 2);
    std::nth_element(ratios_.begin(), mid, ratios_.end());
    s_.median_ratio = *mid;
  }
  ErrorSummary out = std::move(s_);
  s_ = ErrorSummary{};
  ratios_.clear();
  return out;
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
  SummaryBuilder builder(format, exact.count());
  for (Index i = 0; i < exact.count(); ++i)
    builder.exact(i, computed[i], exact[i], bound ? (*bound)[i] : kNaN);
  return builder.finish();
}

}  // namespace touchstone
