// A-priori error bounds by tracking every operation (spec/core.md [CORE-TRACKED]).
//
// A Tracked is what we know, before running it, about one quantity an implementation computes:
// the exact value lies in [lo, hi] and the computed value differs from it by at most err. Each
// operation below returns the Tracked of the rounded result of that operation on computed
// operands, by the rounding model [CORE-ROUND-MODEL] and its corollaries [CORE-ROUND-MUL],
// [CORE-ROUND-FMA], [CORE-TRACKED-ADD], [CORE-TRACKED-ELEMENTARY]. Running an algorithm over
// Tracked in the order an implementation uses gives that implementation's bound for every
// intermediate and output, with the inputs' magnitudes (LAProof style, evaluated per element).
//
// Evaluation: every error is a sum of products of non-negative doubles (no cancellation), whose
// own rounding in double is relative 2^-53 per operation, which the consumer covers with a final
// (1 + slack) factor; interval endpoints are rounded outwards (tracked_detail) ([MAMBA-SCAN-BOUND-EVAL] argues it for the
// scan). Magnitudes are floored at 2^-1074 so that a value that underflows in this evaluation
// still bounds the exact one. An overflow of the compute format is reported by `overflows`
// (outside the bound's domain: callers turn the bound into +inf).
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>

#include "touchstone/core/formats.hpp"

namespace touchstone {

namespace tracked_detail {
// gamma_k for float32's and binary64's unit roundoffs and k = 0 .. kGammaTable, evaluated once by
// the same expression at run time (u read through a volatile, so that the compiler does not fold
// log1p with its own rounding): a bound evaluates gamma_k for every operation it tracks, two libm
// calls each, mostly for a few small k.
constexpr int kGammaTable = 256;
struct GammaTable {
  double f32[kGammaTable + 1], f64[kGammaTable + 1];
  GammaTable() {
    volatile double u32 = 0x1p-24, u64 = 0x1p-53;
    const double l32 = std::log1p(u32), l64 = std::log1p(u64);
    for (int k = 0; k <= kGammaTable; ++k) {
      f32[k] = std::expm1(static_cast<double>(k) * l32);
      f64[k] = std::expm1(static_cast<double>(k) * l64);
    }
  }
};
inline const GammaTable& gamma_table() {
  static const GammaTable table;
  return table;
}
}  // namespace tracked_detail

// gamma_k = (1 + u)^k - 1, the growth of k roundings (Higham's gamma_k without its first-order
// approximation ku / (1 - ku)), evaluated as expm1(k log1p(u)) (from a table of the same values
// for the usual u and small integer k).
inline double gamma_k(double u, double k) {
  if (k >= 0 && !std::signbit(k) && k <= tracked_detail::kGammaTable && k == static_cast<double>(static_cast<int>(k))) {
    if (u == 0x1p-24) return tracked_detail::gamma_table().f32[static_cast<int>(k)];
    if (u == 0x1p-53) return tracked_detail::gamma_table().f64[static_cast<int>(k)];
  }
  return std::expm1(k * std::log1p(u));
}

struct Rounding {
  double u;    // unit roundoff of the compute format
  double eta;  // underflow term (never below 2^-1074: binary64's 2^-1075 is not a double)
  double max_finite;
  static Rounding of(const FormatInfo& f) {
    constexpr double tiny = 4.9406564584124654e-324;
    return {f.u, std::max(f.eta, tiny), std::min(f.max_finite, std::numeric_limits<double>::max())};
  }
};

struct Tracked {
  double lo = 0, hi = 0;  // the exact value is in [lo, hi]
  double err = 0;         // |computed - exact| <= err

