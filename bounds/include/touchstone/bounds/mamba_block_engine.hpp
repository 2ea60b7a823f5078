// The Mamba block bound's engine (bounds/src/mamba_block_bound.cpp, spec/mamba_block.md
// [MAMBA-BLOCK-BOUND-MODEL]): the Tracked arithmetic in the CPU order or in any order, its
// reductions, and the projections' matrix products formed a row of reductions at a time in
// arrays ([MAMBA-BLOCK-PRODUCT-ROWS], after [CORE-PRODUCT-SUMS]). Internal to the bound; a
// header so that tests/mamba/block_products_test.cpp can hold the array path to the scalar one.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "touchstone/bounds/mamba_block_bound.hpp"
#include "touchstone/bounds/vector_isa.hpp"
#include "touchstone/core/tracked.hpp"

namespace touchstone::mamba::block_engine {

constexpr double kTinyD = 4.9406564584124654e-324;  // 2^-1074

inline Tracked neg(const Tracked& x) { return {-x.hi, -x.lo, x.err}; }
inline bool exact_zero(const Tracked& t) { return t.lo == 0 && t.hi == 0 && t.err == 0; }

// The running state of an any-order sum ([MAMBA-BLOCK-BOUND-SUM]): the terms' enclosures and
// errors summed in the order the terms come, their magnitudes M + E, and how many. Kept instead of
// the list of terms: the sum over the list in its order is these very additions.
struct AnySum {
  double lo = 0, hi = 0, prop = 0, mags = 0;
  std::size_t count = 0;
  void add(const Tracked& t) {
    lo += t.lo;
    hi += t.hi;
    prop += t.err;
    mags += t.mag() + t.err;
    ++count;
  }
};

class Engine {
 public:
  explicit Engine(const BlockArithmetic& m) : m_(m), r_(Rounding::of(m.compute)) {}

  bool any() const { return m_.any_order; }
  const Rounding& rounding() const { return r_; }

  // Checks an intermediate against the format's range ([MAMBA-BLOCK-BOUND-MODEL]): once any may
  // overflow, every bound of the run is +inf.
  const Tracked& check(const Tracked& t) {
    if (t.overflows(r_)) overflow_ = true;
    return t;
  }
  Tracked add(const Tracked& x, const Tracked& y) { return check(touchstone::add(x, y, r_)); }
  Tracked mul(const Tracked& x, const Tracked& y) { return check(touchstone::mul(x, y, r_)); }
  Tracked sub(const Tracked& x, const Tracked& y) { return check(touchstone::sub(x, y, r_)); }
  // One fma of the CPU order; in any order a rounded product, then a rounded sum, whose bound
  // dominates the fma's (the product's rounding error is added to the sum's propagated error).
  Tracked fma(const Tracked& x, const Tracked& y, const Tracked& z) {
    if (m_.any_order) return add(mul(x, y), z);
    return check(touchstone::fma(x, y, z, r_));
  }
  // exp's argument dt A: one rounded product; in any order up to 3 roundings, which covers
  // exp2(dt A log2 e) ([MAMBA-SCAN-BOUND-ANY], exp_arg_roundings = 3).
  Tracked exp_arg(const Tracked& dt, const Tracked& A) {
    Tracked p = mul(dt, A);
    if (m_.any_order)
      for (int k = 1; k < 3; ++k) p.err += r_.u * p.computed_mag() + r_.eta;
    return check(p);
  }

  // [MAMBA-BLOCK-BOUND-ANY] The scan's recurrences in any order. set_scan_length(L) fixes the
  // constants of [MAMBA-SCAN-BOUND-ANY] for a recurrence of L steps: k = 2 roundings per step,
  // a term (or the initial state) enters through at most c = L + 1 roundings, at most
  // 2 (L + 1) underflow errors per step, each scaled by 1 + W (W: the running maximum of
  // H + G over the channel's states, products of a's being formed).
  void set_scan_length(Index L) {
    const double leaves = static_cast<double>(L) + 1;
    g_step_ = gamma_k(r_.u, 2);
    g_term_ = gamma_k(r_.u, leaves);
    underflows_ = 2 * leaves;
  }
  // The initial state's error: ((1+u)^c0 - 1) |h0| ([MAMBA-SCAN-BOUND-STATE] G_{-1}).
  Tracked scan_initial(double h0) const { return {h0, h0, g_term_ * std::fabs(h0)}; }
  // One step h = a h_prev + beta of [MAMBA-SCAN-BOUND-STATE], with computed a, h_prev and
  // beta (magnitudes M, errors E = G for the state):
  // G = (1+u)^k (Ma + Ea) G_prev + (((1+u)^k - 1) Ma + (1+u)^k Ea) H_prev
  //     + ((1+u)^c - 1) M_beta + (1+u)^c E_beta + m eta (1 + W).
  Tracked scan_step(const Tracked& a, const Tracked& h, const Tracked& beta, double W) {
    Tracked s = tracked_detail::interval_add(tracked_detail::interval_mul(a, {h.lo, h.hi, 0}),
                                             {beta.lo, beta.hi, 0});
    const double q_step = 1 + g_step_, Ma = a.mag(), Ea = a.err, H = h.mag(), G = h.err;
    s.err = q_step * (Ma + Ea) * G + (g_step_ * Ma + q_step * Ea) * H + g_term_ * beta.mag() +
            (1 + g_term_) * beta.err + underflows_ * r_.eta * (1 + W);
    return check(s);
  }
  Tracked exp(const Tracked& x) { return check(touchstone::exp(x, m_.exp_ulps, r_)); }
  Tracked silu(const Tracked& x) { return check(touchstone::silu(x, m_.silu_ulps, r_)); }
  Tracked sigmoid(const Tracked& x) { return check(touchstone::sigmoid(x, m_.sigmoid_ulps, r_)); }
  Tracked softplus(const Tracked& x) {
    return check(touchstone::softplus_thresholded(x, m_.softplus_ulps, r_));
  }
  // 1 - s, one rounding.
  Tracked one_minus(const Tracked& s) { return add(Tracked::exact(1), neg(s)); }

