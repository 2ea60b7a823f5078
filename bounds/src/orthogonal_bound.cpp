// The orthogonal family's bounds: order/orthogonal_order.hpp over tracked values (spec/orthogonal.md
// [ORTH-BOUND-CPU], [ORTH-BOUND-ANY]).
#include "touchstone/bounds/orthogonal_bound.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "touchstone/core/tracked.hpp"
#include "touchstone/order/orthogonal_order.hpp"

namespace touchstone::orthogonal {

// [ORTH-TRACKED-SQRT] fl(sqrt(x^)) for a computed x^ with exact x in [lo, hi], |x^ - x| <= E:
// |sqrt(x^) - sqrt(x)| <= E / (sqrt(lo - E) + sqrt(lo)) when lo > E, and <= sqrt(E) always
// (|sqrt a - sqrt b| <= sqrt |a - b| for a, b >= 0); plus IEEE's correctly rounded square root:
// u (M + prop) + eta. The image [sqrt(max(lo, 0)), sqrt(hi)] is moved outwards.
Tracked tracked_sqrt(const Tracked& x, const Rounding& r) {
  const double lo = std::max(x.lo, 0.0), hi = std::max(x.hi, 0.0);
  const double slo = std::sqrt(lo), shi = std::sqrt(hi);
  Tracked s{std::max(0.0, tracked_detail::down(slo, slo)), tracked_detail::up(shi, shi), 0};
  double prop = std::sqrt(x.err) * (1 + 0x1p-50);
  if (lo > x.err) {
    const double den = (std::sqrt(lo - x.err) + slo) * (1 - 0x1p-50);
    prop = std::min(prop, x.err / den * (1 + 0x1p-50));
  }
  s.err = prop + r.u * (s.mag() + prop) + r.eta;
  return s;
}

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kTiny = 4.9406564584124654e-324;

// A tracked value and whether it left the bound's domain (an overflow, a divisor whose range
// reaches 0): such an output's bound is +inf.
struct TV {
  Tracked t;
  bool outside = false;
};

// The order header's policy over tracked values. Sequential: each accumulate is one rounded
// addition in the order of the calls ([CORE-TRACKED-ADD]); any order: [CORE-TRACKED-SUM], and
// each division may also be a multiplication by the computed reciprocal.
class TrackedArithmetic {
 public:
  using V = TV;
  struct Acc {
    Tracked seq;
    bool any = false;
    TrackedSum sum;
    bool outside = false;
  };
  explicit TrackedArithmetic(const OrthArithmetic& m) : r_(Rounding::of(format_info(m.compute))), any_order_(m.any_order) {}

  V input(double x) const { return {Tracked::exact(x), false}; }
  V add(const V& a, const V& b) const { return checked(touchstone::add(a.t, b.t, r_), a.outside || b.outside); }
  V sub(const V& a, const V& b) const { return checked(touchstone::sub(a.t, b.t, r_), a.outside || b.outside); }
  V mul(const V& a, const V& b) const { return checked(touchstone::mul(a.t, b.t, r_), a.outside || b.outside); }
  V div(const V& a, const V& b) const {
    const TrackedQuotient q = touchstone::div(a.t, b.t, r_);
    V out = checked(q.value, a.outside || b.outside || !q.defined);
    if (any_order_ && q.defined) {
      const TrackedQuotient recip = touchstone::div(Tracked::exact(1), b.t, r_);
      if (!recip.defined) return {out.t, true};
      const Tracked via_recip = touchstone::mul(a.t, recip.value, r_);
      out.t.err = std::max(out.t.err, via_recip.err);
      out.outside = out.outside || via_recip.overflows(r_);
    }
    return out;
  }
  V sqrt(const V& a) const { return checked(tracked_sqrt(a.t, r_), a.outside); }
  V twice(const V& a) const { return checked({2 * a.t.lo, 2 * a.t.hi, 2 * a.t.err}, a.outside); }
  V neg(const V& a) const { return {{-a.t.hi, -a.t.lo, a.t.err}, a.outside}; }
  // The exact value is known to lie in [-1, 1] (the order header says why at each use).
  V unit(const V& a) const {
    return {{std::max(a.t.lo, -1.0), std::min(a.t.hi, 1.0), a.t.err}, a.outside};
  }
  Acc acc() const { return {}; }
  // Any order: the sum's error is the larger of [CORE-TRACKED-SUM] and the sequential order's, and
  // its range the union of both (the sequential order is one of the orders, and both hold for it;
  // this keeps the any-order bound above the backend's own where the two differ only by their
  // evaluation's rounding: TrackedSum's range is not moved outwards, the sequential one is).
  void accumulate(Acc& s, const V& v) const {
    s.outside = s.outside || v.outside;
    if (any_order_) s.sum.add_term(v.t);
    s.seq = s.any ? touchstone::add(s.seq, v.t, r_) : v.t;
    s.outside = s.outside || s.seq.overflows(r_);
    s.any = true;
  }
  V total(const Acc& s) const {
    if (!s.any) return {Tracked::exact(0), s.outside};
    if (any_order_) {
      Tracked t = s.sum.result(r_);
      t = {std::min(t.lo, s.seq.lo), std::max(t.hi, s.seq.hi), std::max(t.err, s.seq.err)};
      return checked(t, s.outside || s.sum.may_overflow(r_));
    }
    return {s.seq, s.outside};
  }