  static Tracked exact(double x) { return {x, x, 0}; }
  // An exact value known only to lie in [lo, hi] (a range, not a value).
  static Tracked range(double lo, double hi) { return {lo, hi, 0}; }
  double mag() const { return std::max(std::fabs(lo), std::fabs(hi)) + 4.9406564584124654e-324; }
  // A bound on the computed value's magnitude.
  double computed_mag() const { return mag() + err; }
  // True when the computed value may exceed the format's range (or is NaN here).
  bool overflows(const Rounding& r) const { return !(computed_mag() <= r.max_finite); }
};

namespace tracked_detail {
// The interval endpoints are computed in binary64 rounded to nearest; each is moved outwards by
// 2^-51 of the magnitudes that formed it (twice a rounding's worst, so the move itself is safe)
// and by the smallest subnormal, so that [lo, hi] holds the exact value for certain.
constexpr double kOutward = 0x1p-51, kTinyD = 4.9406564584124654e-324;
inline double down(double v, double scale) { return v - kOutward * scale - kTinyD; }
inline double up(double v, double scale) { return v + kOutward * scale + kTinyD; }

inline Tracked interval_mul(const Tracked& x, const Tracked& y) {
  const double a = x.lo * y.lo, b = x.lo * y.hi, c = x.hi * y.lo, d = x.hi * y.hi;
  const double lo = std::min({a, b, c, d}), hi = std::max({a, b, c, d});
  return {down(lo, std::fabs(lo)), up(hi, std::fabs(hi)), 0};
}
inline Tracked interval_add(const Tracked& x, const Tracked& y) {
  return {down(x.lo + y.lo, std::fabs(x.lo) + std::fabs(y.lo)),
          up(x.hi + y.hi, std::fabs(x.hi) + std::fabs(y.hi)), 0};
}
// An image computed by the C library (within a few ulps): moved out by 2^-48 relative.
inline Tracked libm_image(double lo, double hi) {
  return {lo - 0x1p-48 * std::fabs(lo) - kTinyD, hi + 0x1p-48 * std::fabs(hi) + kTinyD, 0};
}
}  // namespace tracked_detail

// 2 x, exact in binary floating point unless it overflows: the caller checks that
// (Tracked::overflows), as for every operation.
inline Tracked twice(const Tracked& x) { return {2 * x.lo, 2 * x.hi, 2 * x.err}; }

// [CORE-TRACKED-ADD] fl(x + y): sums are exact on underflow, so no eta.
// proved: proofs/theories/RoundOps.v add_bound_result_mag (computed operands are floats of the
// format; M = s.mag() >= |x + y|), sub: RoundOps.v sub_bound_result_mag.
inline Tracked add(const Tracked& x, const Tracked& y, const Rounding& r) {
  Tracked s = tracked_detail::interval_add(x, y);
  const double prop = x.err + y.err;
  s.err = prop + r.u * (s.mag() + prop);
  return s;
}
inline Tracked sub(const Tracked& x, const Tracked& y, const Rounding& r) {
  return add(x, Tracked{-y.hi, -y.lo, y.err}, r);
}

// [CORE-TRACKED-SUM] A sum of k computed terms in an order the bound does not fix (a reduction
// across channels or batch): |computed - exact| <= sum E_i + gamma_(k-1) sum (M_i + E_i), with
// gamma_j = (1+u)^j - 1 (Higham, Accuracy and Stability, (4.4), for any order of pairwise sums;
// no eta: sums are exact on underflow). Accumulate terms, then `result`.
// proved: proofs/theories/TreeSum.v tree_sum_bound (M_i + E_i <= computed_mag()).
// The running sums of the bound itself are kept rigorous too: the endpoints are moved outwards at
// every addition as the other tracked intervals are (tracked_detail::down/up), and the error and
// size sums, which binary64 rounds to nearest, are raised by their relative rounding
// (count x 2^-52) in `result`.
class TrackedSum {
 public:
  void add_term(const Tracked& t) { add_term(t, t.computed_mag(), 1); }
  // A term that enters the reduction as `summands` separate computed summands (a complex
  // product's real part: two rounded products): the reduction's rounding grows with their
  // magnitudes, at most `summands_mag` together, which may exceed the term's own by cancellation.
  void add_term(const Tracked& t, double summands_mag, long long summands) {
    lo_ = tracked_detail::down(lo_ + t.lo, std::fabs(lo_) + std::fabs(t.lo));
    hi_ = tracked_detail::up(hi_ + t.hi, std::fabs(hi_) + std::fabs(t.hi));
    err_ += t.err;
    size_ += std::max(summands_mag, t.computed_mag());
    count_ += summands;
    ++additions_;
  }
  // True when a partial sum, in some order, may exceed the format's range: every partial sum is
  // at most the sum of the terms' computed magnitudes (times 1 + gamma).
  bool may_overflow(const Rounding& r) const {
    return !(size_ * (1 + gamma_k(r.u, static_cast<double>(count_))) <= r.max_finite);
  }
  // A sum whose terms were added elsewhere by the same steps as add_term (bounds/tracked_products.hpp
  // adds many sums' terms at once, in arrays): its running state.
  static TrackedSum of_state(double lo, double hi, double err, double size, long long count, long long additions) {
    TrackedSum s;
    s.lo_ = lo;
    s.hi_ = hi;
    s.err_ = err;
    s.size_ = size;
    s.count_ = count;
    s.additions_ = additions;
    return s;
  }
  Tracked result(const Rounding& r) const {
    const double gamma = count_ > 1 ? gamma_k(r.u, static_cast<double>(count_ - 1)) : 0.0;
    const double own = 1 + static_cast<double>(additions_ + 2) * 0x1p-52;  // this sum's own roundings
    return {lo_, hi_, (err_ + gamma * size_) * own};
  }

