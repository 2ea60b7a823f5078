// [PERF-RF-ORTHO-CPU] performer.gaussian_orthogonal_random_matrix on the CPU, float32 and float64:
// each block's Q by orthogonal.qf's CPU backend (optimized/cpu/orthogonal.hpp, modified
// Gram-Schmidt), then the rows scaled as order/performer_order.hpp gaussian_orthogonal_rows says.
#pragma once

#include "touchstone/reference/performer_projection.hpp"

namespace touchstone::performer::cpu {

Tensor<float> gaussian_orthogonal_random_matrix(const GaussianOrthogonalProblem<float>& p);
Tensor<double> gaussian_orthogonal_random_matrix(const GaussianOrthogonalProblem<double>& p);
// [PERF-RF-IID-CPU] Rows rescaled to norm sqrt(dim), the order header's iid_projection_rows.
Tensor<float> iid_projection(const IidProjectionProblem<float>& p);
Tensor<double> iid_projection(const IidProjectionProblem<double>& p);

}  // namespace touchstone::performer::cpu
