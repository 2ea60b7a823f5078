// The bilevel family on the CPU, float32 and float64 (spec/bilevel.md [BILEVEL-CPU],
// [BILEVEL-RIDGE-CPU]). Each runs
// the operation sequence of order/bilevel_order.hpp (its bound runs the same sequence over tracked
// values): every operation rounded once in the backend's format (no contraction), every sum in
// index order, plain loops (no BLAS: the bound covers exactly this order). Single-threaded: the
// problems are small and the inner loop is sequential.
#pragma once

#include "touchstone/order/bilevel_order.hpp"
#include "touchstone/reference/bilevel_problem.hpp"

namespace touchstone::bilevel::cpu {

using order::Method;

// [BILEVEL-STORED-CPU] / [BILEVEL-RECOMPUTE-CPU] / [BILEVEL-FORWARD-CPU] The exact hypergradient
// dM/dtheta; `counts` (when given) receives the inner steps, outer gradients and HVPs it took.
Tensor<float> exact_hypergradient(const QuadraticProblem<float>& p, Method m, order::Counts* counts = nullptr);
Tensor<double> exact_hypergradient(const QuadraticProblem<double>& p, Method m, order::Counts* counts = nullptr);
// [BILEVEL-FOM-CPU] grad L_out(phi_r).
Tensor<float> fom(const QuadraticProblem<float>& p, order::Counts* counts = nullptr);
Tensor<double> fom(const QuadraticProblem<double>& p, order::Counts* counts = nullptr);
// [BILEVEL-UFOM-CPU] F + (xi / q) (E - F) with the coin given.
Tensor<float> ufom(const UfomProblem<float>& p, order::Counts* counts = nullptr);
Tensor<double> ufom(const UfomProblem<double>& p, order::Counts* counts = nullptr);

// [BILEVEL-RIDGE-CPU] The ridge class's dM/dtheta by `m` (exp: touchstone's exp_f32, glibc's exp).
Tensor<float> ridge_hypergradient(const RidgeProblem<float>& p, Method m, order::Counts* counts = nullptr);
Tensor<double> ridge_hypergradient(const RidgeProblem<double>& p, Method m, order::Counts* counts = nullptr);

// [BILEVEL-HVP-DEF] H v of the quadratic (A v) and ridge (X^T X v / n + lambda o v) classes.
Tensor<float> hvp(const HvpProblem<QuadraticProblem<float>>& p);
Tensor<double> hvp(const HvpProblem<QuadraticProblem<double>>& p);
Tensor<float> hvp(const HvpProblem<RidgeProblem<float>>& p);
Tensor<double> hvp(const HvpProblem<RidgeProblem<double>>& p);

}  // namespace touchstone::bilevel::cpu
