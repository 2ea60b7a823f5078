// The orthogonal family on the CPU, float32 and float64 (spec/orthogonal.md [ORTH-HH-CPU],
// [ORTH-CWY-CPU], [ORTH-CWY-APPLY-CPU], [ORTH-TCWY-CPU]). Each runs the operation sequence of
// order/orthogonal_order.hpp (its bound runs the same sequence over tracked values): every
// operation rounded once in the backend's format (no contraction), sums in index order, plain
// loops on one thread (no Eigen: the bounded order is the order that runs); CWY, T-CWY and the
// CWY apply in blocked, vectorized, threaded loops with the same per-element order ([ORTH-CWY-FAST]).
#pragma once

#include <functional>

#include "touchstone/reference/orthogonal_problem.hpp"

namespace touchstone::orthogonal::cpu {

Tensor<float> householder_product(const ReflectorProblem<float>& p);
Tensor<double> householder_product(const ReflectorProblem<double>& p);
Tensor<float> cwy(const ReflectorProblem<float>& p);
Tensor<double> cwy(const ReflectorProblem<double>& p);
Tensor<float> tcwy(const StiefelProblem<float>& p);
Tensor<double> tcwy(const StiefelProblem<double>& p);
Tensor<float> cwy_apply(const ApplyProblem<float>& p);
Tensor<double> cwy_apply(const ApplyProblem<double>& p);
// [ORTH-CWY-FAST] cwy, tcwy and cwy_apply above are blocked, vectorized and threaded
// (orthogonal_fast.cpp), bit identical to the order header's run element by element, kept here.
namespace generic {
Tensor<float> cwy(const ReflectorProblem<float>& p);
Tensor<double> cwy(const ReflectorProblem<double>& p);
Tensor<float> tcwy(const StiefelProblem<float>& p);
Tensor<double> tcwy(const StiefelProblem<double>& p);
Tensor<float> cwy_apply(const ApplyProblem<float>& p);
Tensor<double> cwy_apply(const ApplyProblem<double>& p);
}  // namespace generic
// [ORTH-CAYLEY-CPU] The Cayley map by Gaussian elimination without pivoting.
Tensor<float> cayley(const CayleyProblem<float>& p);
Tensor<double> cayley(const CayleyProblem<double>& p);
// [ORTH-EXP-CPU] [ORTH-EXP-VJP-CPU] exp of the skew A by scaling and squaring (Taylor, degree 18),
// and the adjoint of its Frechet derivative.
Tensor<float> matrix_exp(const SkewProblem<float>& p);
Tensor<double> matrix_exp(const SkewProblem<double>& p);
Tensor<float> matrix_exp_vjp(const ExpBackwardProblem<float>& p);
Tensor<double> matrix_exp_vjp(const ExpBackwardProblem<double>& p);
// [ORTH-QR-CPU] The thin QR factor (R's diagonal positive) by modified Gram-Schmidt.
Tensor<float> qf(const QfProblem<float>& p);
Tensor<double> qf(const QfProblem<double>& p);
// [ORTH-CAYLEY-VJP-CPU] dl/dX of the Cayley map, without forming Q.
Tensor<float> cayley_vjp(const CayleyBackwardProblem<float>& p);
Tensor<double> cayley_vjp(const CayleyBackwardProblem<double>& p);
// [ORTH-LAPACK-CPU] torch.linalg.householder_product's convention.
Tensor<float> householder_product_lapack(const LapackProblem<float>& p);
Tensor<double> householder_product_lapack(const LapackProblem<double>& p);
// [ORTH-CWY-VJP-CPU] dl/dV of CWY or T-CWY (p.stiefel()).
Tensor<float> cwy_vjp(const CwyBackwardProblem<float>& p);
Tensor<double> cwy_vjp(const CwyBackwardProblem<double>& p);

// [ORTH-RGRAD-CPU] Omega = (X^T G - G^T X) / 2 and grad = G - X sym(X^T G).
template <class T>
struct RiemannianGrad {
  Tensor<T> omega, grad;
};
RiemannianGrad<float> riemannian_grad(const RiemannianProblem<float>& p);
RiemannianGrad<double> riemannian_grad(const RiemannianProblem<double>& p);
// [ORTH-RGD-EXP-CPU] [ORTH-RGD-CAYLEY-CPU] X+ = X R(-eta Omega), R = exp or PyTorch's Cayley map.
Tensor<float> rgd_step(const RgdStepProblem<float>& p);
Tensor<double> rgd_step(const RgdStepProblem<double>& p);

// [ORTH-MATCH-CPU] One matching step X exp(-eta R Omega|_M) as commuting Givens rotations.
Tensor<float> matching_step(const MatchingStepProblem<float>& p);
Tensor<double> matching_step(const MatchingStepProblem<double>& p);
// [ORTH-FLOW-CPU] T steps of the matching flow; observe(t, X) after each step when given.
template <class T>
using FlowObserver = std::function<void(Index, const Tensor<T>&)>;
Tensor<float> matching_flow(const FlowProblem<float>& p, const FlowObserver<float>& observe = {});
Tensor<double> matching_flow(const FlowProblem<double>& p, const FlowObserver<double>& observe = {});

// [ORTH-QR-VJP-CPU] dl/dY of qf(Y): modified Gram-Schmidt's Q and R, then (G - Q S) R^-T.
Tensor<float> qf_vjp(const QfBackwardProblem<float>& p);
Tensor<double> qf_vjp(const QfBackwardProblem<double>& p);

// [ORTH-POLAR-CPU] The polar factor: modified Gram-Schmidt, then scaled Newton on R; Q = Q_r X.
Tensor<float> polar(const PolarProblem<float>& p);
Tensor<double> polar(const PolarProblem<double>& p);
// [ORTH-POLAR-VJP-CPU] dl/dA of polar(A) from this backend's polar factor U, through the symmetric
// eigendecomposition of H = sym(U^T A) (Eigen; optimized/cpu/orthogonal_eigen.cpp).
Tensor<float> polar_vjp(const PolarBackwardProblem<float>& p);
Tensor<double> polar_vjp(const PolarBackwardProblem<double>& p);

}  // namespace touchstone::orthogonal::cpu

namespace touchstone::orthogonal::cpu {
// [ORTH-CWY-EIGEN] CWY by Eigen's BLAS-3 kernels (GEMM for U U^T and U^T W, TRSM for W = S^-1 U):
// an order the any-order bound covers ([ORTH-BOUND-ANY]), not the order header's.
Tensor<float> cwy_eigen(const ReflectorProblem<float>& p);
Tensor<double> cwy_eigen(const ReflectorProblem<double>& p);
}  // namespace touchstone::orthogonal::cpu
