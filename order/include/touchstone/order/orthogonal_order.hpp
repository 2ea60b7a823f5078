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
//   V sin(V), cos(V)       the matching steps' rotations (the backends: glibc's binary64 functions,
//                          rounded to float32 for cpu-f32; the bounds: within their ulps)
//   V unit(V)              the same computed value; the bound may use that the exact value lies in
//                          [-1, 1] (an entry of an orthogonal matrix or of a unit vector, or the
//                          inner product of two unit vectors)
//   Acc acc(); void accumulate(Acc&, const V&); V total(const Acc&)   a sum: the backends add in
//                          the order accumulated
//   kRefinesSolves, refine_solve(s, L, rhs, x, transpose)   a bound's hook after each substitution
//                          with S (the backends have kRefinesSolves = false)
// Inputs are read through callables; outputs go to a sink (row, column, V).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "touchstone/core/tensor.hpp"
#include "touchstone/order/product_sums.hpp"
#include "touchstone/reference/orthogonal_problem.hpp"

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
  touchstone::shared_order::product_sums(
      ar, L, L, N, [](Index i) { return i + 1; }, [&](Index i, Index k) { return f.u[i * N + k]; },
      [&](Index k, Index j) { return f.u[j * N + k]; },
      [&](Index i, Index j, const typename Ar::V& v) { f.s[i * L + j] = ar.unit(v); });
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
    // Row i's terms j = i + 1 .. L - 1 (transpose: column i's, j = 0 .. i - 1), in j order, as a count
    // of terms: the same operations as a loop on j, without g++ 12's false -Waggressive-loop-optimizations
    // on that loop (i + 1 <= L always: no iteration can overflow).
    const Index first = transpose ? 0 : i + 1, count = transpose ? i : L - 1 - i;
    for (Index c = 0; c < count; ++c) {
      const Index j = first + c;
      ar.accumulate(t, ar.neg(ar.mul(f.s[transpose ? j * L + i : i * L + j], x[j])));
    }
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

// [ORTH-CWY-SOLVE-COLUMNS] solve_s on each of the K columns of x (L x K, row-major), in turn. The
// columns do not depend on one another, so a policy may solve them together: one that provides a
// member solve_s_columns(s, L, x, K, transpose) is called instead (the bounds' tracked policy, which
// runs solve_s_steps' operations for a row of every column at once, then its refine_solve per
// column; bounds/src/orthogonal_bound.cpp). The backends' policies have none and run the loop.
template <class Ar>
void solve_s_columns(Ar& ar, const CwyFactors<Ar>& f, Index L, std::vector<typename Ar::V>& x, Index K,
                     bool transpose) {
  if constexpr (requires { ar.solve_s_columns(f.s, L, x, K, transpose); }) {
    ar.solve_s_columns(f.s, L, x, K, transpose);
  } else {
    std::vector<typename Ar::V> col(static_cast<std::size_t>(L), ar.input(0));
    for (Index c = 0; c < K; ++c) {
      for (Index i = 0; i < L; ++i) col[i] = x[i * K + c];
      solve_s(ar, f, L, col, transpose);
      for (Index i = 0; i < L; ++i) x[i * K + c] = col[i];
    }
  }
}

// [ORTH-CWY-CPU] [ORTH-TCWY-CPU] The first C columns of Q = I - U^T S^-1 U: per column c,
// w = S^-1 u_{:,c} (solve_s), then Q_rc = delta_rc - u_1r w_1 - ... - u_Lr w_L subtracted in i order
// (the columns' solves first, then the sums: each element's operations are the same; each term
// -fl(u_ir w_i) as fl((-u_ir) w_i), the same value, so that the sums are product_sums).
// embed-begin cwy_order
template <class Ar, class Vin, class Sink>
void cwy_columns(Ar& ar, const Vin& v, Index L, Index N, Index C, Sink&& out) {
  using V = typename Ar::V;
  const CwyFactors<Ar> f = cwy_factors(ar, v, L, N);
  std::vector<V> w(static_cast<std::size_t>(L * C), ar.input(0));  // W = S^-1 U_{:, 0..C-1}
  for (Index i = 0; i < L; ++i)
    for (Index c = 0; c < C; ++c) w[i * C + c] = f.u[i * N + c];
  solve_s_columns(ar, f, L, w, C, false);
  touchstone::shared_order::lead_and_product_sums(
      ar, N, C, L, touchstone::shared_order::kAllColumns, [&](Index r, Index c) { return ar.input(r == c ? 1 : 0); },
      [&](Index r, Index i) { return ar.neg(f.u[i * N + r]); }, [&](Index i, Index c) { return w[i * C + c]; },
      [&](Index r, Index c, const V& x) { out(r, c, ar.unit(x)); });
}
// embed-end cwy_order

// [ORTH-CWY-APPLY-CPU] y = h - U^T S^-1 U h (transpose: S^-T) for each row h of H (B x N), without
// forming Q: a_i = fl(u_i . h) sequential in k, s = S^-1 a (solve_s), y_k = h_k - u_1k s_1 - ... -
// u_Lk s_L subtracted in i order. (Every row's a first, then the solves, then the sums: each
// element's operations are the same; each term -fl(u_ik s_i) as fl((-u_ik) s_i), the same value.)
// embed-begin cwy_apply_order
template <class Ar, class Vin, class Hin, class Sink>
void cwy_apply(Ar& ar, const Vin& v, const Hin& h, Index B, Index L, Index N, bool transpose, Sink&& out) {
  using V = typename Ar::V;
  const CwyFactors<Ar> f = cwy_factors(ar, v, L, N);
  std::vector<V> hs, s(static_cast<std::size_t>(L * B), ar.input(0));  // s: L x B, column b for row b of H
  hs.reserve(static_cast<std::size_t>(B * N));
  for (Index b = 0; b < B; ++b)
    for (Index k = 0; k < N; ++k) hs.push_back(ar.input(h(b, k)));
  touchstone::shared_order::product_sums(
      ar, L, B, N, touchstone::shared_order::kAllColumns, [&](Index i, Index k) { return f.u[i * N + k]; },
      [&](Index k, Index b) { return hs[b * N + k]; }, [&](Index i, Index b, const V& x) { s[i * B + b] = x; });
  solve_s_columns(ar, f, L, s, B, transpose);
  touchstone::shared_order::lead_and_product_sums(
      ar, N, B, L, touchstone::shared_order::kAllColumns, [&](Index k, Index b) { return hs[b * N + k]; },
      [&](Index k, Index i) { return ar.neg(f.u[i * N + k]); }, [&](Index i, Index b) { return s[i * B + b]; },
      [&](Index k, Index b, const V& x) { out(b, k, x); });
}
// embed-end cwy_apply_order

