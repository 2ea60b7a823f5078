// [ORTH-CWY-EIGEN] CWY by Eigen's BLAS-3 kernels. This file alone is compiled for the baseline
// x86-64 target (CMakeLists.txt, touchstone_family(orthogonal COMPILE_OPTIONS ...)), not
// -march=native like the rest of touchstone_cpu: Eigen's inline helpers (aligned allocation, packet
// sizes) depend on the target's vector extensions, and the reference library instantiates them for
// the baseline target; two definitions that differ would violate the one-definition rule (seen as
// "double free or corruption" in the S4 DPLR tests when this file was built with AVX).
#include <Eigen/Dense>
#include <cmath>

#include "orthogonal.hpp"

namespace touchstone::orthogonal::cpu {
namespace {
template <class T>
Tensor<T> cwy_eigen_t(const ReflectorProblem<T>& p) {
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const Index L = p.L(), N = p.N();
  Mat u(L, N);
  for (Index i = 0; i < L; ++i) {
    T vv = 0;
    for (Index k = 0; k < N; ++k) vv += p.v()(i, k) * p.v()(i, k);
    const T norm = std::sqrt(vv);
    for (Index k = 0; k < N; ++k) u(i, k) = p.v()(i, k) / norm;
  }
  Mat s = (u * u.transpose()).template triangularView<Eigen::StrictlyUpper>();
  s.diagonal().setConstant(T(0.5));
  const Mat w = s.template triangularView<Eigen::Upper>().solve(u);
  Mat q = -(u.transpose() * w);
  q.diagonal().array() += T(1);
  Tensor<T> out(Shape{N, N});
  for (Index r = 0; r < N; ++r)
    for (Index c = 0; c < N; ++c) out(r, c) = q(r, c);
  return out;
}

// [ORTH-POLAR-VJP-CPU] dl/dA of Q = polar(A) from this format's polar factor U (orthogonal.polar's
// cpu backend): H = sym(U^T A) = V diag(lambda) V^T (Eigen's symmetric eigensolver); the part in
// range(U) is U X with H X + X H = U^T G - G^T U, solved in H's eigenbasis
// (X = V [(V^T K V)_ij / (lambda_i + lambda_j)] V^T); the part outside range(U) is
// (G - U U^T G) H^-1 (tall A only; 0 for a square A).
template <class T>
Tensor<T> polar_vjp_eigen_t(const PolarBackwardProblem<T>& p) {
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const Index n = p.n(), m = p.m();
  const Tensor<T> q = polar(p.forward());
  auto matrix = [&](const Tensor<T>& t) { return Eigen::Map<const Mat>(t.data(), n, m).eval(); };
  // A scaled by 2^-e into [1/2, 1) in its largest element (exact), as the forward does, so that H's
  // eigenvalues and their sums neither overflow nor underflow; polar(c A) = polar(A) and
  // dl/dA = c dl/d(cA), so the result is scaled back by 2^-e at the end.
  int e = 0;
  std::frexp(matrix(p.a()).cwiseAbs().maxCoeff(), &e);
  // (element by element: 2^-e itself may overflow T for a subnormal A)
  const Mat u = matrix(q), a = matrix(p.a()).unaryExpr([e](T x) { return std::ldexp(x, -e); }), g = matrix(p.g());
  const Mat uta = u.transpose() * a;
  const Eigen::SelfAdjointEigenSolver<Mat> eig((uta + uta.transpose()) / T(2));
  const Mat& v = eig.eigenvectors();
  const auto lambda = eig.eigenvalues();
  const Mat utg = u.transpose() * g;
  Mat k = v.transpose() * (utg - utg.transpose()) * v;
  for (Index i = 0; i < m; ++i)
    for (Index j = 0; j < m; ++j) k(i, j) /= lambda(i) + lambda(j);
  Mat da = u * (v * k * v.transpose());
  if (n > m) da += (g - u * utg) * (v * lambda.cwiseInverse().asDiagonal() * v.transpose());
  Tensor<T> out(Shape{n, m});
  for (Index r = 0; r < n; ++r)
    for (Index c = 0; c < m; ++c) out(r, c) = std::ldexp(da(r, c), -e);
  return out;
}
}  // namespace

Tensor<float> polar_vjp(const PolarBackwardProblem<float>& p) { return polar_vjp_eigen_t(p); }
Tensor<double> polar_vjp(const PolarBackwardProblem<double>& p) { return polar_vjp_eigen_t(p); }

Tensor<float> cwy_eigen(const ReflectorProblem<float>& p) { return cwy_eigen_t(p); }
Tensor<double> cwy_eigen(const ReflectorProblem<double>& p) { return cwy_eigen_t(p); }

}  // namespace touchstone::orthogonal::cpu
