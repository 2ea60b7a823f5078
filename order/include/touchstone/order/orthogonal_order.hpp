// The orthogonal family's operation sequences (spec/orthogonal.md [ORTH-HH-CPU], [ORTH-CWY-CPU],
// [ORTH-CWY-APPLY-CPU], [ORTH-TCWY-CPU]), written once over an arithmetic policy: the CPU backends
// (optimized/cpu/orthogonal.cpp) run them on float or double, the bounds
// (bounds/src/orthogonal_bound.cpp) on tracked values, sequentially for a backend's own bound or
// with every reduction in any order for `diff` ([ORTH-BOUND-ANY]). These are not the oracles
// (reference/orthogonal.hpp), which follow the definitions independently.
//
// A policy Ar provides
//   V                      a computed value;  Acc  a reduction in progress
//   V input(double x)      an input element (a value of the compute format)
//   V add(V, V), sub(V, V), mul(V, V), div(V, V), sqrt(V)   one rounding each
//   V twice(V), neg(V)     2 x and -x (exact in binary arithmetic, barring overflow)
//   V unit(V)              the same computed value; the bound may use that the exact value lies in
//                          [-1, 1] (an entry of an orthogonal matrix or of a unit vector, or the
//                          inner product of two unit vectors)
//   Acc acc(); void accumulate(Acc&, const V&); V total(const Acc&)   a sum: the backends add in
//                          the order accumulated
// Inputs are read through callables; outputs go to a sink (row, column, V).
#pragma once

#include <vector>

#include "touchstone/core/tensor.hpp"

