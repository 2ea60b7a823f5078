// The orthogonal family's oracles (spec/orthogonal.md), written as the spec defines each map:
// H(v) = I - 2 v v^T / |v|^2 applied in the stated order, and the CWY / T-CWY formulas with the
// normalized vectors, S = I/2 + striu(U^T U) and its inverse by substitution (exact at the working
// precision up to its rounding). Templated on the scalar; instantiated once
// (reference/src/orthogonal_reference.cpp) for mp_real (the oracle) and double (tests).
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <type_traits>
#include <utility>
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

// X <- M^-1 X for a square M (n x n, row-major) whose symmetric part is I (M = I +- c A, A skew),
// X n x n: Gaussian elimination without pivoting (every leading minor is nonzero), exact at the
// working precision up to its rounding.
template <class Real>
void solve_unit_symmetric_part(std::vector<Real> m, std::vector<Real>& x, Index n) {
  for (Index k = 0; k < n; ++k)
    for (Index i = k + 1; i < n; ++i) {
      const Real l = m[i * n + k] / m[k * n + k];
      for (Index j = k + 1; j < n; ++j) m[i * n + j] -= l * m[k * n + j];
      for (Index c = 0; c < n; ++c) x[i * n + c] -= l * x[k * n + c];
    }
  for (Index i = n - 1; i >= 0; --i)
    for (Index c = 0; c < n; ++c) {
      Real s = x[i * n + c];
      for (Index j = i + 1; j < n; ++j) s -= m[i * n + j] * x[j * n + c];
      x[i * n + c] = s / m[i * n + i];
    }
}

// [ORTH-CAYLEY-DEF] Both conventions solve M Q = R with M = I - A/2, R = I + A/2 (PyTorch: the two
// factors are functions of A and commute) or M = I + A, R = I - A (expRNN), for an exactly skew A
// given at the working precision (the tests perturb it there). M's symmetric part is I, so
// Gaussian elimination needs no pivoting.
template <class Real>
Tensor<Real> cayley_matrix(const Tensor<Real>& a, CayleyConvention convention) {
  const Index n = a.extent(0);
  const bool torch = convention == CayleyConvention::pytorch;
  std::vector<Real> m(static_cast<std::size_t>(n * n)), q(static_cast<std::size_t>(n * n));
  for (Index i = 0; i < n; ++i)
    for (Index k = 0; k < n; ++k) {
      const Real x = torch ? a(i, k) / 2 : a(i, k), id = i == k ? Real(1) : Real(0);
      m[i * n + k] = torch ? id - x : id + x;
      q[i * n + k] = torch ? id + x : id - x;
    }
  solve_unit_symmetric_part(std::move(m), q, n);
  Tensor<Real> out(Shape{n, n});
  for (Index i = 0; i < n * n; ++i) out[i] = q[static_cast<std::size_t>(i)];
  return out;
}

template <class Real>
Tensor<Real> exact_skew(const Tensor<double>& a) {
  Tensor<Real> t(a.shape());
  for (Index i = 0; i < a.count(); ++i) t[i] = Real(a[i]);
  return t;
}

// embed-begin cayley
template <class Real>
Tensor<Real> cayley(const CayleyProblem<double>& p) {
  return cayley_matrix<Real>(exact_skew<Real>(p.a()), p.convention());
}
// embed-end cayley

