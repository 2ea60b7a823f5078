// The Performer family on CUDA, float32 ([PERF-CUDA]; the decomposition and order are documented in
// performer.hpp and performer_kernels.cuh). This file adds only the block policy, the launches and
// the data movement: one block of kThreads threads per (batch, head).
#include "cuda/performer.hpp"

#include <cuda_runtime.h>

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include "cuda/device.hpp"
#include "cuda/performer_kernels.cuh"
#include "cuda/runtime_memory.cuh"
#include "touchstone/core/errors.hpp"

namespace touchstone::performer::cuda {
namespace {

using mamba::cuda::RuntimeMemory;
using mamba::cuda::runtime_check;

constexpr int kThreads = 256;

// The block policy of performer_kernels.cuh on the device: the block's threads share the indices
// of a phase; sync() is the block barrier. (Host side: never called.)
struct DeviceBlock {
  template <class F>
  TOUCHSTONE_HD void for_each(std::int64_t n, F&& f) {
#if defined(__CUDA_ARCH__)
    for (std::int64_t idx = threadIdx.x; idx < n; idx += blockDim.x) f(idx);
#else
    (void)n;
    (void)f;
#endif
  }
  TOUCHSTONE_HD void sync() {
#if defined(__CUDA_ARCH__)
    __syncthreads();
#endif
  }
};

void require_available() {
  const std::string reason = touchstone::cuda::unavailable_reason();
  if (!reason.empty()) throw BackendUnavailable(reason);
}

// The grid has one block per (batch, head): at most 2^31 - 1 blocks in x.
unsigned head_blocks(std::int64_t heads) {
  if (heads < 1 || heads > std::numeric_limits<int>::max()) throw std::runtime_error("performer cuda-f32: too many heads");
  return static_cast<unsigned>(heads);
}

__global__ void softmax_attention_kernel(const float* q, const float* k, const float* v, SoftmaxDims d, float* scratch,
                                         float* out) {
  const std::int64_t bh = blockIdx.x;
  DeviceBlock b;
  softmax_attention_head(b, q + bh * d.L * d.D, k + bh * d.L * d.D, v + bh * d.L * d.E, d, scratch + bh * (d.L + 1),
                         out + bh * d.L * d.E);
}

// Per head: e (L + 1), ds (L), out (E), den (1).
__host__ __device__ std::int64_t softmax_vjp_scratch_per_head(const SoftmaxDims& d) { return 2 * d.L + d.E + 2; }

__global__ void softmax_attention_vjp_kernel(const float* q, const float* k, const float* v, const float* g,
                                             SoftmaxDims d, float* scratch, float* dq, float* dk, float* dv) {
  const std::int64_t bh = blockIdx.x;
  float* at = scratch + bh * softmax_vjp_scratch_per_head(d);
  const SoftmaxVjpScratch s{at, at + d.L + 1, at + 2 * d.L + 1, at + 2 * d.L + 1 + d.E};
  DeviceBlock b;
  const std::int64_t a = bh * d.L * d.D, e = bh * d.L * d.E;
  softmax_attention_vjp_head(b, q + a, k + a, v + e, g + e, d, s, dq + a, dk + a, dv + e);
}

__global__ void linear_attention_kernel(const float* q, const float* k, const float* v, LinearDims d, float* state,
                                        float* out) {
  const std::int64_t bh = blockIdx.x;
  DeviceBlock b;
  linear_attention_head(b, q + bh * d.L * d.M, k + bh * d.L * d.M, v + bh * d.L * d.E, d, state + bh * d.M * (d.E + 1),
                        out + bh * d.L * d.E);
}

__global__ void linear_attention_vjp_kernel(const float* q, const float* k, const float* v, const float* g, LinearDims d,
                                            bool subtraction, std::int64_t chunk, float* scratch, std::int64_t per_head,
                                            float* dq, float* dk, float* dv) {
  const std::int64_t bh = blockIdx.x, n = d.M * (d.E + 1), chunks = (d.L + chunk - 1) / chunk;
  const bool stored = d.causal && !subtraction;
  float* at = scratch + bh * per_head;
  LinearVjpScratch s{};
  s.state = at;
  at += n;
  s.C = at;
  at += d.M * d.E;
  s.D = at;
  at += d.M;
  s.dW = at;
  at += d.E;
  s.t = at;
  at += d.E;
  s.R = at;
  at += 1;
  s.checkpoints = at;
  at += stored ? chunks * n : 0;
  s.chunk_states = at;
  DeviceBlock b;
  const std::int64_t a = bh * d.L * d.M, e = bh * d.L * d.E;
  linear_attention_vjp_head(b, q + a, k + a, v + e, g + e, d, subtraction, chunk, s, dq + a, dk + a, dv + e);
}

// Per head: u (L, M), diag (L), shift (L), G (L, 2M).
__host__ __device__ std::int64_t feature_scratch_per_head(const FeatureDims& d) { return d.L * d.M + 2 * d.L + 2 * d.L * d.M; }

__device__ FeatureScratch feature_scratch(float* scratch, std::int64_t bh, const FeatureDims& d) {
  float* at = scratch + bh * feature_scratch_per_head(d);
  return {at, at + d.L * d.M, at + d.L * d.M + d.L, at + d.L * d.M + 2 * d.L};
}

__global__ void features_kernel(const float* x, const float* w, FeatureDims d, float* scratch, std::int64_t width,
                                float* out) {
  const std::int64_t bh = blockIdx.x;
  DeviceBlock b;
  features_head(b, x + bh * d.L * d.D, w, d, feature_scratch(scratch, bh, d), out + bh * d.L * width);
}

__global__ void features_vjp_kernel(const float* x, const float* w, const float* g, FeatureDims d, float* scratch,
                                    std::int64_t width, float* dx) {
  const std::int64_t bh = blockIdx.x;
  DeviceBlock b;
  features_vjp_head(b, x + bh * d.L * d.D, w, g + bh * d.L * width, d, feature_scratch(scratch, bh, d),
                    dx + bh * d.L * d.D);
}

__global__ void generalized_kernel(const float* x, const float* w, GeneralizedDims d, float* out) {
  const std::int64_t bh = blockIdx.x;
  DeviceBlock b;
  generalized_head(b, x + bh * d.L * d.D, w, d, out + bh * d.L * d.M);
}

__global__ void generalized_vjp_kernel(const float* x, const float* w, const float* g, GeneralizedDims d, float* G,
                                       float* dx) {
  const std::int64_t bh = blockIdx.x;
  DeviceBlock b;
  generalized_vjp_head(b, x + bh * d.L * d.D, w, g + bh * d.L * d.M, d, G + bh * d.L * d.M, dx + bh * d.L * d.D);
}

}  // namespace

Tensor<float> softmax_attention(const AttentionProblem<float>& p) {
  require_available();
  const char* name = "performer.softmax_attention cuda-f32";
  RuntimeMemory mem(name);
  const auto& in = p.in();
  const SoftmaxDims d = softmax_dims(p);
  const std::int64_t BH = p.batch() * p.heads(), nv = in.v.count();
  auto q = mem.copy_of(in.q), k = mem.copy_of(in.k), v = mem.copy_of(in.v);
  auto scratch = mem.alloc<float>(BH * (d.L + 1));
  auto out = mem.alloc<float>(nv);
  softmax_attention_kernel<<<head_blocks(BH), kThreads>>>(q.get(), k.get(), v.get(), d, scratch.get(), out.get());
  runtime_check(cudaGetLastError(), name, "kernel launch");
  mem.synchronize();
  return mem.tensor_of(out, in.v.shape());
}

AttentionGrads<float> softmax_attention_vjp(const AttentionBackwardProblem<float>& bp) {
  require_available();
  const char* name = "performer.softmax_attention_backward cuda-f32";
  RuntimeMemory mem(name);
  const AttentionProblem<float>& p = bp.fwd();
  const auto& in = p.in();
  const SoftmaxDims d = softmax_dims(p);
  const std::int64_t BH = p.batch() * p.heads(), nqk = in.q.count(), nv = in.v.count();
  auto q = mem.copy_of(in.q), k = mem.copy_of(in.k), v = mem.copy_of(in.v), g = mem.copy_of(bp.dout());
  auto scratch = mem.alloc<float>(BH * softmax_vjp_scratch_per_head(d));
  auto dq = mem.alloc<float>(nqk);
  auto dk = mem.alloc<float>(nqk);
  auto dv = mem.alloc<float>(nv);
  softmax_attention_vjp_kernel<<<head_blocks(BH), kThreads>>>(q.get(), k.get(), v.get(), g.get(), d, scratch.get(),
                                                              dq.get(), dk.get(), dv.get());
  runtime_check(cudaGetLastError(), name, "kernel launch");
  mem.synchronize();
  return {mem.tensor_of(dq, in.q.shape()), mem.tensor_of(dk, in.k.shape()), mem.tensor_of(dv, in.v.shape())};
}

Tensor<float> linear_attention(const LinearProblem<float>& p) {
  require_available();
  const char* name = "performer.linear_attention cuda-f32";
  RuntimeMemory mem(name);
  const auto& in = p.in();
  const LinearDims d = linear_dims(p);
  const std::int64_t BH = p.batch() * p.heads(), nv = in.v.count();
  auto q = mem.copy_of(in.q), k = mem.copy_of(in.k), v = mem.copy_of(in.v);
  auto state = mem.alloc<float>(BH * d.M * (d.E + 1));
  auto out = mem.alloc<float>(nv);
  linear_attention_kernel<<<head_blocks(BH), kThreads>>>(q.get(), k.get(), v.get(), d, state.get(), out.get());
  runtime_check(cudaGetLastError(), name, "kernel launch");
  mem.synchronize();
  return mem.tensor_of(out, in.v.shape());
}

AttentionGrads<float> linear_attention_vjp(const LinearBackwardProblem<float>& bp) {
  require_available();
  const char* name = "performer.linear_attention_backward cuda-f32";
  RuntimeMemory mem(name);
  const LinearProblem<float>& p = bp.fwd();
  const auto& in = p.in();
  const LinearDims d = linear_dims(p);
  const std::int64_t BH = p.batch() * p.heads(), nqk = in.q.count(), nv = in.v.count();
  const std::int64_t chunk = kLinearVjpChunk, n = d.M * (d.E + 1), chunks = (d.L + chunk - 1) / chunk;
  const bool stored = d.causal && !bp.subtraction();
  // Per head: state, C, D, dW, t, R, and (stored) the checkpoints and one chunk's states.
  const std::int64_t per_head = n + d.M * d.E + d.M + 2 * d.E + 1 + (stored ? (chunks + chunk) * n : 0);
  auto q = mem.copy_of(in.q), k = mem.copy_of(in.k), v = mem.copy_of(in.v), g = mem.copy_of(bp.dout());
  auto scratch = mem.alloc<float>(BH * per_head);
  auto dq = mem.alloc<float>(nqk);
  auto dk = mem.alloc<float>(nqk);
  auto dv = mem.alloc<float>(nv);
  linear_attention_vjp_kernel<<<head_blocks(BH), kThreads>>>(q.get(), k.get(), v.get(), g.get(), d, bp.subtraction(),
                                                             chunk, scratch.get(), per_head, dq.get(), dk.get(), dv.get());
  runtime_check(cudaGetLastError(), name, "kernel launch");
  mem.synchronize();
  return {mem.tensor_of(dq, in.q.shape()), mem.tensor_of(dk, in.k.shape()), mem.tensor_of(dv, in.v.shape())};
}

namespace {

// Runs a features kernel: x (B, H, L, D), w, optional g; returns (B, H, L, width).
template <class Launch>
Tensor<float> run_features(const char* name, const Tensor<float>& x, const Tensor<float>* w, const Tensor<float>* g,
                           std::int64_t scratch_per_head, Shape out_shape, Launch launch) {
  require_available();
  RuntimeMemory mem(name);
  const std::int64_t BH = x.extent(0) * x.extent(1), nx = x.count(), nw = w ? w->count() : 0, ng = g ? g->count() : 0;
  Tensor<float> result(std::move(out_shape));
  const std::int64_t nout = result.count();
  auto dx = mem.alloc<float>(nx);
  auto dw = mem.alloc<float>(nw);
  auto dg = mem.alloc<float>(ng);
  auto scratch = mem.alloc<float>(BH * scratch_per_head);
  auto out = mem.alloc<float>(nout);
  mem.to_device(dx, x.data(), nx);
  if (w) mem.to_device(dw, w->data(), nw);
  if (g) mem.to_device(dg, g->data(), ng);
  launch(head_blocks(BH), dx.get(), dw.get(), dg.get(), scratch.get(), out.get());
  runtime_check(cudaGetLastError(), name, "kernel launch");
  mem.synchronize();
  mem.to_host(result.data(), out, nout);
  return result;
}

}  // namespace

Tensor<float> favor_plus_features(const FeatureProblem<float>& p) {
  const FeatureDims d = feature_dims(p);
  const std::int64_t width = p.outputs();
  return run_features("performer features cuda-f32", p.in().x, &p.in().projection, nullptr, feature_scratch_per_head(d),
                      Shape{p.batch(), p.heads(), p.seqlen(), width},
                      [&](unsigned blocks, const float* x, const float* w, const float*, float* scratch, float* out) {
                        features_kernel<<<blocks, kThreads>>>(x, w, d, scratch, width, out);
                      });
}

Tensor<float> favor_plus_features_vjp(const FeatureBackwardProblem<float>& bp) {
  const FeatureProblem<float>& p = bp.fwd();
  const FeatureDims d = feature_dims(p);
  const std::int64_t width = p.outputs();
  return run_features("performer features backward cuda-f32", p.in().x, &p.in().projection, &bp.dfeatures(),
                      feature_scratch_per_head(d), p.in().x.shape(),
                      [&](unsigned blocks, const float* x, const float* w, const float* g, float* scratch, float* out) {
                        features_vjp_kernel<<<blocks, kThreads>>>(x, w, g, d, scratch, width, out);
                      });
}

Tensor<float> generalized_features(const GeneralizedFeatureProblem<float>& p) {
  const GeneralizedDims d = generalized_dims(p);
  const auto& w = p.in().projection;
  return run_features("performer.generalized_features cuda-f32", p.in().x, w ? &*w : nullptr, nullptr, 0,
                      Shape{p.batch(), p.heads(), p.seqlen(), p.features()},
                      [&](unsigned blocks, const float* x, const float* w_, const float*, float*, float* out) {
                        generalized_kernel<<<blocks, kThreads>>>(x, w_, d, out);
                      });
}

Tensor<float> generalized_features_vjp(const GeneralizedFeatureBackwardProblem<float>& bp) {
  const GeneralizedFeatureProblem<float>& p = bp.fwd();
  const GeneralizedDims d = generalized_dims(p);
  const auto& w = p.in().projection;
  return run_features("performer.generalized_features_backward cuda-f32", p.in().x, w ? &*w : nullptr,
                      &bp.dfeatures(), d.L * d.M, p.in().x.shape(),
                      [&](unsigned blocks, const float* x, const float* w_, const float* g, float* G, float* out) {
                        generalized_vjp_kernel<<<blocks, kThreads>>>(x, w_, g, d, G, out);
                      });
}

}  // namespace touchstone::performer::cuda
