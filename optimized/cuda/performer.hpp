// The Performer family on CUDA, float32 (spec/performer.md [PERF-CUDA]). Plain C++ header: the
// host API is callable from code built without nvcc (each declaration is its own stub,
// cuda/availability.hpp); the bodies are __host__ __device__ functions in performer_kernels.cuh,
// which the host emulation test runs on the CPU.
//
// Decomposition: one CUDA block per (batch, head); within it the threads share the independent
// elements of each phase (a state element, an output column, a feature), and the block
// synchronizes between phases (performer_kernels.cuh says which index computes what). Order: every
// value is cpu-f32's operation sequence (order/performer_order.hpp, which cpu-f32's fast paths
// equal bit for bit): each sum from 0 in the order's index order, the causal prefix sums in
// increasing position, one rounding per operation. So each function here returns cpu-f32's bits
// and its bound is cpu-f32's. Compiled (sm_90, -fmad=false) and host-emulated; not yet run on a
// GPU.
#pragma once

#include "cuda/availability.hpp"
#include "touchstone/reference/performer_problem.hpp"

namespace touchstone::performer::cuda {

// [PERF-SOFTMAX-CPU]'s order (cpu-f32's placement: q and k scaled by fl(d^-1/4), out = num / den),
// bidirectional or causal; the rows of a head in turn, O(L) scratch per head (no L x L matrix).
TOUCHSTONE_CUDA_ENTRY(Tensor<float> softmax_attention(const AttentionProblem<float>& p))
// [PERF-SOFTMAX-VJP-CPU]'s order: each row's weights recomputed, dk and dv summed over the rows in
// order; O(L + E) scratch per head.
TOUCHSTONE_CUDA_ENTRY(AttentionGrads<float> softmax_attention_vjp(const AttentionBackwardProblem<float>& p))
// [PERF-LINEAR-CPU]'s order, bidirectional or causal, every guard. Throws BackendUnavailable when
// no device can run it, std::runtime_error on a CUDA error.
TOUCHSTONE_CUDA_ENTRY(Tensor<float> linear_attention(const LinearProblem<float>& p))
// [PERF-LINEAR-VJP-CPU]'s order, both state forms; the stored form keeps the running sums every
// kLinearVjpChunk positions and recomputes a chunk's states when the backward pass enters it (the
// same values as every state stored, [PERF-SLICES]; p.slice() changes no value and is not used).
TOUCHSTONE_CUDA_ENTRY(AttentionGrads<float> linear_attention_vjp(const LinearBackwardProblem<float>& p))
inline constexpr Index kLinearVjpChunk = 64;
// The positive, hyperbolic ([PERF-FEATURES-CPU], [PERF-HYPERBOLIC-CPU]) and trigonometric
// ([PERF-TRIG-CPU]) features and their VJPs. The trigonometric map's cos and sin are CUDA's
// binary64 functions rounded to float (cpu-f32: glibc's), within kSinCosF32Ulps of float32 either
// way: the same order, but not assured to be the same bits.
TOUCHSTONE_CUDA_ENTRY(Tensor<float> favor_plus_features(const FeatureProblem<float>& p))
TOUCHSTONE_CUDA_ENTRY(Tensor<float> favor_plus_features_vjp(const FeatureBackwardProblem<float>& p))
// [PERF-GENERALIZED-CPU], [PERF-GENERALIZED-VJP-CPU].
TOUCHSTONE_CUDA_ENTRY(Tensor<float> generalized_features(const GeneralizedFeatureProblem<float>& p))
TOUCHSTONE_CUDA_ENTRY(Tensor<float> generalized_features_vjp(const GeneralizedFeatureBackwardProblem<float>& p))

}  // namespace touchstone::performer::cuda
