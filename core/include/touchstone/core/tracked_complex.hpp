// A-priori error bounds of complex arithmetic, in moduli (spec/core.md [CORE-TRACKED-COMPLEX]).
//
// A CTracked is what we know before running it about one complex quantity an implementation
// computes: the exact value has modulus at most M, and the computed value differs from it by at
// most E in modulus. Each operation returns the CTracked of the operation's result rounded per
// part (real and imaginary part each rounded to the compute format) on computed operands, by the
// rounding model [CORE-ROUND-MODEL]; the constants are Higham's (Accuracy and Stability, 2nd ed.,
// Lemma 3.5 and section 3.6), derived again in spec/core.md. As for Tracked, every error is a sum
// of products of non-negative doubles, whose own rounding in double a consumer covers by a final
// (1 + slack) factor, and moduli are floored at 2^-1074 so that a value that underflows in this
// evaluation still bounds the exact one. `overflows` reports a computed value that may leave the
// format's range (outside the bound's domain: callers turn the bound into +inf).
#pragma once

#include <cmath>
#include <limits>

#include "touchstone/core/tracked.hpp"

namespace touchstone {

struct CTracked {
  double M = 0;  // |exact| <= M
  double E = 0;  // |computed - exact| <= E

  static CTracked exact(double re, double im) { return {std::hypot(re, im) * (1 + 0x1p-52) + kTinyC, 0}; }
  static CTracked exact_real(double x) { return {std::fabs(x) + kTinyC, 0}; }
  // A bound on the computed value's modulus.
  double computed_mag() const { return M + E; }
  // Each part of the computed value may exceed the format's range (or the bound is NaN).
  bool overflows(const Rounding& r) const { return !(computed_mag() <= r.max_finite); }