 private:
  V checked(const Tracked& t, bool outside) const { return {t, outside || t.overflows(r_)}; }
  Rounding r_;
  bool any_order_;
};

// [ORTH-BOUND-EVAL] The bound's own binary64 evaluation: at most `ops` operations per output, each
// with relative error 2^-52 or less on non-negative terms.
double slack_for(double ops) { return std::max(0x1p-20, ops * 0x1p-40); }

double element_bound(const TV& v, double slack) {
  if (v.outside || !std::isfinite(v.t.err)) return kInf;
  return v.t.err * (1 + slack) + kTiny;
}

auto reader(const Tensor<double>& t) {
  return [&t](Index i, Index k) { return t(i, k); };
}

Tensor<double> cwy_columns_bound(const Tensor<double>& v, Index C, const OrthArithmetic& m) {
  const Index L = v.extent(0), N = v.extent(1);
  Tensor<double> out(Shape{N, C}, 0.0);
  TrackedArithmetic ar(m);
  const double slack = slack_for(static_cast<double>(4 * (L + 2) * (L + N + 2)));
  order::cwy_columns(ar, reader(v), L, N, C, [&](Index r, Index c, const TV& x) { out(r, c) = element_bound(x, slack); });
  return out;
}

// [ORTH-HH-ROWNORM] The row-norm bound of the sequential product: E_i bounds ||y^_i - y_i||_2 for
// every row after i reflections (y_i the exact row of H(v_1) ... H(v_i), ||y_i||_2 = 1). An exact
// reflection preserves 2-norms, so E_i <= E_i-1 + ||delta_i||_2 with delta_i the rounding of step i
// applied to the computed row (norm Y <= 1 + E_i-1), bounded with the rounding model including
// underflow (u, eta per product and quotient; sums of N terms gamma_N; spec/orthogonal.md derives each
// term). Every |element error| <= E_L. Valid wherever the tracked run says no intermediate overflows
// and v_i . v_i is bounded away from 0 (the caller takes the smaller bound only there). With
// `any_order`, the dot products may be summed in any order: the same gamma_N covers it (Higham (4.4)).
double householder_rownorm_bound(const Tensor<double>& v, const Rounding& r) {
  const Index L = v.extent(0), N = v.extent(1);
  const double u = r.u, eta = r.eta, n = static_cast<double>(N);
  const double gN = gamma_k(u, n);
  double E = 0;
  for (Index i = 0; i < L; ++i) {
    double nn = 0;  // v . v in binary64: within N 2^-53 relative of the exact (non-negative terms)
    for (Index k = 0; k < N; ++k) nn += v(i, k) * v(i, k);
    const double nlo = nn * (1 - 0x1p-40), nhi = nn * (1 + 0x1p-40);
    const double nv = std::sqrt(nhi) * (1 + 0x1p-50);  // >= ||v_i||_2
    const double Y = 1 + E;                            // >= ||y^||_2
    const double Dn = gN * nhi + (1 + gN) * n * eta;   // |fl(v . v) - v . v|
    if (!(nlo > Dn)) return kInf;
    const double beta = 2 / nlo;                                      // >= 2 / ||v||^2
    const double Db = beta * Dn / (nlo - Dn) * (1 + u) + u * beta + eta;  // |beta^ - beta|
    const double Dw = gN * Y * nv + (1 + gN) * n * eta;              // |w^ - y^ . v|
    const double W = Y * nv + Dw;                                      // >= |w^|
    const double Dt = Db * W + beta * Dw + u * (beta + Db) * W + eta;  // |t^ - beta (y^ . v)|
    const double T = beta * Y * nv + Dt;                               // >= |t^|
    // y^_k - fl(fl(t^ v_k)): -(t^ - beta w) v_k - t^ v_k d3 - e3 + d4 (y^_k - p), in 2-norm:
    const double inner = Dt * nv + u * T * nv + std::sqrt(n) * eta;
    const double delta = inner + u * (Y + inner);
    E = (E + delta) * (1 + 0x1p-48);
  }
  return E;
}

}  // namespace

