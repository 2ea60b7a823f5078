// [CORE-PRODUCT-SUMS] shared_order::product_sums over tracked values, a row of sums at a time: the
// running sums of one row's columns are kept in arrays (one per field), and each term x(i, l) y(l, j)
// is added to all of them in one loop over j that the compiler vectorizes. Every element goes
// through exactly the operations of the scalar loop it replaces (TrackedPolicy::mul, then the
// family's accumulate: TrackedSum::add_term for any order, touchstone::add for the sequential sum,
// the overflow checks), in the same order, so every bound is the same to the bit
// (tests/core/tracked_products_test.cpp checks it on values with every sign, zeros, infinities and
// overflow). The families whose tracked Acc is {seq, any, sum, outside} (Performer, orthogonal) use
// it through their product_sums member.
#pragma once

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "touchstone/bounds/tracked_policy.hpp"
#include "touchstone/bounds/vector_isa.hpp"
#include "touchstone/core/tensor.hpp"
#include "touchstone/order/product_sums.hpp"

namespace touchstone::bounds {

// What a family's accumulate keeps: the order-free sum ([CORE-TRACKED-SUM], for any order) and/or
// the sequential one ([CORE-TRACKED-ADD], one rounded addition per term in the order of the terms).
struct ProductSumsKeep {
  bool any_order_sum = false;
  bool sequential = false;
};

// Tracked values laid out as arrays, one per field (outside: 1 or 0), for the loops below.
struct TrackedArrays {
  std::vector<double> lo, hi, err, outside;
  explicit TrackedArrays(std::size_t n = 0) : lo(n), hi(n), err(n), outside(n) {}
  void set(std::size_t k, const TV& v) {
    lo[k] = v.t.lo;
    hi[k] = v.t.hi;
    err[k] = v.t.err;
    outside[k] = v.outside ? 1.0 : 0.0;
  }
};

// The running sums of the columns [j0, cols) of one row, as arrays.
class TrackedRowSums {
 public:
  TrackedRowSums(const Rounding& r, ProductSumsKeep keep) : r_(r), keep_(keep) {}

  void start(Index cols) {
    for (std::vector<double>* a : {&sum_lo_, &sum_hi_, &sum_err_, &sum_size_, &seq_lo_, &seq_hi_, &seq_err_, &outside_})
      a->assign(static_cast<std::size_t>(cols), 0.0);
    terms_ = 0;
  }

  // Adds fl(a * b_j) to sum j for j in [j0, j1); b_j's fields at blo[j], bhi[j], berr[j], bout[j] (1: outside).
  void add_products(const TV& a, const double* blo, const double* bhi, const double* berr, const double* bout,
                    Index j0, Index j1) {
    with_mode([&]<bool kFirst, bool kSum, bool kSeq>() {
      add_products_impl<kFirst, kSum, kSeq>(a, blo, bhi, berr, bout, j0, j1);
    });
  }
  // The same with b_j = b's element offset + j.
  void add_products(const TV& a, const TrackedArrays& b, std::size_t offset, Index j0, Index j1) {
    add_products(a, b.lo.data() + offset, b.hi.data() + offset, b.err.data() + offset, b.outside.data() + offset, j0,
                 j1);
  }

  // Adds the values v(j) (TVs) to sum j for j in [j0, j1), as the family's accumulate does: a
  // leading term before the products, one row's worth (not vectorized).
  template <class Value>
  void add_values(const Value& v, Index j0, Index j1) {
    with_mode([&]<bool kFirst, bool kSum, bool kSeq>() {
      for (Index j = j0; j < j1; ++j) {
        const TV t = v(j);
        const std::size_t k = static_cast<std::size_t>(j);
        accumulate_lane<kFirst, kSum, kSeq>(t.t.lo, t.t.hi, t.t.err, t.t.mag(), t.outside, r_.u, r_.max_finite,
                                            sum_lo_[k], sum_hi_[k], sum_err_[k], sum_size_[k], seq_lo_[k], seq_hi_[k],
                                            seq_err_[k], outside_[k]);
      }
    });
  }