// [ORTH-CAYLEY-VJP] dl/dX for Q = cay(A), A = tril(X, -1) - tril(X, -1)^T, G = dl/dQ: with M, R as
// in cayley_matrix, dQ = M^-1 (dR - dM Q), so dQ = (1/2) M^-1 dA (I + Q) (PyTorch) or
// -M^-1 dA (I + Q) (expRNN), and the gradient with respect to an unconstrained A is
//   Gamma = (1/2) M^-T G (I + Q)^T   (PyTorch),   Gamma = -M^-T G (I + Q)^T   (expRNN);
// through the skew construction, dX_ij = Gamma_ij - Gamma_ji for i > j and 0 on and above the
// diagonal. The oracle forms Q, the product G (I + Q)^T and solves with M^T (= I + A/2 or I - A,
// whose symmetric part is I too). Tests check it against central differences of cayley_matrix.
// embed-begin cayley_vjp
template <class Real>
Tensor<Real> cayley_vjp_matrix(const Tensor<Real>& a, const Tensor<double>& g, CayleyConvention convention) {
  const Index n = a.extent(0);
  const bool torch = convention == CayleyConvention::pytorch;
  const Tensor<Real> q = cayley_matrix(a, convention);
  std::vector<Real> mt(static_cast<std::size_t>(n * n)), y(static_cast<std::size_t>(n * n), Real(0));
  for (Index i = 0; i < n; ++i)
    for (Index k = 0; k < n; ++k) {
      const Real id = i == k ? Real(1) : Real(0);
      mt[i * n + k] = torch ? id + a(i, k) / 2 : id - a(i, k);  // M^T
      for (Index c = 0; c < n; ++c) y[i * n + k] += Real(g(i, c)) * ((c == k ? Real(1) : Real(0)) + q(k, c));
    }
  solve_unit_symmetric_part(std::move(mt), y, n);  // Y = M^-T G (I + Q)^T
  Tensor<Real> dx(Shape{n, n}, Real(0));
  for (Index i = 0; i < n; ++i)
    for (Index j = 0; j < i; ++j) dx(i, j) = (y[i * n + j] - y[j * n + i]) * (torch ? Real(1) / 2 : Real(-1));
  return dx;
}

template <class Real>
Tensor<Real> cayley_vjp(const CayleyBackwardProblem<double>& p) {
  return cayley_vjp_matrix<Real>(exact_skew<Real>(p.a()), p.g(), p.convention());
}
// embed-end cayley_vjp

// The working precision in bits: MPFR's default for mp_real, the significand's for a float type.
template <class Real>
unsigned working_bits() {
  if constexpr (std::is_same_v<Real, mp_real>) return precision_bits(mp_real(0));
  else return static_cast<unsigned>(std::numeric_limits<Real>::digits);
}

// [ORTH-EXP-ORACLE] exp(A) of a square A (n x n) at the working precision p: scaling and squaring
// of the Taylor series with a rigorous truncation. beta >= max(||A||_1, ||A||_inf) >= ||A||_2, s the
// least integer >= 0 with b = beta / 2^s <= 1/2, B = A / 2^s; the sum T_K = sum_{k<=K} B^k / k! stops
// at the first K whose tail bound b^(K+1) / (K+1)! / (1 - b / (K+2)) (in the 1- and the inf-norm, so
// in the 2-norm) is below tol = 2^-(p + 8) / (2 omega + 1)^s, where omega >= ||exp(t A)||_2 for
// t in [0, 1] is the caller's (1 for a skew A; 0 asks for e^beta, valid for any A). Squaring X~ =
// X + E with ||X||_2 <= omega and ||E||_2 <= 1 gives ||X~^2 - X^2||_2 <= (2 omega + 1) ||E||_2, so
// after s squarings ||T_K^(2^s) - exp(A)||_2 <= 2^-(p + 8), and every element is within that. The
// rounding at p bits is what core's precision doubling verifies ([CORE-ORACLE-VERIFIED]).
template <class Real>
Tensor<Real> expm_taylor(const Tensor<Real>& a, Real omega = Real(0)) {
  using std::abs;
  using std::exp;
  using std::ldexp;
  using std::pow;
  const Index n = a.extent(0);
  const unsigned p = working_bits<Real>();
  Real beta(0);
  for (Index i = 0; i < n; ++i) {
    Real row(0), col(0);
    for (Index k = 0; k < n; ++k) row += abs(a(i, k)), col += abs(a(k, i));
    if (row > beta) beta = row;
    if (col > beta) beta = col;
  }
  beta *= 1 + ldexp(Real(1), -static_cast<int>(p) + 16);  // the sums (n <= 2^15 terms) rounded
  if (!(omega > 0)) omega = exp(beta);
  int s = 0;
  while (ldexp(beta, -s) > Real(0.5)) ++s;
  const Real b = ldexp(beta, -s), tol = ldexp(Real(1), -static_cast<int>(p) - 8) / pow(2 * omega + 1, s);
  Tensor<Real> bm(Shape{n, n}), t(Shape{n, n}, Real(0)), term(Shape{n, n}, Real(0)), next(Shape{n, n});
  for (Index i = 0; i < n * n; ++i) bm[i] = ldexp(a[i], -s);
  for (Index i = 0; i < n; ++i) t(i, i) = term(i, i) = Real(1);
  Real tail = b;  // b^(k+1) / (k+1)! for k = 0
  for (int k = 1;; ++k) {
    for (Index i = 0; i < n; ++i)  // term <- term B / k
      for (Index j = 0; j < n; ++j) {
        Real x(0);
        for (Index l = 0; l < n; ++l) x += term(i, l) * bm(l, j);
        next(i, j) = x / k;
      }
    std::swap(term, next);
    for (Index i = 0; i < n * n; ++i) t[i] += term[i];
    tail = tail * b / (k + 1);
    // tail reaches 0 only in a float type (underflow), where tol may be 0 too
    if (tail / (1 - b / (k + 2)) < tol || !(tail > 0)) break;
  }
  for (int q = 0; q < s; ++q) {
    for (Index i = 0; i < n; ++i)
      for (Index j = 0; j < n; ++j) {
        Real x(0);
        for (Index l = 0; l < n; ++l) x += t(i, l) * t(l, j);
        next(i, j) = x;
      }
    std::swap(t, next);
  }
  return t;
}