  static constexpr double kTinyC = 4.9406564584124654e-324;
};

namespace tracked_complex_detail {
constexpr double kSqrt2 = 1.4142135623730951;  // the double above sqrt(2)
}  // namespace tracked_complex_detail

// [CORE-TRACKED-CADD] fl(x + y) per part: the propagated errors, plus u times each part of the
// computed sum, which in modulus is at most u (|x + y| + Ex + Ey). Sums are exact on underflow.
// proved: proofs/theories/ComplexOps.v cadd_tracked (parts of the operands are floats).
inline CTracked add(const CTracked& x, const CTracked& y, const Rounding& r) {
  const double prop = x.E + y.E;
  const double M = x.M + y.M;
  return {M, prop + r.u * (M + prop)};
}

// What mul and mul_real need of the rounding, formed once: sqrt(2) gamma_2 and the underflow
// terms 3 sqrt(2) eta and sqrt(2) eta. In binary64 eta is subnormal, and a product with a
// subnormal result costs far more than an addition of one on some x86 cores (on this project's
// AMD EPYC, s4.ssm_scan's binary64 bound took 3 times as long with them formed at every step). A
// loop of products in one format passes one (bounds/src/s4_conv_bound.cpp, s4d_bound.cpp);
// every value is the same double as mul(x, y, r)'s and mul_real(x, y, r)'s, which form one per call.
struct CMulRounding {
  Rounding r;
  double sqrt2_gamma2, three_sqrt2_eta, sqrt2_eta;
  explicit CMulRounding(const Rounding& rounding)
      : r(rounding), sqrt2_gamma2(tracked_complex_detail::kSqrt2 * gamma_k(rounding.u, 2)),
        three_sqrt2_eta(3 * tracked_complex_detail::kSqrt2 * rounding.eta),
        sqrt2_eta(tracked_complex_detail::kSqrt2 * rounding.eta) {}
};

// [CORE-TRACKED-CMUL] fl(x * y) per part, each part a.c - b.d (or a.d + b.c) formed by two
// products and one addition, or by a product and an fma: per part the error is at most
// gamma_2 (|a c| + |b d|), so in modulus sqrt(2) gamma_2 |x^| |y^| (Higham Lemma 3.5), plus two
// underflow errors per part, 2 (1 + u) eta (3 sqrt(2) eta in modulus), plus the propagated error
// |x^ y^ - x y| <= Mx Ey + Ex My + Ex Ey.
// proved: proofs/theories/ComplexOps.v cmul_tracked (two products and an addition per part,
// u <= 1/2); per part, also the product-and-fma form: ComplexPartBounds.v cmul_part_bound,
// cmul_part_bound_fma.
inline CTracked mul(const CTracked& x, const CTracked& y, const CMulRounding& c) {
  const double prop = x.M * y.E + x.E * y.M + x.E * y.E;
  const double M = x.M * y.M + CTracked::kTinyC;
  return {M, prop + c.sqrt2_gamma2 * (x.M + x.E) * (y.M + y.E) + c.three_sqrt2_eta};
}
// (The same doubles: CMulRounding's constants are these expressions, associated the same way.)
inline CTracked mul(const CTracked& x, const CTracked& y, const Rounding& r) { return mul(x, y, CMulRounding(r)); }

// [CORE-TRACKED-CMUL] x times a real y, each part one product: u |x^ y^| + one underflow per part.
// proved: proofs/theories/ComplexOps.v cmul_real_tracked.
inline CTracked mul_real(const CTracked& x, const Tracked& y, const CMulRounding& c) {
  const double prop = x.M * y.err + x.E * y.mag() + x.E * y.err;
  const double M = x.M * y.mag() + CTracked::kTinyC;
  return {M, prop + c.r.u * (x.M + x.E) * y.computed_mag() + c.sqrt2_eta};
}
inline CTracked mul_real(const CTracked& x, const Tracked& y, const Rounding& r) {
  return mul_real(x, y, CMulRounding(r));
}

// What div needs of the rounding, with sqrt(2) gamma_6 formed once: a loop of divisions in one
// format (bounds/src/s4_bound.cpp) passes one, so that no call (gamma_k's look-up) is left in it;
// every value is the same double as div(x, y, My_low, r)'s.
struct CDivRounding {
  Rounding r;
  double sqrt2_gamma6;
  explicit CDivRounding(const Rounding& rounding)
      : r(rounding), sqrt2_gamma6(tracked_complex_detail::kSqrt2 * gamma_k(rounding.u, 6)) {}
};

// [CORE-TRACKED-CDIV] fl(x / y) by the textbook formula ((a c + b d) + i (b c - a d)) / (c^2 + d^2),
// each part's numerator two products and an addition (or a product and an fma), the
// denominator two squares and an addition, then one division per part. Domain: the computed
// divisor is away from 0 (My_low > Ey) with |y^|^2 >= 2^emin / u, so that an underflowing
// square changes the denominator by at most u^2 relative (folded into one more rounding), and
// |x^| |y^| and |y^|^2 do not overflow; outside it E = +inf. Inside it, per part the rounding
// error is at most gamma_6 (|a c| + |b d|) / |y^|^2, so sqrt(2) gamma_6 |x^| / |y^| in modulus
// (spec/core.md derives it), plus the numerator products' underflow, 2 (1 + u) eta per part
// divided by the computed denominator (>= |y^|^2 (1 - gamma_3)), and the quotient's own, eta per
// part. Propagated: |x^/y^ - x/y| <= (Ex |y| + |x| Ey) / (|y| |y^|), with |y| >= My_low, the
// caller's lower bound on the exact divisor's modulus, and |y^| >= My_low - Ey.
// proved: proofs/theories/ComplexOps.v cdiv_tracked (u <= 1/32; its domain E <= u^2 yl^2 / 2 is
// the check yc_low^2 (1 - 4u) >= 2 eta / u^2 below), per part ComplexPartBounds.v
// cdiv_part_bound_gamma6.
inline CTracked div(const CTracked& x, const CTracked& y, double My_low, const CDivRounding& c) {
  using namespace tracked_complex_detail;
  constexpr double inf = std::numeric_limits<double>::infinity();
  const Rounding& r = c.r;
  const double yc_low = My_low - y.E;  // lower bound on |y^|
  const double yc_high = y.M + y.E, xc = x.M + x.E;
  const double min_normal = 2 * r.eta / r.u;  // 2^(emin + 1) >= 2^emin (2 eta is exact)
  const double M = x.M / std::max(My_low, CTracked::kTinyC) + CTracked::kTinyC;
  if (!(yc_low > 0) || !(yc_high * yc_high * (1 + 4 * r.u) <= r.max_finite) ||
      !(xc * yc_high * (1 + 4 * r.u) <= r.max_finite) ||
      !(yc_low * yc_low * (1 - 4 * r.u) >= min_normal / r.u))
    return {M, inf};
  const double prop = (x.E * My_low + x.M * y.E) / (My_low * yc_low) * (1 + 0x1p-50);
  const double round = c.sqrt2_gamma6 * xc / yc_low;
  const double under = kSqrt2 * (3 * r.eta / (yc_low * yc_low) + 2 * r.eta);
  return {M, prop + round + under};
}
inline CTracked div(const CTracked& x, const CTracked& y, double My_low, const Rounding& r) {
  return div(x, y, My_low, CDivRounding(r));
}

// [CORE-TRACKED-CSUM] A sum of k computed complex terms in an order the bound does not fix:
// per part |computed - exact| <= sum_i E_i + gamma_(k-1) sum_i |part_i^| (Higham (4.4)), and by
// Minkowski's inequality the parts' bounds combine to sum_i E_i + gamma_(k-1) sum_i (M_i + E_i)
// in modulus. Accumulate terms, then `result`.
// proved: proofs/theories/TreeSum.v tree_csum_bound (any order; sequential: SeqSumModulus.v
// seq_csum_bound).
class CTrackedSum {
 public:
  void add_term(const CTracked& t) {
    M_ += t.M;
    E_ += t.E;
    size_ += t.computed_mag();
    ++count_;
  }
  bool may_overflow(const Rounding& r) const {
    return !(size_ * (1 + gamma_k(r.u, static_cast<double>(count_))) <= r.max_finite);
  }
  CTracked result(const Rounding& r) const {
    const double g = count_ > 1 ? gamma_k(r.u, static_cast<double>(count_ - 1)) : 0.0;
    // The bound's own binary64 sums round to nearest: raised by their relative rounding, as
    // TrackedSum's are.
    const double own = 1 + static_cast<double>(count_ + 2) * 0x1p-52;
    return {M_ * own, (E_ + g * size_) * own};
  }