// [ORTH-CWY-VJP-CPU] du of cwy_vjp (L x N, row-major): du_ik = -x1_ik - x3_ik [k < C] + sum_{j != i}
// D_ij u_jk in j order with D_ij = pm_ij (i < j) or pm_ji (i > j). The rows do not depend on one
// another: a policy that provides a member cwy_vjp_du(u, x1, x3, pm, L, N, C, du) is called instead
// (the bounds' tracked policy forms a row's sums together, every element by these operations).
template <class Ar>
void cwy_vjp_du(Ar& ar, const CwyFactors<Ar>& f, const std::vector<typename Ar::V>& x1,
                const std::vector<typename Ar::V>& x3, const std::vector<typename Ar::V>& pm, Index L, Index N,
                Index C, std::vector<typename Ar::V>& du) {
  if constexpr (requires { ar.cwy_vjp_du(f.u, x1, x3, pm, L, N, C, du); }) {
    ar.cwy_vjp_du(f.u, x1, x3, pm, L, N, C, du);
  } else {
    for (Index i = 0; i < L; ++i)
      for (Index k = 0; k < N; ++k) {
        auto t = ar.acc();
        ar.accumulate(t, ar.neg(x1[i * N + k]));
        if (k < C) ar.accumulate(t, ar.neg(x3[i * C + k]));
        for (Index j = 0; j < L; ++j)
          if (j != i) ar.accumulate(t, ar.mul(j > i ? pm[i * L + j] : pm[j * L + i], f.u[j * N + k]));
        du[i * N + k] = ar.total(t);
      }
  }
}