// [ORTH-EXP-DEF] Q = exp(A) for the skew A of the problem.
// embed-begin matrix_exp
template <class Real>
Tensor<Real> matrix_exp(const SkewProblem<double>& p) {
  return expm_taylor(exact_skew<Real>(p.a()), Real(1));  // ||exp(t A)||_2 = 1 for a skew A
}
// embed-end matrix_exp

// [ORTH-EXP-VJP] dl/dX for Q = exp(A), A = tril(X, -1) - tril(X, -1)^T, G = dl/dQ. The gradient with
// respect to an unconstrained A is the adjoint of the Frechet derivative, Gamma = L(A^T, G)
// (<G, L(A, E)> = <L(A^T, G), E>), the upper right block of exp([[A^T, G], [0, A^T]]) (Mathias'
// block form); then dX_ij = Gamma_ij - Gamma_ji for i > j, 0 on and above the diagonal. G is scaled
// by sigma = 1 / max(1, sqrt(||G||_1 ||G||_inf)) inside the block (L is linear in G), so that
// ||sigma G||_2 <= 1 and the block's exponentials exp(t C) = [[e^(t A^T), F_t], [0, e^(t A^T)]] have
// 2-norm at most 1 + ||F_t||_2 <= 1 + t ||sigma G||_2 <= 2 (omega = 2 for the oracle).
// embed-begin matrix_exp_vjp
template <class Real>
Tensor<Real> matrix_exp_vjp_matrix(const Tensor<Real>& a, const Tensor<double>& g) {
  using std::fabs;
  const Index n = a.extent(0);
  double g1 = 0, ginf = 0;
  for (Index i = 0; i < n; ++i) {
    double row = 0, col = 0;
    for (Index k = 0; k < n; ++k) row += fabs(g(i, k)), col += fabs(g(k, i));
    ginf = std::max(ginf, row);
    g1 = std::max(g1, col);
  }
  // sqrt(g1 ginf) raised by 2^-40 to cover the binary64 evaluation (n <= 2^15 terms per sum)
  const Real sigma = Real(1) / Real(std::max(1.0, std::sqrt(g1 * ginf) * (1 + 0x1p-20)));
  Tensor<Real> c(Shape{2 * n, 2 * n}, Real(0));
  for (Index i = 0; i < n; ++i)
    for (Index k = 0; k < n; ++k) {
      c(i, k) = c(n + i, n + k) = a(k, i);
      c(i, n + k) = Real(g(i, k)) * sigma;
    }
  const Tensor<Real> e = expm_taylor(c, Real(2));
  Tensor<Real> dx(Shape{n, n}, Real(0));
  for (Index i = 0; i < n; ++i)
    for (Index j = 0; j < i; ++j) dx(i, j) = (e(i, n + j) - e(j, n + i)) / sigma;
  return dx;
}

template <class Real>
Tensor<Real> matrix_exp_vjp(const ExpBackwardProblem<double>& p) {
  return matrix_exp_vjp_matrix<Real>(exact_skew<Real>(p.a()), p.g());
}
// embed-end matrix_exp_vjp

