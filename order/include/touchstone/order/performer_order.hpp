// The Performer family's operation sequences (spec/performer.md [PERF-SOFTMAX-CPU],
// [PERF-FEATURES-CPU], [PERF-LINEAR-CPU]), written once over an arithmetic policy: the CPU
// backends (optimized/cpu/performer.cpp) run them on float or double (the positive and hyperbolic
// features, linear attention and their VJPs through fast paths that compute every value with the
// same roundings, bit identical to these loops: [PERF-FAST-CPU]), the bounds
// (bounds/src/performer_bound.cpp) on tracked values, sequentially for a backend's own bound or
// with every reduction in any order for `diff` ([PERF-BOUND-ANY]). These are not the oracles
// (reference/performer.hpp), which follow the spec's formulas independently.
//
// A policy Ar provides
//   V                      a computed value;  Acc  a reduction in progress
//   V input(double x)      an input element (a value of the compute format)
//   V constant(double c, double rel)   a constant the code rounds to the compute format; the exact
//                          constant is within rel |c| of the double c
//   V add(V, V), sub(V, V), mul(V, V), div(V, V), exp(V), sin(V), cos(V), max(V, V)   one rounding
//                          each (max none);  V neg(V)  exact
//   Acc acc(); void accumulate(Acc&, const V&); V total(const Acc&)   a sum: the backends add in
//                          the order accumulated; total() is the sum so far
//   V guard_gr(const V& R, const V& eps)   R + 2 eps where |R| <= eps, else R
//   V kernel(Kernel f, const V& t)         a generalized kernel function ([PERF-GENERALIZED-DEF])
// Inputs are read through callables (i, d) -> double of one (batch, head); outputs go to a sink
// (i, c, V).
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "touchstone/core/tensor.hpp"
#include "touchstone/order/product_sums.hpp"
#include "touchstone/reference/performer_problem.hpp"

