// A-priori per-element error bounds of the bilevel family (spec/bilevel.md [BILEVEL-BOUND-CPU],
// [BILEVEL-BOUND-ANY]): the sequences of order/bilevel_order.hpp run over tracked values
// (core/tracked.hpp), sequentially for touchstone's CPU backends, and for `diff` with every sum in
// any order, each Form of the products with A, and (exact hypergradient) both reverse and forward
// accumulation. +inf where an intermediate may overflow the compute format (outside the bound's
// domain).
#pragma once

#include <string>

#include "touchstone/core/formats.hpp"
#include "touchstone/core/tensor.hpp"
#include "touchstone/order/bilevel_order.hpp"
#include "touchstone/reference/bilevel_problem.hpp"

namespace touchstone::bilevel {

struct BilevelArithmetic {
  std::string name;
  Format compute = Format::float32;
  bool any_order = false;
  double exp_ulps = 1;  // exp within this many ulps (the ridge class)
  double sigmoid_ulps = 1;  // sigmoid within this many ulps (the logistic class)
};

// touchstone's CPU backends in `compute`.
BilevelArithmetic bilevel_arithmetic_cpu(Format compute);
// [BILEVEL-BOUND-ANY] An unknown implementation computing in `compute`.
BilevelArithmetic bilevel_arithmetic_any_order(Format compute, double exp_ulps = 1);

// The exact hypergradient by `method` (any order: the largest over every method and Form).
Tensor<double> exact_hypergradient_bound(const QuadraticProblem<double>& p, order::Method method,
                                         const BilevelArithmetic& m);
Tensor<double> fom_bound(const QuadraticProblem<double>& p, const BilevelArithmetic& m);
Tensor<double> ufom_bound(const UfomProblem<double>& p, const BilevelArithmetic& m);
// [BILEVEL-UFOM-ADAPTIVE-BOUND] Adaptive UFOM: the estimate's bound and the state's (+inf where
// the rounded comparison with the threshold can flip: unjudged).
struct AdaptiveUfomBound {
  Tensor<double> grad;
  double q_next = 0, ema_v2_next = 0, ema_d2_next = 0, v2 = 0, d2 = 0;
};
AdaptiveUfomBound ufom_adaptive_bound(const AdaptiveUfomProblem<double>& p, const BilevelArithmetic& m);
// [BILEVEL-RIDGE-CPU] The ridge class's hypergradient by `method` (any order: every method, sums in
// any order, each division by n or m also as a product with fl(1/n)).
Tensor<double> ridge_hypergradient_bound(const RidgeProblem<double>& p, order::Method method, const BilevelArithmetic& m);

// [BILEVEL-LOGISTIC-CPU] The logistic class: the hypergradient by `method`, the first-order shortcut
// and UFOM (any order as the ridge class, sigmoid and exp within the given ulps).
Tensor<double> logistic_hypergradient_bound(const LogisticProblem<double>& p, order::Method method,
                                            const BilevelArithmetic& m);
Tensor<double> logistic_fom_bound(const LogisticProblem<double>& p, const BilevelArithmetic& m);
Tensor<double> logistic_ufom_bound(const LogisticUfomProblem<double>& u, const BilevelArithmetic& m);

// [BILEVEL-MAML-BOUND] The MAML sinusoid class: E (stored = recomputed) and FOM. +inf on every
// element where a ReLU's computed mask may differ from the exact one ([BILEVEL-MAML-RELU]).
Tensor<double> maml_hypergradient_bound(const MamlProblem<double>& p, const BilevelArithmetic& m);
// [BILEVEL-MAML-FORWARD] By `method`: stored (= recompute) or forward; any order: both, the larger.
Tensor<double> maml_hypergradient_bound(const MamlProblem<double>& p, order::Method method, const BilevelArithmetic& m);
Tensor<double> maml_fom_bound(const MamlProblem<double>& p, const BilevelArithmetic& m);

// [BILEVEL-HVP-DEF] H v (any order: sums in any order, each Form of A v; n's division either way).
Tensor<double> hvp_bound(const HvpProblem<QuadraticProblem<double>>& p, const BilevelArithmetic& m);
Tensor<double> hvp_bound(const HvpProblem<RidgeProblem<double>>& p, const BilevelArithmetic& m);
Tensor<double> hvp_bound(const HvpProblem<LogisticProblem<double>>& p, const BilevelArithmetic& m);

}  // namespace touchstone::bilevel