// [ORTH-CWY-VJP-CPU] [ORTH-TCWY-VJP-CPU] dl/dV of the first C columns of Q (C = N: CWY; C = M = L:
// T-CWY) given G = dl/dQ (N x C), without forming S^-1: CWY's factors; Y = U1 G^T (y_ir = sum_c
// u_ic g_rc in c order), X1 = S^-1 Y column by column; Z = U G (z_ic = sum_r u_ir g_rc in r order),
// X3 = S^-T Z; K = Z U1^T (in c order); T1 = S^-T K column by column, P_ij = (S^-1 T1_i:^T)_j for
// i < j (row by row); du_ik = -X1_ik - X3_ik [k < C] + sum_{j != i} D_ij u_jk in j order with
// D_ij = P_ij (i < j) or P_ji (i > j); then dv_ik = fl(fl(du_ik - fl(u_ik a_i)) / norm_i) with
// a_i = u_i . du_i sequential in k. (Each product in full, then its solves: the elements' operations
// are the same in any order of the elements; the products are product_sums, the solves
// solve_s_columns.)
// embed-begin cwy_vjp_order
template <class Ar, class Vin, class Gin, class Sink>
void cwy_vjp(Ar& ar, const Vin& v, const Gin& g, Index L, Index N, Index C, Sink&& out) {
  using V = typename Ar::V;
  using touchstone::shared_order::kAllColumns;
  const CwyFactors<Ar> f = cwy_factors(ar, v, L, N);
  std::vector<V> gs;
  gs.reserve(static_cast<std::size_t>(N * C));
  for (Index r = 0; r < N; ++r)
    for (Index c = 0; c < C; ++c) gs.push_back(ar.input(g(r, c)));
  auto U = [&](Index i, Index k) -> const V& { return f.u[i * N + k]; };
  // X1 (L x N) = S^-1 U1 G^T, by columns r
  std::vector<V> x1(static_cast<std::size_t>(L * N), ar.input(0));
  touchstone::shared_order::product_sums(
      ar, L, N, C, kAllColumns, U, [&](Index c, Index r) { return gs[r * C + c]; },
      [&](Index i, Index r, const V& x) { x1[i * N + r] = x; });
  solve_s_columns(ar, f, L, x1, N, false);
  // Z = U G (L x C) and X3 = S^-T Z, by columns c
  std::vector<V> z(static_cast<std::size_t>(L * C), ar.input(0));
  touchstone::shared_order::product_sums(
      ar, L, C, N, kAllColumns, U, [&](Index r, Index c) { return gs[r * C + c]; },
      [&](Index i, Index c, const V& x) { z[i * C + c] = x; });
  std::vector<V> x3 = z;
  solve_s_columns(ar, f, L, x3, C, true);
  // K = Z U1^T (L x L); T1 = S^-T K by columns; P = striu(T1 S^-T) by rows of T1 (tt = T1^T: its
  // columns are T1's rows)
  std::vector<V> t1(static_cast<std::size_t>(L * L), ar.input(0)), pm(static_cast<std::size_t>(L * L), ar.input(0));
  touchstone::shared_order::product_sums(
      ar, L, L, C, kAllColumns, [&](Index i, Index c) { return z[i * C + c]; }, [&](Index c, Index j) { return U(j, c); },
      [&](Index i, Index j, const V& x) { t1[i * L + j] = x; });
  solve_s_columns(ar, f, L, t1, L, true);
  std::vector<V> tt(static_cast<std::size_t>(L * L), ar.input(0));
  for (Index i = 0; i < L; ++i)
    for (Index j = 0; j < L; ++j) tt[j * L + i] = t1[i * L + j];
  solve_s_columns(ar, f, L, tt, L, false);
  for (Index i = 0; i < L; ++i)
    for (Index j = i + 1; j < L; ++j) pm[i * L + j] = tt[j * L + i];
  std::vector<V> du(static_cast<std::size_t>(L * N), ar.input(0));
  cwy_vjp_du(ar, f, x1, x3, pm, L, N, C, du);
  for (Index i = 0; i < L; ++i) {
    auto a = ar.acc();
    for (Index k = 0; k < N; ++k) ar.accumulate(a, ar.mul(U(i, k), du[i * N + k]));
    const V proj = ar.total(a);
    for (Index k = 0; k < N; ++k) out(i, k, ar.div(ar.sub(du[i * N + k], ar.mul(U(i, k), proj)), f.norm[i]));
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
// The solve on values: a (n x n, row-major) holds A's entries as the policy's values (inputs, or
// computed ones: the RGD Cayley step's -eta Omega); the diagonal is never read. Returns Q row-major.
template <class Ar>
std::vector<typename Ar::V> cayley_values(Ar& ar, const std::vector<typename Ar::V>& a, Index n, bool pytorch) {
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
      const V x = pytorch ? ar.mul(half, a[i * n + k]) : a[i * n + k];
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
  return q;
}

template <class Ar, class Ain, class Sink>
void cayley(Ar& ar, const Ain& a, Index n, bool pytorch, Sink&& out) {
  using V = typename Ar::V;
  std::vector<V> av;
  av.reserve(static_cast<std::size_t>(n * n));
  for (Index i = 0; i < n; ++i)
    for (Index k = 0; k < n; ++k) av.push_back(ar.input(i == k ? 0.0 : a(i, k)));
  const std::vector<V> q = cayley_values(ar, av, n, pytorch);
  for (Index i = 0; i < n; ++i)
    for (Index c = 0; c < n; ++c) out(i, c, q[i * n + c]);
}
// embed-end cayley_order

// [ORTH-CAYLEY-VJP-CPU] The Cayley map's VJP without forming Q: I + Q = 2 M^-1 (PyTorch: M + R =
// 2 I; expRNN likewise), so Gamma = c M^-T G M^-T with c = 1 (PyTorch) or -2 (expRNN), and
// dX_ij = c (Z_ji - Z_ij) for i > j with Z = Gamma^T / c = M^-1 (M^-T G)^T. M = LU by elimination
// without pivoting as in [ORTH-CAYLEY-CPU] (l_ik = m_ik / m_kk, rows updated in k order); then, column
// by column c, W = U^-T G (w_ic = (g_ic - sum_j<i u_ji w_jc) / u_ii), Y = L^-T W (y_ic = w_ic -
// sum_j>i l_ji y_jc), Z' = L^-1 Y^T (z'_ic = y_ci - sum_j<i l_ij z'_jc), Z = U^-1 Z' (z_ic =
// (z'_ic - sum_j>i u_ij z_jc) / u_ii), every sum accumulated in j order after the leading term;
// the factor c is exact.
// embed-begin cayley_vjp_order
template <class Ar, class Ain, class Gin, class Sink>
void cayley_vjp(Ar& ar, const Ain& a, const Gin& g, Index n, bool pytorch, Sink&& out) {
  using V = typename Ar::V;
  const V half = ar.input(0.5), one = ar.input(1);
  std::vector<V> m;
  m.reserve(static_cast<std::size_t>(n * n));
  for (Index i = 0; i < n; ++i)
    for (Index k = 0; k < n; ++k) {
      if (i == k) {
        m.push_back(one);
        continue;
      }
      const V x = pytorch ? ar.mul(half, ar.input(a(i, k))) : ar.input(a(i, k));
      m.push_back(pytorch ? ar.neg(x) : x);  // M = I - A/2 or I + A
    }
  for (Index k = 0; k < n; ++k)  // after this, m holds U on and above the diagonal and L below
    for (Index i = k + 1; i < n; ++i) {
      const V l = ar.div(m[i * n + k], m[k * n + k]);
      for (Index j = k + 1; j < n; ++j) m[i * n + j] = ar.sub(m[i * n + j], ar.mul(l, m[k * n + j]));
      m[i * n + k] = l;
    }
  auto M = [&](Index i, Index j) -> const V& { return m[i * n + j]; };
  std::vector<V> w(static_cast<std::size_t>(n * n), one), z(static_cast<std::size_t>(n * n), one);
  for (Index c = 0; c < n; ++c) {
    for (Index i = 0; i < n; ++i) {  // U^T w = g_:c
      auto s = ar.acc();
      ar.accumulate(s, ar.input(g(i, c)));
      for (Index j = 0; j < i; ++j) ar.accumulate(s, ar.neg(ar.mul(M(j, i), w[j * n + c])));
      w[i * n + c] = ar.div(ar.total(s), M(i, i));
    }
    for (Index i = n - 1; i >= 0; --i) {  // L^T y = w, in place
      auto s = ar.acc();
      ar.accumulate(s, w[i * n + c]);
      for (Index j = i + 1; j < n; ++j) ar.accumulate(s, ar.neg(ar.mul(M(j, i), w[j * n + c])));
      w[i * n + c] = ar.total(s);
    }
  }
  for (Index c = 0; c < n; ++c) {
    for (Index i = 0; i < n; ++i) {  // L z' = (Y^T)_:c = y_c:
      auto s = ar.acc();
      ar.accumulate(s, w[c * n + i]);
      for (Index j = 0; j < i; ++j) ar.accumulate(s, ar.neg(ar.mul(M(i, j), z[j * n + c])));
      z[i * n + c] = ar.total(s);
    }
    for (Index i = n - 1; i >= 0; --i) {  // U z = z', in place
      auto s = ar.acc();
      ar.accumulate(s, z[i * n + c]);
      for (Index j = i + 1; j < n; ++j) ar.accumulate(s, ar.neg(ar.mul(M(i, j), z[j * n + c])));
      z[i * n + c] = ar.div(ar.total(s), M(i, i));
    }
  }
  const V zero = ar.input(0);
  for (Index i = 0; i < n; ++i)
    for (Index j = 0; j < n; ++j) {
      if (j >= i) {
        out(i, j, zero);
        continue;
      }
      const V d = ar.sub(z[j * n + i], z[i * n + j]);
      out(i, j, pytorch ? d : ar.neg(ar.twice(d)));
    }
}
// embed-end cayley_vjp_order

// [ORTH-EXP-CPU] The matrix exponential by scaling and squaring of the degree-18 Taylor polynomial.
// The degree and the scaling threshold theta = 1 make the truncation at most
// 1/19! / (1 - 1/20) < 8.7e-18 in the infinity norm before squaring, below float64's unit roundoff.
inline constexpr int kExpDegree = 18;

// The scaling: beta >= ||A||_inf from the inputs (row sums of n non-negative values, raised by
// 2 n 2^-53 to bound their rounding, and b's conversion to binary64 by 2^-52), s the least integer >= 0 with beta / 2^s <= 1, and
// b = beta / 2^s >= ||A / 2^s||_inf. The backends and the bound take the same s.
struct ExpScaling {
  int s;
  double b;
};

// s and b for an upper bound beta of ||A||_inf (already raised for its own rounding).
inline ExpScaling exp_scaling_of(long double beta) {
  int s = 0;
  while (std::ldexp(beta, -s) > 1) ++s;
  return {s, static_cast<double>(std::ldexp(beta, -s)) * (1 + 0x1p-52)};
}

// The row sums are accumulated in long double, whose wider exponent keeps n entries near binary64's
// largest finite value finite (its rounding, 2^-64 relative on x86, is within the 2^-53 allowed).
template <class Ain>
ExpScaling exp_scaling(const Ain& a, Index n) {
  long double beta = 0;
  for (Index i = 0; i < n; ++i) {
    long double row = 0;
    for (Index k = 0; k < n; ++k) row += std::fabs(static_cast<long double>(a(i, k)));
    beta = std::max(beta, row);
  }
  return exp_scaling_of(beta * (1 + 2 * static_cast<long double>(n) * 0x1p-53L));
}

// [ORTH-EXP-TRUNC] sum_{k >= m} b^k / k! <= b^m / m! / (1 - b / (m + 1)) for 0 <= b < m + 1 (the ratio
// of consecutive terms is at most b / (m + 1)); evaluated in binary64 (at most 2 m + 3 roundings of
// non-negative values) and raised by 1e-12 to stay an upper bound.
inline double exp_tail(double b, int m) {
  double t = 1;
  for (int k = 1; k <= m; ++k) t *= b / k;
  return t / (1 - b / (m + 1)) * (1 + 1e-12);
}

// z = x y (n x n, row-major), each z_ij = x_i1 y_1j + ... + x_in y_nj accumulated in l order.
// (order::product_sums, [CORE-PRODUCT-SUMS]: a bound's policy forms a row's sums together.)
template <class Ar>
void matmul(Ar& ar, const std::vector<typename Ar::V>& x, const std::vector<typename Ar::V>& y,
            std::vector<typename Ar::V>& z, Index n) {
  touchstone::shared_order::product_sums(
      ar, n, n, n, touchstone::shared_order::kAllColumns, [&](Index i, Index l) { return x[i * n + l]; },
      [&](Index l, Index j) { return y[l * n + j]; }, [&](Index i, Index j, const auto& v) { z[i * n + j] = v; });
}

// [ORTH-EXP-CPU] Q = exp(A): B = fl(2^-s A) (exact barring underflow); Horner P = I, then for
// j = 18..1: C = B P (matmul), P = I + fl(C / j) (the diagonal's addition rounded once); the
// truncation of the Taylor series enters as an error of the method (`method_error`, +inf-free: the
// bound adds exp_tail(b, 19) to every element, the backends nothing); each entry of exp(B) and of
// its squares lies in [-1, 1] (an orthogonal matrix: `unit`); then s squarings P = P P.
// embed-begin matrix_exp_order
// exp of A given as the policy's values (n x n, row-major: inputs, or computed ones, as the RGD
// step's -eta Omega), with a scaling sc whose b bounds ||2^-s A||_inf for the exact A (the bound's
// truncation term and its `unit` rest on that, and on the exact A being skew). Returns exp(A).
template <class Ar>
std::vector<typename Ar::V> matrix_exp_values(Ar& ar, const std::vector<typename Ar::V>& a, const ExpScaling& sc,
                                              Index n) {
  using V = typename Ar::V;
  const V scale = ar.input(std::ldexp(1.0, -sc.s)), one = ar.input(1);
  const std::size_t nn = static_cast<std::size_t>(n * n);
  std::vector<V> b, p(nn, ar.input(0)), c(nn, ar.input(0));
  b.reserve(nn);
  for (std::size_t t = 0; t < nn; ++t) b.push_back(ar.mul(scale, a[t]));
  for (Index i = 0; i < n; ++i) p[i * n + i] = one;
  for (int j = kExpDegree; j >= 1; --j) {
    const V jv = ar.input(j);
    matmul(ar, b, p, c, n);
    for (Index i = 0; i < n; ++i)
      for (Index l = 0; l < n; ++l) {
        const V x = ar.div(c[i * n + l], jv);
        p[i * n + l] = i == l ? ar.add(one, x) : x;
      }
  }
  const double tau = exp_tail(sc.b, kExpDegree + 1);
  for (V& x : p) x = ar.unit(ar.method_error(x, tau));
  for (int q = 0; q < sc.s; ++q) {
    matmul(ar, p, p, c, n);
    for (std::size_t t = 0; t < nn; ++t) p[t] = ar.unit(c[t]);
  }
  return p;
}

template <class Ar, class Ain, class Sink>
void matrix_exp(Ar& ar, const Ain& a, Index n, Sink&& out) {
  using V = typename Ar::V;
  std::vector<V> av;
  av.reserve(static_cast<std::size_t>(n * n));
  for (Index i = 0; i < n; ++i)
    for (Index k = 0; k < n; ++k) av.push_back(ar.input(a(i, k)));
  const std::vector<V> p = matrix_exp_values(ar, av, exp_scaling(a, n), n);
  for (Index i = 0; i < n; ++i)
    for (Index k = 0; k < n; ++k) out(i, k, p[i * n + k]);
}
// embed-end matrix_exp_order

// [ORTH-EXP-VJP-CPU] Gamma = L(A^T, G), the adjoint of the Frechet derivative, by differentiating the
// forward's scaling and squaring (Al-Mohy and Higham's approach): B = fl(2^-s A^T), E = fl(2^-s G);
// Horner with its derivative, P = I, D = 0, for j = 18..1: C = B P, F = E P + B D (one sum of 2n
// products per element, E P's terms first, each in l order), P = I + fl(C / j), D = fl(F / j); the
// truncations exp_tail(b, 19) on P and ||E||_inf exp_tail(b, 18) on D enter as errors of the method;
// then s times D = P D + D P (one sum of 2n products, P D's first) and P = P P. Output
// dX_ij = fl(Gamma_ij - Gamma_ji) for i > j, 0 on and above the diagonal. ||A^T||_inf = ||A||_inf
// for a skew A, so s is the forward's.
// embed-begin matrix_exp_vjp_order
template <class Ar, class Ain, class Gin, class Sink>
void matrix_exp_vjp(Ar& ar, const Ain& a, const Gin& g, Index n, Sink&& out) {
  using V = typename Ar::V;
  const auto at = [&](Index i, Index k) { return a(k, i); };
  const ExpScaling sc = exp_scaling(at, n);
  long double gsum = 0;  // ||G||_inf, in long double as in exp_scaling
  for (Index i = 0; i < n; ++i) {
    long double row = 0;
    for (Index k = 0; k < n; ++k) row += std::fabs(static_cast<long double>(g(i, k)));
    gsum = std::max(gsum, row);
  }
  // >= ||G||_inf / 2^s (inf where it overflows binary64: the bound is then +inf, outside its domain)
  const double gnorm =
      static_cast<double>(std::ldexp(gsum * (1 + 2 * static_cast<long double>(n) * 0x1p-53L), -sc.s)) * (1 + 0x1p-52);
  const V scale = ar.input(std::ldexp(1.0, -sc.s)), one = ar.input(1), zero = ar.input(0);
  const std::size_t nn = static_cast<std::size_t>(n * n);
  std::vector<V> b, e, p(nn, zero), d(nn, zero), c(nn, zero), f(nn, zero);
  b.reserve(nn);
  e.reserve(nn);
  for (Index i = 0; i < n; ++i)
    for (Index k = 0; k < n; ++k) {
      b.push_back(ar.mul(scale, ar.input(at(i, k))));
      e.push_back(ar.mul(scale, ar.input(g(i, k))));
    }
  for (Index i = 0; i < n; ++i) p[i * n + i] = one;
  // f = x1 y1 + x2 y2 (n x n), each element one sum of 2n products in l order, x1 y1's first.
  // (order::product_sums over the 2n terms.)
  const auto two_products = [&](const std::vector<V>& x1, const std::vector<V>& y1, const std::vector<V>& x2,
                                const std::vector<V>& y2, std::vector<V>& z) {
    touchstone::shared_order::product_sums(
        ar, n, n, 2 * n, touchstone::shared_order::kAllColumns,
        [&](Index i, Index l) { return l < n ? x1[i * n + l] : x2[i * n + l - n]; },
        [&](Index l, Index j) { return l < n ? y1[l * n + j] : y2[(l - n) * n + j]; },
        [&](Index i, Index j, const V& v) { z[i * n + j] = v; });
  };
  for (int j = kExpDegree; j >= 1; --j) {
    const V jv = ar.input(j);
    matmul(ar, b, p, c, n);
    two_products(e, p, b, d, f);
    for (Index i = 0; i < n; ++i)
      for (Index l = 0; l < n; ++l) {
        const V x = ar.div(c[i * n + l], jv);
        p[i * n + l] = i == l ? ar.add(one, x) : x;
        d[i * n + l] = ar.div(f[i * n + l], jv);
      }
  }
  const double tau_p = exp_tail(sc.b, kExpDegree + 1), tau_d = gnorm * exp_tail(sc.b, kExpDegree);
  for (std::size_t t = 0; t < nn; ++t) {
    p[t] = ar.unit(ar.method_error(p[t], tau_p));
    d[t] = ar.method_error(d[t], tau_d);
  }
  for (int q = 0; q < sc.s; ++q) {
    two_products(p, d, d, p, f);
    matmul(ar, p, p, c, n);
    for (std::size_t t = 0; t < nn; ++t) {
      p[t] = ar.unit(c[t]);
      d[t] = f[t];
    }
  }
  for (Index i = 0; i < n; ++i)
    for (Index j = 0; j < n; ++j) out(i, j, j < i ? ar.sub(d[i * n + j], d[j * n + i]) : zero);
}
// embed-end matrix_exp_vjp_order

// [ORTH-QR-CPU] The thin QR factor by modified Gram-Schmidt, column by column: v = y_:j; for
// i = 0..j-1 in order: r = fl(q_:i . v) (sequential in k), v_k = fl(v_k - fl(r q_ki)); then
// nrm = fl(sqrt(fl(v . v))) and q_kj = fl(v_k / nrm). In exact arithmetic this is Q with R's
// diagonal (the norms) positive; each q_kj lies in [-1, 1] (a column of unit norm: `unit`).
// embed-begin qf_order
// On values: y (m x n, row-major) as the policy's values; returns Q row-major.
// With `rfactor`, also R (n x n, row-major, zero below the diagonal): r_ij the projections, r_jj the norms.
template <class Ar>
std::vector<typename Ar::V> qf_values(Ar& ar, const std::vector<typename Ar::V>& y, Index m, Index n,
                                      std::vector<typename Ar::V>* rfactor = nullptr) {
  using V = typename Ar::V;
  std::vector<V> q(static_cast<std::size_t>(m * n), ar.input(0)), v(static_cast<std::size_t>(m), ar.input(0));
  if (rfactor) rfactor->assign(static_cast<std::size_t>(n * n), ar.input(0));
  for (Index j = 0; j < n; ++j) {
    for (Index k = 0; k < m; ++k) v[k] = y[k * n + j];
    for (Index i = 0; i < j; ++i) {
      auto t = ar.acc();
      for (Index k = 0; k < m; ++k) ar.accumulate(t, ar.mul(q[k * n + i], v[k]));
      const V r = ar.total(t);
      if (rfactor) (*rfactor)[i * n + j] = r;
      for (Index k = 0; k < m; ++k) v[k] = ar.sub(v[k], ar.mul(r, q[k * n + i]));
    }
    auto t = ar.acc();
    for (Index k = 0; k < m; ++k) ar.accumulate(t, ar.mul(v[k], v[k]));
    const V nrm = ar.sqrt(ar.total(t));
    if (rfactor) (*rfactor)[j * n + j] = nrm;
    for (Index k = 0; k < m; ++k) q[k * n + j] = ar.unit(ar.div(v[k], nrm));
  }
  return q;
}

template <class Ar, class Yin, class Sink>
void qf(Ar& ar, const Yin& y, Index m, Index n, Sink&& out) {
  using V = typename Ar::V;
  std::vector<V> yv;
  yv.reserve(static_cast<std::size_t>(m * n));
  for (Index k = 0; k < m; ++k)
    for (Index j = 0; j < n; ++j) yv.push_back(ar.input(y(k, j)));
  const std::vector<V> q = qf_values(ar, yv, m, n);
  for (Index k = 0; k < m; ++k)
    for (Index j = 0; j < n; ++j) out(k, j, q[k * n + j]);
}
// embed-end qf_order

// [ORTH-RGRAD-CPU] P = X^T G (M x M, row-major): p_ik = x_0i g_0k + ... + x_(N-1)i g_(N-1)k in j order.
template <class Ar, class Xin, class Gin>
std::vector<typename Ar::V> xtg(Ar& ar, const Xin& x, const Gin& g, Index N, Index M) {
  std::vector<typename Ar::V> p;
  p.reserve(static_cast<std::size_t>(M * M));
  touchstone::shared_order::product_sums(
      ar, M, M, N, touchstone::shared_order::kAllColumns, [&](Index i, Index j) { return ar.input(x(j, i)); },
      [&](Index j, Index k) { return ar.input(g(j, k)); },
      [&](Index, Index, const typename Ar::V& v) { p.push_back(v); });
  return p;
}

// [ORTH-RGRAD-CPU] Omega = (P - P^T) / 2: omega_ik = fl(fl(p_ik - p_ki) / 2) for i < k (the halving
// exact but for underflow), omega_ki = -omega_ik, omega_ii = 0: the computed Omega is exactly skew.
template <class Ar>
std::vector<typename Ar::V> skew_half(Ar& ar, const std::vector<typename Ar::V>& p, Index M) {
  const typename Ar::V half = ar.input(0.5);
  std::vector<typename Ar::V> w(static_cast<std::size_t>(M * M), ar.input(0));
  for (Index i = 0; i < M; ++i)
    for (Index k = i + 1; k < M; ++k) {
      w[i * M + k] = ar.mul(half, ar.sub(p[i * M + k], p[k * M + i]));
      w[k * M + i] = ar.neg(w[i * M + k]);
    }
  return w;
}

// [ORTH-RGRAD-CPU] Omega as above, and grad = G - X sym(P): s_ik = fl(fl(p_ik + p_ki) / 2) (s_ii =
// p_ii), grad_rk = g_rk - x_r0 s_0k - ... - x_r(M-1) s_(M-1)k subtracted in i order.
// embed-begin riemannian_grad_order
template <class Ar, class Xin, class Gin, class OmegaSink, class GradSink>
void riemannian_grad(Ar& ar, const Xin& x, const Gin& g, Index N, Index M, OmegaSink&& omega, GradSink&& grad) {
  using V = typename Ar::V;
  const std::vector<V> p = xtg(ar, x, g, N, M), w = skew_half(ar, p, M);
  for (Index i = 0; i < M; ++i)
    for (Index k = 0; k < M; ++k) omega(i, k, w[i * M + k]);
  const V half = ar.input(0.5);
  std::vector<V> sym(static_cast<std::size_t>(M * M), ar.input(0));
  for (Index i = 0; i < M; ++i)
    for (Index k = i; k < M; ++k)
      sym[i * M + k] = sym[k * M + i] = i == k ? p[i * M + i] : ar.mul(half, ar.add(p[i * M + k], p[k * M + i]));
  // Each term -fl(x_ri s_ik) as fl((-x_ri) s_ik), the same value (negation is exact).
  touchstone::shared_order::lead_and_product_sums(
      ar, N, M, M, touchstone::shared_order::kAllColumns, [&](Index r, Index k) { return ar.input(g(r, k)); },
      [&](Index r, Index i) { return ar.neg(ar.input(x(r, i))); }, [&](Index i, Index k) { return sym[i * M + k]; },
      [&](Index r, Index k, const V& v) { grad(r, k, v); });
}
// embed-end riemannian_grad_order

// [ORTH-RGD-SCALING] The exponential step's scaling from the inputs alone (the backends and the bound
// take the same s): beta >= |eta| ||Omega||_inf for the exact Omega, from |omega_ik| <=
// (sum_j |x_ji g_jk| + |g_ji x_jk|) / 2, accumulated in long double and raised by 2 (2 N M + 2) 2^-53
// for its rounding (as exp_scaling).
template <class Xin, class Gin>
ExpScaling rgd_scaling(const Xin& x, const Gin& g, double eta, Index N, Index M) {
  long double beta = 0;
  for (Index i = 0; i < M; ++i) {
    long double row = 0;
    for (Index k = 0; k < M; ++k) {
      if (k == i) continue;
      for (Index j = 0; j < N; ++j)
        row += std::fabs(static_cast<long double>(x(j, i)) * static_cast<long double>(g(j, k))) +
               std::fabs(static_cast<long double>(g(j, i)) * static_cast<long double>(x(j, k)));
    }
    beta = std::max(beta, row);
  }
  beta *= std::fabs(static_cast<long double>(eta)) / 2;
  return exp_scaling_of(beta * (1 + 2 * (2 * static_cast<long double>(N) * M + 2) * 0x1p-53L));
}

// [ORTH-RGD-EXP-CPU] [ORTH-RGD-CAYLEY-CPU] X+ = X R(A), A = -eta Omega: Omega by skew_half(xtg),
// a_ik = -fl(eta omega_ik) (exactly skew); R = exp(A) by matrix_exp_values with rgd_scaling's s, or
// PyTorch's Cayley map by cayley_values; then x+_rk = x_r0 r_0k + ... + x_r(M-1) r_(M-1)k in i order.
// embed-begin rgd_step_order
template <class Ar, class Xin, class Gin, class Sink>
void rgd_step(Ar& ar, const Xin& x, const Gin& g, double eta, Index N, Index M, bool exp_map, Sink&& out) {
  using V = typename Ar::V;
  const std::vector<V> w = skew_half(ar, xtg(ar, x, g, N, M), M);
  const V ev = ar.input(eta);
  std::vector<V> a(static_cast<std::size_t>(M * M), ar.input(0));
  for (Index i = 0; i < M; ++i)
    for (Index k = i + 1; k < M; ++k) {
      a[i * M + k] = ar.neg(ar.mul(ev, w[i * M + k]));
      a[k * M + i] = ar.neg(a[i * M + k]);
    }
  const std::vector<V> r = exp_map ? matrix_exp_values(ar, a, rgd_scaling(x, g, eta, N, M), M)
                                   : cayley_values(ar, a, M, true);
  for (Index row = 0; row < N; ++row)
    for (Index k = 0; k < M; ++k) {
      auto t = ar.acc();
      for (Index i = 0; i < M; ++i) ar.accumulate(t, ar.mul(ar.input(x(row, i)), r[i * M + k]));
      out(row, k, ar.total(t));
    }
}
// embed-end rgd_step_order

// [ORTH-MATCH-CPU] One matching step on values: x, g (N x M, row-major); for each pair (i, j) of
// round s (round_robin_matching), a = x_:i . g_:j and b = g_:i . x_:j (sequential in k, as xtg's p_ij
// and p_ji), omega = fl(fl(a - b) / 2), theta = -fl(fl(eta R) omega), c = cos(theta), s = sin(theta)
// (the policy's), then for every row r: x_ri = fl(fl(c x_ri) - fl(s x_rj)), x_rj = fl(fl(s x_ri) +
// fl(c x_rj)) from the old values. The pairs are disjoint, so each reads only its own columns.
// embed-begin matching_step_order
template <class Ar>
void matching_rotate(Ar& ar, std::vector<typename Ar::V>& x, const std::vector<typename Ar::V>& g, Index N, Index M,
                     double eta, Index round) {
  using V = typename Ar::V;
  using Acc = decltype(ar.acc());
  const V half = ar.input(0.5), c = ar.mul(ar.input(eta), ar.input(static_cast<double>(matching_rounds(M))));
  // Every pair's sums and rotation side by side, row by row (x and g are row-major): each pair's
  // operations are the ones above in the same order; a pair reads and writes only its own columns.
  const auto pairs = round_robin_matching(M, round);
  const std::size_t P = pairs.size();
  std::vector<Acc> a(P, ar.acc()), b(P, ar.acc());
  for (Index k = 0; k < N; ++k)
    for (std::size_t q = 0; q < P; ++q) {
      const Index i = pairs[q].first, j = pairs[q].second;
      ar.accumulate(a[q], ar.mul(x[k * M + i], g[k * M + j]));
      ar.accumulate(b[q], ar.mul(g[k * M + i], x[k * M + j]));
    }
  std::vector<V> co, si;
  co.reserve(P);
  si.reserve(P);
  for (std::size_t q = 0; q < P; ++q) {
    const V theta = ar.neg(ar.mul(c, ar.mul(half, ar.sub(ar.total(a[q]), ar.total(b[q])))));
    co.push_back(ar.cos(theta));
    si.push_back(ar.sin(theta));
  }
  for (Index r = 0; r < N; ++r)
    for (std::size_t q = 0; q < P; ++q) {
      const Index i = pairs[q].first, j = pairs[q].second;
      const V xi = x[r * M + i], xj = x[r * M + j];
      x[r * M + i] = ar.sub(ar.mul(co[q], xi), ar.mul(si[q], xj));
      x[r * M + j] = ar.add(ar.mul(si[q], xi), ar.mul(co[q], xj));
    }
}

template <class Ar, class Xin, class Gin, class Sink>
void matching_step(Ar& ar, const Xin& x, const Gin& g, Index N, Index M, double eta, Index round, Sink&& out) {
  using V = typename Ar::V;
  std::vector<V> xv, gv;
  xv.reserve(static_cast<std::size_t>(N * M));
  gv.reserve(static_cast<std::size_t>(N * M));
  for (Index r = 0; r < N; ++r)
    for (Index k = 0; k < M; ++k) xv.push_back(ar.input(x(r, k))), gv.push_back(ar.input(g(r, k)));
  matching_rotate(ar, xv, gv, N, M, eta, round);
  for (Index r = 0; r < N; ++r)
    for (Index k = 0; k < M; ++k) out(r, k, xv[r * M + k]);
}
// embed-end matching_step_order

// [ORTH-FLOW-CPU] The flow: per step r_km = fl(a_k0 x_0m + ... + a_k(N-1) x_(N-1)m - y_km) (n order,
// then y), g_nm = a_0n r_0m + ... + a_(K-1)n r_(K-1)m (k order), matching_rotate with round
// flow_round(seed, t, R), and every `reproject` steps X = qf_values(X) (modified Gram-Schmidt);
// observe(t, x) after each step.
// embed-begin matching_flow_order
template <class Ar, class Xin, class Ain, class Yin, class Observe, class Sink>
void matching_flow(Ar& ar, const Xin& x0, const Ain& a, const Yin& y, Index N, Index M, Index K, double eta, Index steps,
                   std::uint64_t seed, Index reproject, Observe&& observe, Sink&& out) {
  using V = typename Ar::V;
  std::vector<V> x, av, yv, res(static_cast<std::size_t>(K * M), ar.input(0)), g(static_cast<std::size_t>(N * M), ar.input(0));
  for (Index r = 0; r < N; ++r)
    for (Index k = 0; k < M; ++k) x.push_back(ar.input(x0(r, k)));
  for (Index k = 0; k < K; ++k)
    for (Index n = 0; n < N; ++n) av.push_back(ar.input(a(k, n)));
  for (Index k = 0; k < K; ++k)
    for (Index m = 0; m < M; ++m) yv.push_back(ar.input(y(k, m)));
  const Index R = matching_rounds(M);
  for (Index t = 0; t < steps; ++t) {
    // (Both products as product_sums: each element's sum in the order above.)
    touchstone::shared_order::product_sums(
        ar, K, M, N, touchstone::shared_order::kAllColumns, [&](Index k, Index n) { return av[k * N + n]; },
        [&](Index n, Index m) { return x[n * M + m]; },
        [&](Index k, Index m, const V& v) { res[k * M + m] = ar.sub(v, yv[k * M + m]); });
    touchstone::shared_order::product_sums(
        ar, N, M, K, touchstone::shared_order::kAllColumns, [&](Index n, Index k) { return av[k * N + n]; },
        [&](Index k, Index m) { return res[k * M + m]; }, [&](Index n, Index m, const V& v) { g[n * M + m] = v; });
    matching_rotate(ar, x, g, N, M, eta, flow_round(seed, t, R));
    if (reproject > 0 && (t + 1) % reproject == 0) x = qf_values(ar, x, N, M);
    observe(t + 1, x);
  }
  for (Index r = 0; r < N; ++r)
    for (Index k = 0; k < M; ++k) out(r, k, x[r * M + k]);
}
// embed-end matching_flow_order

// [ORTH-QR-VJP-CPU] dl/dY of Q = qf(Y) given G = dl/dQ (m x n): Q and R by qf_values (modified
// Gram-Schmidt); B = Q^T G (b_ij = q_:i . g_:j, sequential in k); S symmetric from B's upper triangle
// (s_ij = b_ij for i <= j, b_ji for i > j); W = G - Q S (w_rj = g_rj - q_r0 s_0j - ... in i order); then
// each row x of dY solves R x^T = w^T by back substitution, x_j = fl(fl(w_j - r_j,j+1 x_j+1 - ...) / r_jj)
// for j = n-1..0, subtracted in k order.
// embed-begin qf_vjp_order
template <class Ar, class Yin, class Gin, class Sink>
void qf_vjp(Ar& ar, const Yin& y, const Gin& g, Index m, Index n, Sink&& out) {
  using V = typename Ar::V;
  std::vector<V> yv, gv, r;
  for (Index k = 0; k < m; ++k)
    for (Index j = 0; j < n; ++j) yv.push_back(ar.input(y(k, j))), gv.push_back(ar.input(g(k, j)));
  const std::vector<V> q = qf_values(ar, yv, m, n, &r);
  std::vector<V> b(static_cast<std::size_t>(n * n), ar.input(0)), w(static_cast<std::size_t>(n), ar.input(0));
  for (Index i = 0; i < n; ++i)
    for (Index j = i; j < n; ++j) {
      auto t = ar.acc();
      for (Index k = 0; k < m; ++k) ar.accumulate(t, ar.mul(q[k * n + i], gv[k * n + j]));
      b[i * n + j] = b[j * n + i] = ar.total(t);  // S: B's upper triangle mirrored
    }
  for (Index row = 0; row < m; ++row) {
    for (Index j = 0; j < n; ++j) {
      auto t = ar.acc();
      ar.accumulate(t, gv[row * n + j]);
      for (Index i = 0; i < n; ++i) ar.accumulate(t, ar.neg(ar.mul(q[row * n + i], b[i * n + j])));
      w[j] = ar.total(t);
    }
    for (Index j = n - 1; j >= 0; --j) {
      auto t = ar.acc();
      ar.accumulate(t, w[j]);
      for (Index k = j + 1; k < n; ++k) ar.accumulate(t, ar.neg(ar.mul(r[j * n + k], w[k])));
      w[j] = ar.div(ar.total(t), r[j * n + j]);
    }
    for (Index j = 0; j < n; ++j) out(row, j, w[j]);
  }
}
// embed-end qf_vjp_order

}  // namespace touchstone::orthogonal::order