// [ORTH-QR-DEF] The thin QR factor with R's diagonal positive, by the Cholesky factor of the Gram
// matrix: R = chol(Y^T Y) (upper triangular, r_jj > 0), Q = Y R^-1 (by substitution, row by row).
// A formula other than the backends' Gram-Schmidt; its loss of accuracy (cond(Y)^2 in the Gram) is
// at the working precision, which core's doubling verifies. Rank deficiency (a pivot <= 0 in exact
// arithmetic shows as one at the working precision) is InvalidInput naming Y.
// embed-begin qf
template <class Real>
struct QrFactors {
  Tensor<Real> q, r;
};

template <class Real>
QrFactors<Real> qr_factors(const Tensor<Real>& y) {
  using std::sqrt;
  const Index m = y.extent(0), n = y.extent(1);
  Tensor<Real> r(Shape{n, n}, Real(0));
  for (Index i = 0; i < n; ++i)
    for (Index j = i; j < n; ++j) {
      Real g(0);
      for (Index k = 0; k < m; ++k) g += y(k, i) * y(k, j);
      for (Index l = 0; l < i; ++l) g -= r(l, i) * r(l, j);
      if (i == j) {
        if (!(g > 0)) throw InvalidInput("Y", "rank deficient (column " + std::to_string(i) + "): no QR factor with R's diagonal positive");
        r(i, i) = sqrt(g);
      } else {
        r(i, j) = g / r(i, i);
      }
    }
  Tensor<Real> q(Shape{m, n});
  for (Index k = 0; k < m; ++k)
    for (Index j = 0; j < n; ++j) {
      Real t(y(k, j));
      for (Index l = 0; l < j; ++l) t -= q(k, l) * r(l, j);
      q(k, j) = t / r(j, j);
    }
  return {std::move(q), std::move(r)};
}

template <class Real>
Tensor<Real> qf_matrix(const Tensor<Real>& y) {
  return qr_factors(y).q;
}

template <class Real>
Tensor<Real> qf(const QfProblem<double>& p) {
  return qf_matrix(exact_skew<Real>(p.y()));  // the inputs, exactly (exact_skew converts any array)
}
// embed-end qf

// [ORTH-POLAR-ORACLE] The polar factor of a full-rank A (n x m, n >= m) at the working precision p:
// A = Q_r R (qr_factors, R's diagonal positive), then the polar factor X of the square R by
// Newton's iteration X <- (zeta X + X^-T / zeta) / 2 (Higham, Functions of Matrices, Alg. 8.20),
// with the Frobenius-norm scaling zeta = (||X^-1||_F / ||X||_F)^(1/2) while the relative step is
// above 1e-2 and zeta = 1 after, each inverse by Gauss-Jordan elimination with partial pivoting;
// the iteration stops two steps after the first relative step at or below 2^-(p/2) (it converges
// quadratically, so the last steps reach the rounding level), and Q = Q_r X. Rank deficiency is
// InvalidInput naming A, and so is no convergence in 100 steps. The result is checked by its
// characterization (Q^T Q = I and Q^T A symmetric positive definite) in the tests and at p and 2p
// bits by core's precision doubling where it is an entry's oracle.
template <class Real>
Tensor<Real> inverse_matrix(Tensor<Real> x) {
  using std::abs;
  const Index m = x.extent(0);
  Tensor<Real> y(Shape{m, m}, Real(0));
  for (Index i = 0; i < m; ++i) y(i, i) = Real(1);
  for (Index k = 0; k < m; ++k) {
    Index piv = k;
    for (Index i = k + 1; i < m; ++i)
      if (abs(x(i, k)) > abs(x(piv, k))) piv = i;
    if (x(piv, k) == 0) throw InvalidInput("A", "rank deficient: the polar factor is defined for a full-rank A only");
    for (Index j = 0; j < m; ++j) {
      std::swap(x(k, j), x(piv, j));
      std::swap(y(k, j), y(piv, j));
    }
    const Real d = x(k, k);
    for (Index j = 0; j < m; ++j) x(k, j) /= d, y(k, j) /= d;
    for (Index i = 0; i < m; ++i) {
      if (i == k) continue;
      const Real l = x(i, k);
      for (Index j = 0; j < m; ++j) x(i, j) -= l * x(k, j), y(i, j) -= l * y(k, j);
    }
  }
  return y;
}