  // Sum j as the family's Acc ({Tracked seq; bool any; TrackedSum sum; bool outside}), as its
  // accumulate would have left it after the same terms.
  template <class Acc>
  Acc acc(Index j, Acc acc) const {
    if (terms_ == 0) return acc;
    const std::size_t k = static_cast<std::size_t>(j);
    acc.any = true;
    acc.outside = outside_[k] != 0;
    if (keep_.sequential) acc.seq = Tracked{seq_lo_[k], seq_hi_[k], seq_err_[k]};
    if (keep_.any_order_sum) acc.sum = TrackedSum::of_state(sum_lo_[k], sum_hi_[k], sum_err_[k], sum_size_[k], terms_, terms_);
    return acc;
  }

 private:
  // Calls f.operator()<kFirst, kSum, kSeq>() for this term (the first or a later one) and what the
  // sums keep, then counts the term: one instantiation per case, so that no flag is tested inside
  // the loops (the vectorizer needs straight code).
  template <class F>
  void with_mode(F&& f) {
    const bool first = terms_ == 0;
    if (keep_.any_order_sum && keep_.sequential)
      first ? f.template operator()<true, true, true>() : f.template operator()<false, true, true>();
    else if (keep_.any_order_sum)
      first ? f.template operator()<true, true, false>() : f.template operator()<false, true, false>();
    else
      first ? f.template operator()<true, false, true>() : f.template operator()<false, false, true>();
    ++terms_;
  }

  template <bool kFirst, bool kSum, bool kSeq>
  void add_products_impl(const TV& a, const double* blo, const double* bhi, const double* berr, const double* bout,
                         Index j0, Index j1) {
    const auto run = [&](auto loop) {
      loop(a.t.lo, a.t.hi, a.t.err, a.t.mag(), a.outside, r_, blo, bhi, berr, bout, sum_lo_.data(), sum_hi_.data(),
           sum_err_.data(), sum_size_.data(), seq_lo_.data(), seq_hi_.data(), seq_err_.data(), outside_.data(), j0, j1);
    };
    switch (vector_isa()) {
      case VectorIsa::avx512: return run(add_products_avx512<kFirst, kSum, kSeq>);
      case VectorIsa::avx2: return run(add_products_avx2<kFirst, kSum, kSeq>);
      case VectorIsa::baseline: return run(add_products_baseline<kFirst, kSum, kSeq>);
    }
  }

  // The loop in each instruction set (bounds/vector_isa.hpp).
#define TOUCHSTONE_ADD_PRODUCTS_PARAMS                                                                           \
  const double alo, const double ahi, const double aerr, const double amag, const bool aout, const Rounding r,   \
      const double *__restrict blo, const double *__restrict bhi, const double *__restrict berr,                \
      const double *__restrict bout, double *__restrict slo, double *__restrict shi, double *__restrict serr,   \
      double *__restrict ssize, double *__restrict qlo, double *__restrict qhi, double *__restrict qerr,        \
      double *__restrict out, Index j0, Index j1
#define TOUCHSTONE_ADD_PRODUCTS_ARGS \
  alo, ahi, aerr, amag, aout, r, blo, bhi, berr, bout, slo, shi, serr, ssize, qlo, qhi, qerr, out, j0, j1
  template <bool kFirst, bool kSum, bool kSeq>
  TOUCHSTONE_TARGET_AVX512 static void add_products_avx512(TOUCHSTONE_ADD_PRODUCTS_PARAMS) {
    add_products_loop<kFirst, kSum, kSeq>(TOUCHSTONE_ADD_PRODUCTS_ARGS);
  }
  template <bool kFirst, bool kSum, bool kSeq>
  TOUCHSTONE_TARGET_AVX2 static void add_products_avx2(TOUCHSTONE_ADD_PRODUCTS_PARAMS) {
    add_products_loop<kFirst, kSum, kSeq>(TOUCHSTONE_ADD_PRODUCTS_ARGS);
  }
  template <bool kFirst, bool kSum, bool kSeq>
  static void add_products_baseline(TOUCHSTONE_ADD_PRODUCTS_PARAMS) {
    add_products_loop<kFirst, kSum, kSeq>(TOUCHSTONE_ADD_PRODUCTS_ARGS);
  }
#undef TOUCHSTONE_ADD_PRODUCTS_PARAMS
#undef TOUCHSTONE_ADD_PRODUCTS_ARGS

