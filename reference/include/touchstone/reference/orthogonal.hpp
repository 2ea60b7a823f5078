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

// Instantiated in reference/src/orthogonal_reference.cpp only (MPFR instantiations in one unit).
extern template Tensor<mp_real> householder_product<mp_real>(const ReflectorProblem<double>&);
extern template Tensor<double> householder_product<double>(const ReflectorProblem<double>&);
extern template Tensor<mp_real> cwy<mp_real>(const ReflectorProblem<double>&);
extern template Tensor<double> cwy<double>(const ReflectorProblem<double>&);
extern template Tensor<mp_real> tcwy<mp_real>(const StiefelProblem<double>&);
extern template Tensor<double> tcwy<double>(const StiefelProblem<double>&);
extern template Tensor<mp_real> cwy_apply<mp_real>(const ApplyProblem<double>&);
extern template Tensor<double> cwy_apply<double>(const ApplyProblem<double>&);
extern template CwyFactors<mp_real> cwy_factors<mp_real>(const Tensor<double>&);
extern template CwyFactors<double> cwy_factors<double>(const Tensor<double>&);

}  // namespace touchstone::orthogonal::reference