 private:
  double lo_ = 0, hi_ = 0, err_ = 0, size_ = 0;
  long long count_ = 0, additions_ = 0;
};

// The propagated error of x * y (no rounding): |x^ y^ - x y| <= Mx Ey + Ex My + Ex Ey.
// proved: proofs/theories/RoundOps.v mul_err_bound.
inline double product_propagation(const Tracked& x, const Tracked& y) {
  return x.mag() * y.err + x.err * y.mag() + x.err * y.err;
}

// [CORE-ROUND-MUL] fl(x * y): prop + u (M + prop) + eta with M = p.mag() >= |x y|.
// proved: proofs/theories/RoundOps.v mul_bound_result_mag.
inline Tracked mul(const Tracked& x, const Tracked& y, const Rounding& r) {
  Tracked p = tracked_detail::interval_mul(x, y);
  const double prop = product_propagation(x, y);
  p.err = prop + r.u * (p.mag() + prop) + r.eta;
  return p;
}

// [CORE-ROUND-FMA] fl(x * y + z), one rounding: prop + u (M + prop) + eta with
// M = p.mag() >= |x y + z|.
// proved: proofs/theories/RoundOps.v fma_bound_result_mag.
inline Tracked fma(const Tracked& x, const Tracked& y, const Tracked& z, const Rounding& r) {
  Tracked p = tracked_detail::interval_add(tracked_detail::interval_mul(x, y), Tracked{z.lo, z.hi, 0});
  const double prop = product_propagation(x, y) + z.err;
  p.err = prop + r.u * (p.mag() + prop) + r.eta;
  return p;
}

// An exact operation's result (no rounding): x * y and x + y with propagated errors only.
// proved: proofs/theories/RoundOps.v mul_err_bound.
inline Tracked exact_mul(const Tracked& x, const Tracked& y) {
  Tracked p = tracked_detail::interval_mul(x, y);
  p.err = product_propagation(x, y);
  return p;
}

// One more rounding of a computed value (for example to a narrower storage format).
// proved: proofs/theories/RoundOps.v round_bound (in r's format, M = x.mag()).
inline Tracked round_to(const Tracked& x, const Rounding& r) {
  Tracked y = x;
  y.err = x.err + r.u * x.computed_mag() + r.eta;
  return y;
}

// [CORE-TRACKED-ELEMENTARY] f evaluated within `ulps` ulps on a computed argument:
// |f^(x^) - f(x)| <= lip * Ex + ulps * (2u |f(x^)| + 2 eta), where lip bounds |f'| between x and
// x^, and the image [lo, hi] of the exact argument's range is given by the caller (f's
// monotonicity or extrema). Not proved in Coq: the ulp bounds of the functions are measured or
// assumed (spec/mamba.md [MAMBA-SCAN-ELEMENTARY]), the slopes are argued in spec/core.md.
inline Tracked elementary(double image_lo, double image_hi, double lip, const Tracked& x,
                          double ulps, const Rounding& r) {
  Tracked f = tracked_detail::libm_image(image_lo, image_hi);
  const double prop = lip * x.err;
  f.err = prop + ulps * (2 * r.u * (f.mag() + prop) + 2 * r.eta);
  return f;
}

// exp: increasing; between x and x^ the slope is at most e^(hi + err), and
// |e^x^ - e^x| <= e^x expm1(Ex) <= e^hi expm1(Ex) is the sharper form used.
inline Tracked exp(const Tracked& x, double ulps, const Rounding& r) {
  const double ehi = std::exp(x.hi) * (1 + 0x1p-48);
  Tracked f = tracked_detail::libm_image(std::exp(x.lo), ehi);
  const double prop = ehi * std::expm1(x.err);
  f.err = prop + ulps * (2 * r.u * (f.mag() + prop) + 2 * r.eta);
  return f;
}

// [CORE-TRACKED-DIV] fl(x / y) for y's computed and exact values bounded away from 0
// (m_y = min |y| over [lo, hi] > E_y): |x^/y^ - x/y| <= (E_x |y| + |x| E_y) / (|y^| |y|)
// <= E_x / (m_y - E_y) + M_x E_y / ((m_y - E_y) m_y), plus the rounding u (M(x/y) + prop) + eta.
// Returns nullopt-like `defined = false` when y's range (widened by E_y) reaches 0: outside the
// bound's domain (the caller reports +inf).
struct TrackedQuotient {
  Tracked value;
  bool defined = false;
};
inline TrackedQuotient div(const Tracked& x, const Tracked& y, const Rounding& r) {
  const bool positive = y.lo > 0, negative = y.hi < 0;
  if (!positive && !negative) return {};
  const double my = positive ? y.lo : -y.hi;
  if (!(my > y.err)) return {};
  const double a = x.lo / y.lo, b = x.lo / y.hi, c = x.hi / y.lo, d = x.hi / y.hi;
  const double lo = std::min({a, b, c, d}), hi = std::max({a, b, c, d});
  Tracked q{tracked_detail::down(lo, std::fabs(lo)), tracked_detail::up(hi, std::fabs(hi)), 0};
  const double gap = (my - y.err) * (1 - 0x1p-51);  // a lower bound of |y^| in the evaluation
  const double prop = (x.err / gap + x.mag() * y.err / (gap * my)) * (1 + 0x1p-50);
  q.err = prop + r.u * (q.mag() + prop) + r.eta;
  return {q, std::isfinite(q.err) && std::isfinite(q.mag())};
}

// [CORE-TRACKED-MAX] max(x^, y^) of two computed values: max is 1-Lipschitz in each argument, so
// |max(x^, y^) - max(x, y)| <= max(E_x, E_y); no rounding.
inline Tracked max(const Tracked& x, const Tracked& y) {
  return {std::max(x.lo, y.lo), std::max(x.hi, y.hi), std::max(x.err, y.err)};
}

// sigmoid(x) = 1 / (1 + e^-x): increasing, slope <= 1/4. Below -700, e^-x would overflow
// binary64 (past -709.78) and e^x underflow before x e^x does, so sigmoid and silu are evaluated
// there in x87 extended precision (e^x normal) and rounded once.
inline double sigmoid_value(double x) {
  if (x < -700) {
    const long double e = std::exp(static_cast<long double>(x));
    return static_cast<double>(e / (1 + e));
  }
  return 1 / (1 + std::exp(-x));
}
inline Tracked sigmoid(const Tracked& x, double ulps, const Rounding& r) {
  return elementary(sigmoid_value(x.lo), sigmoid_value(x.hi), 0.25, x, ulps, r);
}

// silu(x) = x sigmoid(x): decreasing below x* = -1.2784645..., increasing above, minimum
// silu(x*) = -0.2784645...; |silu'| <= 1.0998.
inline double silu_value(double x) {
  if (x < -700) {
    const long double xl = x, e = std::exp(xl);
    return static_cast<double>(xl * e / (1 + e));
  }
  return x * sigmoid_value(x);
}
inline Tracked silu(const Tracked& x, double ulps, const Rounding& r) {
  constexpr double xstar = -1.2784645427610738, fstar = -0.27846454276107380;
  double lo = std::min(silu_value(x.lo), silu_value(x.hi));
  const double hi = std::max(silu_value(x.lo), silu_value(x.hi));
  if (x.lo <= xstar && xstar <= x.hi) lo = fstar;
  return elementary(lo - 1e-16, hi, 1.0998, x, ulps, r);
}

// The thresholded softplus of [MAMBA-SCAN-SOFTPLUS]: x above 20, else log1p(e^x); slope <= 1,
// increasing on each side of 20, where it drops by log1p(e^-20) < 2.0612e-9 (a computed
// argument may cross the threshold when its error reaches it).
inline double softplus_value(double x) { return x > 20 ? x : std::log1p(std::exp(x)); }
inline Tracked softplus_thresholded(const Tracked& x, double ulps, const Rounding& r) {
  constexpr double jump = 2.0612e-9;
  const bool straddles = x.lo <= 20 && x.hi > 20;
  Tracked f = tracked_detail::libm_image(
      straddles ? std::min(softplus_value(x.lo), 20.0) : softplus_value(x.lo),
      straddles ? std::max(x.hi, 20 + jump) : softplus_value(x.hi));
  double prop = x.err;
  if (x.err > 0 && x.lo - x.err <= 20 && x.hi + x.err >= 20) prop += jump;
  const bool evaluates = x.lo - x.err <= 20;  // else the computed branch is x itself: no error
  f.err = prop + (evaluates ? ulps * (2 * r.u * (f.mag() + prop) + 2 * r.eta) : 0.0);
  return f;
}

}  // namespace touchstone