template <class Real>
Real frobenius(const Tensor<Real>& x) {
  using std::sqrt;
  Real s(0);
  for (Index i = 0; i < x.count(); ++i) s += x[i] * x[i];
  return sqrt(s);
}

template <class Real>
Tensor<Real> polar_matrix(const Tensor<Real>& a) {
  using std::ldexp;
  using std::sqrt;
  const Index n = a.extent(0), m = a.extent(1);
  QrFactors<Real> f;
  try {
    f = qr_factors(a);
  } catch (const InvalidInput&) {
    throw InvalidInput("A", "rank deficient: the polar factor is defined for a full-rank A only");
  }
  const Real tol = ldexp(Real(1), -static_cast<int>(working_bits<Real>() / 2));
  Tensor<Real> x = f.r;
  bool scaled = true;
  int after = -1;  // steps left once the step is below tol
  for (int it = 0; it < 100 && after != 0; ++it) {
    const Tensor<Real> y = inverse_matrix(x);
    const Real zeta = scaled ? sqrt(frobenius(y) / frobenius(x)) : Real(1);
    Tensor<Real> next(Shape{m, m});
    Real step(0);
    for (Index i = 0; i < m; ++i)
      for (Index j = 0; j < m; ++j) {
        next(i, j) = (zeta * x(i, j) + y(j, i) / zeta) / 2;
        step += (next(i, j) - x(i, j)) * (next(i, j) - x(i, j));
      }
    const Real rel = sqrt(step) / frobenius(next);
    x = std::move(next);
    if (rel <= Real(1) / 100) scaled = false;
    if (after > 0) --after;
    else if (after < 0 && rel <= tol) after = 2;
  }
  // An A that is numerically singular at this precision: a typed answer about the input, as for an
  // exactly rank-deficient A (the fuzzer treats anything else as a crash).
  if (after != 0)
    throw InvalidInput("A", "too ill-conditioned for the polar oracle at " + std::to_string(working_bits<Real>()) +
                                " bits: Newton's iteration did not converge in 100 steps");
  Tensor<Real> q(Shape{n, m}, Real(0));
  for (Index i = 0; i < n; ++i)
    for (Index j = 0; j < m; ++j) {
      Real t(0);
      for (Index k = 0; k < m; ++k) t += f.q(i, k) * x(k, j);
      q(i, j) = t;
    }
  return q;
}

template <class Real>
Tensor<Real> polar(const PolarProblem<double>& p) {
  return polar_matrix<Real>(exact_skew<Real>(p.a()));
}

// [ORTH-POLAR-VJP-ORACLE] dl/dA of Q = polar(A) given G = dl/dQ (n x m), at the working precision:
// with A = U H (U = polar(A), H = U^T A symmetrized), dU = (dA - U dH) H^-1 and H dH + dH H =
// dA^T A + A^T dA, so dl/dA = G H^-1 - 2 A C with C the symmetric solution of
// H C + C H = sym(U^T G H^-1). H^-1 by Gauss-Jordan, C by Gauss-Jordan on the m^2 x m^2 system
// (H (x) I + I (x) H) vec(C) = vec(sym(U^T G H^-1)), independently of the backends' Cholesky solves.
template <class Real>
Tensor<Real> polar_vjp(const PolarBackwardProblem<double>& p) {
  const Index n = p.n(), m = p.m();
  const Tensor<Real> a = exact_skew<Real>(p.a()), g = exact_skew<Real>(p.g());
  const Tensor<Real> u = polar_matrix<Real>(a);
  Tensor<Real> h(Shape{m, m}, Real(0));
  for (Index i = 0; i < m; ++i)
    for (Index j = 0; j < m; ++j) {
      Real s(0), t(0);
      for (Index k = 0; k < n; ++k) s += u(k, i) * a(k, j), t += u(k, j) * a(k, i);
      h(i, j) = (s + t) / 2;
    }
  const Tensor<Real> hinv = inverse_matrix(h);
  Tensor<Real> x(Shape{n, m}, Real(0));  // G H^-1
  for (Index k = 0; k < n; ++k)
    for (Index j = 0; j < m; ++j)
      for (Index i = 0; i < m; ++i) x(k, j) += g(k, i) * hinv(i, j);
  Tensor<Real> b(Shape{m, m}, Real(0));  // U^T G H^-1
  for (Index i = 0; i < m; ++i)
    for (Index j = 0; j < m; ++j)
      for (Index k = 0; k < n; ++k) b(i, j) += u(k, i) * x(k, j);
  const Index mm = m * m;
  Tensor<Real> kron(Shape{mm, mm}, Real(0));
  for (Index i = 0; i < m; ++i)
    for (Index j = 0; j < m; ++j)
      for (Index k = 0; k < m; ++k) {
        kron(i * m + j, k * m + j) += h(i, k);  // (H C)_ij
        kron(i * m + j, i * m + k) += h(k, j);  // (C H)_ij
      }
  const Tensor<Real> kinv = inverse_matrix(kron);
  Tensor<Real> c(Shape{m, m}, Real(0));
  for (Index p_ = 0; p_ < mm; ++p_)
    for (Index q = 0; q < mm; ++q) {
      const Index i = q / m, j = q % m;
      c[p_] += kinv(p_, q) * (b(i, j) + b(j, i)) / 2;
    }
  Tensor<Real> da(Shape{n, m});
  for (Index k = 0; k < n; ++k)
    for (Index j = 0; j < m; ++j) {
      Real s(0);
      for (Index i = 0; i < m; ++i) s += a(k, i) * c(i, j);
      da(k, j) = x(k, j) - 2 * s;
    }
  return da;
}

