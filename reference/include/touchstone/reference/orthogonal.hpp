// The orthogonal family's oracles (spec/orthogonal.md), written as the spec defines each map:
// H(v) = I - 2 v v^T / |v|^2 applied in the stated order, and the CWY / T-CWY formulas with the
// normalized vectors, S = I/2 + striu(U^T U) and its inverse by substitution (exact at the working
// precision up to its rounding). Templated on the scalar; instantiated once
// (reference/src/orthogonal_reference.cpp) for mp_real (the oracle) and double (tests).
#pragma once

#include <cmath>
#include <vector>

#include "touchstone/core/mp.hpp"
#include "touchstone/core/tensor.hpp"
#include "touchstone/reference/orthogonal_problem.hpp"

namespace touchstone::orthogonal::reference {

// y <- H(v) y for one vector y (length N) and row i of V: y - (2 (v . y) / (v . v)) v.
template <class Real>
void reflect(const Tensor<double>& v, Index i, std::vector<Real>& y) {
  const Index N = v.extent(1);
  Real vv(0), vy(0);
  for (Index k = 0; k < N; ++k) {
    vv += Real(v(i, k)) * Real(v(i, k));
    vy += Real(v(i, k)) * y[k];
  }
  const Real c = Real(2) * vy / vv;
  for (Index k = 0; k < N; ++k) y[k] -= c * Real(v(i, k));
}

// [ORTH-HH-DEF] Q = H(v_1) H(v_2) ... H(v_L) (N x N): row r of Q is e_r^T H(v_1) ... H(v_L), the
// reflections applied to the rows of I in the order 1..L (each H is symmetric).
// embed-begin householder_product
template <class Real>
Tensor<Real> householder_product(const ReflectorProblem<double>& p) {
  const Index L = p.L(), N = p.N();
  Tensor<Real> q(Shape{N, N});
  std::vector<Real> row(static_cast<std::size_t>(N));
  for (Index r = 0; r < N; ++r) {
    for (Index k = 0; k < N; ++k) row[k] = Real(k == r ? 1 : 0);
    for (Index i = 0; i < L; ++i) reflect(p.v(), i, row);
    for (Index k = 0; k < N; ++k) q(r, k) = row[k];
  }
  return q;
}
// embed-end householder_product

// The CWY quantities of [ORTH-CWY-DEF]: U (L x N, row i = v_i / |v_i|) and
// S = I/2 + striu(U U^T) (L x L, upper triangular).
template <class Real>
struct CwyFactors {
  Tensor<Real> u, s;
};

template <class Real>
CwyFactors<Real> cwy_factors(const Tensor<double>& v) {
  using std::sqrt;
  const Index L = v.extent(0), N = v.extent(1);
  CwyFactors<Real> f{Tensor<Real>(Shape{L, N}), Tensor<Real>(Shape{L, L}, Real(0))};
  for (Index i = 0; i < L; ++i) {
    Real vv(0);
    for (Index k = 0; k < N; ++k) vv += Real(v(i, k)) * Real(v(i, k));
    const Real norm = sqrt(vv);
    for (Index k = 0; k < N; ++k) f.u(i, k) = Real(v(i, k)) / norm;
  }
  for (Index i = 0; i < L; ++i) {
    f.s(i, i) = Real(1) / Real(2);
    for (Index j = i + 1; j < L; ++j) {
      Real g(0);
      for (Index k = 0; k < N; ++k) g += f.u(i, k) * f.u(j, k);
      f.s(i, j) = g;
    }
  }
  return f;
}

// x <- S^-1 x (transpose: S^-T x) for the upper-triangular S of cwy_factors, by substitution.
template <class Real>
void solve_s(const Tensor<Real>& s, std::vector<Real>& x, bool transpose) {
  const Index L = s.extent(0);
  if (!transpose) {
    for (Index i = L - 1; i >= 0; --i) {
      Real t = x[i];
      for (Index j = i + 1; j < L; ++j) t -= s(i, j) * x[j];
      x[i] = t / s(i, i);
    }
  } else {
    for (Index i = 0; i < L; ++i) {
      Real t = x[i];
      for (Index j = 0; j < i; ++j) t -= s(j, i) * x[j];
      x[i] = t / s(i, i);
    }
  }
}

// I_{N x C} - U^T S^-1 U_{:, :C}: the first C columns of I - U^T S^-1 U.
template <class Real>
Tensor<Real> cwy_columns(const Tensor<double>& v, Index C) {
  const Index L = v.extent(0), N = v.extent(1);
  const CwyFactors<Real> f = cwy_factors<Real>(v);
  Tensor<Real> q(Shape{N, C});
  std::vector<Real> w(static_cast<std::size_t>(L));
  for (Index c = 0; c < C; ++c) {
    for (Index i = 0; i < L; ++i) w[i] = f.u(i, c);
    solve_s(f.s, w, false);  // column c of S^-1 U
    for (Index r = 0; r < N; ++r) {
      Real t = Real(r == c ? 1 : 0);
      for (Index i = 0; i < L; ++i) t -= f.u(i, r) * w[i];
      q(r, c) = t;
    }
  }
  return q;
}

// [ORTH-CWY-DEF] Q = I - U^T S^-1 U (N x N), U, S as above (the paper's U is our U^T: N x L).
template <class Real>
Tensor<Real> cwy(const ReflectorProblem<double>& p) {
  return cwy_columns<Real>(p.v(), p.N());
}

// [ORTH-TCWY-DEF] Omega = [I_M; 0] - U^T S^-1 U_1 (N x M), U_1 the first M columns of U (M x N).
template <class Real>
Tensor<Real> tcwy(const StiefelProblem<double>& p) {
  return cwy_columns<Real>(p.v(), p.M());
}

// [ORTH-CWY-APPLY-DEF] y = Q h (transpose: Q^T h) for each row h of H, by the definition: the
// reflections applied to h, H(v_L) first (transpose: H(v_1) first).
template <class Real>
Tensor<Real> cwy_apply(const ApplyProblem<double>& p) {
  const Index B = p.B(), N = p.N(), L = p.L();
  Tensor<Real> y(Shape{B, N});
  std::vector<Real> row(static_cast<std::size_t>(N));
  for (Index b = 0; b < B; ++b) {
    for (Index k = 0; k < N; ++k) row[k] = Real(p.h()(b, k));
    for (Index n = 0; n < L; ++n) reflect(p.v(), p.transpose() ? n : L - 1 - n, row);
    for (Index k = 0; k < N; ++k) y(b, k) = row[k];
  }
  return y;
}

// [ORTH-CWY-VJP] [ORTH-TCWY-VJP] dl/dV for Q = I_{N x C} - U^T W U_{:, :C} (C = N: CWY; C = M = L:
// T-CWY), W = S^-1, G = dl/dQ (N x C), by the derived adjoint (spec/orthogonal.md):
//   dl/dU = -W U1 G^T - [W^T U G, 0] + (P + P^T) U,  P = striu(W^T (U G U1^T) W^T),  U1 = U_{:, :C}
//   dl/dv_i = (I - u_i u_i^T) (dl/du_i) / |v_i|.
// W is formed explicitly (column j: S^-1 e_j). Tests check it against central differences of the
// forward oracle.
// embed-begin cwy_vjp
template <class Real>
Tensor<Real> cwy_vjp(const CwyBackwardProblem<double>& p) {
  using std::sqrt;
  const Index L = p.L(), N = p.N(), C = p.columns();
  const CwyFactors<Real> f = cwy_factors<Real>(p.v());
  Tensor<Real> w(Shape{L, L}, Real(0));
  std::vector<Real> e(static_cast<std::size_t>(L));
  for (Index j = 0; j < L; ++j) {
    for (Index i = 0; i < L; ++i) e[i] = Real(i == j ? 1 : 0);
    solve_s(f.s, e, false);
    for (Index i = 0; i < L; ++i) w(i, j) = e[i];
  }
  auto G = [&](Index r, Index c) { return Real(p.g()(r, c)); };
  // Y = U1 G^T (L x N), Z = U G (L x C), K = Z U1^T (L x L)
  Tensor<Real> y(Shape{L, N}, Real(0)), z(Shape{L, C}, Real(0)), k(Shape{L, L}, Real(0));
  for (Index i = 0; i < L; ++i) {
    for (Index r = 0; r < N; ++r)
      for (Index c = 0; c < C; ++c) y(i, r) += f.u(i, c) * G(r, c);
    for (Index c = 0; c < C; ++c)
      for (Index r = 0; r < N; ++r) z(i, c) += f.u(i, r) * G(r, c);
  }
  for (Index i = 0; i < L; ++i)
    for (Index j = 0; j < L; ++j)
      for (Index c = 0; c < C; ++c) k(i, j) += z(i, c) * f.u(j, c);
  // P = striu(W^T K W^T)
  Tensor<Real> p_(Shape{L, L}, Real(0));
  for (Index i = 0; i < L; ++i)
    for (Index j = i + 1; j < L; ++j)
      for (Index a = 0; a < L; ++a)
        for (Index b = 0; b < L; ++b) p_(i, j) += w(a, i) * k(a, b) * w(j, b);
  Tensor<Real> du(Shape{L, N}, Real(0));
  for (Index i = 0; i < L; ++i)
    for (Index r = 0; r < N; ++r) {
      Real t(0);
      for (Index a = 0; a < L; ++a) t -= w(i, a) * y(a, r);
      if (r < C)
        for (Index a = 0; a < L; ++a) t -= w(a, i) * z(a, r);
      for (Index j = 0; j < L; ++j) t += (p_(i, j) + p_(j, i)) * f.u(j, r);
      du(i, r) = t;
    }
  Tensor<Real> dv(Shape{L, N});
  for (Index i = 0; i < L; ++i) {
    Real vv(0), proj(0);
    for (Index r = 0; r < N; ++r) {
      vv += Real(p.v()(i, r)) * Real(p.v()(i, r));
      proj += f.u(i, r) * du(i, r);
    }
    const Real norm = sqrt(vv);
    for (Index r = 0; r < N; ++r) dv(i, r) = (du(i, r) - f.u(i, r) * proj) / norm;
  }
  return dv;
}
// embed-end cwy_vjp

// [ORTH-LAPACK-DEF] The first n columns of H_1 H_2 ... H_k (m x n), H_i = I - tau_i v_i v_i^T with
// v_i = (0, .., 0, 1, A[i+1:, i]): each column e_c of I_{m x n} with H_k applied first.
// embed-begin householder_product_lapack
template <class Real>
Tensor<Real> householder_product_lapack(const LapackProblem<double>& p) {
  const Index m = p.m(), n = p.n(), k = p.k();
  Tensor<Real> q(Shape{m, n});
  std::vector<Real> y(static_cast<std::size_t>(m));
  for (Index c = 0; c < n; ++c) {
    for (Index r = 0; r < m; ++r) y[r] = Real(r == c ? 1 : 0);
    for (Index i = k - 1; i >= 0; --i) {
      Real w = y[i];
      for (Index j = i + 1; j < m; ++j) w += Real(p.a()(j, i)) * y[j];
      const Real t = Real(p.tau()[i]) * w;
      y[i] -= t;
      for (Index j = i + 1; j < m; ++j) y[j] -= t * Real(p.a()(j, i));
    }
    for (Index r = 0; r < m; ++r) q(r, c) = y[r];
  }
  return q;
}
// embed-end householder_product_lapack

// [ORTH-CAYLEY-DEF] Both conventions solve M Q = R with M = I - A/2, R = I + A/2 (PyTorch: the two
// factors are functions of A and commute) or M = I + A, R = I - A (expRNN). M's symmetric part is I,
// so Gaussian elimination needs no pivoting (every leading minor is nonzero); exact at the
// working precision up to its rounding.
// embed-begin cayley
template <class Real>
Tensor<Real> cayley(const CayleyProblem<double>& p) {
  const Index n = p.n();
  const bool torch = p.convention() == CayleyConvention::pytorch;
  std::vector<Real> m(static_cast<std::size_t>(n * n)), q(static_cast<std::size_t>(n * n));
  for (Index i = 0; i < n; ++i)
    for (Index k = 0; k < n; ++k) {
      const Real a = torch ? Real(p.a()(i, k)) / 2 : Real(p.a()(i, k)), id = i == k ? Real(1) : Real(0);
      m[i * n + k] = id - a;
      q[i * n + k] = id + a;
    }
  if (!torch)
    for (std::size_t t = 0; t < m.size(); ++t) std::swap(m[t], q[t]);  // M = I + A, R = I - A
  for (Index k = 0; k < n; ++k)
    for (Index i = k + 1; i < n; ++i) {
      const Real l = m[i * n + k] / m[k * n + k];
      for (Index j = k + 1; j < n; ++j) m[i * n + j] -= l * m[k * n + j];
      for (Index c = 0; c < n; ++c) q[i * n + c] -= l * q[k * n + c];
    }
  for (Index i = n - 1; i >= 0; --i)
    for (Index c = 0; c < n; ++c) {
      Real s = q[i * n + c];
      for (Index j = i + 1; j < n; ++j) s -= m[i * n + j] * q[j * n + c];
      q[i * n + c] = s / m[i * n + i];
    }
  Tensor<Real> out(Shape{n, n});
  for (Index i = 0; i < n * n; ++i) out[i] = q[static_cast<std::size_t>(i)];
  return out;
}
// embed-end cayley

// Instantiated in reference/src/orthogonal_reference.cpp only (MPFR instantiations in one unit).
extern template Tensor<mp_real> householder_product<mp_real>(const ReflectorProblem<double>&);
extern template Tensor<double> householder_product<double>(const ReflectorProblem<double>&);
extern template Tensor<mp_real> cwy<mp_real>(const ReflectorProblem<double>&);
extern template Tensor<double> cwy<double>(const ReflectorProblem<double>&);
extern template Tensor<mp_real> tcwy<mp_real>(const StiefelProblem<double>&);
extern template Tensor<double> tcwy<double>(const StiefelProblem<double>&);
extern template Tensor<mp_real> cwy_apply<mp_real>(const ApplyProblem<double>&);
extern template Tensor<double> cwy_apply<double>(const ApplyProblem<double>&);
extern template Tensor<mp_real> cwy_vjp<mp_real>(const CwyBackwardProblem<double>&);
extern template Tensor<double> cwy_vjp<double>(const CwyBackwardProblem<double>&);
extern template Tensor<mp_real> householder_product_lapack<mp_real>(const LapackProblem<double>&);
extern template Tensor<double> householder_product_lapack<double>(const LapackProblem<double>&);
extern template CwyFactors<mp_real> cwy_factors<mp_real>(const Tensor<double>&);
extern template CwyFactors<double> cwy_factors<double>(const Tensor<double>&);
extern template Tensor<mp_real> cayley<mp_real>(const CayleyProblem<double>&);
extern template Tensor<double> cayley<double>(const CayleyProblem<double>&);

}  // namespace touchstone::orthogonal::reference
