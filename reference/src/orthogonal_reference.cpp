// The one translation unit that instantiates the orthogonal family's oracles (reference/orthogonal.hpp).
#include "touchstone/reference/orthogonal.hpp"

namespace touchstone::orthogonal::reference {
template Tensor<mp_real> householder_product<mp_real>(const ReflectorProblem<double>&);
template Tensor<double> householder_product<double>(const ReflectorProblem<double>&);
template Tensor<mp_real> cwy<mp_real>(const ReflectorProblem<double>&);
template Tensor<double> cwy<double>(const ReflectorProblem<double>&);
template Tensor<mp_real> tcwy<mp_real>(const StiefelProblem<double>&);
template Tensor<double> tcwy<double>(const StiefelProblem<double>&);
template Tensor<mp_real> cwy_apply<mp_real>(const ApplyProblem<double>&);
template Tensor<double> cwy_apply<double>(const ApplyProblem<double>&);
template Tensor<mp_real> cwy_vjp<mp_real>(const CwyBackwardProblem<double>&);
template Tensor<double> cwy_vjp<double>(const CwyBackwardProblem<double>&);
template Tensor<mp_real> householder_product_lapack<mp_real>(const LapackProblem<double>&);
template Tensor<double> householder_product_lapack<double>(const LapackProblem<double>&);
template CwyFactors<mp_real> cwy_factors<mp_real>(const Tensor<double>&);
template CwyFactors<double> cwy_factors<double>(const Tensor<double>&);
template Tensor<mp_real> cayley<mp_real>(const CayleyProblem<double>&);
template Tensor<double> cayley<double>(const CayleyProblem<double>&);
template Tensor<mp_real> matrix_exp<mp_real>(const SkewProblem<double>&);
template Tensor<double> matrix_exp<double>(const SkewProblem<double>&);
template Tensor<mp_real> matrix_exp_vjp<mp_real>(const ExpBackwardProblem<double>&);
template Tensor<double> matrix_exp_vjp<double>(const ExpBackwardProblem<double>&);
template Tensor<mp_real> qf<mp_real>(const QfProblem<double>&);
template Tensor<double> qf<double>(const QfProblem<double>&);
template Tensor<mp_real> cayley_vjp<mp_real>(const CayleyBackwardProblem<double>&);
template Tensor<double> cayley_vjp<double>(const CayleyBackwardProblem<double>&);
template Tensor<mp_real> riemannian_omega<mp_real>(const RiemannianProblem<double>&);
template Tensor<double> riemannian_omega<double>(const RiemannianProblem<double>&);
template Tensor<mp_real> riemannian_grad<mp_real>(const RiemannianProblem<double>&);
template Tensor<double> riemannian_grad<double>(const RiemannianProblem<double>&);
template Tensor<mp_real> rgd_step<mp_real>(const RgdStepProblem<double>&);
template Tensor<double> rgd_step<double>(const RgdStepProblem<double>&);
template Tensor<mp_real> matching_step<mp_real>(const MatchingStepProblem<double>&);
template Tensor<double> matching_step<double>(const MatchingStepProblem<double>&);
template Tensor<mp_real> matching_flow<mp_real>(const FlowProblem<double>&);
template Tensor<double> matching_flow<double>(const FlowProblem<double>&);
template Tensor<mp_real> qf_vjp<mp_real>(const QfBackwardProblem<double>&);
template Tensor<double> qf_vjp<double>(const QfBackwardProblem<double>&);
}  // namespace touchstone::orthogonal::reference