// [ORTH-RGRAD-DEF] Omega = (X^T G - G^T X) / 2 (M x M, skew), the skew part of X^T G, at the
// working precision (the products of the inputs are exact there; each sum rounded once per term).
// embed-begin riemannian_grad
template <class Real>
Tensor<Real> xtg(const RiemannianProblem<double>& p) {
  const Index N = p.N(), M = p.M();
  Tensor<Real> a(Shape{M, M}, Real(0));
  for (Index i = 0; i < M; ++i)
    for (Index k = 0; k < M; ++k)
      for (Index j = 0; j < N; ++j) a(i, k) += Real(p.x()(j, i)) * Real(p.g()(j, k));
  return a;
}

template <class Real>
Tensor<Real> riemannian_omega(const RiemannianProblem<double>& p) {
  const Tensor<Real> a = xtg<Real>(p);
  const Index M = p.M();
  Tensor<Real> w(Shape{M, M}, Real(0));
  for (Index i = 0; i < M; ++i)
    for (Index k = 0; k < M; ++k) w(i, k) = (a(i, k) - a(k, i)) / 2;
  return w;
}

// [ORTH-RGRAD-DEF] grad f = G - X sym(X^T G) (N x M): the projection of G onto the tangent space at X
// under the Euclidean metric (geoopt's Stiefel.egrad2rgrad); = X Omega when X X^T = I.
template <class Real>
Tensor<Real> riemannian_grad(const RiemannianProblem<double>& p) {
  const Tensor<Real> a = xtg<Real>(p);
  const Index N = p.N(), M = p.M();
  Tensor<Real> out(Shape{N, M});
  for (Index r = 0; r < N; ++r)
    for (Index k = 0; k < M; ++k) {
      Real t(p.g()(r, k));
      for (Index i = 0; i < M; ++i) t -= Real(p.x()(r, i)) * (a(i, k) + a(k, i)) / 2;
      out(r, k) = t;
    }
  return out;
}
// embed-end riemannian_grad

// [ORTH-RGD-EXP-DEF] [ORTH-RGD-CAYLEY-DEF] X+ = X R(-eta Omega): R = exp (expm_taylor with omega = 1,
// the argument is exactly skew at the working precision) or PyTorch's Cayley map
// (I + A/2)(I - A/2)^-1 (cayley_matrix).
// embed-begin rgd_step
template <class Real>
Tensor<Real> rgd_step(const RgdStepProblem<double>& p) {
  Tensor<Real> a = riemannian_omega<Real>(p.base());
  const Real eta(p.eta());
  for (Index i = 0; i < a.count(); ++i) a[i] = -(eta * a[i]);
  const Tensor<Real> r = p.retraction() == Retraction::exp ? expm_taylor(a, Real(1))
                                                           : cayley_matrix(a, CayleyConvention::pytorch);
  const Index N = p.N(), M = p.M();
  Tensor<Real> out(Shape{N, M});
  for (Index row = 0; row < N; ++row)
    for (Index k = 0; k < M; ++k) {
      Real t(0);
      for (Index i = 0; i < M; ++i) t += Real(p.x()(row, i)) * r(i, k);
      out(row, k) = t;
    }
  return out;
}
// embed-end rgd_step

