// The orthogonal family's bounds: order/orthogonal_order.hpp over tracked values (spec/orthogonal.md
// [ORTH-BOUND-CPU], [ORTH-BOUND-ANY]).
#include "touchstone/bounds/orthogonal_bound.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "touchstone/bounds/elementary_ulps.hpp"
#include "touchstone/bounds/tracked_policy.hpp"
#include "touchstone/bounds/tracked_products.hpp"
#include "touchstone/core/tracked.hpp"
#include "touchstone/order/orthogonal_order.hpp"

namespace touchstone::orthogonal {
namespace {
constexpr double kInfinity = std::numeric_limits<double>::infinity();
}

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

using bounds::element_bound;
using bounds::slack_for;
using bounds::TV;

// [ORTH-CWY-NORMWISE] Z >= |S'^-1| element by element for every upper-triangular S' with diagonal
// 1/2 whose strict upper triangle lies in the tracked ranges of S widened by their errors (so for
// the exact S and for the computed S^ alike). S' = (I + N') / 2 with N' = 2 striu(S'); X~ is the
// binary64 inverse of I + N~ at the midpoint; with R = I - X~ (I + N'), |R| <= |fl(I - X~ (I + N~))|
// + gamma_(L+2) (I + |X~| |I + N~|) + |X~| |N' - N~|, rho = ||R||_inf < 1/2, and
// (I + N')^-1 = sum_k R^k X~, so |(I + N')^-1| <= |X~| + rho / (1 - rho) ||X~||_inf.
struct InverseEnclosure {
  std::vector<double> z;  // L x L, row-major
  bool valid = false;
};

// The parts of solve_bound that depend on S and the direction only (one per S and transpose, not per
// right-hand side), each matrix laid out by columns of the sums it enters (entry (i, j) at j L + i),
// so that the per-right-hand-side sums below run over i in the inner loop (each sum still adds its
// terms in the same order, by the same operations: the same bits).
struct SolveTables {
  std::vector<double> z;     // z(i, j) at j L + i
  std::vector<double> sabs;  // |M^_ik| + |M^_ik - M_ik|'s bound (sabs(i, k)) at k L + i
  std::vector<double> serr;  // |M^_jk - M_jk| at k L + j
  std::vector<double> zs;    // (Z |M^| 1)_i
  double kappa = 0;
  bool valid = false;
};

// The order header's policy over tracked values: the shared operations (bounds/tracked_policy.hpp)
// and the orthogonal family's own. Sequential: each accumulate is one rounded addition in the
// order of the calls ([CORE-TRACKED-ADD]); any order: [CORE-TRACKED-SUM] (see accumulate). This one
// runs the order header's loops; TrackedArithmetic below adds the array paths (the bounds use it).
class ScalarTrackedArithmetic : public bounds::TrackedPolicy {
 public:
  static constexpr bool kRefinesSolves = true;
  struct Acc {
    Tracked seq;
    bool any = false;
    TrackedSum sum;
    bool outside = false;
  };
  explicit ScalarTrackedArithmetic(const OrthArithmetic& m)
      : TrackedPolicy(m.compute, m.any_order),
        sincos_ulps_(std::max(m.compute == Format::float64 ? kSinCosF64Ulps : kSinCosF32Ulps, m.elementary_ulps)) {}

  // [ORTH-MATCH-BOUND] sin and cos as [PERF-TRIG-BOUND]: 1-Lipschitz, the image over [lo, hi] from the
  // endpoints and any extremum inside, within sincos_ulps (the backends' glibc functions, float32
  // rounding the binary64 result: kSinCosF32Ulps; binary64: kSinCosF64Ulps, [CORE-ASSUME-LIBM-F64]).
  V sin(const V& a) const { return sincos(a, 0); }
  V cos(const V& a) const { return sincos(a, 1); }

