// A-priori per-element error bounds of the Performer family (spec/performer.md [PERF-BOUND-CPU],
// [PERF-BOUND-ANY]): the sequences of order/performer_order.hpp run over tracked values
// (core/tracked.hpp), sequentially for touchstone's CPU backends, with every reduction in any
// order (and the placements the order header names) for `diff`. +inf where an intermediate may
// overflow the compute format or a divisor's range reaches 0 (outside the bound's domain).
#pragma once

#include <string>

#include "touchstone/core/formats.hpp"
#include "touchstone/core/tensor.hpp"
#include "touchstone/reference/performer_problem.hpp"
#include "touchstone/reference/performer_projection.hpp"
#include "touchstone/reference/performer_slim.hpp"

namespace touchstone::performer {

struct PerformerArithmetic {
  std::string name;
  Format compute = Format::float32;
  double exp_ulps = 1;     // exp within this many ulps of the compute format
  bool any_order = false;  // reductions in any order, every placement, division or reciprocal
  double sincos_ulps = 1;  // sin and cos within this many ulps (the trigonometric features)
};

// touchstone's CPU backends: exp_f32 (measured, [MAMBA-SCAN-ELEMENTARY]) or glibc's exp (assumed
// within 1 ulp, [CORE-ASSUME-LIBM-F64]).
PerformerArithmetic performer_arithmetic_cpu(Format compute);
// [PERF-BOUND-ANY] An unknown implementation computing in `compute` with exp within `exp_ulps`.
PerformerArithmetic performer_arithmetic_any_order(Format compute, double exp_ulps);

Tensor<double> softmax_attention_bound(const AttentionProblem<double>& p, const PerformerArithmetic& m);
// [PERF-SOFTMAX-VJP-BOUND] The VJP's order (any order: every sum, the four placements).
AttentionGrads<double> softmax_attention_vjp_bound(const AttentionBackwardProblem<double>& p, const PerformerArithmetic& m);
Tensor<double> favor_plus_features_bound(const FeatureProblem<double>& p, const PerformerArithmetic& m);
Tensor<double> favor_plus_features_vjp_bound(const FeatureBackwardProblem<double>& p, const PerformerArithmetic& m);
Tensor<double> generalized_features_bound(const GeneralizedFeatureProblem<double>& p, const PerformerArithmetic& m);
Tensor<double> generalized_features_vjp_bound(const GeneralizedFeatureBackwardProblem<double>& p,
                                              const PerformerArithmetic& m);
Tensor<double> linear_attention_bound(const LinearProblem<double>& p, const PerformerArithmetic& m);
// [PERF-LINEAR-VJP-BOUND] The VJP's order with the problem's state form (stored or subtraction).
AttentionGrads<double> linear_attention_vjp_bound(const LinearBackwardProblem<double>& p, const PerformerArithmetic& m);
// [PERF-SLIM-BOUND] SLiM's layer: the order of [PERF-SLIM-CPU] with the problem's state form.
SlimLayerGrads<double> slim_layer_vjp_bound(const SlimLayerProblem<double>& p, const PerformerArithmetic& m);
Tensor<double> slim_layer_bound(const SlimLayerForwardProblem<double>& p, const PerformerArithmetic& m);
// [PERF-RF-ORTHO-BOUND] orthogonal.qf's bound per block (its tracked values), then the scaling.
Tensor<double> gaussian_orthogonal_bound(const GaussianOrthogonalProblem<double>& p, const PerformerArithmetic& m);
// [PERF-RF-IID-BOUND] [PERF-RF-IID-CPU]'s order over tracked values.
Tensor<double> iid_projection_bound(const IidProjectionProblem<double>& p, const PerformerArithmetic& m);

}  // namespace touchstone::performer