  // Every array a parameter of its own, restrict-qualified: gcc then needs no run-time alias checks
  // (too many for it to version the loop with twelve arrays). Inlined into each instruction set's copy.
  template <bool kFirst, bool kSum, bool kSeq>
  [[gnu::always_inline]] static inline void add_products_loop(const double alo, const double ahi, const double aerr, const double amag,
                                const bool aout, const Rounding r, const double* __restrict blo,
                                const double* __restrict bhi, const double* __restrict berr,
                                const double* __restrict bout, double* __restrict slo, double* __restrict shi,
                                double* __restrict serr, double* __restrict ssize, double* __restrict qlo,
                                double* __restrict qhi, double* __restrict qerr, double* __restrict out, Index j0,
                                Index j1) {
    using tracked_detail::kOutward;
    using tracked_detail::kTinyD;
    const double u = r.u, eta = r.eta, max_finite = r.max_finite;
    for (Index j = j0; j < j1; ++j) {
      // touchstone::mul: interval_mul (std::min / std::max over the four products, first one kept
      // on ties), moved outwards; the propagated error; the rounding.
      const double p1 = alo * blo[j], p2 = alo * bhi[j], p3 = ahi * blo[j], p4 = ahi * bhi[j];
      double mn = p1, mx = p1;
      mn = p2 < mn ? p2 : mn;
      mn = p3 < mn ? p3 : mn;
      mn = p4 < mn ? p4 : mn;
      mx = mx < p2 ? p2 : mx;
      mx = mx < p3 ? p3 : mx;
      mx = mx < p4 ? p4 : mx;
      const double plo = mn - kOutward * std::fabs(mn) - kTinyD, phi = mx + kOutward * std::fabs(mx) + kTinyD;
      const double bl = std::fabs(blo[j]), bh = std::fabs(bhi[j]);
      const double bmag = (bl < bh ? bh : bl) + kTinyD;
      const double prop = amag * berr[j] + aerr * bmag + aerr * berr[j];
      const double pl = std::fabs(plo), ph = std::fabs(phi);
      const double pmag = (pl < ph ? ph : pl) + kTinyD;
      const double perr = prop + u * (pmag + prop) + eta;
      // TrackedPolicy::checked (`|`: no branch).
      const bool pout = aout | (bout[j] != 0) | !(pmag + perr <= max_finite);
      accumulate_lane<kFirst, kSum, kSeq>(plo, phi, perr, pmag, pout, u, max_finite, slo[j], shi[j], serr[j],
                                          ssize[j], qlo[j], qhi[j], qerr[j], out[j]);
    }
  }

