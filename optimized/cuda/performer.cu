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

LinearDims linear_dims(const LinearProblem<float>& p) {
  const auto& in = p.in();
  return {p.seqlen(), p.features(), p.dim_v(), in.causal, static_cast<int>(in.guard), static_cast<float>(in.guard_eps)};
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

}  // namespace

Tensor<float> linear_attention(const LinearProblem<float>& p) {
  require_available();
  const char* name = "performer.linear_attention cuda-f32";
  RuntimeMemory mem(name);
  const auto& in = p.in();
  const LinearDims d = linear_dims(p);
  const std::int64_t BH = p.batch() * p.heads(), nqk = in.q.count(), nv = in.v.count();
  auto q = mem.alloc<float>(nqk);
  auto k = mem.alloc<float>(nqk);
  auto v = mem.alloc<float>(nv);
  auto state = mem.alloc<float>(BH * d.M * (d.E + 1));
  auto out = mem.alloc<float>(nv);
  mem.to_device(q, in.q.data(), nqk);
  mem.to_device(k, in.k.data(), nqk);
  mem.to_device(v, in.v.data(), nv);
  linear_attention_kernel<<<head_blocks(BH), kThreads>>>(q.get(), k.get(), v.get(), d, state.get(), out.get());
  runtime_check(cudaGetLastError(), name, "kernel launch");
  mem.synchronize();
  Tensor<float> result(in.v.shape());
  mem.to_host(result.data(), out, nv);
  return result;
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
  auto q = mem.alloc<float>(nqk);
  auto k = mem.alloc<float>(nqk);
  auto v = mem.alloc<float>(nv);
  auto g = mem.alloc<float>(nv);
  auto scratch = mem.alloc<float>(BH * per_head);
  auto dq = mem.alloc<float>(nqk);
  auto dk = mem.alloc<float>(nqk);
  auto dv = mem.alloc<float>(nv);
  mem.to_device(q, in.q.data(), nqk);
  mem.to_device(k, in.k.data(), nqk);
  mem.to_device(v, in.v.data(), nv);
  mem.to_device(g, bp.dout().data(), nv);
  linear_attention_vjp_kernel<<<head_blocks(BH), kThreads>>>(q.get(), k.get(), v.get(), g.get(), d, bp.subtraction(),
                                                             chunk, scratch.get(), per_head, dq.get(), dk.get(), dv.get());
  runtime_check(cudaGetLastError(), name, "kernel launch");
  mem.synchronize();
  AttentionGrads<float> out{Tensor<float>(in.q.shape()), Tensor<float>(in.q.shape()), Tensor<float>(in.v.shape())};
  mem.to_host(out.dq.data(), dq, nqk);
  mem.to_host(out.dk.data(), dk, nqk);
  mem.to_host(out.dv.data(), dv, nv);
  return out;
}

}  // namespace touchstone::performer::cuda