  V sqrt(const V& a) const { return checked(tracked_sqrt(a.t, r_), a.outside); }
  V twice(const V& a) const { return checked(touchstone::twice(a.t), a.outside); }
  // The exact value is known to lie in [-1, 1] (the order header says why at each use).
  V unit(const V& a) const {
    return {{std::max(a.t.lo, -1.0), std::min(a.t.hi, 1.0), a.t.err}, a.outside};
  }
  // [ORTH-EXP-TRUNC] An error of the method: the exact value now meant is within e of the one
  // tracked (the truncated series' sum), so the range widens by e and the error grows by e.
  V method_error(const V& a, double e) const {
    const double lo = std::nextafter(a.t.lo - e, -kInfinity), hi = std::nextafter(a.t.hi + e, kInfinity);
    return checked({lo, hi, (a.t.err + e) * (1 + 0x1p-52)}, a.outside);
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
  // [ORTH-CWY-NORMWISE] After each substitution with S: the normwise bound of the solution from the
  // right-hand side, taken per component where tighter, and the exact |w| <= Z |b| intersected with
  // the tracked range (both hold for the same computed values).
  // (order::solve_s's hook; the order header's solves go through solve_s_columns, which refines too.)
  void refine_solve(const std::vector<V>& s, Index L, const std::vector<V>& rhs, std::vector<V>& x, bool transpose) const {
    refine_with(tables_for(s, L, transpose), L, rhs, x);
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

 protected:
  // sin (phase 0) or cos (phase 1) of a tracked argument; the extrema of sin lie at pi/2 + k pi, of
  // cos at k pi; one may lie in [lo, hi] when some k has it within (decided with a margin).
  V sincos(const V& a, int phase) const {
    const double lo = a.t.lo, hi = a.t.hi;
    if (!std::isfinite(lo) || !std::isfinite(hi)) return {Tracked::exact(0), true};
    auto f = [&](double x) { return phase == 0 ? std::sin(x) : std::cos(x); };
    double flo = std::min(f(lo), f(hi)), fhi = std::max(f(lo), f(hi));
    constexpr double kPi = 3.141592653589793;
    const double shift = phase == 0 ? kPi / 2 : 0.0;
    const double margin = 1e-12 * (1 + std::max(std::fabs(lo), std::fabs(hi)));
    const double k_lo = std::ceil((lo - shift - margin) / kPi), k_hi = std::floor((hi - shift + margin) / kPi);
    if (hi - lo >= 2 * kPi || k_hi - k_lo >= 1) {
      flo = -1;
      fhi = 1;
    } else if (k_lo == k_hi) {
      const bool even = std::fmod(std::fabs(k_lo), 2.0) == 0;
      (even ? fhi : flo) = even ? 1.0 : -1.0;
    }
    return checked(elementary(std::max(flo, -1.0), std::min(fhi, 1.0), 1.0, a.t, sincos_ulps_, r_), a.outside);
  }
  double sincos_ulps_;
  const SolveTables& tables_for(const std::vector<V>& s, Index L, bool transpose) const;
  void refine_with(const SolveTables& tb, Index L, const std::vector<V>& rhs, std::vector<V>& x) const;
  // The enclosure of |S^-1| for the last S seen (one per run of the order), and its solve tables
  // (S, then S^T).
  mutable std::vector<V> cached_s_;
  mutable InverseEnclosure cached_enclosure_;
  mutable SolveTables cached_tables_[2];
  mutable bool tables_built_[2] = {false, false};
};

// [CORE-PRODUCT-SUMS] [ORTH-CWY-SOLVE-COLUMNS] The bounds' policy: the order header's sums that do
// not depend on one another formed a row at a time in arrays (bounds/tracked_products.hpp), every
// element by the operations of the loops they replace (tests/orthogonal/cwy_arrays_test.cpp checks
// both policies give the same bits). `row_keep` is what the row sums of solve_s_columns and
// cwy_vjp_du keep (the accumulate's {any order, sequential}; another only for that test's control).
class TrackedArithmetic : public ScalarTrackedArithmetic {
 public:
  explicit TrackedArithmetic(const OrthArithmetic& m) : ScalarTrackedArithmetic(m), row_keep_{m.any_order, true} {}
  TrackedArithmetic(const OrthArithmetic& m, bounds::ProductSumsKeep row_keep)
      : ScalarTrackedArithmetic(m), row_keep_(row_keep) {}
  // [CORE-PRODUCT-SUMS] shared_order::product_sums a row of sums at a time: accumulate keeps the sequential
  // sum always and the order-free one for any order.
  template <class First, class Lead, class X, class Y, class Out>
  void product_sums(Index rows, Index cols, Index inner, const First& first, const Lead& lead, const X& x, const Y& y,
                    Out&& out) const {
    bounds::tracked_product_sums(*this, {any_order_, true}, rows, cols, inner, first, lead, x, y, out);
  }
  // [ORTH-CWY-SOLVE-COLUMNS] order::solve_s_columns: solve_s_steps on K columns at once, row i of
  // every column together ([CORE-PRODUCT-SUMS]'s row sums: each term -fl(s_ij x_j) as
  // fl((-s_ij) x_j), the same tracked value), then refine_solve per column.
  void solve_s_columns(const std::vector<V>& s, Index L, std::vector<V>& x, Index K, bool transpose) const;
  // [ORTH-CWY-SOLVE-COLUMNS] order::cwy_vjp_du: a row of du at a time, its columns k < C (two
  // leading terms) and k >= C (one) as two row sums.
  void cwy_vjp_du(const std::vector<V>& u, const std::vector<V>& x1, const std::vector<V>& x3, const std::vector<V>& pm,
                  Index L, Index N, Index C, std::vector<V>& du) const;
 private:
  bounds::ProductSumsKeep row_keep_;
};

// [ORTH-BOUND-EVAL] element_bound and slack_for: bounds/tracked_policy.hpp.

auto reader(const Tensor<double>& t) {
  return [&t](Index i, Index k) { return t(i, k); };
}


// [ORTH-CWY-NORMWISE] Z for the tracked S (InverseEnclosure above says how).
InverseEnclosure inverse_enclosure(const std::vector<TV>& s, Index L) {
  const std::size_t LL = static_cast<std::size_t>(L * L);
  std::vector<double> nt(LL, 0.0), rad(LL, 0.0), x(LL, 0.0);
  for (Index i = 0; i < L; ++i)
    for (Index j = i + 1; j < L; ++j) {
      const TV& t = s[i * L + j];
      if (t.outside || !std::isfinite(t.t.err)) return {};
      nt[i * L + j] = t.t.lo + t.t.hi;  // about 2 x the midpoint (any value works: rad covers the rest)
      // |N' - nt| <= 2 (half-width + error) + the rounding of lo + hi, evaluated upwards
      rad[i * L + j] = ((t.t.hi - t.t.lo) + 2 * t.t.err + 0x1p-52 * std::fabs(nt[i * L + j])) * (1 + 0x1p-50);
    }
  // X~ by back substitution, column j's x_ij = delta_ij - sum_k>i nt_ik x_kj in k order; every
  // column's x_ij formed together (the loop over j innermost: each element's operations the same).
  for (Index i = L - 1; i >= 0; --i) {
    double* xi = x.data() + i * L;
    for (Index j = 0; j < L; ++j) xi[j] = i == j ? 1.0 : 0.0;
    for (Index k = i + 1; k < L; ++k) {
      const double n = nt[i * L + k];
      const double* xk = x.data() + k * L;
      for (Index j = 0; j < L; ++j) xi[j] -= n * xk[j];
    }
  }
  const double g = gamma_k(0x1p-53, static_cast<double>(L + 2));
  double rho = 0, xinf = 0;
  // Row i's sums over k for every j together (each in k order, as one j at a time would add them).
  std::vector<double> acc(static_cast<std::size_t>(L)), mag(static_cast<std::size_t>(L)),
      spread(static_cast<std::size_t>(L));
  for (Index i = 0; i < L; ++i) {
    const double* xi = x.data() + i * L;
    for (Index j = 0; j < L; ++j) {
      acc[j] = (i == j ? 1.0 : 0.0) - xi[j];
      mag[j] = (i == j ? 1.0 : 0.0) + std::fabs(xi[j]);
      spread[j] = 0;
    }
    for (Index k = 0; k < L; ++k) {
      const double xik = xi[k], axik = std::fabs(xi[k]);
      const double* nk = nt.data() + k * L;
      const double* rk = rad.data() + k * L;
      for (Index j = 0; j < L; ++j) {
        acc[j] -= xik * nk[j];
        mag[j] += std::fabs(xik * nk[j]);
        spread[j] += axik * rk[j];
      }
    }
    double row = 0, xrow = 0;
    for (Index j = 0; j < L; ++j) {
      row += std::fabs(acc[j]) + g * mag[j] + spread[j];
      xrow += std::fabs(xi[j]);
    }
    rho = std::max(rho, row);
    xinf = std::max(xinf, xrow);
  }
  rho *= 1 + 1e-10;
  xinf *= 1 + 1e-10;
  if (!(rho < 0.5)) return {};
  InverseEnclosure e{std::vector<double>(LL), true};
  const double extra = rho / (1 - rho) * xinf;
  for (std::size_t i = 0; i < LL; ++i) e.z[i] = 2 * (std::fabs(x[i]) + extra) * (1 + 1e-10);
  return e;
}

// [ORTH-CWY-NORMWISE] The substitution w^ = S^-1 b^ (transpose: S^-T) as the order header computes
// it, for tracked right-hand sides b (|b| <= B, |b^ - b| <= e_b) and tracked S: S^ w^ = b^ + r with
// |r| <= gamma_L (|b^| + |S^| |w^|) + L eta (1 + gamma_L) (each term of row i's sum rounded at most
// L times, in any order; products may underflow), so
//   w^ - w = S^-1... = S^^-1 [(b^ - b) + r - (S^ - S) w],  |w| <= Z B,
//   |w^| <= a + gamma_L Z |S^| 1 ||a||_inf / (1 - kappa),  a = Z (|b^| (1 + gamma_L) + L eta (1 + gamma_L)),
// kappa = gamma_L ||Z |S^|||_inf < 1/2. Returns per component the error bound and |w^|'s bound.
struct SolveBound {
  std::vector<double> err, mag, exact;  // |w^ - w|, |w^|, |w| bounds
  bool valid = false;
};

SolveTables solve_tables(const InverseEnclosure& zi, const std::vector<TV>& s, Index L, bool transpose,
                         const Rounding& r) {
  if (!zi.valid) return {};
  auto z = [&](Index i, Index j) { return transpose ? zi.z[j * L + i] : zi.z[i * L + j]; };
  // |M_ij| and |M^_ij - M_ij| of the matrix solved (S or S^T).
  auto entry = [&](Index i, Index j) -> const TV* {
    const Index a = transpose ? j : i, c = transpose ? i : j;
    return a < c ? &s[a * L + c] : nullptr;
  };
  auto sabs = [&](Index i, Index j) {
    if (i == j) return 0.5;
    const TV* t = entry(i, j);
    return t ? t->t.mag() + t->t.err : 0.0;
  };
  auto serr = [&](Index i, Index j) {
    const TV* t = entry(i, j);
    return t && i != j ? t->t.err : 0.0;
  };
  const double gL = gamma_k(r.u, static_cast<double>(L));
  const std::size_t LL = static_cast<std::size_t>(L * L);
  SolveTables out{std::vector<double>(LL), std::vector<double>(LL), std::vector<double>(LL),
                  std::vector<double>(static_cast<std::size_t>(L), 0.0), 0, true};
  for (Index i = 0; i < L; ++i)
    for (Index j = 0; j < L; ++j) {
      out.z[j * L + i] = z(i, j);
      out.sabs[j * L + i] = sabs(i, j);
      out.serr[j * L + i] = serr(i, j);
    }
  // Row j's sum of |M^| (the same sum, in the same order, for every i: formed once, so that a
  // solve costs L^2 here and not L^3).
  std::vector<double> rowsum(L, 0.0);
  for (Index j = 0; j < L; ++j)
    for (Index k = 0; k < L; ++k) rowsum[j] += sabs(j, k);
  for (Index i = 0; i < L; ++i) {
    for (Index j = 0; j < L; ++j) out.zs[i] += z(i, j) * rowsum[j];
    out.kappa = std::max(out.kappa, gL * out.zs[i]);
  }
  return out;
}

// [ORTH-CWY-NORMWISE] The substitution w^ = S^-1 b^ (transpose: S^-T) as the order header computes
// it, for tracked right-hand sides b (|b| <= B, |b^ - b| <= e_b) and tracked S: S^ w^ = b^ + r with
// |r| <= gamma_L (|b^| + |S^| |w^|) + L eta (1 + gamma_L) (each term of row i's sum rounded at most
// L times, in any order; products may underflow), so
//   w^ - w = S^-1... = S^^-1 [(b^ - b) + r - (S^ - S) w],  |w| <= Z B,
//   |w^| <= a + gamma_L Z |S^| 1 ||a||_inf / (1 - kappa),  a = Z (|b^| (1 + gamma_L) + L eta (1 + gamma_L)),
// kappa = gamma_L ||Z |S^|||_inf < 1/2. Returns per component the error bound and |w^|'s bound.
// (The S-only parts come from solve_tables; every sum below adds its terms in index order.)
SolveBound solve_bound(const SolveTables& tb, const std::vector<TV>& b, Index L, const Rounding& r) {
  if (!tb.valid) return {};
  const double gL = gamma_k(r.u, static_cast<double>(L)), etaL = static_cast<double>(L) * r.eta * (1 + gL);
  std::vector<double> B(L), eb(L), bh(L), wx(L, 0.0), a(L, 0.0), wh(L), rho(L);
  for (Index i = 0; i < L; ++i) {
    if (b[i].outside || !std::isfinite(b[i].t.err)) return {};
    B[i] = b[i].t.mag();
    eb[i] = b[i].t.err;
    bh[i] = B[i] + eb[i];
  }
  const double kappa = tb.kappa;
  if (!(kappa < 0.5)) return {};
  const double* z = tb.z.data();
  for (Index j = 0; j < L; ++j) {
    const double bj = B[j], cj = bh[j] * (1 + gL) + etaL;
    const double* zj = z + j * L;
    for (Index i = 0; i < L; ++i) wx[i] += zj[i] * bj;
    for (Index i = 0; i < L; ++i) a[i] += zj[i] * cj;
  }
  double ainf = 0;
  for (Index i = 0; i < L; ++i) ainf = std::max(ainf, a[i]);
  // The evaluation (non-negative terms, at most 3 L^2 operations per component) is covered by 1e-12.
  for (double& t : wx) t *= 1 + 1e-12;
  SolveBound out{std::vector<double>(L, 0.0), std::vector<double>(L), wx, true};
  for (Index i = 0; i < L; ++i) wh[i] = out.mag[i] = (a[i] + gL * tb.zs[i] * ainf / (1 - kappa)) * (1 + 1e-12);
  std::vector<double> t(bh);
  for (Index k = 0; k < L; ++k) {
    const double* sk = tb.sabs.data() + k * L;
    const double whk = wh[k];
    for (Index i = 0; i < L; ++i) t[i] += sk[i] * whk;
  }
  for (Index i = 0; i < L; ++i) rho[i] = gL * t[i] + etaL;
  // Row j's |b^ - b| + |r| + |S^ - S| |w| (independent of i: formed once, as rowsum).
  std::vector<double> perturbation(L);
  for (Index j = 0; j < L; ++j) perturbation[j] = eb[j] + rho[j];
  for (Index k = 0; k < L; ++k) {
    const double* ek = tb.serr.data() + k * L;
    const double wxk = wx[k];
    for (Index j = 0; j < L; ++j) perturbation[j] += ek[j] * wxk;
  }
  for (Index j = 0; j < L; ++j) {
    const double* zj = z + j * L;
    const double pj = perturbation[j];
    for (Index i = 0; i < L; ++i) out.err[i] += zj[i] * pj;
  }
  for (Index i = 0; i < L; ++i) out.err[i] *= 1 + 1e-12;
  return out;
}

// The enclosure of |S^-1| and the solve tables for s (recomputed only when s is not the one seen last).
const SolveTables& ScalarTrackedArithmetic::tables_for(const std::vector<V>& s, Index L, bool transpose) const {
  bool same = cached_s_.size() == s.size();
  for (std::size_t i = 0; same && i < s.size(); ++i)
    same = s[i].outside == cached_s_[i].outside && s[i].t.lo == cached_s_[i].t.lo && s[i].t.hi == cached_s_[i].t.hi &&
           s[i].t.err == cached_s_[i].t.err;
  if (!same) {
    cached_enclosure_ = inverse_enclosure(s, L);
    cached_s_ = s;
    cached_tables_[0] = cached_tables_[1] = SolveTables{};
    tables_built_[0] = tables_built_[1] = false;
  }
  const int d = transpose ? 1 : 0;
  if (!tables_built_[d]) {
    cached_tables_[d] = solve_tables(cached_enclosure_, s, L, transpose, r_);
    tables_built_[d] = true;
  }
  return cached_tables_[d];
}

void ScalarTrackedArithmetic::refine_with(const SolveTables& tb, Index L, const std::vector<V>& rhs, std::vector<V>& x) const {
  if (!tb.valid) return;
  // The normwise analysis is of the whole computed vector: it needs every component in the domain.
  for (Index i = 0; i < L; ++i)
    if (x[i].outside) return;
  const SolveBound w = solve_bound(tb, rhs, L, r_);
  if (!w.valid) return;
  for (Index i = 0; i < L; ++i) {
    if (!std::isfinite(w.err[i]) || !std::isfinite(w.exact[i])) continue;
    Tracked& t = x[i].t;
    t.err = std::min(t.err, w.err[i]);
    const double lo = std::max(t.lo, -w.exact[i]), hi = std::min(t.hi, w.exact[i]);
    if (lo <= hi) t.lo = lo, t.hi = hi;
  }
}

void TrackedArithmetic::solve_s_columns(const std::vector<V>& s, Index L, std::vector<V>& x, Index K,
                                        bool transpose) const {
  if (L == 0 || K == 0) return;
  const std::vector<V> rhs = x;
  const std::size_t n = static_cast<std::size_t>(L * K);
  // The solved rows' values as arrays (row j at j K), for the products with them.
  bounds::TrackedArrays xs(n);
  bounds::TrackedRowSums sums(r_, row_keep_);
  for (Index step = 0; step < L; ++step) {
    const Index i = transpose ? step : L - 1 - step;
    sums.start(K);
    sums.add_values([&](Index c) { return x[i * K + c]; }, 0, K);
    const Index first = transpose ? 0 : i + 1, count = transpose ? i : L - 1 - i;
    for (Index t = 0; t < count; ++t) {
      const Index j = first + t;
      const std::size_t row = static_cast<std::size_t>(j * K);
      sums.add_products(neg(s[transpose ? j * L + i : i * L + j]), xs, row, 0, K);
    }
    for (Index c = 0; c < K; ++c) {
      const std::size_t e = static_cast<std::size_t>(i * K + c);
      x[e] = twice(total(sums.acc(c, acc())));
      xs.set(e, x[e]);
    }
  }
  const SolveTables& tb = tables_for(s, L, transpose);
  std::vector<V> b(static_cast<std::size_t>(L)), w(static_cast<std::size_t>(L));
  for (Index c = 0; c < K; ++c) {
    for (Index i = 0; i < L; ++i) b[i] = rhs[i * K + c], w[i] = x[i * K + c];
    refine_with(tb, L, b, w);
    for (Index i = 0; i < L; ++i) x[i * K + c] = w[i];
  }
}

void TrackedArithmetic::cwy_vjp_du(const std::vector<V>& u, const std::vector<V>& x1, const std::vector<V>& x3,
                                   const std::vector<V>& pm, Index L, Index N, Index C, std::vector<V>& du) const {
  const std::size_t n = static_cast<std::size_t>(L * N);
  bounds::TrackedArrays us(n);
  for (std::size_t e = 0; e < n; ++e) us.set(e, u[e]);
  // Columns k < C: -x1_ik, then -x3_ik, then the products; k >= C: -x1_ik, then the products.
  bounds::TrackedRowSums two_leads(r_, row_keep_), one_lead(r_, row_keep_);
  for (Index i = 0; i < L; ++i) {
    two_leads.start(N);
    one_lead.start(N);
    two_leads.add_values([&](Index k) { return neg(x1[i * N + k]); }, 0, C);
    two_leads.add_values([&](Index k) { return neg(x3[i * C + k]); }, 0, C);
    if (C < N) one_lead.add_values([&](Index k) { return neg(x1[i * N + k]); }, C, N);
    for (Index j = 0; j < L; ++j) {
      if (j == i) continue;
      const V& d = j > i ? pm[i * L + j] : pm[j * L + i];
      const std::size_t row = static_cast<std::size_t>(j * N);
      two_leads.add_products(d, us, row, 0, C);
      if (C < N) one_lead.add_products(d, us, row, C, N);
    }
    for (Index k = 0; k < N; ++k)
      du[i * N + k] = total(k < C ? two_leads.acc(k, acc()) : one_lead.acc(k, acc()));
  }
}

Tensor<double> cwy_columns_bound(const Tensor<double>& v, Index C, const OrthArithmetic& m) {
  const Index L = v.extent(0), N = v.extent(1);
  Tensor<double> out(Shape{N, C}, 0.0);
  TrackedArithmetic ar(m);
  const double slack = slack_for(static_cast<double>(4 * (L + 2) * (L + N + 2)));
  order::cwy_columns(ar, reader(v), L, N, C, [&](Index row, Index c, const TV& x) { out(row, c) = element_bound(x, slack); });
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
    // v . v in binary64: N non-negative terms, so within gamma_N of binary64 relative, (N + 4) 2^-52
    // with room for this line's own roundings, and N 2^-1074 for squares that underflow. (A fixed
    // 2^-40 held only for N <= 2^13.)
    double nn = 0;
    for (Index k = 0; k < N; ++k) nn += v(i, k) * v(i, k);
    const double rel = (n + 4) * 0x1p-52, underflow = n * 0x1p-1074;
    const double nlo = std::max(0.0, nn * (1 - rel) - underflow), nhi = (nn + underflow) * (1 + rel);
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

// The order header's policy on binary64 for [ORTH-FLOW-NORMWISE]'s reference run (the cpu-f64
// backend's arithmetic: one IEEE rounding per operation, -ffp-contract=off, glibc's sin and cos).
struct Binary64Run {
  using V = double;
  using Acc = double;
  static V input(double x) { return x; }
  static V add(V a, V b) { return a + b; }
  static V sub(V a, V b) { return a - b; }
  static V mul(V a, V b) { return a * b; }
  static V div(V a, V b) { return a / b; }
  static V neg(V a) { return -a; }
  static V sqrt(V a) { return std::sqrt(a); }
  static V twice(V a) { return a + a; }
  static V unit(V a) { return a; }
  static V sin(V a) { return std::sin(a); }
  static V cos(V a) { return std::cos(a); }
  static Acc acc() { return 0.0; }
  static void accumulate(Acc& s, V t) { s = s + t; }
  static V total(Acc s) { return s; }
};

// [ORTH-FLOW-NORMWISE] e_T >= ||X^_T - X_T||_F for the flow (re-projection: `reproject`), in binary64 over
// non-negative terms (spec/orthogonal.md derives each line). With E_t = X^_t - X_t, per pair p = (i, j)
// of step t's round, Z_p = X^_t,p Rot(theta(X^_t)) - X_t,p Rot(theta(X_t)) and E_t+1,p = Z_p + delta_p,
// delta_p the rounding of one step from X^_t (G's sums, the angle's, cos and sin within `sincos_ulps`,
// the rotation's products). The exact angle is linear in X (theta = -eta R (b_i . x_j - x_i . b_j) / 2,
// B = A^T Y: the quadratic term X^T A^T A X is symmetric and cancels), so with beta_p =
// sqrt(|b_i|^2 + |b_j|^2), P >= ||X_t,p||_F (the exact trajectory keeps X0's singular values) and
// lambda_p = |eta| R beta_p P / 2:
//   ||Z_p||_F <= (1 + lambda_p) ||E_p||_F                                          (Lipschitz), and
//   ||Z_p||_F^2 <= Lambda_p ||E_p||_F^2, Lambda_p = 1 + lambda_p^2 + |eta| R (beta_p P - tau_p) / 2 + h.o.,
// tau_p <= sign(eta) (x_i . b_i + x_j . b_j) at the exact X_t (the cross term's sign; from a binary64
// run of the flow within its own bound e~_t of the exact trajectory). Then e_t+1 = g_t e_t + ||delta_t||_F with g_t
// the smaller factor, maximized over the round's pairs.
class FlowNormwise {
 public:
  FlowNormwise(const FlowProblem<double>& p, const OrthArithmetic& arith, double sincos_ulps)
      : p_(p), own_arith_(arith) {
    const Format compute = arith.compute;
    const Index N = p.N(), M = p.M(), K = p.K();
    const double n = static_cast<double>(N), k = static_cast<double>(K);
    const double g64N = 2 * gamma_k(0x1p-53, n), g64K = 2 * gamma_k(0x1p-53, k);  // doubled: the abs sums' own rounding
    // The data's norms (binary64; the signed sums' rounding bounded explicitly, the rest by the slack).
    for (Index i = 0; i < p.x0().count(); ++i) F0_ += p.x0()[i] * p.x0()[i];
    for (Index i = 0; i < p.a().count(); ++i) alpha_ += p.a()[i] * p.a()[i];
    for (Index i = 0; i < p.y().count(); ++i) nu_y_ += p.y()[i] * p.y()[i];
    F0_ = std::sqrt(F0_), alpha_ = std::sqrt(alpha_), nu_y_ = std::sqrt(nu_y_);
    // ||X0||_2^2 = ||X0^T X0||_2 <= ||X0^T X0||_inf (symmetric), its entries within their rounding.
    // (Row i's sums over q for every c together, the loop over c innermost: each sum in q order.)
    double sigma2 = 0;
    const double* x0 = p.x0().data();
    std::vector<double> sums(static_cast<std::size_t>(M)), mags(static_cast<std::size_t>(M));
    for (Index i = 0; i < M; ++i) {
      std::fill(sums.begin(), sums.end(), 0.0);
      std::fill(mags.begin(), mags.end(), 0.0);
      for (Index q = 0; q < N; ++q) {
        const double xqi = x0[q * M + i];
        const double* xq = x0 + q * M;
        for (Index c = 0; c < M; ++c) {
          sums[c] += xqi * xq[c];
          mags[c] += std::fabs(xqi * xq[c]);
        }
      }
      double row = 0;
      for (Index c = 0; c < M; ++c) row += std::fabs(sums[c]) + g64N * mags[c] + n * kTiny;
      sigma2 = std::max(sigma2, row);
    }
    P_ = std::min(F0_, std::sqrt(2 * sigma2));
    // B^ = fl(A^T Y) with |B^ - B| <= berr_ entrywise, and |b_m|_2 <= bnorm_m for the exact columns.
    bhat_.assign(static_cast<std::size_t>(N * M), 0.0);
    berr_.assign(static_cast<std::size_t>(N * M), 0.0);
    bnorm_.assign(static_cast<std::size_t>(M), 0.0);
    // (Row q of B^ for every m together, the loop over m innermost: each sum in c order, and each
    // bnorm_m adds its terms in q order, as before.)
    const double* yd = p.y().data();
    for (Index q = 0; q < N; ++q) {
      std::fill(sums.begin(), sums.end(), 0.0);
      std::fill(mags.begin(), mags.end(), 0.0);
      for (Index c = 0; c < K; ++c) {
        const double acq = p.a()(c, q);
        const double* yc = yd + c * M;
        for (Index m = 0; m < M; ++m) {
          sums[m] += acq * yc[m];
          mags[m] += std::fabs(acq * yc[m]);
        }
      }
      for (Index m = 0; m < M; ++m) {
        const std::size_t at = static_cast<std::size_t>(q * M + m);
        bhat_[at] = sums[m];
        berr_[at] = g64K * mags[m] + k * kTiny;
        const double b = std::fabs(sums[m]) + berr_[at];
        bnorm_[static_cast<std::size_t>(m)] += b * b;
      }
    }
    for (double& b : bnorm_) b = std::sqrt(b);
    R_ = matching_rounds(M);
    etaR_ = std::fabs(p.eta()) * static_cast<double>(R_);
    own_ = Local(Rounding::of(format_info(compute)), sincos_ulps);
    ref_ = Local(Rounding::of(format_info(Format::float64)), kSinCosF64Ulps);
  }

  // e_T, or +inf outside the domain.
  double run() {
    const Index N = p_.N(), M = p_.M(), K = p_.K(), T = p_.steps();
    // The reference run: binary64, the backends' order ([ORTH-FLOW-CPU]) step by step.
    Binary64Run ar;
    std::vector<double> x(p_.x0().data(), p_.x0().data() + p_.x0().count()), g(static_cast<std::size_t>(N * M)),
        res(static_cast<std::size_t>(K * M));
    for (Index t = 0; t < T; ++t) {
      const std::vector<double> before = x;
      // Each sum in the order above (n, then k ascending); a row's columns m together, so that the
      // loop over m is innermost and contiguous (the same operations per element).
      for (Index k = 0; k < K; ++k) {
        double* rk = res.data() + k * M;
        for (Index m = 0; m < M; ++m) rk[m] = 0;
        for (Index n = 0; n < N; ++n) {
          const double akn = p_.a()(k, n);
          const double* xn = x.data() + n * M;
          for (Index m = 0; m < M; ++m) rk[m] = rk[m] + akn * xn[m];
        }
        for (Index m = 0; m < M; ++m) rk[m] = rk[m] - p_.y()(k, m);
      }
      for (Index n = 0; n < N; ++n) {
        double* gn = g.data() + n * M;
        for (Index m = 0; m < M; ++m) gn[m] = 0;
        for (Index k = 0; k < K; ++k) {
          const double akn = p_.a()(k, n);
          const double* rk = res.data() + k * M;
          for (Index m = 0; m < M; ++m) gn[m] = gn[m] + akn * rk[m];
        }
      }
      order::matching_rotate(ar, x, g, N, M, p_.eta(), flow_round(p_.seed(), t, R_));
      step(t, before);
      if (p_.reproject() > 0 && (t + 1) % p_.reproject() == 0) {
        reproject(x);
        x = order::qf_values(ar, x, N, M);
      }
    }
    if (!std::isfinite(e_)) return kInf;
    // The evaluation: at most 100 operations per step and pair on non-negative terms, and the data's sums.
    const double ops = 100.0 * static_cast<double>((T + 1) * (M + 1)) +
                       static_cast<double>(M * M * N + M * N * K + N * M + K * N + K * M);
    return e_ * (1 + slack_for(ops)) + kTiny;
  }

 private:
  // A format's constants for one step's rounding.
  struct Local {
    Local() = default;
    Local(const Rounding& r_, double ulps) : r(r_) {
      const double u = r.u;
      d_sincos = 2 * ulps * u + 2 * std::sqrt(2.0) * ulps * r.eta;  // |(c^, s^) - (cos, sin)(theta^)|_2
      cs = std::sqrt(2.0) * (1 + d_sincos);                          // >= |c^| + |s^|
    }
    Rounding r{};
    double d_sincos = 0, cs = 0;
  };

  // ||delta_t||_F for a computed X^ with ||X^||_F <= Xf and ||X^_p||_F <= Xp, in the format of `f`;
  // +inf where an intermediate may overflow.
  double local(const Local& f, double Xf, double Xp, std::size_t pairs) const {
    const double u = f.r.u, eta_u = f.r.eta, n = static_cast<double>(p_.N()), k = static_cast<double>(p_.K()),
                 m = static_cast<double>(p_.M());
    const double gN = gamma_k(u, n), gN1 = gamma_k(u, n + 1), gK = gamma_k(u, k), g2 = gamma_k(u, 2);
    const double c_eta = etaR_ * (1 + u) + eta_u, dc_eta = u * etaR_ + eta_u;  // |fl(eta R)|, |fl(eta R) - eta R|
    const double Rn = alpha_ * Xf + nu_y_;                                      // ||A X^ - Y||_F
    const double DR = gN1 * Rn + std::sqrt(k * m) * (1 + gN1) * n * eta_u;      // ||R^ - (A X^ - Y)||_F
    const double Rh = Rn + DR;                                                  // ||R^||_F
    const double DG = gK * alpha_ * Rh + alpha_ * DR + std::sqrt(n * m) * (1 + gK) * k * eta_u;  // ||G^ - G(X^)||_F
    const double Gh = alpha_ * Rn + DG;                                         // ||G^||_F
    const double Wm = Xp * Gh / 2;                                              // |omega*| (with G^)
    const double Dab = gN * Xp * Gh + 2 * (1 + gN) * n * eta_u;                 // the two dot products
    const double Dd = Dab + u * (2 * Wm + Dab);                                 // fl(a^ - b^) - 2 omega*
    const double Domega = Dd / 2 + u * (Wm + Dd / 2) + eta_u;                   // omega^ - omega*
    const double omega_h = Wm + Domega;
    const double Dtheta = u * c_eta * omega_h + eta_u + dc_eta * omega_h + etaR_ * (Domega + Xp * DG / 2);
    const double big = 4 * std::max({Rh, alpha_ * Rh, Xp * Gh, Xf, Gh, (c_eta + 1) * (omega_h + 1)});
    if (!(big < f.r.max_finite)) return kInf;
    return Xf * (Dtheta + f.d_sincos + g2 * f.cs) +
           std::sqrt(static_cast<double>(pairs)) * 2 * (1 + u) * eta_u * std::sqrt(2 * n);
  }

  // The growth factor of step t's round for an error of Frobenius norm at most e, given tau_lo per pair.
  double growth(const std::vector<std::pair<Index, Index>>& pairs, const std::vector<double>& tau_lo, double e) const {
    double lipschitz = 0, lambda2 = 0;
    for (std::size_t q = 0; q < pairs.size(); ++q) {
      const double bi = bnorm_[static_cast<std::size_t>(pairs[q].first)], bj = bnorm_[static_cast<std::size_t>(pairs[q].second)];
      const double beta = std::sqrt(bi * bi + bj * bj), lambda = etaR_ * beta * P_ / 2, h = etaR_ * beta / 2;
      lipschitz = std::max(lipschitz, lambda);
      // beta P - tau may cancel: the binary64 rounding of beta, P and tau_lo (relative, at most (N + K + M)
      // 2^-52 each, below 1e-10 for extents below 2^20) is added explicitly rather than left to the slack.
      const double cross = std::isfinite(tau_lo[q])
                               ? std::max(0.0, beta * P_ - tau_lo[q]) + 1e-10 * (beta * P_ + std::fabs(tau_lo[q]))
                               : 2 * beta * P_;
      lambda2 = std::max(lambda2, lambda * lambda + etaR_ * cross / 2 + h * h * (P_ * e + etaR_ * beta * P_ * e * e / 6));
    }
    return std::min(1 + lipschitz, std::sqrt(1 + lambda2));
  }

  void step(Index t, const std::vector<double>& xref) {
    if (!std::isfinite(e_) || !std::isfinite(eref_)) {
      e_ = eref_ = kInf;
      return;
    }
    const Index N = p_.N(), M = p_.M();
    const auto pairs = round_robin_matching(M, flow_round(p_.seed(), t, R_));
    if (pairs.empty()) return;
    // sign(eta) tau_p(X_t) >= sign(eta) tau(X~_t) - its evaluation's error - beta_p e~_t (eta < 0 runs
    // the flow uphill: the cross term's sign turns with eta's).
    std::vector<double> tau_lo(pairs.size(), -kInf);
    const double g64 = 2 * gamma_k(0x1p-53, 2.0 * static_cast<double>(N));
    for (std::size_t q = 0; q < pairs.size(); ++q) {
      const Index i = pairs[q].first, j = pairs[q].second;
      double sum = 0, mag = 0, berr = 0;
      for (Index r = 0; r < N; ++r)
        for (const Index c : {i, j}) {
          const std::size_t at = static_cast<std::size_t>(r * M + c);
          sum += bhat_[at] * xref[at];
          mag += std::fabs(bhat_[at] * xref[at]);
          berr += berr_[at] * std::fabs(xref[at]);
        }
      const double bi = bnorm_[static_cast<std::size_t>(i)], bj = bnorm_[static_cast<std::size_t>(j)];
      const double lo = (p_.eta() < 0 ? -sum : sum) - (g64 * mag + berr + 2 * static_cast<double>(N) * kTiny) * (1 + 1e-10) -
                        std::sqrt(bi * bi + bj * bj) * eref_ * (1 + 1e-10);
      if (std::isfinite(lo)) tau_lo[q] = lo;
    }
    const double e = e_, eref = eref_;
    e_ = growth(pairs, tau_lo, e) * e + local(own_, F0_ + e, P_ + e, pairs.size());
    eref_ = growth(pairs, tau_lo, eref) * eref + local(ref_, F0_ + eref, P_ + eref, pairs.size());
  }

  // A re-projection X = qf(X) after a step: the computed X^ is within e of the exact X, which lies
  // within e~ of the reference run's X~ (entrywise, as the Frobenius norms bound every entry). The
  // tracked modified Gram-Schmidt ([ORTH-QR-BOUND]) on inputs with those ranges and errors bounds every
  // entry of qf(X^) (computed) - qf(X) (exact); its Frobenius norm is the new e. Likewise e~ for the
  // reference run's own qf in binary64. The exact X then has orthonormal columns: F0 = sqrt(M), P = sqrt(2).
  void reproject(const std::vector<double>& xref) {
    const Index N = p_.N(), M = p_.M();
    const double spread = eref_ * (1 + 0x1p-50);
    const auto through_qf = [&](const OrthArithmetic& m, double err) {
      if (!std::isfinite(err) || !std::isfinite(spread)) return kInf;
      TrackedArithmetic tar(m);
      std::vector<TV> in;
      in.reserve(xref.size());
      for (const double v : xref)
        in.push_back({{tracked_detail::down(v - spread, std::fabs(v) + spread), tracked_detail::up(v + spread, std::fabs(v) + spread), err},
                      false});
      const std::vector<TV> q = order::qf_values(tar, in, N, M);
      const double slack = slack_for(8.0 * static_cast<double>((M + 2) * (N + 2)));
      double sum = 0;
      for (const TV& v : q) {
        const double b = element_bound(v, slack);
        sum += b * b;
      }
      return std::sqrt(sum) * (1 + 0x1p-48);
    };
    const double e = through_qf(own_arith_, e_);
    eref_ = through_qf(OrthArithmetic{Format::float64, false, 0}, eref_);
    e_ = e;
    F0_ = std::sqrt(static_cast<double>(M)) * (1 + 0x1p-50);
    P_ = std::min(F0_, std::sqrt(2.0) * (1 + 0x1p-50));
  }

  const FlowProblem<double>& p_;
  double F0_ = 0, alpha_ = 0, nu_y_ = 0, P_ = 0, etaR_ = 0;
  Index R_ = 1;
  std::vector<double> bhat_, berr_, bnorm_;
  Local own_, ref_;
  OrthArithmetic own_arith_;
  double e_ = 0, eref_ = 0;  // the bounds for the compute format and for the binary64 reference run
};

double flow_normwise(const FlowProblem<double>& p, const OrthArithmetic& arith, double sincos_ulps) {
  const Format compute = arith.compute;
  // The inputs are values of the compute format (as the tracked bound's `input` assumes): else +inf.
  const auto representable = [&](const Tensor<double>& t) {
    for (Index i = 0; i < t.count(); ++i)
      if (!representable_in(t[i], compute)) return false;
    return true;
  };
  if (!representable(p.x0()) || !representable(p.a()) || !representable(p.y()) || !representable_in(p.eta(), compute))
    return kInf;
  return FlowNormwise(p, arith, sincos_ulps).run();
}

}  // namespace

double householder_rownorm_bound(const ReflectorProblem<double>& p, Format compute) {
  return householder_rownorm_bound(p.v(), Rounding::of(format_info(compute)));
}

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

std::vector<double> cwy_inverse_enclosure(const ReflectorProblem<double>& p, Format compute) {
  TrackedArithmetic ar(OrthArithmetic{compute, false});
  const auto f = order::cwy_factors(ar, reader(p.v()), p.L(), p.N());
  InverseEnclosure e = inverse_enclosure(f.s, p.L());
  return e.valid ? e.z : std::vector<double>{};
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

namespace {
template <class Ar>
std::vector<TV> cwy_tracked_run(Ar& ar, CwyRun run, const Tensor<double>& v, const Tensor<double>& second, Index C,
                                bool transpose) {
  const Index L = v.extent(0), N = v.extent(1);
  std::vector<TV> out;
  if (run == CwyRun::columns) {
    out.resize(static_cast<std::size_t>(N * C));
    order::cwy_columns(ar, reader(v), L, N, C, [&](Index r, Index c, const TV& x) { out[r * C + c] = x; });
  } else if (run == CwyRun::apply) {
    const Index B = second.extent(0);
    out.resize(static_cast<std::size_t>(B * N));
    order::cwy_apply(ar, reader(v), reader(second), B, L, N, transpose,
                     [&](Index b, Index k, const TV& x) { out[b * N + k] = x; });
  } else {
    out.resize(static_cast<std::size_t>(L * N));
    order::cwy_vjp(ar, reader(v), reader(second), L, N, second.extent(1),
                   [&](Index i, Index k, const TV& x) { out[i * N + k] = x; });
  }
  return out;
}
}  // namespace

std::vector<TV> cwy_tracked_outputs(CwyRun run, CwyPaths paths, const OrthArithmetic& m, const Tensor<double>& v,
                                    const Tensor<double>& second, Index C, bool transpose) {
  if (paths == CwyPaths::loops) {
    ScalarTrackedArithmetic ar(m);
    return cwy_tracked_run(ar, run, v, second, C, transpose);
  }
  // The control keeps the order-free sum only: the sequential one, which total() uses, is missing.
  TrackedArithmetic ar = paths == CwyPaths::arrays ? TrackedArithmetic(m) : TrackedArithmetic(m, {true, false});
  return cwy_tracked_run(ar, run, v, second, C, transpose);
}

Tensor<double> householder_product_lapack_bound(const LapackProblem<double>& p, const OrthArithmetic& m) {
  Tensor<double> out(Shape{p.m(), p.n()}, 0.0);
  TrackedArithmetic ar(m);
  const double slack = slack_for(static_cast<double>(4 * (p.k() + 1) * (p.m() + 2)));
  // [ORTH-LAPACK-NORMWISE] per column, its own domain checked (it needs no tracked range: at the
  // bench size the tracked ranges overflow while the normwise bound stays below 1).
  const std::vector<double> normwise = householder_product_lapack_normwise(p, m.compute);
  order::householder_product_lapack(
      ar, reader(p.a()), [&](Index i) { return p.tau()[i]; }, p.m(), p.n(), p.k(),
      [&](Index r, Index c, const TV& x) { out(r, c) = std::min(element_bound(x, slack), normwise[c]); });
  return out;
}

Tensor<double> cayley_bound(const CayleyProblem<double>& p, const OrthArithmetic& m) {
  const Index n = p.n();
  Tensor<double> out(Shape{n, n}, 0.0);
  TrackedArithmetic ar(m);
  const double slack = slack_for(static_cast<double>(8 * (n + 2) * (n + 2)));
  // [ORTH-CAYLEY-NORMWISE] checks its own domain, so it also holds where the tracked run left its;
  // it covers this order with the substitution's sums in any order, so both bounds take it.
  const double normwise = cayley_normwise_bound(p, m.compute);
  order::cayley(ar, reader(p.a()), n, p.convention() == CayleyConvention::pytorch,
                [&](Index i, Index c, const TV& x) { out(i, c) = std::min(element_bound(x, slack), normwise); });
  return out;
}

Tensor<double> cayley_vjp_bound(const CayleyBackwardProblem<double>& p, const OrthArithmetic& m) {
  const Index n = p.n();
  Tensor<double> out(Shape{n, n}, 0.0);
  TrackedArithmetic ar(m);
  const double slack = slack_for(static_cast<double>(16 * (n + 2) * (n + 2)));
  order::cayley_vjp(ar, reader(p.a()), reader(p.g()), n, p.convention() == CayleyConvention::pytorch,
                    [&](Index i, Index j, const TV& x) { out(i, j) = element_bound(x, slack); });
  return out;
}

Tensor<double> matrix_exp_bound(const SkewProblem<double>& p, const OrthArithmetic& m) {
  const Index n = p.n();
  Tensor<double> out(Shape{n, n}, 0.0);
  TrackedArithmetic ar(m);
  const int steps = order::kExpDegree + order::exp_scaling(reader(p.a()), n).s + 1;
  const double slack = slack_for(8.0 * steps * static_cast<double>(n + 2));
  order::matrix_exp(ar, reader(p.a()), n, [&](Index i, Index k, const TV& x) { out(i, k) = element_bound(x, slack); });
  return out;
}

Tensor<double> matrix_exp_vjp_bound(const ExpBackwardProblem<double>& p, const OrthArithmetic& m) {
  const Index n = p.n();
  Tensor<double> out(Shape{n, n}, 0.0);
  TrackedArithmetic ar(m);
  const int steps = order::kExpDegree + order::exp_scaling(reader(p.a()), n).s + 1;
  const double slack = slack_for(16.0 * steps * static_cast<double>(n + 2));
  order::matrix_exp_vjp(ar, reader(p.a()), reader(p.g()), n,
                        [&](Index i, Index k, const TV& x) { out(i, k) = element_bound(x, slack); });
  return out;
}

Tensor<double> qf_bound(const QfProblem<double>& p, const OrthArithmetic& m) {
  Tensor<double> out(Shape{p.m(), p.n()}, 0.0);
  const double slack = slack_for(8.0 * static_cast<double>((p.n() + 2) * (p.m() + 2)));
  const std::vector<TV> q = qf_tracked(p, m);
  for (Index k = 0; k < p.m(); ++k)
    for (Index j = 0; j < p.n(); ++j) out(k, j) = element_bound(q[static_cast<std::size_t>(k * p.n() + j)], slack);
  return out;
}

std::vector<bounds::TV> qf_tracked(const QfProblem<double>& p, const OrthArithmetic& m) {
  std::vector<TV> q(static_cast<std::size_t>(p.m() * p.n()));
  TrackedArithmetic ar(m);
  order::qf(ar, reader(p.y()), p.m(), p.n(), [&](Index k, Index j, const TV& x) { q[static_cast<std::size_t>(k * p.n() + j)] = x; });
  return q;
}

// [ORTH-RGRAD-BOUND] [ORTH-RGD-BOUND] The Riemannian gradient's and the steps' orders over tracked values.
RiemannianGradBound riemannian_grad_bound(const RiemannianProblem<double>& p, const OrthArithmetic& m) {
  const Index N = p.N(), M = p.M();
  RiemannianGradBound b{Tensor<double>(Shape{M, M}, 0.0), Tensor<double>(Shape{N, M}, 0.0)};
  TrackedArithmetic ar(m);
  const double slack = slack_for(8.0 * static_cast<double>((N + 2) * (M + 2)));
  order::riemannian_grad(ar, reader(p.x()), reader(p.g()), N, M,
                         [&](Index i, Index k, const TV& x) { b.omega(i, k) = element_bound(x, slack); },
                         [&](Index i, Index k, const TV& x) { b.grad(i, k) = element_bound(x, slack); });
  return b;
}

Tensor<double> rgd_step_bound(const RgdStepProblem<double>& p, const OrthArithmetic& m) {
  const Index N = p.N(), M = p.M();
  Tensor<double> out(Shape{N, M}, 0.0);
  TrackedArithmetic ar(m);
  const int steps = order::kExpDegree + order::rgd_scaling(reader(p.x()), reader(p.g()), p.eta(), N, M).s + 1;
  const double slack = slack_for(8.0 * static_cast<double>((N + M + 4) * (steps + 2) * (M + 2)));
  order::rgd_step(ar, reader(p.x()), reader(p.g()), p.eta(), N, M, p.retraction() == Retraction::exp,
                  [&](Index i, Index k, const TV& x) { out(i, k) = element_bound(x, slack); });
  return out;
}

// [ORTH-MATCH-BOUND] [ORTH-FLOW-BOUND] The matching step's and the flow's orders over tracked values.
Tensor<double> matching_step_bound(const MatchingStepProblem<double>& p, const OrthArithmetic& m) {
  const Index N = p.N(), M = p.M();
  Tensor<double> out(Shape{N, M}, 0.0);
  TrackedArithmetic ar(m);
  const double slack = slack_for(8.0 * static_cast<double>(2 * N + 16));
  order::matching_step(ar, reader(p.x()), reader(p.g()), N, M, p.eta(), p.round(),
                       [&](Index i, Index k, const TV& x) { out(i, k) = element_bound(x, slack); });
  return out;
}

Tensor<double> matching_flow_bound(const FlowProblem<double>& p, const OrthArithmetic& m) {
  const Index N = p.N(), M = p.M();
  Tensor<double> out(Shape{N, M}, 0.0);
  TrackedArithmetic ar(m);
  const double slack =
      slack_for(8.0 * static_cast<double>(p.steps() + 1) * static_cast<double>(2 * N + p.K() + 16 + (p.reproject() ? N * M : 0)));
  // [ORTH-FLOW-NORMWISE] Every element's error is at most ||X^_T - X_T||_F: the smaller of the two per
  // element. It checks its own domain (no overflow), so it also holds where the tracked run left its.
  const double normwise = matching_flow_normwise_bound(p, m);
  order::matching_flow(ar, reader(p.x0()), reader(p.a()), reader(p.y()), N, M, p.K(), p.eta(), p.steps(), p.seed(),
                       p.reproject(), [](Index, const std::vector<TV>&) {},
                       [&](Index i, Index k, const TV& x) { out(i, k) = std::min(element_bound(x, slack), normwise); });
  return out;
}

double matching_flow_normwise_bound(const FlowProblem<double>& p, const OrthArithmetic& m) {
  return flow_normwise(p, m, std::max(m.compute == Format::float64 ? kSinCosF64Ulps : kSinCosF32Ulps, m.elementary_ulps));
}

// [ORTH-QR-VJP-BOUND] The QR VJP's order over tracked values.
Tensor<double> qf_vjp_bound(const QfBackwardProblem<double>& p, const OrthArithmetic& m) {
  Tensor<double> out(Shape{p.m(), p.n()}, 0.0);
  TrackedArithmetic ar(m);
  const double slack = slack_for(16.0 * static_cast<double>((p.n() + 2) * (p.m() + 2)));
  order::qf_vjp(ar, reader(p.y()), reader(p.g()), p.m(), p.n(),
                [&](Index k, Index j, const TV& x) { out(k, j) = element_bound(x, slack); });
  return out;
}

}  // namespace touchstone::orthogonal