namespace touchstone::performer::order {

// The constants as the peers compute them in double (d ** -0.25 and friends) before the tensor
// arithmetic rounds them: within 2^-51 relative of the exact constant (at most three correctly
// rounded double operations).
inline constexpr double kConstantRel = 0x1p-51;

// Rows per block where an order forms a block's sums of products together (shared_order::product_sums):
// what it holds at once stays bounded by this many rows.
inline constexpr Index kRowBlock = 256;

// Where the formula's scale and normalization are applied. The CPU backends scale q and k by
// d^-1/4 each and divide at the end; the any-order bound also covers the other placements
// ([PERF-BOUND-ANY]).
struct SoftmaxPlacement {
  bool scale_logits = false;     // s = fl(q . k) d^-1/2 instead of (d^-1/4 q) . (d^-1/4 k)
  bool normalize_first = false;  // out = sum_j fl(e_j / den) v_j instead of fl(sum_j e_j v_j) / den
};

// The scaled inputs of one (batch, head) of softmax attention: q~ = fl(c q), k~ = fl(c k) (or q and
// k themselves when the scale goes on the logits), with c = fl(d^-1/4) and c2 = fl(d^-1/2).
template <class Ar>
struct SoftmaxInputs {
  typename Ar::V c, c2;
  std::vector<typename Ar::V> qs, ks;
};

template <class Ar, class Q, class K>
SoftmaxInputs<Ar> softmax_inputs(Ar& ar, const Q& q, const K& k, Index L, Index D, SoftmaxPlacement placement) {
  const double d = static_cast<double>(D);
  SoftmaxInputs<Ar> in{ar.constant(1 / std::sqrt(std::sqrt(d)), kConstantRel), ar.constant(1 / std::sqrt(d), kConstantRel),
                       {}, {}};
  in.qs.reserve(static_cast<std::size_t>(L * D));
  in.ks.reserve(static_cast<std::size_t>(L * D));
  for (Index i = 0; i < L; ++i)
    for (Index t = 0; t < D; ++t) {
      in.qs.push_back(placement.scale_logits ? ar.input(q(i, t)) : ar.mul(in.c, ar.input(q(i, t))));
      in.ks.push_back(placement.scale_logits ? ar.input(k(i, t)) : ar.mul(in.c, ar.input(k(i, t))));
    }
  return in;
}

// The logits of rows i0 .. i0 + rows - 1 over their keys (j < i + 1 when causal, else j < L):
// s_ij the sequential dot product q~_i . k~_j (times c2 when the scale goes on the logits), at
// s[(i - i0) L + j] (product_sums, a block of rows at a time).
template <class Ar>
void softmax_logits(Ar& ar, const SoftmaxInputs<Ar>& in, Index i0, Index rows, Index L, Index D, bool causal,
                    SoftmaxPlacement placement, std::vector<typename Ar::V>& s) {
  using V = typename Ar::V;
  s.assign(static_cast<std::size_t>(rows * L), ar.input(0));
  touchstone::shared_order::product_sums(
      ar, rows, L, D,
      [&](Index i) { return touchstone::shared_order::ColumnRange{0, causal ? i0 + i + 1 : L}; },
      [&](Index i, Index t) { return in.qs[(i0 + i) * D + t]; }, [&](Index t, Index j) { return in.ks[j * D + t]; },
      [&](Index i, Index j, const V& dot) { s[i * L + j] = placement.scale_logits ? ar.mul(dot, in.c2) : dot; });
}

// A row's weights over its `count` keys from its logits s_0 .. s_(count-1): e_j = exp(s_j - m) with m
// the running maximum; returns den = sum_j e_j in j order.
template <class Ar>
typename Ar::V softmax_row_weights(Ar& ar, const typename Ar::V* s, Index count, std::vector<typename Ar::V>& e) {
  using V = typename Ar::V;
  using Acc = typename Ar::Acc;
  V m = s[0];
  for (Index j = 1; j < count; ++j) m = ar.max(m, s[j]);
  e.clear();
  Acc den = ar.acc();
  for (Index j = 0; j < count; ++j) {
    e.push_back(ar.exp(ar.sub(s[j], m)));
    ar.accumulate(den, e[j]);
  }
  return ar.total(den);
}

// Row i's outputs from its weights: sum_j w_j v_j in j order for every column, then divided by den
// (w = e), or as they are (normalize_first: w = p = e / den).
template <class Ar, class Vin>
std::vector<typename Ar::V> softmax_row_outputs(Ar& ar, const std::vector<typename Ar::V>& w, const typename Ar::V& den,
                                                const Vin& v, Index count, Index E, bool normalize_first) {
  std::vector<typename Ar::Acc> num(static_cast<std::size_t>(E), ar.acc());
  for (Index j = 0; j < count; ++j)
    for (Index c = 0; c < E; ++c) ar.accumulate(num[c], ar.mul(w[j], ar.input(v(j, c))));
  std::vector<typename Ar::V> out;
  for (Index c = 0; c < E; ++c) out.push_back(normalize_first ? ar.total(num[c]) : ar.div(ar.total(num[c]), den));
  return out;
}

// [PERF-SOFTMAX-CPU] One (batch, head) of softmax attention.
// embed-begin softmax_attention_order
template <class Ar, class Q, class K, class Vin, class Sink>
void softmax_attention_head(Ar& ar, const Q& q, const K& k, const Vin& v, Index L, Index D, Index E, bool causal,
                            SoftmaxPlacement placement, Sink&& out) {
  using V = typename Ar::V;
  const SoftmaxInputs<Ar> in = softmax_inputs(ar, q, k, L, D, placement);
  std::vector<V> e, s, w, den;
  for (Index i0 = 0; i0 < L; i0 += kRowBlock) {
    const Index rows = std::min(kRowBlock, L - i0);
    softmax_logits(ar, in, i0, rows, L, D, causal, placement, s);
    if (causal) {  // each row its own number of terms
      for (Index i = i0; i < i0 + rows; ++i) {
        const Index count = i + 1;
        const V d = softmax_row_weights(ar, s.data() + (i - i0) * L, count, e);
        if (placement.normalize_first)
          for (Index j = 0; j < count; ++j) e[j] = ar.div(e[j], d);
        const auto row = softmax_row_outputs(ar, e, d, v, count, E, placement.normalize_first);
        for (Index c = 0; c < E; ++c) out(i, c, row[c]);
      }
      continue;
    }
    // Every row has L terms: the block's weights, then its sums w_j v_j (product_sums).
    w.clear();
    den.clear();
    for (Index i = 0; i < rows; ++i) {
      den.push_back(softmax_row_weights(ar, s.data() + i * L, L, e));
      for (Index j = 0; j < L; ++j) w.push_back(placement.normalize_first ? ar.div(e[j], den.back()) : e[j]);
    }
    touchstone::shared_order::product_sums(
        ar, rows, E, L, touchstone::shared_order::kAllColumns, [&](Index i, Index j) { return w[i * L + j]; },
        [&](Index j, Index c) { return ar.input(v(j, c)); },
        [&](Index i, Index c, const V& num) {
          out(i0 + i, c, placement.normalize_first ? num : ar.div(num, den[i]));
        });
  }
}
// embed-end softmax_attention_order

// [PERF-SOFTMAX-VJP-CPU] One (batch, head) of the VJP of softmax attention: for each row i (in
// order) the forward quantities as softmax_attention_head (s, m, e, den), p_j = e_j / den, out as
// the forward computes it, D = sum_c g_c out_c, then for each j: dp = sum_c g_c v_jc,
// ds = p_j (dp - D), the row's dq accumulating ds k~_j, and dk_j (ds q~_i), dv_j (p_j g_i)
// accumulating over rows; finally dq = c (sum), dk = c (sum), with c = fl(d^-1/4) (with the scale on
// the logits: ds c2 against the unscaled q and k).
// embed-begin softmax_attention_vjp_order
template <class Ar, class Q, class K, class Vin, class G, class Dq, class Dk, class Dv>
void softmax_attention_vjp_head(Ar& ar, const Q& q, const K& k, const Vin& v, const G& g, Index L, Index D, Index E,
                                bool causal, SoftmaxPlacement placement, Dq&& dq, Dk&& dk, Dv&& dv) {
  using V = typename Ar::V;
  using Acc = typename Ar::Acc;
  const SoftmaxInputs<Ar> in = softmax_inputs(ar, q, k, L, D, placement);
  std::vector<Acc> dk_sum(static_cast<std::size_t>(L * D), ar.acc()), dv_sum(static_cast<std::size_t>(L * E), ar.acc());
  std::vector<V> e, pr, gi, s;
  for (Index i = 0; i < L; ++i) {
    if (i % kRowBlock == 0) softmax_logits(ar, in, i, std::min(kRowBlock, L - i), L, D, causal, placement, s);
    const Index count = causal ? i + 1 : L;
    const V den = softmax_row_weights(ar, s.data() + (i % kRowBlock) * L, count, e);
    pr.clear();
    for (Index j = 0; j < count; ++j) pr.push_back(ar.div(e[j], den));
    gi.clear();
    for (Index c_ = 0; c_ < E; ++c_) gi.push_back(ar.input(g(i, c_)));
    const std::vector<V> out = softmax_row_outputs(ar, placement.normalize_first ? pr : e, den, v, count, E,
                                                   placement.normalize_first);
    Acc Di = ar.acc();
    for (Index c_ = 0; c_ < E; ++c_) ar.accumulate(Di, ar.mul(gi[c_], out[c_]));
    const V row_D = ar.total(Di);
    std::vector<Acc> dq_sum(static_cast<std::size_t>(D), ar.acc());
    for (Index j = 0; j < count; ++j) {
      Acc dp = ar.acc();
      for (Index c_ = 0; c_ < E; ++c_) {
        ar.accumulate(dp, ar.mul(gi[c_], ar.input(v(j, c_))));
        ar.accumulate(dv_sum[j * E + c_], ar.mul(pr[j], gi[c_]));
      }
      V ds = ar.mul(pr[j], ar.sub(ar.total(dp), row_D));
      if (placement.scale_logits) ds = ar.mul(ds, in.c2);
      for (Index t = 0; t < D; ++t) {
        ar.accumulate(dq_sum[t], ar.mul(ds, in.ks[j * D + t]));
        ar.accumulate(dk_sum[j * D + t], ar.mul(ds, in.qs[i * D + t]));
      }
    }
    for (Index t = 0; t < D; ++t)
      dq(i, t, placement.scale_logits ? ar.total(dq_sum[t]) : ar.mul(in.c, ar.total(dq_sum[t])));
  }
  for (Index j = 0; j < L; ++j) {
    for (Index t = 0; t < D; ++t)
      dk(j, t, placement.scale_logits ? ar.total(dk_sum[j * D + t]) : ar.mul(in.c, ar.total(dk_sum[j * D + t])));
    for (Index c_ = 0; c_ < E; ++c_) dv(j, c_, ar.total(dv_sum[j * E + c_]));
  }
}
// embed-end softmax_attention_vjp_order

// x~ = fl(c x), diag_i = fl(sum_t x~_t^2) / 2 (or fl(fl(sum_t x_t^2) / 2 c2) when diag_from_raw),
// and u_ij the sequential dot product w_j . x~_i (row-major (L, M)) of one (batch, head): what every
// random-feature map starts from.
template <class V>
struct FeatureProjections {
  std::vector<V> u, diag;
};
template <class Ar, class X, class W>
FeatureProjections<typename Ar::V> feature_projections(Ar& ar, const X& x, const W& w, Index L, Index D, Index M,
                                                       bool diag_from_raw) {
  using V = typename Ar::V;
  using Acc = typename Ar::Acc;
  const double d = static_cast<double>(D);
  const V c = ar.constant(1 / std::sqrt(std::sqrt(d)), kConstantRel);
  const V c2 = ar.constant(1 / std::sqrt(d), kConstantRel);
  const V half = ar.constant(0.5, 0);
  std::vector<V> xs;
  FeatureProjections<V> f;
  xs.reserve(static_cast<std::size_t>(L * D));
  for (Index i = 0; i < L; ++i) {
    Acc sq = ar.acc();
    for (Index t = 0; t < D; ++t) {
      const V xi = ar.input(x(i, t));
      xs.push_back(ar.mul(c, xi));
      ar.accumulate(sq, diag_from_raw ? ar.mul(xi, xi) : ar.mul(xs.back(), xs.back()));
    }
    f.diag.push_back(diag_from_raw ? ar.mul(ar.mul(ar.total(sq), half), c2) : ar.mul(ar.total(sq), half));
  }
  f.u.reserve(static_cast<std::size_t>(L * M));
  touchstone::shared_order::product_sums(
      ar, L, M, D, touchstone::shared_order::kAllColumns, [&](Index i, Index t) { return xs[i * D + t]; },
      [&](Index t, Index j) { return ar.input(w(j, t)); }, [&](Index, Index, const V& u) { f.u.push_back(u); });
  return f;
}

// The exponents of one (batch, head) of the FAVOR+ features: a_ij = (u_ij - diag_i) - shift_i
// (feature_projections), with the running maximum as the shift (per row for a query, per head for
// a key). The hyperbolic map ([PERF-HYPERBOLIC-CPU]) has 2M exponents a row, the last M with -u_ij
// (negation is exact); its shift is the maximum over all 2M. Returned row-major (L, M or 2M).
template <class Ar, class X, class W>
std::vector<typename Ar::V> favor_plus_exponents(Ar& ar, const X& x, const W& w, Index L, Index D, Index M,
                                                 bool is_query, bool diag_from_raw, bool hyperbolic = false) {
  using V = typename Ar::V;
  const FeatureProjections<V> f = feature_projections(ar, x, w, L, D, M, diag_from_raw);
  const Index Wd = hyperbolic ? 2 * M : M;
  std::vector<V> su;
  su.reserve(static_cast<std::size_t>(L * Wd));
  for (Index i = 0; i < L; ++i)
    for (Index j = 0; j < Wd; ++j) su.push_back(j < M ? f.u[i * M + j] : ar.neg(f.u[i * M + j - M]));
  V key_shift = su[0];
  if (!is_query)
    for (const V& ui : su) key_shift = ar.max(key_shift, ui);
  std::vector<V> a;
  a.reserve(su.size());
  for (Index i = 0; i < L; ++i) {
    V shift = key_shift;
    if (is_query) {
      shift = su[i * Wd];
      for (Index j = 1; j < Wd; ++j) shift = ar.max(shift, su[i * Wd + j]);
    }
    for (Index j = 0; j < Wd; ++j) a.push_back(ar.sub(ar.sub(su[i * Wd + j], f.diag[i]), shift));
  }
  return a;
}

// [PERF-FEATURES-CPU] One (batch, head) of the FAVOR+ positive features (and of the hyperbolic
// ones, [PERF-HYPERBOLIC-CPU]: the 2M exponents, fl((2M)^-1/2)). diag_from_raw: the squared norm as
// fl(fl(sum x^2) / 2 * fl(d^-1/2)) (performer-pytorch) instead of fl(sum (d^-1/4 x)^2) / 2 (the CPU
// backends); the any-order bound covers both.
// embed-begin favor_plus_features_order
template <class Ar, class X, class W, class Sink>
void favor_plus_features_head(Ar& ar, const X& x, const W& w, Index L, Index D, Index M, bool is_query, double eps,
                              bool diag_from_raw, Sink&& out, bool hyperbolic = false) {
  using V = typename Ar::V;
  const Index Wd = hyperbolic ? 2 * M : M;
  const V ratio = ar.constant(1 / std::sqrt(static_cast<double>(Wd)), kConstantRel);
  const V eps_v = ar.constant(eps, 0);
  const std::vector<V> a = favor_plus_exponents(ar, x, w, L, D, M, is_query, diag_from_raw, hyperbolic);
  for (Index i = 0; i < L; ++i)
    for (Index j = 0; j < Wd; ++j) out(i, j, ar.mul(ratio, ar.add(ar.exp(a[i * Wd + j]), eps_v)));
}
// embed-end favor_plus_features_order

// [PERF-TRIG-CPU] One (batch, head) of the trigonometric features: feature_projections, top =
// the running maximum of diag over the positions, s_i = exp(diag_i - top), and
// phi_ij = fl(fl(cos u_ij * fl(M^-1/2)) * s_i), phi_i,M+j the same with sin. scale_first: fl(cos u_ij
// * fl(fl(M^-1/2) * s_i)) instead (the other association; the any-order bound covers both).
// embed-begin trig_features_order
template <class Ar, class X, class W, class Sink>
void trig_features_head(Ar& ar, const X& x, const W& w, Index L, Index D, Index M, bool diag_from_raw,
                        bool scale_first, Sink&& out) {
  using V = typename Ar::V;
  const V ratio = ar.constant(1 / std::sqrt(static_cast<double>(M)), kConstantRel);
  const FeatureProjections<V> f = feature_projections(ar, x, w, L, D, M, diag_from_raw);
  V top = f.diag[0];
  for (const V& di : f.diag) top = ar.max(top, di);
  for (Index i = 0; i < L; ++i) {
    const V s = ar.exp(ar.sub(f.diag[i], top));
    const V rs = scale_first ? ar.mul(ratio, s) : s;
    for (Index j = 0; j < M; ++j) {
      const V u = f.u[i * M + j];
      out(i, j, scale_first ? ar.mul(ar.cos(u), rs) : ar.mul(ar.mul(ar.cos(u), ratio), s));
      out(i, M + j, scale_first ? ar.mul(ar.sin(u), rs) : ar.mul(ar.mul(ar.sin(u), ratio), s));
    }
  }
}
// embed-end trig_features_order

// [PERF-TRIG-VJP-CPU] One (batch, head) of the trigonometric features' VJP, top held constant:
// the forward's projections, top and s_i; per row rs = fl(fl(M^-1/2) s_i), then for each j in order
// A_j = fl(fl(gs_j cos u_j) - fl(gc_j sin u_j)) into S1 = sum_j A_j w_j and
// B_j = fl(fl(gc_j cos u_j) + fl(gs_j sin u_j)) into S2; dx = fl(fl(c fl(rs S1)) + fl(c2 fl(x fl(rs S2)))).
// embed-begin trig_features_vjp_order
template <class Ar, class X, class W, class G, class Sink>
void trig_features_vjp_head(Ar& ar, const X& x, const W& w, const G& g, Index L, Index D, Index M,
                            bool diag_from_raw, Sink&& dx) {
  using V = typename Ar::V;
  using Acc = typename Ar::Acc;
  const double d = static_cast<double>(D);
  const V c = ar.constant(1 / std::sqrt(std::sqrt(d)), kConstantRel);
  const V c2 = ar.constant(1 / std::sqrt(d), kConstantRel);
  const V ratio = ar.constant(1 / std::sqrt(static_cast<double>(M)), kConstantRel);
  const FeatureProjections<V> f = feature_projections(ar, x, w, L, D, M, diag_from_raw);
  V top = f.diag[0];
  for (const V& di : f.diag) top = ar.max(top, di);
  // Rows in blocks: a block's rs, A_j and S2, then its S1 (product_sums).
  std::vector<V> As, rs, S2;
  for (Index i0 = 0; i0 < L; i0 += kRowBlock) {
    const Index rows = std::min(kRowBlock, L - i0);
    As.clear();
    rs.clear();
    S2.clear();
    for (Index i = i0; i < i0 + rows; ++i) {
      rs.push_back(ar.mul(ratio, ar.exp(ar.sub(f.diag[i], top))));
      Acc s2 = ar.acc();
      for (Index j = 0; j < M; ++j) {
        const V u = f.u[i * M + j], cu = ar.cos(u), su = ar.sin(u);
        const V gc = ar.input(g(i, j)), gs = ar.input(g(i, M + j));
        As.push_back(ar.sub(ar.mul(gs, cu), ar.mul(gc, su)));
        ar.accumulate(s2, ar.add(ar.mul(gc, cu), ar.mul(gs, su)));
      }
      S2.push_back(ar.mul(rs.back(), ar.total(s2)));
    }
    touchstone::shared_order::product_sums(
        ar, rows, D, M, touchstone::shared_order::kAllColumns, [&](Index i, Index j) { return As[i * M + j]; },
        [&](Index j, Index t) { return ar.input(w(j, t)); },
        [&](Index i, Index t, const V& s1) {
          dx(i0 + i, t, ar.add(ar.mul(c, ar.mul(rs[i], s1)), ar.mul(c2, ar.mul(ar.input(x(i0 + i, t)), S2[i]))));
        });
  }
}
// embed-end trig_features_vjp_order

// [PERF-FEATURES-VJP-CPU] One (batch, head) of the FAVOR+ features' VJP: the forward's exponents
// (favor_plus_exponents), then per row e_j = exp(a_j), G_j = fl(fl(g_j r) e_j), S1 = sum_j G_j w_j
// and S2 = sum_j G_j in j order, dx = fl(fl(c S1) - fl(c2 fl(x S2))). eps adds a constant: no
// gradient. The hyperbolic map ([PERF-HYPERBOLIC-VJP]): the 2M exponents, S1 adding (-G_j) w_j for
// the last M.
// embed-begin favor_plus_features_vjp_order
template <class Ar, class X, class W, class G, class Sink>
void favor_plus_features_vjp_head(Ar& ar, const X& x, const W& w, const G& g, Index L, Index D, Index M,
                                  bool is_query, bool diag_from_raw, Sink&& dx, bool hyperbolic = false) {
  using V = typename Ar::V;
  using Acc = typename Ar::Acc;
  const double d = static_cast<double>(D);
  const Index Wd = hyperbolic ? 2 * M : M;
  const V c = ar.constant(1 / std::sqrt(std::sqrt(d)), kConstantRel);
  const V c2 = ar.constant(1 / std::sqrt(d), kConstantRel);
  const V ratio = ar.constant(1 / std::sqrt(static_cast<double>(Wd)), kConstantRel);
  const std::vector<V> a = favor_plus_exponents(ar, x, w, L, D, M, is_query, diag_from_raw, hyperbolic);
  // Rows in blocks: a block's G_j (and S2), then its S1 (product_sums).
  std::vector<V> gw, S2;
  for (Index i0 = 0; i0 < L; i0 += kRowBlock) {
    const Index rows = std::min(kRowBlock, L - i0);
    gw.clear();
    S2.clear();
    for (Index i = i0; i < i0 + rows; ++i) {
      Acc s2 = ar.acc();
      for (Index j = 0; j < Wd; ++j) {
        const V Gj = ar.mul(ar.mul(ar.input(g(i, j)), ratio), ar.exp(a[i * Wd + j]));
        ar.accumulate(s2, Gj);
        gw.push_back(j < M ? Gj : ar.neg(Gj));
      }
      S2.push_back(ar.total(s2));
    }
    touchstone::shared_order::product_sums(
        ar, rows, D, Wd, touchstone::shared_order::kAllColumns, [&](Index i, Index j) { return gw[i * Wd + j]; },
        [&](Index j, Index t) { return ar.input(w(j < M ? j : j - M, t)); },
        [&](Index i, Index t, const V& s1) {
          dx(i0 + i, t, ar.sub(ar.mul(c, s1), ar.mul(c2, ar.mul(ar.input(x(i0 + i, t)), S2[i]))));
        });
  }
}
// embed-end favor_plus_features_vjp_order

// [PERF-GENERALIZED-CPU] One (batch, head) of the generalized features: x~ = fl(c x) (c = 1
// exactly without normalize_data), t = the sequential dot product w_j . x~ (or x~ itself without a
// projection), phi = fl(f(t) + kernel_eps), f through the policy's kernel(f, t).
// embed-begin generalized_features_order
template <class Ar, class X, class W, class Sink>
void generalized_features_head(Ar& ar, const X& x, const W& w, bool projected, Index L, Index D, Index M, Kernel f,
                               bool normalize_data, double kernel_eps, Sink&& out) {
  using V = typename Ar::V;
  const V c = ar.constant(normalize_data ? 1 / std::sqrt(std::sqrt(static_cast<double>(D))) : 1.0,
                          normalize_data ? kConstantRel : 0.0);
  const V eps = ar.constant(kernel_eps, 0);
  // Rows in blocks (bounded memory): x~ for the block, then its dot products (product_sums).
  std::vector<V> xs;
  for (Index i0 = 0; i0 < L; i0 += kRowBlock) {
    const Index rows = std::min(kRowBlock, L - i0);
    xs.clear();
    for (Index i = i0; i < i0 + rows; ++i)
      for (Index t = 0; t < D; ++t) xs.push_back(ar.mul(c, ar.input(x(i, t))));
    if (!projected) {
      for (Index i = 0; i < rows; ++i)
        for (Index j = 0; j < M; ++j) out(i0 + i, j, ar.add(ar.kernel(f, xs[i * D + j]), eps));
      continue;
    }
    touchstone::shared_order::product_sums(
        ar, rows, M, D, touchstone::shared_order::kAllColumns, [&](Index i, Index s) { return xs[i * D + s]; },
        [&](Index s, Index j) { return ar.input(w(j, s)); },
        [&](Index i, Index j, const V& t) { out(i0 + i, j, ar.add(ar.kernel(f, t), eps)); });
  }
}
// embed-end generalized_features_order

// [PERF-GENERALIZED-VJP-CPU] One (batch, head) of the generalized features' VJP: the forward's x~
// and t, G_j = fl(g_j f'(t_j)), dx = fl(c fl(sum_j G_j w_j)) in j order with a projection, dx_j =
// fl(c G_j) without. f' through the policy's kernel_derivative(f, t).
// embed-begin generalized_features_vjp_order
template <class Ar, class X, class W, class G, class Sink>
void generalized_features_vjp_head(Ar& ar, const X& x, const W& w, const G& g, bool projected, Index L, Index D,
                                   Index M, Kernel f, bool normalize_data, Sink&& dx) {
  using V = typename Ar::V;
  const V c = ar.constant(normalize_data ? 1 / std::sqrt(std::sqrt(static_cast<double>(D))) : 1.0,
                          normalize_data ? kConstantRel : 0.0);
  // Rows in blocks: a block's x~, its dot products and G_j (product_sums), then its sums (product_sums).
  std::vector<V> xs, Gs;
  for (Index i0 = 0; i0 < L; i0 += kRowBlock) {
    const Index rows = std::min(kRowBlock, L - i0);
    xs.clear();
    for (Index i = i0; i < i0 + rows; ++i)
      for (Index t = 0; t < D; ++t) xs.push_back(ar.mul(c, ar.input(x(i, t))));
    if (!projected) {
      for (Index i = 0; i < rows; ++i)
        for (Index j = 0; j < M; ++j)
          dx(i0 + i, j, ar.mul(c, ar.mul(ar.input(g(i0 + i, j)), ar.kernel_derivative(f, xs[i * D + j]))));
      continue;
    }
    Gs.clear();
    touchstone::shared_order::product_sums(
        ar, rows, M, D, touchstone::shared_order::kAllColumns, [&](Index i, Index t) { return xs[i * D + t]; },
        [&](Index t, Index j) { return ar.input(w(j, t)); },
        [&](Index i, Index j, const V& t) { Gs.push_back(ar.mul(ar.input(g(i0 + i, j)), ar.kernel_derivative(f, t))); });
    touchstone::shared_order::product_sums(
        ar, rows, D, M, touchstone::shared_order::kAllColumns, [&](Index i, Index j) { return Gs[i * M + j]; },
        [&](Index j, Index t) { return ar.input(w(j, t)); },
        [&](Index i, Index t, const V& s) { dx(i0 + i, t, ar.mul(c, s)); });
  }
}
// embed-end generalized_features_vjp_order

// [PERF-LINEAR-CPU] One (batch, head) of linear attention given features: the key sums S and
// P = sum_j k_j v_j^T accumulated in position order (running, for causal), then
// R_i = q_i . S (+ the guard), W_i = q_i^T P, out = W_i / R_i. scale_queries_first: out =
// sum_f fl(q_if fl(1 / R_i)) P_fc instead (a three-operand einsum may contract q with 1/R first);
// the any-order bound covers both.
// embed-begin linear_attention_order
template <class Ar, class Q, class K, class Vin, class Sink>
void linear_attention_head(Ar& ar, const Q& q, const K& k, const Vin& v, Index L, Index M, Index E, bool causal,
                           Guard guard, double guard_eps, bool scale_queries_first, Sink&& out) {
  using V = typename Ar::V;
  using Acc = typename Ar::Acc;
  const V eps = ar.constant(guard_eps, 0);
  std::vector<Acc> S(static_cast<std::size_t>(M), ar.acc()), P(static_cast<std::size_t>(M * E), ar.acc());
  auto add_key = [&](Index j) {
    for (Index f = 0; f < M; ++f) {
      const V kf = ar.input(k(j, f));
      ar.accumulate(S[f], kf);
      for (Index c_ = 0; c_ < E; ++c_) ar.accumulate(P[f * E + c_], ar.mul(kf, ar.input(v(j, c_))));
    }
  };
  // The sums are read where they are used (total() is the running value for the backends; no copy
  // of the M x E state per position).
  if (!causal)
    for (Index j = 0; j < L; ++j) add_key(j);
  for (Index i = 0; i < L; ++i) {
    if (causal) add_key(i);
    Acc r = ar.acc();
    for (Index f = 0; f < M; ++f)
      ar.accumulate(r, ar.mul(ar.input(q(i, f)), guard == Guard::lr && causal ? ar.add(ar.total(S[f]), eps) : ar.total(S[f])));
    V R = ar.total(r);
    if (guard == Guard::gr) R = ar.guard_gr(R, eps);
    if (scale_queries_first) {
      const V recip = ar.div(ar.constant(1, 0), R);
      std::vector<V> qr;
      for (Index f = 0; f < M; ++f) qr.push_back(ar.mul(ar.input(q(i, f)), recip));
      for (Index c_ = 0; c_ < E; ++c_) {
        Acc w = ar.acc();
        for (Index f = 0; f < M; ++f) ar.accumulate(w, ar.mul(qr[f], ar.total(P[f * E + c_])));
        out(i, c_, ar.total(w));
      }
      continue;
    }
    for (Index c_ = 0; c_ < E; ++c_) {
      Acc w = ar.acc();
      for (Index f = 0; f < M; ++f) ar.accumulate(w, ar.mul(ar.input(q(i, f)), ar.total(P[f * E + c_])));
      out(i, c_, ar.div(ar.total(w), R));
    }
  }
}
// embed-end linear_attention_order

// [PERF-LINEAR-VJP-CPU] One (batch, head) of the VJP of linear attention. The forward sums as in
// linear_attention_head; then, for i from L - 1 down to 0, with the prefix state (S_i, P_i):
// S~ = S (+ eps for lr), R = q_i . S~ (guarded), W_c = q_i . P_:c, out_c = W_c / R,
// dW_c = g_c / R, dR = -(sum_c g_c out_c) / R, dq_if = sum_c P_fc dW_c + dR S~_f; the suffix sums
// C += q_i dW^T, D += dR q_i; dk_if = sum_c v_ic C_fc + D_f, dv_ic = sum_f k_if C_fc. Causal
// prefix states are read from the stored forward sums (subtraction = false) or recovered from the
// final state by P <- P - k_i v_i^T, S <- S - k_i after step i (subtraction = true, as
// google-research's custom gradient and SLiM do). Bidirectional: the totals, and dk, dv after
// every query has entered C and D. slice > 0 ([PERF-SLICES], causal, stored): the forward pass
// keeps only the running sums at the start of each slice of `slice` positions; when the backward
// pass enters a slice it adds that slice's keys to a copy of them again, in the same order, and
// keeps the slice's states: every state is the same computed value as the stored form's, with
// (L / slice + slice) states held instead of L.
// embed-begin linear_attention_vjp_order
template <class Ar, class Q, class K, class Vin, class G, class Dq, class Dk, class Dv>
void linear_attention_vjp_head(Ar& ar, const Q& q, const K& k, const Vin& v, const G& g, Index L, Index M, Index E,
                               bool causal, Guard guard, double guard_eps, bool subtraction, Dq&& dq, Dk&& dk,
                               Dv&& dv, Index slice = 0) {
  using V = typename Ar::V;
  using Acc = typename Ar::Acc;
  const V eps = ar.constant(guard_eps, 0), zero = ar.constant(0, 0);
  const bool lr = guard == Guard::lr && causal, stored = causal && !subtraction, sliced = stored && slice > 0;
  const std::size_t ME = static_cast<std::size_t>(M * E);
  // The forward sums: every prefix state (stored), the running sums at each slice's start
  // (sliced), or the totals (bidirectional, subtraction).
  std::vector<Acc> S(static_cast<std::size_t>(M), ar.acc()), P(ME, ar.acc());
  std::vector<V> Sst, Pst;  // stored: (L, M) and (L, M, E); sliced: one slice's
  std::vector<std::vector<Acc>> Sb, Pb;  // sliced: the running sums before key s * slice
  auto add_key = [&](std::vector<Acc>& s, std::vector<Acc>& p, Index j) {
    for (Index f = 0; f < M; ++f) {
      const V kf = ar.input(k(j, f));
      ar.accumulate(s[f], kf);
      for (Index c = 0; c < E; ++c) ar.accumulate(p[f * E + c], ar.mul(kf, ar.input(v(j, c))));
    }
  };
  auto keep = [&](const std::vector<Acc>& s, const std::vector<Acc>& p) {
    for (const Acc& a : s) Sst.push_back(ar.total(a));
    for (const Acc& a : p) Pst.push_back(ar.total(a));
  };
  for (Index j = 0; j < L; ++j) {
    if (sliced && j % slice == 0) Sb.push_back(S), Pb.push_back(P);
    add_key(S, P, j);
    if (stored && !sliced) keep(S, P);
  }
  std::vector<V> Scur, Pcur;  // the state of the current step (totals when not stored)
  for (const Acc& a : S) Scur.push_back(ar.total(a));
  for (const Acc& a : P) Pcur.push_back(ar.total(a));
  Index slice_start = L;  // sliced: the first position of the slice whose states Sst, Pst hold

  std::vector<Acc> C(ME, ar.acc()), D(static_cast<std::size_t>(M), ar.acc());
  std::vector<V> St(static_cast<std::size_t>(M)), dW(static_cast<std::size_t>(E));
  auto key_grads = [&](Index j) {
    for (Index f = 0; f < M; ++f) {
      Acc s = ar.acc();
      for (Index c = 0; c < E; ++c) ar.accumulate(s, ar.mul(ar.input(v(j, c)), ar.total(C[f * E + c])));
      dk(j, f, ar.add(ar.total(s), ar.total(D[f])));
    }
    for (Index c = 0; c < E; ++c) {
      Acc s = ar.acc();
      for (Index f = 0; f < M; ++f) ar.accumulate(s, ar.mul(ar.input(k(j, f)), ar.total(C[f * E + c])));
      dv(j, c, ar.total(s));
    }
  };
  for (Index i = L - 1; i >= 0; --i) {
    if (sliced && i < slice_start) {
      // Entering slice i / slice from its end: its states again, from the sums at its start.
      slice_start = i / slice * slice;
      std::vector<Acc> s = Sb[static_cast<std::size_t>(i / slice)], p = Pb[static_cast<std::size_t>(i / slice)];
      Sst.clear();
      Pst.clear();
      for (Index j = slice_start; j <= i; ++j) {
        add_key(s, p, j);
        keep(s, p);
      }
    }
    const Index at = sliced ? i - slice_start : i;
    const V* Si = stored ? &Sst[static_cast<std::size_t>(at * M)] : Scur.data();
    const V* Pi = stored ? &Pst[static_cast<std::size_t>(at) * ME] : Pcur.data();
    Acc r = ar.acc();
    for (Index f = 0; f < M; ++f) {
      St[f] = lr ? ar.add(Si[f], eps) : Si[f];
      ar.accumulate(r, ar.mul(ar.input(q(i, f)), St[f]));
    }
    V R = ar.total(r);
    if (guard == Guard::gr) R = ar.guard_gr(R, eps);
    Acc g_out = ar.acc();
    for (Index c = 0; c < E; ++c) {
      Acc w = ar.acc();
      for (Index f = 0; f < M; ++f) ar.accumulate(w, ar.mul(ar.input(q(i, f)), Pi[f * E + c]));
      const V gc = ar.input(g(i, c));
      dW[c] = ar.div(gc, R);
      ar.accumulate(g_out, ar.mul(gc, ar.div(ar.total(w), R)));
    }
    const V dR = ar.sub(zero, ar.div(ar.total(g_out), R));
    for (Index f = 0; f < M; ++f) {
      Acc d = ar.acc();
      for (Index c = 0; c < E; ++c) ar.accumulate(d, ar.mul(Pi[f * E + c], dW[c]));
      dq(i, f, ar.add(ar.total(d), ar.mul(dR, St[f])));
      const V qf = ar.input(q(i, f));
      ar.accumulate(D[f], ar.mul(dR, qf));
      for (Index c = 0; c < E; ++c) ar.accumulate(C[f * E + c], ar.mul(qf, dW[c]));
    }
    if (causal) key_grads(i);
    if (causal && subtraction)
      for (Index f = 0; f < M; ++f) {
        const V kf = ar.input(k(i, f));
        Scur[f] = ar.sub(Scur[f], kf);
        for (Index c = 0; c < E; ++c) Pcur[f * E + c] = ar.sub(Pcur[f * E + c], ar.mul(kf, ar.input(v(i, c))));
      }
  }
  if (!causal)
    for (Index j = 0; j < L; ++j) key_grads(j);
}
// embed-end linear_attention_vjp_order

// [PERF-SLIM-CPU] SLiM's layer ([PERF-SLIM-DEF]): the VJP of one causal Performer layer with
// cotangent dy, slice by slice. `in` reads the inputs (x(i, d), w_q(d, e), w_k, w_v, w(j, e) the
// projection, w_o(e, d), dy(i, d), as doubles); `out` takes dx(i, d, V), dw_q(d, e, V), dw_k,
// dw_v and dw_o(e, d, V). Each row's pieces, in the order written once here:
//   a = sequential dot of x_i with a column of W (q, k and v);
//   features: x~ = fl(c a), t_j = sequential dot w_j . x~ (x~_j without a projection),
//     phi_j = fl(f(t_j) + kernel_eps) (as generalized_features_head);
//   feature VJP: da = fl(c sum_j fl(g_j f'(t_j)) w_j) in j order (as generalized_features_vjp_head).
// Forward: for i = 0..L-1, k_i, v_i and k'_i, S += k'_i, P += k'_i v_i^T (every prefix state kept
// when stored). Backward, over the slices [s, s + C) from the last (C = slice, or L), the slice's
// rows recomputed (q, k, v, their features), then for i from the slice's end down to s:
// do = sequential W_o dy_i; with the state (S_i, P_i): R = q'_i . S_i, o_c = fl(q'_i . P_:c) / R,
// dW_c = do_c / R, dR = 0 - (sum_c do_c o_c) / R; dW_o += o_i dy_i^T; dq'_f = fl(P_f: . dW) + dR S_f;
// the suffix sums D += dR q'_i, C += q'_i dW^T; dk'_f = fl(v_i . C_f:) + D_f, dv_c = k'_i . C_:c;
// subtraction: S -= k'_i, P -= k'_i v_i^T; dq, dk from the feature VJP; dx_i = one sequential sum
// over e of dq_e W_q(d, e), then dk_e W_k(d, e), then dv_e W_v(d, e); dW_q += x_i dq^T, dW_k, dW_v
// likewise. Every accumulation runs in the same i order whatever C is, and a row's pieces are
// recomputed by the same operations, so with subtraction every slice size gives the same values
// bit for bit; the stored form differs only in how S_i, P_i are obtained.
// embed-begin slim_layer_vjp_order
struct SlimLayerShape {
  Index L, D, Dh, M;
  bool projected;
  Kernel kernel;
  double kernel_eps;
  Index slice;  // 0: the whole sequence as one slice
  bool subtraction;
};

// One row's pieces of the layer ([PERF-SLIM-CPU]): projections, features and the features' VJP,
// shared by the forward and the backward so that both compute a row by the same operations.
template <class Ar, class In>
struct SlimRowOps {
  using V = typename Ar::V;
  using Acc = typename Ar::Acc;
  struct Row {
    std::vector<V> q, k, v, tq, tk, qf, kf;
  };
  Ar& ar;
  const In& in;
  const SlimLayerShape& s;
  V c, eps;
  SlimRowOps(Ar& a, const In& i, const SlimLayerShape& shape)
      : ar(a),
        in(i),
        s(shape),
        c(a.constant(1 / std::sqrt(std::sqrt(static_cast<double>(shape.Dh))), kConstantRel)),
        eps(a.constant(shape.kernel_eps, 0)) {}
  // a_e = sequential dot of x_i with column e of W (which: 0 q, 1 k, 2 v).
  void project(Index i, int which, std::vector<V>& a) const {
    a.clear();
    for (Index e = 0; e < s.Dh; ++e) {
      Acc dot = ar.acc();
      for (Index d = 0; d < s.D; ++d) {
        const double w = which == 0 ? in.w_q(d, e) : (which == 1 ? in.w_k(d, e) : in.w_v(d, e));
        ar.accumulate(dot, ar.mul(ar.input(in.x(i, d)), ar.input(w)));
      }
      a.push_back(ar.total(dot));
    }
  }
  void features(const std::vector<V>& a, std::vector<V>& t, std::vector<V>& phi) const {
    std::vector<V> xs;
    for (Index e = 0; e < s.Dh; ++e) xs.push_back(ar.mul(c, a[e]));
    t.clear();
    phi.clear();
    for (Index j = 0; j < s.M; ++j) {
      if (s.projected) {
        Acc dot = ar.acc();
        for (Index e = 0; e < s.Dh; ++e) ar.accumulate(dot, ar.mul(xs[e], ar.input(in.w(j, e))));
        t.push_back(ar.total(dot));
      } else {
        t.push_back(xs[j]);
      }
      phi.push_back(ar.add(ar.kernel(s.kernel, t.back()), eps));
    }
  }
  void feature_vjp(const std::vector<V>& t, const std::vector<V>& g, std::vector<V>& da) const {
    da.clear();
    if (!s.projected) {
      for (Index j = 0; j < s.M; ++j) da.push_back(ar.mul(c, ar.mul(g[j], ar.kernel_derivative(s.kernel, t[j]))));
      return;
    }
    std::vector<Acc> sum(static_cast<std::size_t>(s.Dh), ar.acc());
    for (Index j = 0; j < s.M; ++j) {
      const V G = ar.mul(g[j], ar.kernel_derivative(s.kernel, t[j]));
      for (Index e = 0; e < s.Dh; ++e) ar.accumulate(sum[e], ar.mul(G, ar.input(in.w(j, e))));
    }
    for (Index e = 0; e < s.Dh; ++e) da.push_back(ar.mul(c, ar.total(sum[e])));
  }
  // k, v and the key features; with queries also q and the query features.
  void row(Index i, Row& r, bool queries) const {
    project(i, 1, r.k);
    project(i, 2, r.v);
    features(r.k, r.tk, r.kf);
    if (!queries) return;
    project(i, 0, r.q);
    features(r.q, r.tq, r.qf);
  }
  // o_e = fl(q'_i . P_:e) / R with R = sequential q'_i . S.
  V attention_row(const Row& r, const V* Si, const V* Pi, std::vector<V>& o) const {
    Acc racc = ar.acc();
    for (Index f = 0; f < s.M; ++f) ar.accumulate(racc, ar.mul(r.qf[f], Si[f]));
    const V R = ar.total(racc);
    o.clear();
    for (Index e = 0; e < s.Dh; ++e) {
      Acc w = ar.acc();
      for (Index f = 0; f < s.M; ++f) ar.accumulate(w, ar.mul(r.qf[f], Pi[f * s.Dh + e]));
      o.push_back(ar.div(ar.total(w), R));
    }
    return R;
  }
};

// [PERF-SLIM-CPU] The forward of the layer: for i = 0..L-1 the row's pieces, S += k'_i,
// P += k'_i v_i^T, o_i from the running state as the backward computes it, y_id = sequential
// sum_e o_ie W_o(e, d); out.y(i, d, V).
template <class Ar, class In, class Out>
void slim_layer_forward(Ar& ar, const In& in, const SlimLayerShape& s, Out& out) {
  using V = typename Ar::V;
  using Acc = typename Ar::Acc;
  const SlimRowOps<Ar, In> ops(ar, in, s);
  const std::size_t MD = static_cast<std::size_t>(s.M * s.Dh);
  std::vector<Acc> S(static_cast<std::size_t>(s.M), ar.acc()), P(MD, ar.acc());
  std::vector<V> Si, Pi, o;
  typename SlimRowOps<Ar, In>::Row r;
  for (Index i = 0; i < s.L; ++i) {
    ops.row(i, r, true);
    for (Index f = 0; f < s.M; ++f) {
      ar.accumulate(S[f], r.kf[f]);
      for (Index e = 0; e < s.Dh; ++e) ar.accumulate(P[f * s.Dh + e], ar.mul(r.kf[f], r.v[e]));
    }
    Si.clear();
    Pi.clear();
    for (const Acc& a : S) Si.push_back(ar.total(a));
    for (const Acc& a : P) Pi.push_back(ar.total(a));
    ops.attention_row(r, Si.data(), Pi.data(), o);
    for (Index d = 0; d < s.D; ++d) {
      Acc y = ar.acc();
      for (Index e = 0; e < s.Dh; ++e) ar.accumulate(y, ar.mul(o[e], ar.input(in.w_o(e, d))));
      out.y(i, d, ar.total(y));
    }
  }
}

template <class Ar, class In, class Out>
void slim_layer_vjp(Ar& ar, const In& in, const SlimLayerShape& s, Out& out) {
  using V = typename Ar::V;
  using Acc = typename Ar::Acc;
  const Index L = s.L, D = s.D, Dh = s.Dh, M = s.M;
  const V zero = ar.constant(0, 0);
  const std::size_t MD = static_cast<std::size_t>(M * Dh);
  const SlimRowOps<Ar, In> ops(ar, in, s);
  using Row = typename SlimRowOps<Ar, In>::Row;
  auto row = [&](Index i, Row& r, bool queries) { ops.row(i, r, queries); };
  auto feature_vjp = [&](const std::vector<V>& t, const std::vector<V>& g, std::vector<V>& da) {
    ops.feature_vjp(t, g, da);
  };

  // Forward: the key sums in position order; every prefix state kept when stored.
  const bool stored = !s.subtraction;
  std::vector<Acc> S(static_cast<std::size_t>(M), ar.acc()), P(MD, ar.acc());
  std::vector<V> Sst, Pst;
  {
    Row r;
    for (Index i = 0; i < L; ++i) {
      row(i, r, false);
      for (Index f = 0; f < M; ++f) {
        ar.accumulate(S[f], r.kf[f]);
        for (Index e = 0; e < Dh; ++e) ar.accumulate(P[f * Dh + e], ar.mul(r.kf[f], r.v[e]));
      }
      if (stored) {
        for (const Acc& a : S) Sst.push_back(ar.total(a));
        for (const Acc& a : P) Pst.push_back(ar.total(a));
      }
    }
  }
  std::vector<V> Scur, Pcur;
  if (!stored) {
    for (const Acc& a : S) Scur.push_back(ar.total(a));
    for (const Acc& a : P) Pcur.push_back(ar.total(a));
  }

  // Backward, slice by slice from the last.
  std::vector<Acc> Cs(MD, ar.acc()), Ds(static_cast<std::size_t>(M), ar.acc());
  std::vector<Acc> dWq(static_cast<std::size_t>(D * Dh), ar.acc()), dWk(dWq), dWv(dWq), dWo(dWq);
  const Index C = s.slice > 0 ? s.slice : L;
  std::vector<Row> rows;
  std::vector<V> dout(static_cast<std::size_t>(Dh)), o(static_cast<std::size_t>(Dh)), dW(static_cast<std::size_t>(Dh));
  std::vector<V> dqf(static_cast<std::size_t>(M)), dkf(static_cast<std::size_t>(M)), dv(static_cast<std::size_t>(Dh));
  std::vector<V> dq, dk;
  for (Index end = L; end > 0;) {
    const Index start = (end - 1) / C * C;
    rows.assign(static_cast<std::size_t>(end - start), Row{});
    for (Index i = start; i < end; ++i) row(i, rows[static_cast<std::size_t>(i - start)], true);
    for (Index i = end - 1; i >= start; --i) {
      const Row& r = rows[static_cast<std::size_t>(i - start)];
      for (Index e = 0; e < Dh; ++e) {
        Acc a = ar.acc();
        for (Index d = 0; d < D; ++d) ar.accumulate(a, ar.mul(ar.input(in.w_o(e, d)), ar.input(in.dy(i, d))));
        dout[e] = ar.total(a);
      }
      const V* Si = stored ? &Sst[static_cast<std::size_t>(i * M)] : Scur.data();
      const V* Pi = stored ? &Pst[static_cast<std::size_t>(i) * MD] : Pcur.data();
      const V R = ops.attention_row(r, Si, Pi, o);
      Acc g_out = ar.acc();
      for (Index e = 0; e < Dh; ++e) {
        dW[e] = ar.div(dout[e], R);
        ar.accumulate(g_out, ar.mul(dout[e], o[e]));
      }
      const V dR = ar.sub(zero, ar.div(ar.total(g_out), R));
      for (Index e = 0; e < Dh; ++e)
        for (Index d = 0; d < D; ++d) ar.accumulate(dWo[e * D + d], ar.mul(o[e], ar.input(in.dy(i, d))));
      for (Index f = 0; f < M; ++f) {
        Acc a = ar.acc();
        for (Index e = 0; e < Dh; ++e) ar.accumulate(a, ar.mul(Pi[f * Dh + e], dW[e]));
        dqf[f] = ar.add(ar.total(a), ar.mul(dR, Si[f]));
        ar.accumulate(Ds[f], ar.mul(dR, r.qf[f]));
        for (Index e = 0; e < Dh; ++e) ar.accumulate(Cs[f * Dh + e], ar.mul(r.qf[f], dW[e]));
      }
      for (Index f = 0; f < M; ++f) {
        Acc a = ar.acc();
        for (Index e = 0; e < Dh; ++e) ar.accumulate(a, ar.mul(r.v[e], ar.total(Cs[f * Dh + e])));
        dkf[f] = ar.add(ar.total(a), ar.total(Ds[f]));
      }
      for (Index e = 0; e < Dh; ++e) {
        Acc a = ar.acc();
        for (Index f = 0; f < M; ++f) ar.accumulate(a, ar.mul(r.kf[f], ar.total(Cs[f * Dh + e])));
        dv[e] = ar.total(a);
      }
      if (!stored)
        for (Index f = 0; f < M; ++f) {
          Scur[f] = ar.sub(Scur[f], r.kf[f]);
          for (Index e = 0; e < Dh; ++e) Pcur[f * Dh + e] = ar.sub(Pcur[f * Dh + e], ar.mul(r.kf[f], r.v[e]));
        }
      feature_vjp(r.tq, dqf, dq);
      feature_vjp(r.tk, dkf, dk);
      for (Index d = 0; d < D; ++d) {
        Acc a = ar.acc();
        for (Index e = 0; e < Dh; ++e) ar.accumulate(a, ar.mul(dq[e], ar.input(in.w_q(d, e))));
        for (Index e = 0; e < Dh; ++e) ar.accumulate(a, ar.mul(dk[e], ar.input(in.w_k(d, e))));
        for (Index e = 0; e < Dh; ++e) ar.accumulate(a, ar.mul(dv[e], ar.input(in.w_v(d, e))));
        out.dx(i, d, ar.total(a));
        const V xd = ar.input(in.x(i, d));
        for (Index e = 0; e < Dh; ++e) {
          ar.accumulate(dWq[d * Dh + e], ar.mul(xd, dq[e]));
          ar.accumulate(dWk[d * Dh + e], ar.mul(xd, dk[e]));
          ar.accumulate(dWv[d * Dh + e], ar.mul(xd, dv[e]));
        }
      }
    }
    end = start;
  }
  for (Index d = 0; d < D; ++d)
    for (Index e = 0; e < Dh; ++e) {
      out.dw_q(d, e, ar.total(dWq[d * Dh + e]));
      out.dw_k(d, e, ar.total(dWk[d * Dh + e]));
      out.dw_v(d, e, ar.total(dWv[d * Dh + e]));
      out.dw_o(e, d, ar.total(dWo[e * D + d]));
    }
}
// embed-end slim_layer_vjp_order

// [PERF-RF-ORTHO-CPU] performer.gaussian_orthogonal_random_matrix given each block's Q: qblock(k)
// returns block k's Q (d x d, row-major) as orthogonal.qf's order computes it
// (orthogonal::order::qf_values, modified Gram-Schmidt, run by the caller on the block), and row
// j = k d + i of W is fl(s_j q_ti) for t = 0..d-1, with s_j = fl(sqrt(fl(g_j0^2) + ... +
// fl(g_j,d-1^2))) summed in t order (scaling 0) or s_j = fl(sqrt(d)) (scaling 1). The policy also
// provides V sqrt(V) (one rounding). The last block gives its first m - k d rows.
// embed-begin gaussian_orthogonal_order
template <class Ar, class QBlock, class Gin, class Sink>
void gaussian_orthogonal_rows(Ar& ar, Index m, Index d, int scaling, QBlock&& qblock, const Gin& g, Sink&& out) {
  using V = typename Ar::V;
  const Index nb = (m + d - 1) / d;
  auto multiplier = [&](Index j) -> V {
    if (scaling == 1) return ar.sqrt(ar.input(static_cast<double>(d)));
    auto a = ar.acc();
    for (Index t = 0; t < d; ++t) {
      const V x = ar.input(g(j, t));
      ar.accumulate(a, ar.mul(x, x));
    }
    return ar.sqrt(ar.total(a));
  };
  for (Index k = 0; k < nb; ++k) {
    const std::vector<V> q = qblock(k);
    for (Index i = 0; i < d && k * d + i < m; ++i) {
      const Index j = k * d + i;
      const V s = multiplier(j);
      for (Index t = 0; t < d; ++t) out(j, t, ar.mul(s, q[static_cast<std::size_t>(t * d + i)]));
    }
  }
}
// embed-end gaussian_orthogonal_order

// [PERF-RF-IID-CPU] performer.iid_projection, as random_projection rescales (scaling 1): per row j,
// n = fl(sqrt(fl(g_j0^2) + ... + fl(g_j,d-1^2))) summed in t order, c = fl(fl(sqrt(d)) / n), and
// W_jt = fl(g_jt c). The policy also provides V sqrt(V).
// embed-begin iid_projection_order
template <class Ar, class Gin, class Sink>
void iid_projection_rows(Ar& ar, Index m, Index d, const Gin& g, Sink&& out) {
  using V = typename Ar::V;
  const V root_d = ar.sqrt(ar.input(static_cast<double>(d)));
  for (Index j = 0; j < m; ++j) {
    auto a = ar.acc();
    for (Index t = 0; t < d; ++t) {
      const V x = ar.input(g(j, t));
      ar.accumulate(a, ar.mul(x, x));
    }
    const V c = ar.div(root_d, ar.sqrt(ar.total(a)));
    for (Index t = 0; t < d; ++t) out(j, t, ar.mul(ar.input(g(j, t)), c));
  }
}
// embed-end iid_projection_order

}  // namespace touchstone::performer::order