namespace touchstone::orthogonal::order {

// [ORTH-HH-CPU] Q = H(v_1) ... H(v_L), row by row: y = e_r, then for i = 1..L in order
// y <- y - fl(beta_i fl(y . v_i)) v_i with beta_i = fl(2 / fl(v_i . v_i)), every dot product
// sequential in k. (Row r of Q is e_r^T H(v_1) ... H(v_L).)
// embed-begin householder_product_order
template <class Ar, class Vin, class Sink>
void householder_product(Ar& ar, const Vin& v, Index L, Index N, Sink&& out) {
  using V = typename Ar::V;
  std::vector<V> vs, beta;
  vs.reserve(static_cast<std::size_t>(L * N));
  for (Index i = 0; i < L; ++i) {
    auto vv = ar.acc();
    for (Index k = 0; k < N; ++k) {
      vs.push_back(ar.input(v(i, k)));
      ar.accumulate(vv, ar.mul(vs.back(), vs.back()));
    }
    beta.push_back(ar.div(ar.input(2), ar.total(vv)));
  }
  std::vector<V> y;
  for (Index r = 0; r < N; ++r) {
    y.clear();
    for (Index k = 0; k < N; ++k) y.push_back(ar.input(k == r ? 1 : 0));
    for (Index i = 0; i < L; ++i) {
      auto dot = ar.acc();
      for (Index k = 0; k < N; ++k) ar.accumulate(dot, ar.mul(y[k], vs[i * N + k]));
      const V t = ar.mul(beta[i], ar.total(dot));
      for (Index k = 0; k < N; ++k) y[k] = ar.unit(ar.sub(y[k], ar.mul(t, vs[i * N + k])));
    }
    for (Index k = 0; k < N; ++k) out(r, k, y[k]);
  }
}
// embed-end householder_product_order

// The CWY factors of [ORTH-CWY-CPU]: u_i = v_i / fl(sqrt(fl(v_i . v_i))) (L x N, row-major) and the
// strict upper triangle of S, s_ij = fl(u_i . u_j) for i < j (row-major L x L; the diagonal is 1/2
// and never stored), every dot product sequential in k.
template <class Ar>
struct CwyFactors {
  std::vector<typename Ar::V> u, s;
};

template <class Ar, class Vin>
CwyFactors<Ar> cwy_factors(Ar& ar, const Vin& v, Index L, Index N) {
  CwyFactors<Ar> f;
  f.u.reserve(static_cast<std::size_t>(L * N));
  for (Index i = 0; i < L; ++i) {
    auto vv = ar.acc();
    for (Index k = 0; k < N; ++k) ar.accumulate(vv, ar.mul(ar.input(v(i, k)), ar.input(v(i, k))));
    const auto norm = ar.sqrt(ar.total(vv));
    for (Index k = 0; k < N; ++k) f.u.push_back(ar.unit(ar.div(ar.input(v(i, k)), norm)));
  }
  f.s.assign(static_cast<std::size_t>(L * L), ar.input(0));
  for (Index i = 0; i < L; ++i)
    for (Index j = i + 1; j < L; ++j) {
      auto g = ar.acc();
      for (Index k = 0; k < N; ++k) ar.accumulate(g, ar.mul(f.u[i * N + k], f.u[j * N + k]));
      f.s[i * L + j] = ar.unit(ar.total(g));
    }
  return f;
}

// x <- S^-1 x by back substitution (transpose: S^-T x by forward substitution), S = I/2 + the
// stored strict upper triangle: x_i = 2 (x_i - s_i,i+1 x_i+1 - ... - s_i,L x_L), subtracted in j
// order (transpose: x_i - s_1i x_1 - ... - s_i-1,i x_i-1), one rounding per product and per
// subtraction; the halving of the diagonal is the exact doubling.
template <class Ar>
void solve_s(Ar& ar, const CwyFactors<Ar>& f, Index L, std::vector<typename Ar::V>& x, bool transpose) {
  for (Index n = 0; n < L; ++n) {
    const Index i = transpose ? n : L - 1 - n;
    auto t = ar.acc();
    ar.accumulate(t, x[i]);
    if (!transpose)
      for (Index j = i + 1; j < L; ++j) ar.accumulate(t, ar.neg(ar.mul(f.s[i * L + j], x[j])));
    else
      for (Index j = 0; j < i; ++j) ar.accumulate(t, ar.neg(ar.mul(f.s[j * L + i], x[j])));
    x[i] = ar.twice(ar.total(t));
  }
}

// [ORTH-CWY-CPU] [ORTH-TCWY-CPU] The first C columns of Q = I - U^T S^-1 U: per column c,
// w = S^-1 u_{:,c} (solve_s), then Q_rc = delta_rc - u_1r w_1 - ... - u_Lr w_L subtracted in i order.
// embed-begin cwy_order
template <class Ar, class Vin, class Sink>
void cwy_columns(Ar& ar, const Vin& v, Index L, Index N, Index C, Sink&& out) {
  using V = typename Ar::V;
  const CwyFactors<Ar> f = cwy_factors(ar, v, L, N);
  std::vector<V> w(static_cast<std::size_t>(L), ar.input(0));
  for (Index c = 0; c < C; ++c) {
    for (Index i = 0; i < L; ++i) w[i] = f.u[i * N + c];
    solve_s(ar, f, L, w, false);
    for (Index r = 0; r < N; ++r) {
      auto t = ar.acc();
      ar.accumulate(t, ar.input(r == c ? 1 : 0));
      for (Index i = 0; i < L; ++i) ar.accumulate(t, ar.neg(ar.mul(f.u[i * N + r], w[i])));
      out(r, c, ar.unit(ar.total(t)));
    }
  }
}
// embed-end cwy_order

// [ORTH-CWY-APPLY-CPU] y = h - U^T S^-1 U h (transpose: S^-T) for each row h of H (B x N), without
// forming Q: a_i = fl(u_i . h) sequential in k, s = S^-1 a (solve_s), y_k = h_k - u_1k s_1 - ... -
// u_Lk s_L subtracted in i order.
// embed-begin cwy_apply_order
template <class Ar, class Vin, class Hin, class Sink>
void cwy_apply(Ar& ar, const Vin& v, const Hin& h, Index B, Index L, Index N, bool transpose, Sink&& out) {
  using V = typename Ar::V;
  const CwyFactors<Ar> f = cwy_factors(ar, v, L, N);
  std::vector<V> hs(static_cast<std::size_t>(N), ar.input(0)), s(static_cast<std::size_t>(L), ar.input(0));
  for (Index b = 0; b < B; ++b) {
    for (Index k = 0; k < N; ++k) hs[k] = ar.input(h(b, k));
    for (Index i = 0; i < L; ++i) {
      auto a = ar.acc();
      for (Index k = 0; k < N; ++k) ar.accumulate(a, ar.mul(f.u[i * N + k], hs[k]));
      s[i] = ar.total(a);
    }
    solve_s(ar, f, L, s, transpose);
    for (Index k = 0; k < N; ++k) {
      auto t = ar.acc();
      ar.accumulate(t, hs[k]);
      for (Index i = 0; i < L; ++i) ar.accumulate(t, ar.neg(ar.mul(f.u[i * N + k], s[i])));
      out(b, k, ar.total(t));
    }
  }
}
// embed-end cwy_apply_order

}  // namespace touchstone::orthogonal::order
