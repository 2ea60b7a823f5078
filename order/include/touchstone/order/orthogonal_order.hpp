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
//   kRefinesSolves, refine_solve(s, L, rhs, x, transpose)   a bound's hook after each substitution
//                          with S (the backends have kRefinesSolves = false)
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
  std::vector<typename Ar::V> u, s, norm;  // norm_i = fl(sqrt(fl(v_i . v_i)))
};

template <class Ar, class Vin>
CwyFactors<Ar> cwy_factors(Ar& ar, const Vin& v, Index L, Index N) {
  CwyFactors<Ar> f;
  f.u.reserve(static_cast<std::size_t>(L * N));
  for (Index i = 0; i < L; ++i) {
    auto vv = ar.acc();
    for (Index k = 0; k < N; ++k) ar.accumulate(vv, ar.mul(ar.input(v(i, k)), ar.input(v(i, k))));
    f.norm.push_back(ar.sqrt(ar.total(vv)));
    for (Index k = 0; k < N; ++k) f.u.push_back(ar.unit(ar.div(ar.input(v(i, k)), f.norm.back())));
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
void solve_s_steps(Ar& ar, const CwyFactors<Ar>& f, Index L, std::vector<typename Ar::V>& x, bool transpose) {
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

// The substitution; a bound's policy (kRefinesSolves) may then tighten what it knows of the
// solution from the right-hand side ([ORTH-CWY-NORMWISE]); the computed values are the same.
template <class Ar>
void solve_s(Ar& ar, const CwyFactors<Ar>& f, Index L, std::vector<typename Ar::V>& x, bool transpose) {
  if constexpr (Ar::kRefinesSolves) {
    const std::vector<typename Ar::V> rhs = x;
    solve_s_steps(ar, f, L, x, transpose);
    ar.refine_solve(f.s, L, rhs, x, transpose);
  } else {
    solve_s_steps(ar, f, L, x, transpose);
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

// [ORTH-CWY-VJP-CPU] [ORTH-TCWY-VJP-CPU] dl/dV of the first C columns of Q (C = N: CWY; C = M = L:
// T-CWY) given G = dl/dQ (N x C), without forming S^-1: CWY's factors; Y = U1 G^T (y_ir = sum_c
// u_ic g_rc in c order), X1 = S^-1 Y column by column; Z = U G (z_ic = sum_r u_ir g_rc in r order),
// X3 = S^-T Z; K = Z U1^T (in c order); T1 = S^-T K column by column, P_ij = (S^-1 T1_i:^T)_j for
// i < j (row by row); du_ik = -X1_ik - X3_ik [k < C] + sum_{j != i} D_ij u_jk in j order with
// D_ij = P_ij (i < j) or P_ji (i > j); then dv_ik = fl(fl(du_ik - fl(u_ik a_i)) / norm_i) with
// a_i = u_i . du_i sequential in k.
// embed-begin cwy_vjp_order
template <class Ar, class Vin, class Gin, class Sink>
void cwy_vjp(Ar& ar, const Vin& v, const Gin& g, Index L, Index N, Index C, Sink&& out) {
  using V = typename Ar::V;
  const CwyFactors<Ar> f = cwy_factors(ar, v, L, N);
  std::vector<V> gs;
  gs.reserve(static_cast<std::size_t>(N * C));
  for (Index r = 0; r < N; ++r)
    for (Index c = 0; c < C; ++c) gs.push_back(ar.input(g(r, c)));
  auto U = [&](Index i, Index k) -> const V& { return f.u[i * N + k]; };
  std::vector<V> col(static_cast<std::size_t>(L), ar.input(0));
  // X1 (L x N) = S^-1 U1 G^T, by columns r
  std::vector<V> x1(static_cast<std::size_t>(L * N), ar.input(0));
  for (Index r = 0; r < N; ++r) {
    for (Index i = 0; i < L; ++i) {
      auto t = ar.acc();
      for (Index c = 0; c < C; ++c) ar.accumulate(t, ar.mul(U(i, c), gs[r * C + c]));
      col[i] = ar.total(t);
    }
    solve_s(ar, f, L, col, false);
    for (Index i = 0; i < L; ++i) x1[i * N + r] = col[i];
  }
  // Z = U G (L x C) and X3 = S^-T Z, by columns c
  std::vector<V> z(static_cast<std::size_t>(L * C), ar.input(0)), x3(static_cast<std::size_t>(L * C), ar.input(0));
  for (Index c = 0; c < C; ++c) {
    for (Index i = 0; i < L; ++i) {
      auto t = ar.acc();
      for (Index r = 0; r < N; ++r) ar.accumulate(t, ar.mul(U(i, r), gs[r * C + c]));
      z[i * C + c] = col[i] = ar.total(t);
    }
    solve_s(ar, f, L, col, true);
    for (Index i = 0; i < L; ++i) x3[i * C + c] = col[i];
  }
  // K = Z U1^T (L x L); T1 = S^-T K by columns; P = striu(T1 S^-T) by rows of T1
  std::vector<V> t1(static_cast<std::size_t>(L * L), ar.input(0)), pm(static_cast<std::size_t>(L * L), ar.input(0));
  for (Index j = 0; j < L; ++j) {
    for (Index i = 0; i < L; ++i) {
      auto t = ar.acc();
      for (Index c = 0; c < C; ++c) ar.accumulate(t, ar.mul(z[i * C + c], U(j, c)));
      col[i] = ar.total(t);
    }
    solve_s(ar, f, L, col, true);
    for (Index i = 0; i < L; ++i) t1[i * L + j] = col[i];
  }
  for (Index i = 0; i < L; ++i) {
    for (Index j = 0; j < L; ++j) col[j] = t1[i * L + j];
    solve_s(ar, f, L, col, false);
    for (Index j = i + 1; j < L; ++j) pm[i * L + j] = col[j];
  }
  std::vector<V> du(static_cast<std::size_t>(N), ar.input(0));
  for (Index i = 0; i < L; ++i) {
    auto a = ar.acc();
    for (Index k = 0; k < N; ++k) {
      auto t = ar.acc();
      ar.accumulate(t, ar.neg(x1[i * N + k]));
      if (k < C) ar.accumulate(t, ar.neg(x3[i * C + k]));
      for (Index j = 0; j < L; ++j)
        if (j != i) ar.accumulate(t, ar.mul(j > i ? pm[i * L + j] : pm[j * L + i], U(j, k)));
      du[k] = ar.total(t);
      ar.accumulate(a, ar.mul(U(i, k), du[k]));
    }
    const V proj = ar.total(a);
    for (Index k = 0; k < N; ++k) out(i, k, ar.div(ar.sub(du[k], ar.mul(U(i, k), proj)), f.norm[i]));
  }
}
// embed-end cwy_vjp_order

// [ORTH-LAPACK-CPU] The first n columns of H_1 ... H_k in the LAPACK convention, column by column
// (dorg2r's backward accumulation, without its blocking): y = e_c, then for i = k..1:
// w = y_i + A_i+1,i y_i+1 + ... + A_m,i y_m (in j order), t = fl(tau_i w), y_i = fl(y_i - t),
// y_j = fl(y_j - fl(t A_ji)) for j > i.
// embed-begin householder_product_lapack_order
template <class Ar, class Ain, class Tin, class Sink>
void householder_product_lapack(Ar& ar, const Ain& a, const Tin& tau, Index m, Index n, Index k, Sink&& out) {
  using V = typename Ar::V;
  std::vector<V> y(static_cast<std::size_t>(m), ar.input(0));
  for (Index c = 0; c < n; ++c) {
    for (Index r = 0; r < m; ++r) y[r] = ar.input(r == c ? 1 : 0);
    for (Index i = k - 1; i >= 0; --i) {
      auto w = ar.acc();
      ar.accumulate(w, y[i]);
      for (Index j = i + 1; j < m; ++j) ar.accumulate(w, ar.mul(ar.input(a(j, i)), y[j]));
      const V t = ar.mul(ar.input(tau(i)), ar.total(w));
      y[i] = ar.sub(y[i], t);
      for (Index j = i + 1; j < m; ++j) y[j] = ar.sub(y[j], ar.mul(t, ar.input(a(j, i))));
    }
    for (Index r = 0; r < m; ++r) out(r, c, y[r]);
  }
}
// embed-end householder_product_lapack_order

// [ORTH-CAYLEY-CPU] The Cayley map as M Q = R solved by Gaussian elimination without pivoting
// (M's symmetric part is I, so no pivot is small): M = I - A/2, R = I + A/2 (pytorch) or M = I + A,
// R = I - A (exprnn), the halving and the negation exact but for underflow; for k = 0..n-1 and
// i > k: l = m_ik / m_kk, m_ij = fl(m_ij - fl(l m_kj)) (j > k), r_ic = fl(r_ic - fl(l r_kc)); then
// for i = n-1..0: q_ic = fl(fl(r_ic - sum_j>i m_ij q_jc) / m_ii), the sum accumulated in j order.
// embed-begin cayley_order
template <class Ar, class Ain, class Sink>
void cayley(Ar& ar, const Ain& a, Index n, bool pytorch, Sink&& out) {
  using V = typename Ar::V;
  const V half = ar.input(0.5), one = ar.input(1);
  std::vector<V> m, r;
  m.reserve(static_cast<std::size_t>(n * n));
  r.reserve(static_cast<std::size_t>(n * n));
  for (Index i = 0; i < n; ++i)
    for (Index k = 0; k < n; ++k) {
      if (i == k) {  // A's diagonal is zero
        m.push_back(one);
        r.push_back(one);
        continue;
      }
      const V x = pytorch ? ar.mul(half, ar.input(a(i, k))) : ar.input(a(i, k));
      m.push_back(pytorch ? ar.neg(x) : x);
      r.push_back(pytorch ? x : ar.neg(x));
    }
  for (Index k = 0; k < n; ++k)
    for (Index i = k + 1; i < n; ++i) {
      const V l = ar.div(m[i * n + k], m[k * n + k]);
      for (Index j = k + 1; j < n; ++j) m[i * n + j] = ar.sub(m[i * n + j], ar.mul(l, m[k * n + j]));
      for (Index c = 0; c < n; ++c) r[i * n + c] = ar.sub(r[i * n + c], ar.mul(l, r[k * n + c]));
    }
  std::vector<V> q(static_cast<std::size_t>(n * n), one);
  for (Index i = n - 1; i >= 0; --i)
    for (Index c = 0; c < n; ++c) {
      auto s = ar.acc();
      for (Index j = i + 1; j < n; ++j) ar.accumulate(s, ar.mul(m[i * n + j], q[j * n + c]));
      q[i * n + c] = ar.div(i + 1 < n ? ar.sub(r[i * n + c], ar.total(s)) : r[i * n + c], m[i * n + i]);
    }
  for (Index i = 0; i < n; ++i)
    for (Index c = 0; c < n; ++c) out(i, c, q[i * n + c]);
}
// embed-end cayley_order

}  // namespace touchstone::orthogonal::order