 private:
  double M_ = 0, E_ = 0, size_ = 0;
  long long count_ = 0;
};

// The two libm calls of [CORE-TRACKED-CEXP]'s `exp` (below), which depend on `re` alone:
// e^(re.hi) rounded up, and expm1(re.err). A caller that needs e^x for one `re` and many errors
// of the imaginary part (S4D's any-order model, modes sharing a real part) computes them once.
struct CExpOfRe {
  double ehi = 0, expm1_err = 0;
};
inline CExpOfRe exp_of_re(const Tracked& re) {
  // One expm1 call (the compiler may not merge two: expm1 may set errno).
  return {std::exp(re.hi) * (1 + 0x1p-48) + CTracked::kTinyC, std::expm1(re.err)};
}
// `exp(re, im_err, ulps, r)` (below) from `exp_of_re(re)`: the same bits.
inline CTracked exp(const CExpOfRe& of_re, double im_err, double ulps, const Rounding& r) {
  using namespace tracked_complex_detail;
  const double ehi = of_re.ehi, expm1_err = of_re.expm1_err;
  const double e_exp = ehi * expm1_err + ulps * (2 * r.u * ehi * (1 + expm1_err) + 2 * r.eta);
  const double e_cs = std::min(im_err, 2.0) + ulps * (2 * r.u + 2 * kSqrt2 * r.eta);
  const double m = ehi + e_exp;  // computed |e^Re| bound
  // (m^)(cs^) - e^re e^(i im): propagated ehi e_cs + e_exp (1 + e_cs), then one rounding per part.
  const double prop = ehi * e_cs + e_exp * (1 + e_cs);
  return {ehi, prop + r.u * m * (1 + e_cs) + kSqrt2 * r.eta};
}
// [CORE-TRACKED-CEXP] e^x computed as e^(Re x^) (cos(Im x^) + i sin(Im x^)), with exp, cos and
// sin each within `ulps` ulps and the two products rounded: `re` is the Tracked of the real part
// of the argument (its range and error), `im_err` the error of the imaginary part's argument.
// |e^(x^) - e^x| <= e^(hi) (expm1(E_re) + min(E_im, 2)) + the functions' and products' roundings.
// Not proved in Coq (the functions' ulp bounds are measured or assumed; spec/core.md argues it).
inline CTracked exp(const Tracked& re, double im_err, double ulps, const Rounding& r) {
  return exp(exp_of_re(re), im_err, ulps, r);
}

}  // namespace touchstone