  // The family's accumulate of one term [lo, hi], err (mag: Tracked::mag, outside: its flag) into
  // sum j's fields.
  template <bool kFirst, bool kSum, bool kSeq>
  [[gnu::always_inline]] static inline void accumulate_lane(const double plo, const double phi, const double perr, const double pmag,
                                     const bool pout, const double u, const double max_finite, double& slo,
                                     double& shi, double& serr, double& ssize, double& qlo, double& qhi,
                                     double& qerr, double& out) {
    using tracked_detail::kOutward;
    using tracked_detail::kTinyD;
    bool outside = (out != 0) | pout;  // `s.outside || v.outside`
    if constexpr (kSum) {  // TrackedSum::add_term(v): summands_mag = v.computed_mag()
      const double l0 = slo, h0 = shi;
      slo = (l0 + plo) - kOutward * (std::fabs(l0) + std::fabs(plo)) - kTinyD;
      shi = (h0 + phi) + kOutward * (std::fabs(h0) + std::fabs(phi)) + kTinyD;
      serr += perr;
      ssize += pmag + perr;
    }
    if constexpr (kSeq) {
      if constexpr (kFirst) {  // seq = v, then `s.seq.overflows`
        qlo = plo;
        qhi = phi;
        qerr = perr;
        outside = outside | !(pmag + perr <= max_finite);
      } else {  // touchstone::add(seq, v): interval_add, then the error; then `s.seq.overflows`
        const double l0 = qlo, h0 = qhi;
        const double lo = (l0 + plo) - kOutward * (std::fabs(l0) + std::fabs(plo)) - kTinyD;
        const double hi = (h0 + phi) + kOutward * (std::fabs(h0) + std::fabs(phi)) + kTinyD;
        const double sp = qerr + perr;
        const double al = std::fabs(lo), ah = std::fabs(hi);
        const double smag = (al < ah ? ah : al) + kTinyD;
        const double err = sp + u * (smag + sp);
        qlo = lo;
        qhi = hi;
        qerr = err;
        outside = outside | !(smag + err <= max_finite);
      }
    }
    out = outside ? 1.0 : 0.0;
  }

  Rounding r_;
  ProductSumsKeep keep_;
  std::vector<double> sum_lo_, sum_hi_, sum_err_, sum_size_, seq_lo_, seq_hi_, seq_err_, outside_;
  long long terms_ = 0;
};

// shared_order::lead_and_product_sums for a tracked policy `ar` (acc(), total(Acc), rounding()) whose
// accumulate keeps what `keep` says: y's values are laid out as arrays once, then each row's sums
// are formed together and handed to ar.total in the loop's (i, j) order.
template <class Policy, class First, class Lead, class X, class Y, class Out>
void tracked_product_sums(const Policy& ar, ProductSumsKeep keep, Index rows, Index cols, Index inner,
                          const First& first, const Lead& lead, const X& x, const Y& y, Out&& out) {
  TrackedArrays ys(static_cast<std::size_t>(inner) * static_cast<std::size_t>(cols));
  for (Index l = 0; l < inner; ++l)
    for (Index j = 0; j < cols; ++j) ys.set(static_cast<std::size_t>(l * cols + j), y(l, j));
  // Rows in blocks, so that each of y's rows is read from the cache by all the block's sums.
  constexpr Index kBlock = 8;
  std::vector<TrackedRowSums> sums(static_cast<std::size_t>(kBlock), TrackedRowSums(ar.rounding(), keep));
  for (Index i0 = 0; i0 < rows; i0 += kBlock) {
    const Index i1 = std::min(rows, i0 + kBlock);
    shared_order::ColumnRange range[kBlock];
    for (Index i = i0; i < i1; ++i) {
      const shared_order::ColumnRange c = range[i - i0] = shared_order::row_columns(first, i, cols);
      TrackedRowSums& s = sums[static_cast<std::size_t>(i - i0)];
      s.start(cols);
      if constexpr (!std::is_same_v<Lead, shared_order::NoLead>)
        if (c.begin < c.end) s.add_values([&](Index j) { return lead(i, j); }, c.begin, c.end);
    }
    for (Index l = 0; l < inner; ++l) {
      const std::size_t k = static_cast<std::size_t>(l * cols);
      for (Index i = i0; i < i1; ++i) {
        const shared_order::ColumnRange c = range[i - i0];
        if (c.begin < c.end)
          sums[static_cast<std::size_t>(i - i0)].add_products(x(i, l), ys, k, c.begin, c.end);
      }
    }
    for (Index i = i0; i < i1; ++i)
      for (Index j = range[i - i0].begin; j < range[i - i0].end; ++j)
        out(i, j, ar.total(sums[static_cast<std::size_t>(i - i0)].acc(j, ar.acc())));
  }
}

}  // namespace touchstone::bounds