  // A sum of terms in an unknown order with separate roundings (no underflow: sums are exact
  // there): |error| <= sum E_i + ((1+u)^(n-1) - 1) sum (|t_i| + E_i) ([MAMBA-BLOCK-BOUND-SUM]);
  // `s` holds the terms' running sums (AnySum::add, in the order the terms came).
  Tracked any_order_sum(const AnySum& a) {
    Tracked s{a.lo, a.hi, 0};
    const double prop = a.prop, mags = a.mags;
    const double n = static_cast<double>(std::max<std::size_t>(a.count, 1) - 1);
    if (m_.any_order) {
      // The enclosure moved outwards by the double sums' own rounding (at most n 2^-53 of the
      // terms' magnitudes), so that it holds the exact value for certain: the storage rounding
      // in `finish` uses it directly.
      const double move = 0x1p-51 * (n + 1) * mags + kTinyD;
      s.lo -= move;
      s.hi += move;
    }
    const double g = std::expm1(n * std::log1p(r_.u));
    s.err = prop + g * mags;
    // In some order a partial sum may reach sum (|t_i| + E_i) (1 + gamma): it must stay in range.
    if (!(mags * (1 + g) <= r_.max_finite)) overflow_ = true;
    return check(s);
  }

  bool overflow() const { return overflow_; }
  // An overflow found outside the engine's own operations (the product rows below).
  void set_overflow() { overflow_ = true; }

  // The final bound of an element ([MAMBA-BLOCK-BOUND-EVAL]).
  // In any order the output is rounded once more to the storage format when it differs from the
  // compute format ([MAMBA-SCAN-BOUND-ANY]): E += u_s (M + E) + eta_s, and the computed value
  // must be in the storage format's range. Where the computed value is known to within a few
  // storage cells (values in float16's subnormal range) the rounding's actual reach is sharper:
  // rounding to nearest is monotone, so with the computed value c in [lo - E, hi + E] and the
  // exact x in [lo, hi], |rn(c) - x| <= max(rn(hi + E) - lo, hi - rn(lo - E)); the smaller of
  // the two bounds holds.
  double finish(const Tracked& t, double slack) const {
    constexpr double inf = std::numeric_limits<double>::infinity();
    if (overflow_ || t.overflows(r_)) return inf;
    double E = t.err;
    const FormatInfo& sf = format_info(m_.storage);
    if (m_.any_order && (sf.precision != m_.compute.precision || sf.emin != m_.compute.emin)) {
      if (!(t.computed_mag() <= sf.max_finite)) return inf;
      const double usual = E + sf.u * t.computed_mag() + std::max(sf.eta, kTinyD);
      // The ends of c's range, moved outwards by their own double rounding (and E's, by slack).
      const double Es = E * (1 + slack);
      const double clo = t.lo - Es - 0x1p-52 * (std::fabs(t.lo) + Es) - kTinyD;
      const double chi = t.hi + Es + 0x1p-52 * (std::fabs(t.hi) + Es) + kTinyD;
      const double up = round_to_format(chi, m_.storage) - t.lo,
                   down = t.hi - round_to_format(clo, m_.storage);
      const double sharp = std::max(up, down) * (1 + 0x1p-50) + kTinyD;
      E = std::min(usual, sharp);
    }
    return E * (1 + slack) + kTinyD;
  }