Tensor<double> householder_product_bound(const ReflectorProblem<double>& p, const OrthArithmetic& m) {
  const Index L = p.L(), N = p.N();
  Tensor<double> out(Shape{N, N}, 0.0);
  TrackedArithmetic ar(m);
  const double slack = slack_for(static_cast<double>(4 * (L + 1) * (N + 2)));
  const double rownorm = householder_rownorm_bound(p.v(), Rounding::of(format_info(m.compute)));
  order::householder_product(ar, reader(p.v()), L, N, [&](Index r, Index c, const TV& x) {
    const double tracked = element_bound(x, slack);
    // [ORTH-HH-ROWNORM] applies where the tracked run stays in its domain (no overflow, v . v > 0).
    out(r, c) = std::isfinite(tracked) ? std::min(tracked, rownorm * (1 + slack) + kTiny) : tracked;
  });
  return out;
}

Tensor<double> householder_product_any_algorithm_bound(const ReflectorProblem<double>& p, Format compute) {
  const OrthArithmetic any{compute, true};
  Tensor<double> out = householder_product_bound(p, any);
  const Tensor<double> via_cwy = cwy_columns_bound(p.v(), p.N(), any);
  for (Index i = 0; i < out.count(); ++i) out[i] = std::max(out[i], via_cwy[i]);
  return out;
}

Tensor<double> cwy_bound(const ReflectorProblem<double>& p, const OrthArithmetic& m) {
  return cwy_columns_bound(p.v(), p.N(), m);
}

Tensor<double> tcwy_bound(const StiefelProblem<double>& p, const OrthArithmetic& m) {
  return cwy_columns_bound(p.v(), p.M(), m);
}

Tensor<double> cwy_apply_bound(const ApplyProblem<double>& p, const OrthArithmetic& m) {
  const Index B = p.B(), L = p.L(), N = p.N();
  Tensor<double> out(Shape{B, N}, 0.0);
  TrackedArithmetic ar(m);
  const double slack = slack_for(static_cast<double>(4 * (L + 2) * (L + N + 2)));
  order::cwy_apply(ar, reader(p.v()), reader(p.h()), B, L, N, p.transpose(),
                   [&](Index b, Index k, const TV& x) { out(b, k) = element_bound(x, slack); });
  return out;
}

Tensor<double> cwy_vjp_bound(const CwyBackwardProblem<double>& p, const OrthArithmetic& m) {
  const Index L = p.L(), N = p.N(), C = p.columns();
  Tensor<double> out(Shape{L, N}, 0.0);
  TrackedArithmetic ar(m);
  const double slack = slack_for(static_cast<double>(8 * (L + 2) * (L + 2) * (L + N + C + 2)));
  order::cwy_vjp(ar, reader(p.v()), reader(p.g()), L, N, C, [&](Index i, Index k, const TV& x) { out(i, k) = element_bound(x, slack); });
  return out;
}

Tensor<double> householder_product_lapack_bound(const LapackProblem<double>& p, const OrthArithmetic& m) {
  Tensor<double> out(Shape{p.m(), p.n()}, 0.0);
  TrackedArithmetic ar(m);
  const double slack = slack_for(static_cast<double>(4 * (p.k() + 1) * (p.m() + 2)));
  order::householder_product_lapack(
      ar, reader(p.a()), [&](Index i) { return p.tau()[i]; }, p.m(), p.n(), p.k(),
      [&](Index r, Index c, const TV& x) { out(r, c) = element_bound(x, slack); });
  return out;
}

}  // namespace touchstone::orthogonal