// [ORTH-QR-VJP] dl/dY for Q = qf(Y) (R's diagonal positive), G = dl/dQ: with Y = QR, Q^T dQ is skew
// and dQ = Q Omega + (I - Q Q^T) dY R^-1 with Omega = tril(C, -1) - tril(C, -1)^T, C = Q^T dY R^-1, so
//   dY = (G - Q S) R^-T,  S_ij = (Q^T G)_min(i,j),max(i,j)
// (S: the upper triangle of Q^T G mirrored). The oracle forms Q and R as qf does (Cholesky of the
// Gram), S and G - Q S, and solves with R^T by substitution. Tests check it against central
// differences of the forward oracle.
// embed-begin qf_vjp
template <class Real>
Tensor<Real> qf_vjp(const QfBackwardProblem<double>& p) {
  const Index m = p.m(), n = p.n();
  const QrFactors<Real> f = qr_factors(exact_skew<Real>(p.y()));
  Tensor<Real> s(Shape{n, n}, Real(0));
  for (Index i = 0; i < n; ++i)
    for (Index j = i; j < n; ++j) {
      Real t(0);
      for (Index k = 0; k < m; ++k) t += f.q(k, i) * Real(p.g()(k, j));
      s(i, j) = s(j, i) = t;
    }
  Tensor<Real> dy(Shape{m, n});
  std::vector<Real> w(static_cast<std::size_t>(n));
  for (Index row = 0; row < m; ++row) {
    for (Index j = 0; j < n; ++j) {
      Real t(p.g()(row, j));
      for (Index i = 0; i < n; ++i) t -= f.q(row, i) * s(i, j);
      w[j] = t;
    }
    for (Index j = n - 1; j >= 0; --j) {
      for (Index k = j + 1; k < n; ++k) w[j] -= f.r(j, k) * w[k];
      w[j] /= f.r(j, j);
    }
    for (Index j = 0; j < n; ++j) dy(row, j) = w[j];
  }
  // m = n: Q^T (G - Q S) is strictly lower triangular, so dY = Q (Q^T (G - Q S)) R^-T has its last column
  // exactly 0 (Q's last column is fixed, up to the sign R's diagonal settles, by the others). Computed,
  // it is rounding noise that no precision makes agree; the exact value is set.
  if (m == n)
    for (Index row = 0; row < m; ++row) dy(row, n - 1) = Real(0);
  return dy;
}
// embed-end qf_vjp

// [ORTH-MATCH-STEP-DEF] X exp(-eta R Omega|_M) as the product of the matching's commuting Givens
// rotations ([ORTH-GIVENS-COMMUTE]): for each pair (i, j) of round s, omega_ij = (x_i . g_j - x_j . g_i) / 2
// from the X and G given, theta = -eta R omega_ij, and columns i, j of X become
// cos(theta) x_i - sin(theta) x_j and sin(theta) x_i + cos(theta) x_j (X exp(theta E_ij),
// E_ij = e_i e_j^T - e_j e_i^T). MPFR's cos and sin are correctly rounded at the working precision.
// embed-begin matching_step
template <class Real>
Tensor<Real> matching_rotate(const Tensor<Real>& x, const Tensor<Real>& g, double eta, Index round) {
  using std::cos;
  using std::sin;
  const Index N = x.extent(0), M = x.extent(1);
  const Real c = Real(eta) * Real(static_cast<double>(matching_rounds(M)));
  Tensor<Real> out = x;
  for (const auto& pair : round_robin_matching(M, round)) {
    const Index i = pair.first, j = pair.second;
    Real a(0), b(0);
    for (Index k = 0; k < N; ++k) a += x(k, i) * g(k, j), b += g(k, i) * x(k, j);
    const Real theta = -(c * ((a - b) / 2)), co = cos(theta), si = sin(theta);
    for (Index r = 0; r < N; ++r) {
      out(r, i) = co * x(r, i) - si * x(r, j);
      out(r, j) = si * x(r, i) + co * x(r, j);
    }
  }
  return out;
}

