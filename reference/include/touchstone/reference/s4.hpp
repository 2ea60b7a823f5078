// The S4 oracles (spec/s4.md): discretizations, the dense SSM kernel K_l = C̄ Ā^l B̄, the Cauchy
// kernel and its VJP, and the DPLR kernel by its definition. Written as the spec writes them, at
// whatever precision the scalar types carry.
//
// Instantiated (reference/src/s4_reference.cpp, the only translation unit that does) with
//   <mp_real, mp_complex>            MPFR/MPC at the working precision: the oracle;
//   <double, std::complex<double>>   the naive same-precision computation.
// Part D (the convolution) uses discretize_bilinear, discretize_zoh and ssm_kernel_dense.
#pragma once

#include <Eigen/Core>
#include <Eigen/LU>
#include <complex>
#include <vector>

#include "touchstone/core/mp.hpp"
#include "touchstone/reference/s4_hippo.hpp"
#include "touchstone/reference/s4_problem.hpp"

namespace touchstone::s4::reference {

template <class T>
struct Discrete {
  Mat<T> Ab;  // Ā (N, N)
  Vec<T> Bb;  // B̄ (N,)
};

// [S4-DISC-BILINEAR] BL = (I − Δ/2·A)⁻¹, Ā = BL (I + Δ/2·A), B̄ = BL·Δ·B (annotated-s4 discretize).
// embed-begin discretize_bilinear
template <class T, class R>
Discrete<T> discretize_bilinear(const Mat<T>& A, const Vec<T>& B, const R& step) {
  const Index N = A.rows();
  const Mat<T> I = Mat<T>::Identity(N, N);
  const T half_step = T(step / R(2));
  const Mat<T> BL = Mat<T>(I - half_step * A).partialPivLu().inverse();
  Discrete<T> d;
  d.Ab = BL * Mat<T>(I + half_step * A);
  d.Bb = BL * Vec<T>(T(step) * B);
  return d;
}
// embed-end discretize_bilinear

// e^X by scaling and squaring: X / 2^s with ‖X/2^s‖_∞ <= 1/2, its Taylor series summed until a
// term is below 2^-(p+8) of the sum's scale (p = the scalar's precision), then s squarings. The
// truncation error is below 2^-p relative to e^{‖X‖}; the rounding errors grow with the
// squarings (Higham, Functions of Matrices, 10.3): [S4-DISC-ZOH] states how the oracle's accuracy
// is checked (agreement at p and 2p bits).
template <class T, class R>
Mat<T> matrix_exp(const Mat<T>& X) {
  using std::abs, std::ldexp;
  const Index n = X.rows();
  R norm = 0;
  for (Index i = 0; i < n; ++i) {
    R row = 0;
    for (Index j = 0; j < n; ++j) row += R(abs(X(i, j)));
    if (row > norm) norm = row;
  }
  int s = 0;
  while (norm > R(0.5)) {
    norm /= R(2);
    ++s;
  }
  Mat<T> Y = X;
  for (Index i = 0; i < n; ++i)
    for (Index j = 0; j < n; ++j) Y(i, j) = Y(i, j) / T(R(ldexp(1.0, s)));
  Mat<T> sum = Mat<T>::Identity(n, n), term = Mat<T>::Identity(n, n);
  const R tiny = std::numeric_limits<R>::epsilon() / R(256);
  for (int k = 1; k < 100000; ++k) {
    term = Mat<T>(term * Y);
    for (Index i = 0; i < n; ++i)
      for (Index j = 0; j < n; ++j) term(i, j) = term(i, j) / T(R(k));
    sum += term;
    R tn = 0;
    for (Index i = 0; i < n; ++i)
      for (Index j = 0; j < n; ++j) tn = std::max(tn, R(abs(term(i, j))));
    if (tn < tiny) break;
  }
  for (int i = 0; i < s; ++i) sum = Mat<T>(sum * sum);
  return sum;
}

// [S4-DISC-ZOH] Ā = e^{ΔA}, B̄ = (ΔA)⁻¹(e^{ΔA} − I)·ΔB, computed without inverting A as the blocks
// of e^{[[ΔA, ΔB], [0, 0]]} = [[e^{ΔA}, φ₁(ΔA)ΔB], [0, 1]] (so a singular A is fine).
// embed-begin discretize_zoh
template <class T, class R>
Discrete<T> discretize_zoh(const Mat<T>& A, const Vec<T>& B, const R& step) {
  const Index N = A.rows();
  Mat<T> X = Mat<T>::Zero(N + 1, N + 1);
  for (Index i = 0; i < N; ++i) {
    for (Index j = 0; j < N; ++j) X(i, j) = T(step) * A(i, j);
    X(i, N) = T(step) * B(i);
  }
  const Mat<T> E = matrix_exp<T, R>(X);
  Discrete<T> d;
  d.Ab = E.topLeftCorner(N, N);
  d.Bb = E.col(N).head(N);
  return d;
}
// embed-end discretize_zoh

// [S4-SSM-DEF] K_l = C̄ Ā^l B̄, l = 0..L−1, by L − 1 matrix-vector products (annotated-s4 K_conv).
// embed-begin ssm_kernel_dense
template <class T>
std::vector<T> ssm_kernel_dense(const Mat<T>& Ab, const Vec<T>& Bb, const Vec<T>& Cb, Index L) {
  std::vector<T> K(static_cast<std::size_t>(L));
  Vec<T> x = Bb;  // Ā^l B̄
  for (Index l = 0; l < L; ++l) {
    T s = T(0);
    for (Index n = 0; n < x.size(); ++n) s = s + Cb(n) * x(n);
    K[static_cast<std::size_t>(l)] = s;
    if (l + 1 < L) x = Vec<T>(Ab * x);
  }
  return K;
}
// embed-end ssm_kernel_dense

// Oracles on problems. A complex output is a tensor with its (re, im) axis last, the layout of the
// entry's output array. The real kernels are flat row-major (K of shape p.K_shape(), or (L,)), and
// DplrGrads holds flat interleaved (re, im) vectors: the layouts the cpu backends and the bounds
// return too (optimized/cpu/s4.hpp, bounds/s4_bound.hpp), which the registry shapes.
// [S4-SSM-DEF] out (L,).
template <class Real>
std::vector<Real> ssm_kernel(const SsmProblem& p);
// [S4-SSM-KERNEL-DEF] out (L,) from the discrete system.
template <class Real>
std::vector<Real> ssm_kernel_discrete(const DiscreteSsmProblem& p);
// [S4-CAUCHY-DEF] out (H, L, 2).
template <class Real, class Complex>
Tensor<Real> cauchy(const CauchyProblem& p);
// [S4-CAUCHY-VJP] The gradients of v and w, each complex (H, N) as (H, N, 2).
template <class Real>
struct CauchyGrads {
  Tensor<Real> dv, dw;
};
template <class Real, class Complex>
CauchyGrads<Real> cauchy_backward(const CauchyBackwardProblem& q);
// [S4-DPLR-DEF] K (H, L) by the definition (dense complex powers of Ā).
template <class Real, class Complex>
std::vector<Real> kernel_dplr(const DplrProblem& p);
// [S4-DPLR-GEN] The generating function's value C̃ (I − Ā ω)⁻¹ B̄ at ω = exp(−2πi k/L) for channel
// h (dense solve at the working precision; the removable node ω = −1 solved as any other): for the
// tests of [S4-DPLR-NODE-MINUS1] and the Woodbury path.
template <class Real, class Complex>
Complex dplr_generating_function(const DplrProblem& p, Index h, Index k);

// [S4-DPLR-VJP] The VJP of kernel_dplr given dK (H, L) (or (L,)), by the analytic chain through
// the fast route of [S4-DPLR-FAST] at the working precision (exact nodes tan(πk/L), naive DFT).
template <class Real, class Complex>
DplrGrads<Real> kernel_dplr_vjp(const DplrBackwardProblem& q);

extern template DplrGrads<mp_real> kernel_dplr_vjp<mp_real, mp_complex>(const DplrBackwardProblem&);
extern template std::vector<mp_real> ssm_kernel<mp_real>(const SsmProblem&);
extern template std::vector<double> ssm_kernel<double>(const SsmProblem&);
extern template std::vector<mp_real> ssm_kernel_discrete<mp_real>(const DiscreteSsmProblem&);
extern template Tensor<mp_real> cauchy<mp_real, mp_complex>(const CauchyProblem&);
extern template CauchyGrads<mp_real> cauchy_backward<mp_real, mp_complex>(const CauchyBackwardProblem&);
extern template std::vector<mp_real> kernel_dplr<mp_real, mp_complex>(const DplrProblem&);
extern template std::vector<double> kernel_dplr<double, std::complex<double>>(const DplrProblem&);
extern template mp_complex dplr_generating_function<mp_real, mp_complex>(const DplrProblem&, Index, Index);

}  // namespace touchstone::s4::reference
