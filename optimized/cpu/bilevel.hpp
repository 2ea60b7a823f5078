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
// [BILEVEL-UFOM-ADAPTIVE-CPU] One step of adaptive UFOM: the estimate and the state after it.
AdaptiveUfomResult<float> ufom_adaptive(const AdaptiveUfomProblem<float>& p, order::Counts* counts = nullptr);
AdaptiveUfomResult<double> ufom_adaptive(const AdaptiveUfomProblem<double>& p, order::Counts* counts = nullptr);

// [BILEVEL-RIDGE-CPU] The ridge class's dM/dtheta by `m` (exp: touchstone's exp_f32, glibc's exp).
Tensor<float> ridge_hypergradient(const RidgeProblem<float>& p, Method m, order::Counts* counts = nullptr);
Tensor<double> ridge_hypergradient(const RidgeProblem<double>& p, Method m, order::Counts* counts = nullptr);

// [BILEVEL-LOGISTIC-CPU] The logistic class's dM/dtheta by `m`, its first-order shortcut and UFOM
// with the coin given (E by recomputation); sigmoid: elementary.hpp's sigmoid_f32 / sigmoid_f64.
Tensor<float> logistic_hypergradient(const LogisticProblem<float>& p, Method m, order::Counts* counts = nullptr);
Tensor<double> logistic_hypergradient(const LogisticProblem<double>& p, Method m, order::Counts* counts = nullptr);
Tensor<float> logistic_fom(const LogisticProblem<float>& p, order::Counts* counts = nullptr);
Tensor<double> logistic_fom(const LogisticProblem<double>& p, order::Counts* counts = nullptr);
Tensor<float> logistic_ufom(const LogisticUfomProblem<float>& p, order::Counts* counts = nullptr);
Tensor<double> logistic_ufom(const LogisticUfomProblem<double>& p, order::Counts* counts = nullptr);

// [BILEVEL-MAML-CPU] The MAML sinusoid class: E by `m` (stored, recompute, or forward:
// [BILEVEL-MAML-FORWARD], dim = h^2 + 4h + 1 tangents) and FOM = grad L_query(phi_r).
Tensor<float> maml_hypergradient(const MamlProblem<float>& p, Method m, order::Counts* counts = nullptr);
Tensor<double> maml_hypergradient(const MamlProblem<double>& p, Method m, order::Counts* counts = nullptr);
Tensor<float> maml_fom(const MamlProblem<float>& p, order::Counts* counts = nullptr);
Tensor<double> maml_fom(const MamlProblem<double>& p, order::Counts* counts = nullptr);
// [BILEVEL-MAML-FAST-CPU] These four run a fast path (vectorized across hidden units, no policy
// calls, no allocation per operation) that computes every value with order::Mlp's roundings: their
// outputs equal order::Mlp's run on T (namespace generic below) bit for bit.
namespace generic {
// order::Mlp run on T through the arithmetic policy: what the fast path equals bit for bit
// (tests/bilevel/maml_fast_test.cpp); not used by the registry.
Tensor<float> maml_hypergradient(const MamlProblem<float>& p, Method m, order::Counts* counts = nullptr);
Tensor<double> maml_hypergradient(const MamlProblem<double>& p, Method m, order::Counts* counts = nullptr);
Tensor<float> maml_fom(const MamlProblem<float>& p, order::Counts* counts = nullptr);
Tensor<double> maml_fom(const MamlProblem<double>& p, order::Counts* counts = nullptr);
}  // namespace generic

// [BILEVEL-HVP-DEF] H v of the quadratic (A v) and ridge (X^T X v / n + lambda o v) classes.
Tensor<float> hvp(const HvpProblem<QuadraticProblem<float>>& p);
Tensor<double> hvp(const HvpProblem<QuadraticProblem<double>>& p);
Tensor<float> hvp(const HvpProblem<RidgeProblem<float>>& p);
Tensor<double> hvp(const HvpProblem<RidgeProblem<double>>& p);
// H(w) v of the logistic class at w = the problem's w0.
Tensor<float> hvp(const HvpProblem<LogisticProblem<float>>& p);
Tensor<double> hvp(const HvpProblem<LogisticProblem<double>>& p);

}  // namespace touchstone::bilevel::cpu