 private:
  BlockArithmetic m_;
  Rounding r_;
  bool overflow_ = false;
  double g_step_ = 0, g_term_ = 0, underflows_ = 0;  // set_scan_length
};


// One reduction (a sum of products and terms, from an initial value). In the CPU order a
// sequential chain: acc = fma(x, y, acc) or acc = acc + t, in call order. In any order the
// any-order sum of its terms, each product rounded on its own: every term then passes through at
// most n roundings (its product's and n - 1 additions; an fma merges the two), so this covers
// every order with or without fma ([MAMBA-BLOCK-BOUND-ANY]). Terms that are exact zeros (a zero
// tap) are left out: adding or fma-ing them is exact.
class Reduction {
 public:
  explicit Reduction(Engine& e, const Tracked& init = Tracked::exact(0)) : e_(&e), seq_(init) {
    if (e.any()) push(init);
  }
  // A reduction in the state `seq` (CPU order) or `sum` (any order).
  Reduction(Engine& e, const Tracked& seq, const AnySum& sum) : e_(&e), seq_(seq), sum_(sum) {}
  void fma(const Tracked& x, const Tracked& y) {
    if (!e_->any()) seq_ = e_->fma(x, y, seq_);
    else if (!exact_zero(x) && !exact_zero(y)) sum_.add(e_->mul(x, y));
  }
  void add(const Tracked& t) {
    if (!e_->any()) seq_ = e_->add(seq_, t);
    else push(t);
  }
  Tracked value() const { return e_->any() ? e_->any_order_sum(sum_) : seq_; }
  const Tracked& sequential() const { return seq_; }
  const AnySum& any_sum() const { return sum_; }

