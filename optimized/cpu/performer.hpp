// The Performer family on the CPU, float32 and float64 (spec/performer.md [PERF-SOFTMAX-CPU],
// [PERF-FEATURES-CPU], [PERF-LINEAR-CPU]). Each runs the operation sequence of
// order/performer_order.hpp (its bound runs the same sequence over tracked values): every
// operation rounded once in the backend's format, sums in index order, exp from
// optimized/common/elementary.hpp (float32: touchstone's exp_f32, measured; float64: glibc's exp).
// One (batch, head) per task, on `threads` threads (0: all).
// [PERF-FAST-CPU] The FAVOR+ features (positive, hyperbolic), their VJP, linear attention and its
// VJP run fast paths: the order's sequence of roundings for every element, with the loops nested
// for vectorization (and the stored states of the VJP recomputed per chunk); their outputs equal
// the order header's run on T (namespace generic below) bit for bit.
#pragma once

#include "touchstone/reference/performer_problem.hpp"

namespace touchstone::performer::cpu {

Tensor<float> softmax_attention(const AttentionProblem<float>& p, int threads = 0);
Tensor<double> softmax_attention(const AttentionProblem<double>& p, int threads = 0);
AttentionGrads<float> softmax_attention_vjp(const AttentionBackwardProblem<float>& p, int threads = 0);
AttentionGrads<double> softmax_attention_vjp(const AttentionBackwardProblem<double>& p, int threads = 0);
Tensor<float> favor_plus_features(const FeatureProblem<float>& p, int threads = 0);
Tensor<double> favor_plus_features(const FeatureProblem<double>& p, int threads = 0);
Tensor<float> favor_plus_features_vjp(const FeatureBackwardProblem<float>& p, int threads = 0);
Tensor<double> favor_plus_features_vjp(const FeatureBackwardProblem<double>& p, int threads = 0);
Tensor<float> generalized_features(const GeneralizedFeatureProblem<float>& p, int threads = 0);
Tensor<double> generalized_features(const GeneralizedFeatureProblem<double>& p, int threads = 0);
Tensor<float> generalized_features_vjp(const GeneralizedFeatureBackwardProblem<float>& p, int threads = 0);
Tensor<double> generalized_features_vjp(const GeneralizedFeatureBackwardProblem<double>& p, int threads = 0);
Tensor<float> linear_attention(const LinearProblem<float>& p, int threads = 0);
Tensor<double> linear_attention(const LinearProblem<double>& p, int threads = 0);
// [PERF-LINEAR-VJP-CPU] prefix states stored, or recovered by subtraction (p.subtraction()).
AttentionGrads<float> linear_attention_vjp(const LinearBackwardProblem<float>& p, int threads = 0);
AttentionGrads<double> linear_attention_vjp(const LinearBackwardProblem<double>& p, int threads = 0);

// The order header run element by element on native floats (through its callables), what the
// fast paths above equal bit for bit (tests/performer/performer_fast_test.cpp); not used by the
// registry.
namespace generic {
Tensor<float> favor_plus_features(const FeatureProblem<float>& p, int threads = 0);
Tensor<double> favor_plus_features(const FeatureProblem<double>& p, int threads = 0);
Tensor<float> favor_plus_features_vjp(const FeatureBackwardProblem<float>& p, int threads = 0);
Tensor<double> favor_plus_features_vjp(const FeatureBackwardProblem<double>& p, int threads = 0);
Tensor<float> linear_attention(const LinearProblem<float>& p, int threads = 0);
Tensor<double> linear_attention(const LinearProblem<double>& p, int threads = 0);
AttentionGrads<float> linear_attention_vjp(const LinearBackwardProblem<float>& p, int threads = 0);
AttentionGrads<double> linear_attention_vjp(const LinearBackwardProblem<double>& p, int threads = 0);
}  // namespace generic

}  // namespace touchstone::performer::cpu