template <class Real>
Tensor<Real> matching_step(const MatchingStepProblem<double>& p) {
  return matching_rotate(exact_skew<Real>(p.x()), exact_skew<Real>(p.g()), p.eta(), p.round());
}
// embed-end matching_step

// [ORTH-FLOW-DEF] The flow's exact trajectory: per step G = A^T (A X - Y), the matching step of round
// flow_round(seed, t), and qf(X) every `reproject` steps; observe(t, X) after each step (t = 1..T).
// embed-begin matching_flow
template <class Real, class Observe>
Tensor<Real> matching_flow_observed(const FlowProblem<double>& p, Observe&& observe) {
  const Index N = p.N(), M = p.M(), K = p.K(), R = matching_rounds(M);
  Tensor<Real> x = exact_skew<Real>(p.x0()), g(Shape{N, M}), res(Shape{K, M});
  for (Index t = 0; t < p.steps(); ++t) {
    for (Index k = 0; k < K; ++k)
      for (Index m = 0; m < M; ++m) {
        Real s(0);
        for (Index n = 0; n < N; ++n) s += Real(p.a()(k, n)) * x(n, m);
        res(k, m) = s - Real(p.y()(k, m));
      }
    for (Index n = 0; n < N; ++n)
      for (Index m = 0; m < M; ++m) {
        Real s(0);
        for (Index k = 0; k < K; ++k) s += Real(p.a()(k, n)) * res(k, m);
        g(n, m) = s;
      }
    x = matching_rotate(x, g, p.eta(), flow_round(p.seed(), t, R));
    if (p.reproject() > 0 && (t + 1) % p.reproject() == 0) {
      try {
        x = qf_matrix(x);
      } catch (const InvalidInput&) {  // the rotations keep X0's rank: X0 is rank deficient
        throw InvalidInput("X0", "rank deficient: the re-projection qf(X) at step " + std::to_string(t + 1) +
                                     " has no factor with R's diagonal positive; spec/orthogonal.md [ORTH-FLOW-DEF]");
      }
    }
    observe(t + 1, x);
  }
  return x;
}

template <class Real>
Tensor<Real> matching_flow(const FlowProblem<double>& p) {
  return matching_flow_observed<Real>(p, [](Index, const Tensor<Real>&) {});
}
// embed-end matching_flow

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
extern template Tensor<mp_real> matrix_exp<mp_real>(const SkewProblem<double>&);
extern template Tensor<double> matrix_exp<double>(const SkewProblem<double>&);
extern template Tensor<mp_real> matrix_exp_vjp<mp_real>(const ExpBackwardProblem<double>&);
extern template Tensor<double> matrix_exp_vjp<double>(const ExpBackwardProblem<double>&);
extern template Tensor<mp_real> qf<mp_real>(const QfProblem<double>&);
extern template Tensor<double> qf<double>(const QfProblem<double>&);
extern template Tensor<mp_real> cayley_vjp<mp_real>(const CayleyBackwardProblem<double>&);
extern template Tensor<double> cayley_vjp<double>(const CayleyBackwardProblem<double>&);
extern template Tensor<mp_real> riemannian_omega<mp_real>(const RiemannianProblem<double>&);
extern template Tensor<double> riemannian_omega<double>(const RiemannianProblem<double>&);
extern template Tensor<mp_real> riemannian_grad<mp_real>(const RiemannianProblem<double>&);
extern template Tensor<double> riemannian_grad<double>(const RiemannianProblem<double>&);
extern template Tensor<mp_real> rgd_step<mp_real>(const RgdStepProblem<double>&);
extern template Tensor<double> rgd_step<double>(const RgdStepProblem<double>&);
extern template Tensor<mp_real> matching_step<mp_real>(const MatchingStepProblem<double>&);
extern template Tensor<double> matching_step<double>(const MatchingStepProblem<double>&);
extern template Tensor<mp_real> matching_flow<mp_real>(const FlowProblem<double>&);
extern template Tensor<double> matching_flow<double>(const FlowProblem<double>&);
extern template Tensor<mp_real> qf_vjp<mp_real>(const QfBackwardProblem<double>&);
extern template Tensor<double> qf_vjp<double>(const QfBackwardProblem<double>&);

}  // namespace touchstone::orthogonal::reference