 private:
  void push(const Tracked& t) {
    if (!exact_zero(t)) sum_.add(t);
  }
  Engine* e_;
  Tracked seq_;
  AnySum sum_;
};

// Sequential fma dot from `acc`: acc = fma(w_k, x_k, acc), k increasing (the CPU `product`).
// In any order: an any-order sum of acc and the products (a Reduction).
template <class WAt, class XAt>
Tracked dot(Engine& e, Tracked acc, Index n, WAt w, XAt x) {
  Reduction r(e, acc);
  for (Index k = 0; k < n; ++k) r.fma(w(k), x(k));
  return r.value();
}

// [MAMBA-BLOCK-PRODUCT-ROWS] The reductions of a matrix product, many at once. The reductions
// (i, j) of a row i are kept by field (the CPU chain's lo, hi, err; the any-order sum's lo, hi,
// prop, mags, count; an overflow flag), 8 columns to a vector register, and each step l applies
// Reduction::fma(a, b_j), a = x(i, l) the same for the row, to all of them at once. Every lane
// goes through exactly the operations of Engine::fma / Engine::mul and AnySum::add
// (touchstone::fma, touchstone::mul with interval_mul's first-kept ties, the overflow check),
// written without branches (a select keeps a skipped lane's sums), in shorter forms where a
// factor is exact (kExactA, kExactB), so every reduction ends the same to the bit
// (tests/mamba/block_products_test.cpp).

// Fewer columns than this: product_reductions runs the scalar loops.
constexpr Index kMinArrayColumns = 8;

namespace rows_detail {

using tracked_detail::kOutward;

// The lane helpers below are written once for a lane type T: double (one reduction) or V8 (eight
// reductions in one vector register, GCC's vector extension: every operator is the same IEEE
// operation lane by lane; a comparison gives a mask M8, `m ? a : b` selects, abs clears the sign
// bit as fabs does).
//
// Built for a CPU without 512-bit registers, gcc warns (-Wpsabi) that passing V8 by value has
// another ABI there: the helpers taking one are always inlined, no call passes one; the files that
// include this header turn the warning off.
using V8 = double __attribute__((vector_size(8 * sizeof(double))));
using M8 = std::int64_t __attribute__((vector_size(8 * sizeof(double))));  // what comparing V8s gives
[[gnu::always_inline]] inline double abs_lane(double x) { return std::fabs(x); }
[[gnu::always_inline]] inline V8 abs_lane(V8 x) {
  constexpr std::int64_t kNoSign = 0x7fffffffffffffff;
  return reinterpret_cast<V8>(reinterpret_cast<M8>(x) & kNoSign);
}
// !(x <= y): true for NaN.
[[gnu::always_inline]] inline bool not_le(double x, double y) { return !(x <= y); }
[[gnu::always_inline]] inline M8 not_le(V8 x, double y) { return ~(x <= y); }
[[gnu::always_inline]] inline double flag_lane(bool m) { return m ? 1.0 : 0.0; }
[[gnu::always_inline]] inline V8 flag_lane(M8 m) { return m ? V8{} + 1.0 : V8{}; }
[[gnu::always_inline]] inline V8 load8(const double* p) {
  V8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
[[gnu::always_inline]] inline void store8(double* p, V8 v) { std::memcpy(p, &v, sizeof v); }

// Which factors of a step are known exact (a bit set: 1, x(i, l) = a; 2, the operand y = b):
// err 0 and lo, hi the same finite double. Then the four corner products of interval_mul are two
// pairs of equal doubles (or one), and the propagated error's terms with a zero error are zeros:
// the general formulas' values follow from fewer operations. Where a factor is infinite or NaN
// (a lane whose sums then overflow) the shorter forms may give other values; the lane's overflow
// check fails either way, and so every bound of the run is +inf either way.
constexpr int kExactA = 1, kExactB = 2;

// interval_mul(x, y) of a = x, b = y (kLeft) or a = y, b = x: x.lo y.lo, x.lo y.hi, x.hi y.lo,
// x.hi y.hi; min and max, the first kept on ties; moved outwards.
template <bool kLeft, int kExact, class T>
[[gnu::always_inline]] inline void product_range(const double alo, const double ahi, const T blo, const T bhi, T& plo,
                                                 T& phi) {
  T mn, mx;
  if constexpr ((kExact & kExactA) && (kExact & kExactB)) {
    mn = mx = alo * blo;  // the four products are one double
  } else if constexpr (kExact & (kExactA | kExactB)) {
    // a exact: the corners are alo blo, alo bhi (twice each); b exact: alo blo, ahi blo; in
    // either operand order the first corner is alo blo, and the min (max) of (q1, q2, q1, q2) with
    // the first kept on ties is q2 < q1 ? q2 : q1 (q1 < q2 ? q2 : q1).
    const T q1 = alo * blo, q2 = (kExact & kExactA) ? alo * bhi : ahi * blo;
    mn = q2 < q1 ? q2 : q1;
    mx = q1 < q2 ? q2 : q1;
  } else {
    const T p1 = alo * blo, p2 = kLeft ? alo * bhi : ahi * blo, p3 = kLeft ? ahi * blo : alo * bhi, p4 = ahi * bhi;
    mn = p1;
    mx = p1;
    mn = p2 < mn ? p2 : mn;
    mn = p3 < mn ? p3 : mn;
    mn = p4 < mn ? p4 : mn;
    mx = mx < p2 ? p2 : mx;
    mx = mx < p3 ? p3 : mx;
    mx = mx < p4 ? p4 : mx;
  }
  plo = mn - kOutward * abs_lane(mn) - kTinyD;
  phi = mx + kOutward * abs_lane(mx) + kTinyD;
}

// product_propagation(x, y): x.mag y.err + x.err y.mag + x.err y.err. With an exact factor the
// terms carrying its zero error are zeros, so the sum is the remaining term up to the sign of a
// zero, which no bound sees (the rounding then adds eta > 0 to it).
template <bool kLeft, int kExact, class T>
[[gnu::always_inline]] inline T product_prop(const double aerr, const double amag, const T blo, const T bhi,
                                             const T berr) {
  if constexpr ((kExact & kExactA) && (kExact & kExactB)) {
    return T{} * 0.0;
  } else if constexpr (kExact & kExactA) {
    return amag * berr;
  } else {
    const T bl = abs_lane(blo), bh = abs_lane(bhi);
    const T bmag = (bl < bh ? bh : bl) + kTinyD;
    if constexpr (kExact & kExactB) return aerr * bmag;
    else if constexpr (kLeft) return amag * berr + aerr * bmag + aerr * berr;
    else return bmag * aerr + berr * amag + berr * aerr;
  }
}

// One lane of one step in the CPU order: s = fma(a, b, s) (touchstone::fma: interval_add of the
// product's range and s's, the propagated errors, the rounding), the overflow check or-ed into
// over (0 or 1).
template <bool kLeft, int kExact, class T>
[[gnu::always_inline]] inline void fma_lane(const double alo, const double ahi, const double aerr, const double amag,
                                            const double u, const double eta, const double max_finite, const T blo,
                                            const T bhi, const T berr, T& slo, T& shi, T& serr, T& over) {
  T plo, phi;
  product_range<kLeft, kExact>(alo, ahi, blo, bhi, plo, phi);
  const T zlo = slo, zhi = shi;
  const T lo = (plo + zlo) - kOutward * (abs_lane(plo) + abs_lane(zlo)) - kTinyD;
  const T hi = (phi + zhi) + kOutward * (abs_lane(phi) + abs_lane(zhi)) + kTinyD;
  const T prop = product_prop<kLeft, kExact>(aerr, amag, blo, bhi, berr) + serr;
  const T al = abs_lane(lo), ah = abs_lane(hi);
  const T mag = (al < ah ? ah : al) + kTinyD;
  const T err = prop + u * (mag + prop) + eta;
  slo = lo;
  shi = hi;
  serr = err;
  over = flag_lane((over != 0) | not_le(mag + err, max_finite));
}

// One lane of one step in any order: unless b is an exact zero (skip != 0; an exact zero a skips
// the whole step), AnySum::add(mul(a, b)) with the product's overflow check (touchstone::mul).
template <bool kLeft, int kExact, class T>
[[gnu::always_inline]] inline void any_lane(const double alo, const double ahi, const double aerr, const double amag,
                                            const double u, const double eta, const double max_finite, const T blo,
                                            const T bhi, const T berr, const T skip, T& slo, T& shi, T& sprop,
                                            T& smags, T& scount, T& over) {
  T plo, phi;
  product_range<kLeft, kExact>(alo, ahi, blo, bhi, plo, phi);
  const T prop = product_prop<kLeft, kExact>(aerr, amag, blo, bhi, berr);
  const T pl = abs_lane(plo), ph = abs_lane(phi);
  const T pmag = (pl < ph ? ph : pl) + kTinyD;
  const T perr = prop + u * (pmag + prop) + eta;
  const auto take = skip == 0;
  slo = take ? slo + plo : slo;
  shi = take ? shi + phi : shi;
  sprop = take ? sprop + perr : sprop;
  smags = take ? smags + (pmag + perr) : smags;
  scount = take ? scount + 1.0 : scount;
  over = flag_lane((over != 0) | (take & not_le(pmag + perr, max_finite)));
}

// An exact factor in the sense of kExactA, kExactB: err 0, lo and hi the same finite double.
inline bool known_exact(const Tracked& v) {
  return v.err == 0 && std::memcmp(&v.lo, &v.hi, sizeof v.lo) == 0 && std::isfinite(v.lo);
}

// x's values x(i, l) of one row as arrays over l.
struct RowOperand {
  std::vector<double> lo, hi, err, mag, zero;  // zero: 1 where x(i, l) is an exact zero
  bool exact = true;                           // every x(i, l) exact (known_exact)
  template <class XAt>
  void load(Index i, Index inner, const XAt& x) {
    for (std::vector<double>* a : {&lo, &hi, &err, &mag, &zero}) a->resize(static_cast<std::size_t>(inner));
    exact = true;
    for (Index l = 0; l < inner; ++l) {
      const Tracked v = x(i, l);
      exact = exact && known_exact(v);
      const std::size_t k = static_cast<std::size_t>(l);
      lo[k] = v.lo;
      hi[k] = v.hi;
      err[k] = v.err;
      mag[k] = v.mag();
      zero[k] = exact_zero(v) ? 1.0 : 0.0;
    }
  }
};

// The columns [j, j + kNT kTile) of one row through every step l, the sums held in vector
// registers (kNT independent vectors: a step's operations on one vector depend on its previous
// step's, so several are in flight at once): b's row l at b + l * stride.
constexpr Index kTile = 8;

template <bool kLeft, int kExact, int kNT>
[[gnu::always_inline]] inline void fma_tile_in(const RowOperand& a, const Index inner, const double u, const double eta, const double max_finite,
              const double* blo, const double* bhi, const double* berr, const Index stride, double* slo, double* shi,
              double* serr, double* sover) {
  V8 lo[kNT], hi[kNT], err[kNT], over[kNT];
#pragma GCC unroll 8
  for (int t = 0; t < kNT; ++t) {
    lo[t] = load8(slo + t * kTile);
    hi[t] = load8(shi + t * kTile);
    err[t] = load8(serr + t * kTile);
    over[t] = load8(sover + t * kTile);
  }
  for (Index l = 0; l < inner; ++l) {
    const std::size_t q = static_cast<std::size_t>(l);
    const double alo = a.lo[q], ahi = a.hi[q], aerr = a.err[q], amag = a.mag[q];
    const double *bl = blo + l * stride, *bh = bhi + l * stride, *be = berr + l * stride;
#pragma GCC unroll 8
    for (int t = 0; t < kNT; ++t)
      fma_lane<kLeft, kExact>(alo, ahi, aerr, amag, u, eta, max_finite, load8(bl + t * kTile), load8(bh + t * kTile),
                      load8(be + t * kTile), lo[t], hi[t], err[t], over[t]);
  }
#pragma GCC unroll 8
  for (int t = 0; t < kNT; ++t) {
    store8(slo + t * kTile, lo[t]);
    store8(shi + t * kTile, hi[t]);
    store8(serr + t * kTile, err[t]);
    store8(sover + t * kTile, over[t]);
  }
}

template <bool kLeft, int kExact, int kNT>
[[gnu::always_inline]] inline void any_tile_in(const RowOperand& a, const Index inner, const double u, const double eta, const double max_finite,
              const double* blo, const double* bhi, const double* berr, const double* bskip, const Index stride,
              double* slo, double* shi, double* sprop, double* smags, double* scount, double* sover) {
  V8 lo[kNT], hi[kNT], prop[kNT], mags[kNT], count[kNT], over[kNT];
#pragma GCC unroll 8
  for (int t = 0; t < kNT; ++t) {
    lo[t] = load8(slo + t * kTile);
    hi[t] = load8(shi + t * kTile);
    prop[t] = load8(sprop + t * kTile);
    mags[t] = load8(smags + t * kTile);
    count[t] = load8(scount + t * kTile);
    over[t] = load8(sover + t * kTile);
  }
  for (Index l = 0; l < inner; ++l) {
    const std::size_t q = static_cast<std::size_t>(l);
    if (a.zero[q] != 0) continue;  // an exact zero x(i, l): no term
    const double alo = a.lo[q], ahi = a.hi[q], aerr = a.err[q], amag = a.mag[q];
    const double *bl = blo + l * stride, *bh = bhi + l * stride, *be = berr + l * stride, *bs = bskip + l * stride;
#pragma GCC unroll 8
    for (int t = 0; t < kNT; ++t)
      any_lane<kLeft, kExact>(alo, ahi, aerr, amag, u, eta, max_finite, load8(bl + t * kTile), load8(bh + t * kTile),
                      load8(be + t * kTile), load8(bs + t * kTile), lo[t], hi[t], prop[t], mags[t], count[t],
                      over[t]);
  }
#pragma GCC unroll 8
  for (int t = 0; t < kNT; ++t) {
    store8(slo + t * kTile, lo[t]);
    store8(shi + t * kTile, hi[t]);
    store8(sprop + t * kTile, prop[t]);
    store8(smags + t * kTile, mags[t]);
    store8(scount + t * kTile, count[t]);
    store8(sover + t * kTile, over[t]);
  }
}

// The tiles in each instruction set the CPU may have (bounds/vector_isa.hpp, [CORE-PRODUCT-SUMS]):
// the same IEEE operations in each, so the same values; chosen at run time.
#define TOUCHSTONE_FMA_TILE_PARAMS                                                                              \
  const RowOperand &a, const Index inner, const double u, const double eta, const double max_finite,           \
      const double *blo, const double *bhi, const double *berr, const Index stride, double *slo, double *shi,   \
      double *serr, double *sover
#define TOUCHSTONE_FMA_TILE_ARGS a, inner, u, eta, max_finite, blo, bhi, berr, stride, slo, shi, serr, sover
#define TOUCHSTONE_ANY_TILE_PARAMS                                                                              \
  const RowOperand &a, const Index inner, const double u, const double eta, const double max_finite,           \
      const double *blo, const double *bhi, const double *berr, const double *bskip, const Index stride,         \
      double *slo, double *shi, double *sprop, double *smags, double *scount, double *sover
#define TOUCHSTONE_ANY_TILE_ARGS \
  a, inner, u, eta, max_finite, blo, bhi, berr, bskip, stride, slo, shi, sprop, smags, scount, sover
template <bool kLeft, int kExact, int kNT>
TOUCHSTONE_TARGET_AVX512 void fma_tile_avx512(TOUCHSTONE_FMA_TILE_PARAMS) {
  fma_tile_in<kLeft, kExact, kNT>(TOUCHSTONE_FMA_TILE_ARGS);
}
template <bool kLeft, int kExact, int kNT>
TOUCHSTONE_TARGET_AVX2 void fma_tile_avx2(TOUCHSTONE_FMA_TILE_PARAMS) {
  fma_tile_in<kLeft, kExact, kNT>(TOUCHSTONE_FMA_TILE_ARGS);
}
template <bool kLeft, int kExact, int kNT>
void fma_tile(TOUCHSTONE_FMA_TILE_PARAMS) {
  switch (bounds::vector_isa()) {
    case bounds::VectorIsa::avx512: return fma_tile_avx512<kLeft, kExact, kNT>(TOUCHSTONE_FMA_TILE_ARGS);
    case bounds::VectorIsa::avx2: return fma_tile_avx2<kLeft, kExact, kNT>(TOUCHSTONE_FMA_TILE_ARGS);
    case bounds::VectorIsa::baseline: return fma_tile_in<kLeft, kExact, kNT>(TOUCHSTONE_FMA_TILE_ARGS);
  }
}
template <bool kLeft, int kExact, int kNT>
TOUCHSTONE_TARGET_AVX512 void any_tile_avx512(TOUCHSTONE_ANY_TILE_PARAMS) {
  any_tile_in<kLeft, kExact, kNT>(TOUCHSTONE_ANY_TILE_ARGS);
}
template <bool kLeft, int kExact, int kNT>
TOUCHSTONE_TARGET_AVX2 void any_tile_avx2(TOUCHSTONE_ANY_TILE_PARAMS) {
  any_tile_in<kLeft, kExact, kNT>(TOUCHSTONE_ANY_TILE_ARGS);
}
template <bool kLeft, int kExact, int kNT>
void any_tile(TOUCHSTONE_ANY_TILE_PARAMS) {
  switch (bounds::vector_isa()) {
    case bounds::VectorIsa::avx512: return any_tile_avx512<kLeft, kExact, kNT>(TOUCHSTONE_ANY_TILE_ARGS);
    case bounds::VectorIsa::avx2: return any_tile_avx2<kLeft, kExact, kNT>(TOUCHSTONE_ANY_TILE_ARGS);
    case bounds::VectorIsa::baseline: return any_tile_in<kLeft, kExact, kNT>(TOUCHSTONE_ANY_TILE_ARGS);
  }
}
#undef TOUCHSTONE_FMA_TILE_PARAMS
#undef TOUCHSTONE_FMA_TILE_ARGS
#undef TOUCHSTONE_ANY_TILE_PARAMS
#undef TOUCHSTONE_ANY_TILE_ARGS

// One step l of a row for the columns [j0, j1) (those after the last whole tile).
template <bool kLeft>
void fma_lanes(const double alo, const double ahi, const double aerr, const double amag, const double u,
               const double eta, const double max_finite, const double* __restrict blo,
               const double* __restrict bhi, const double* __restrict berr, double* __restrict slo,
               double* __restrict shi, double* __restrict serr, double* __restrict over, const Index j0,
               const Index j1) {
  for (Index j = j0; j < j1; ++j)
    fma_lane<kLeft, 0>(alo, ahi, aerr, amag, u, eta, max_finite, blo[j], bhi[j], berr[j], slo[j], shi[j], serr[j],
                    over[j]);
}

template <bool kLeft>
void any_lanes(const double alo, const double ahi, const double aerr, const double amag, const double u,
               const double eta, const double max_finite, const double* __restrict blo,
               const double* __restrict bhi, const double* __restrict berr, const double* __restrict skip,
               double* __restrict slo, double* __restrict shi, double* __restrict sprop,
               double* __restrict smags, double* __restrict scount, double* __restrict over, const Index j0,
               const Index j1) {
  for (Index j = j0; j < j1; ++j)
    any_lane<kLeft, 0>(alo, ahi, aerr, amag, u, eta, max_finite, blo[j], bhi[j], berr[j], skip[j], slo[j], shi[j],
                    sprop[j], smags[j], scount[j], over[j]);
}

// The right operand of a product as arrays: y(l, j) for l < inner, j < cols.
struct Operand {
  std::vector<double> lo, hi, err, skip;  // skip: 1 where y(l, j) is an exact zero
  bool exact = true;                      // every y(l, j) exact (known_exact)
  template <class YAt>
  Operand(Index inner, Index cols, const YAt& y) {
    const std::size_t n = static_cast<std::size_t>(inner) * static_cast<std::size_t>(cols);
    lo.resize(n);
    hi.resize(n);
    err.resize(n);
    skip.resize(n);
    for (Index l = 0; l < inner; ++l)
      for (Index j = 0; j < cols; ++j) {
        const Tracked v = y(l, j);
        exact = exact && known_exact(v);
        const std::size_t k = static_cast<std::size_t>(l * cols + j);
        lo[k] = v.lo;
        hi[k] = v.hi;
        err[k] = v.err;
        skip[k] = exact_zero(v) ? 1.0 : 0.0;
      }
  }
};

// The reductions of one row as arrays.
struct Lanes {
  std::vector<double> lo, hi, err, mags, count, over;  // CPU order: lo, hi, err; any order: lo, hi, err (prop), mags, count
  void load(Engine& e, Index cols, const auto& init) {
    for (std::vector<double>* a : {&lo, &hi, &err, &mags, &count, &over})
      a->resize(static_cast<std::size_t>(cols));
    for (Index j = 0; j < cols; ++j) {
      const Reduction r = init(j);
      const std::size_t k = static_cast<std::size_t>(j);
      if (e.any()) {
        const AnySum& s = r.any_sum();
        lo[k] = s.lo;
        hi[k] = s.hi;
        err[k] = s.prop;
        mags[k] = s.mags;
        count[k] = static_cast<double>(s.count);
      } else {
        const Tracked& s = r.sequential();
        lo[k] = s.lo;
        hi[k] = s.hi;
        err[k] = s.err;
      }
      over[k] = 0;
    }
  }
  Reduction at(Engine& e, Index j) const {
    const std::size_t k = static_cast<std::size_t>(j);
    if (e.any())
      return Reduction(e, Tracked::exact(0), AnySum{lo[k], hi[k], err[k], mags[k], static_cast<std::size_t>(count[k])});
    return Reduction(e, Tracked{lo[k], hi[k], err[k]}, AnySum{});
  }
  // The columns [j, j + kNT kTile) of the row through every step (x's row `a`).
  template <int kNT>
  void tiles(Engine& e, bool x_left, const RowOperand& a, const Operand& y, Index inner, Index cols, Index j) {
    const int exact = (a.exact ? kExactA : 0) | (y.exact ? kExactB : 0);
    switch (exact) {
      case 0: return tiles<kNT, 0>(e, x_left, a, y, inner, cols, j);
      case kExactA: return tiles<kNT, kExactA>(e, x_left, a, y, inner, cols, j);
      case kExactB: return tiles<kNT, kExactB>(e, x_left, a, y, inner, cols, j);
      default: return tiles<kNT, kExactA | kExactB>(e, x_left, a, y, inner, cols, j);
    }
  }
  template <int kNT, int kExact>
  void tiles(Engine& e, bool x_left, const RowOperand& a, const Operand& y, Index inner, Index cols, Index j) {
    if (inner == 0) return;  // no step: the sums stay as they are (and y's arrays are empty: no offsets into them)
    const Rounding& r = e.rounding();
    const std::size_t k = static_cast<std::size_t>(j);
    if (!e.any()) {
      (x_left ? fma_tile<true, kExact, kNT> : fma_tile<false, kExact, kNT>)(
          a, inner, r.u, r.eta, r.max_finite, y.lo.data() + k, y.hi.data() + k, y.err.data() + k, cols,
          lo.data() + k, hi.data() + k, err.data() + k, over.data() + k);
    } else {
      (x_left ? any_tile<true, kExact, kNT> : any_tile<false, kExact, kNT>)(
          a, inner, r.u, r.eta, r.max_finite, y.lo.data() + k, y.hi.data() + k, y.err.data() + k, y.skip.data() + k,
          cols, lo.data() + k, hi.data() + k, err.data() + k, mags.data() + k, count.data() + k, over.data() + k);
    }
  }
  // Step l of the row for the columns [j0, j1).
  void step(Engine& e, bool x_left, const RowOperand& a, const Operand& y, Index l, Index cols, Index j0, Index j1) {
    const Rounding& r = e.rounding();
    const std::size_t q = static_cast<std::size_t>(l), k = static_cast<std::size_t>(l * cols);
    const double alo = a.lo[q], ahi = a.hi[q], aerr = a.err[q], amag = a.mag[q];
    const double *blo = y.lo.data() + k, *bhi = y.hi.data() + k, *berr = y.err.data() + k;
    if (!e.any()) {
      (x_left ? fma_lanes<true> : fma_lanes<false>)(alo, ahi, aerr, amag, r.u, r.eta, r.max_finite, blo, bhi, berr,
                                                      lo.data(), hi.data(), err.data(), over.data(), j0, j1);
    } else if (a.zero[q] == 0) {
      (x_left ? any_lanes<true> : any_lanes<false>)(alo, ahi, aerr, amag, r.u, r.eta, r.max_finite, blo, bhi, berr,
                                                      y.skip.data() + k, lo.data(), hi.data(), err.data(),
                                                      mags.data(), count.data(), over.data(), j0, j1);
    }
  }
  bool overflowed(Index cols) const {
    bool any = false;
    for (Index j = 0; j < cols; ++j) any = any | (over[static_cast<std::size_t>(j)] != 0);
    return any;
  }
};

// product_reductions on y laid out as arrays (`yy`): rows in blocks of 8; for each block, the
// whole tiles of kTile columns through every step (a tile of y's columns is then read from the
// cache by all the block's rows), then the remaining columns step by step.
template <class Init, class XAt, class Out>
void product_rows(Engine& e, Index rows, Index cols, Index inner, bool x_left, const Init& init, const XAt& x,
                  const Operand& yy, const Out& out) {
  constexpr Index kBlock = 8;
  const Index tiled = cols - cols % kTile;
  std::vector<Lanes> lanes(static_cast<std::size_t>(kBlock));
  std::vector<RowOperand> xs(static_cast<std::size_t>(kBlock));
  for (Index i0 = 0; i0 < rows; i0 += kBlock) {
    const Index i1 = std::min(rows, i0 + kBlock);
    for (Index i = i0; i < i1; ++i) {
      const std::size_t b = static_cast<std::size_t>(i - i0);
      lanes[b].load(e, cols, [&](Index j) { return init(i, j); });
      xs[b].load(i, inner, x);
    }
    // Four tiles at a time, then one.
    for (Index j = 0; j < tiled;) {
      const bool four = j + 4 * kTile <= tiled;
      for (Index i = i0; i < i1; ++i) {
        Lanes& s = lanes[static_cast<std::size_t>(i - i0)];
        const RowOperand& a = xs[static_cast<std::size_t>(i - i0)];
        four ? s.tiles<4>(e, x_left, a, yy, inner, cols, j) : s.tiles<1>(e, x_left, a, yy, inner, cols, j);
      }
      j += four ? 4 * kTile : kTile;
    }
    if (tiled < cols)
      for (Index l = 0; l < inner; ++l)
        for (Index i = i0; i < i1; ++i) {
          const std::size_t b = static_cast<std::size_t>(i - i0);
          lanes[b].step(e, x_left, xs[b], yy, l, cols, tiled, cols);
        }
    for (Index i = i0; i < i1; ++i) {
      const Lanes& s = lanes[static_cast<std::size_t>(i - i0)];
      if (s.overflowed(cols)) e.set_overflow();
      for (Index j = 0; j < cols; ++j) out(i, j, s.at(e, j));
    }
  }
}

}  // namespace rows_detail

// The reductions r(i, j) = init(i, j) (a Reduction), then r.fma(x(i, l), y(l, j)) for l < inner
// in increasing l (x_left; else r.fma(y(l, j), x(i, l))), for i < rows, j < cols; out(i, j, r)
// receives each. The same as those scalar loops to the bit, the overflow flag included
// ([MAMBA-BLOCK-PRODUCT-ROWS]). The arrays run along j; with few columns (a single token) the
// scalar loops themselves (laying y out as arrays would cost as much as the products).
template <class Init, class XAt, class YAt, class Out>
void product_reductions(Engine& e, Index rows, Index cols, Index inner, bool x_left, const Init& init, const XAt& x,
                        const YAt& y, const Out& out) {
  if (cols < kMinArrayColumns) {
    for (Index i = 0; i < rows; ++i)
      for (Index j = 0; j < cols; ++j) {
        Reduction r = init(i, j);
        for (Index l = 0; l < inner; ++l) x_left ? r.fma(x(i, l), y(l, j)) : r.fma(y(l, j), x(i, l));
        out(i, j, r);
      }
    return;
  }
  rows_detail::product_rows(e, rows, cols, inner, x_left, init, x, rows_detail::Operand(inner, cols, y), out);
}

}  // namespace touchstone::mamba::block_engine
