// The orthogonal family on CUDA, float32 ([ORTH-CUDA]; the decomposition and the order are
// documented in orthogonal.hpp, the bodies are orthogonal_kernels.cuh's).
#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cuda/device.hpp"
#include "cuda/orthogonal.hpp"
#include "cuda/orthogonal_kernels.cuh"
#include "cuda/runtime_memory.cuh"
#include "touchstone/core/errors.hpp"

namespace touchstone::orthogonal::cuda {
namespace {

using Memory = mamba::cuda::RuntimeMemory;
template <class T>
using Buffer = Memory::Buffer<T>;

__device__ i64 thread_index() { return static_cast<i64>(blockIdx.x) * blockDim.x + threadIdx.x; }

__global__ void normalize_kernel(const float* v, i64 L, i64 N, float* u, float* norm) {
  const i64 i = thread_index();
  if (i < L) cwy_normalize_row(v, N, i, u, norm);
}
__global__ void gram_kernel(const float* u, i64 L, i64 N, float* s) {
  const i64 e = thread_index();
  if (e < L * L) cwy_gram_entry(u, L, N, e / L, e % L, s);
}
__global__ void solve_columns_kernel(const float* u, const float* s, i64 L, i64 N, i64 C, float* w) {
  const i64 c = thread_index();
  if (c < C) cwy_solve_column(u, s, L, N, C, c, w);
}
__global__ void cwy_entry_kernel(const float* u, const float* w, i64 L, i64 N, i64 C, float* q) {
  const i64 e = thread_index();
  if (e < N * C) q[e] = cwy_entry(u, w, L, N, C, e / C, e % C);
}
__global__ void x1_kernel(const float* u, const float* s, const float* g, i64 L, i64 N, i64 C, float* x1) {
  const i64 r = thread_index();
  if (r < N) vjp_x1_column(u, s, g, L, N, C, r, x1);
}
__global__ void z_kernel(const float* u, const float* s, const float* g, i64 L, i64 N, i64 C, float* z, float* x3) {
  const i64 c = thread_index();
  if (c < C) vjp_z_column(u, s, g, L, N, C, c, z, x3);
}
__global__ void t1_kernel(const float* u, const float* s, const float* z, i64 L, i64 N, i64 C, float* t1) {
  const i64 j = thread_index();
  if (j < L) vjp_t1_column(u, s, z, L, N, C, j, t1);
}
__global__ void p_kernel(const float* s, i64 L, float* t1) {
  const i64 i = thread_index();
  if (i < L) vjp_p_row(s, L, i, t1);
}
__global__ void du_kernel(const float* u, const float* x1, const float* x3, const float* p, i64 L, i64 N, i64 C,
                          float* du) {
  const i64 e = thread_index();
  if (e < L * N) du[e] = vjp_du_entry(u, x1, x3, p, L, N, C, e / N, e % N);
}
__global__ void projection_kernel(const float* u, const float* du, i64 L, i64 N, float* proj) {
  const i64 i = thread_index();
  if (i < L) proj[i] = vjp_projection(u, du, N, i);
}
__global__ void dv_kernel(const float* u, const float* du, const float* proj, const float* norm, i64 L, i64 N,
                          float* dv) {
  const i64 e = thread_index();
  if (e < L * N) dv[e] = vjp_dv_entry(u, du, proj, norm, N, e / N, e % N);
}
__global__ void theta_kernel(const float* x, const float* g, const i64* pairs, i64 N, i64 M, float scale, i64 P,
                             float* theta) {
  const i64 q = thread_index();
  if (q < P) theta[q] = matching_theta(x, g, pairs, N, M, scale, q);
}
__global__ void rotate_kernel(float* x, const i64* pairs, const float* cs, const float* sn, i64 N, i64 M, i64 P) {
  const i64 e = thread_index();
  if (e < N * P) matching_rotate_pair(x, pairs, cs, sn, M, e / P, e % P);
}

constexpr int kThreads = 256;
unsigned blocks(i64 count) { return static_cast<unsigned>((count + kThreads - 1) / kThreads); }

// After each launch: a launch error names the backend and the stage.
void launched(const char* backend, const char* stage) {
  mamba::cuda::runtime_check(cudaGetLastError(), backend, stage);
}

void require_device() {
  const std::string reason = touchstone::cuda::unavailable_reason();
  if (!reason.empty()) throw BackendUnavailable(reason);
}

// Stages 1-2 ([ORTH-CUDA]): u, norm and S's strict upper triangle of V (L, N) on the device.
struct Factors {
  Buffer<float> u, norm, s;
};
Factors factors(Memory& mem, const char* backend, const Buffer<float>& v, i64 L, i64 N) {
  Factors f{mem.alloc<float>(L * N), mem.alloc<float>(L), mem.alloc<float>(L * L)};
  normalize_kernel<<<blocks(L), kThreads>>>(v.get(), L, N, f.u.get(), f.norm.get());
  launched(backend, "normalize launch");
  gram_kernel<<<blocks(L * L), kThreads>>>(f.u.get(), L, N, f.s.get());
  launched(backend, "gram launch");
  return f;
}

// The first C columns of Q = I - U^T S^-1 U.
Tensor<float> cwy_columns(const Tensor<float>& vt, i64 C, const char* backend) {
  require_device();
  const i64 L = vt.extent(0), N = vt.extent(1);
  Memory mem(backend);
  auto v = mem.alloc<float>(L * N);
  mem.to_device(v, vt.data(), L * N);
  const Factors f = factors(mem, backend, v, L, N);
  auto w = mem.alloc<float>(L * C);
  auto q = mem.alloc<float>(N * C);
  solve_columns_kernel<<<blocks(C), kThreads>>>(f.u.get(), f.s.get(), L, N, C, w.get());
  launched(backend, "solve launch");
  cwy_entry_kernel<<<blocks(N * C), kThreads>>>(f.u.get(), w.get(), L, N, C, q.get());
  launched(backend, "product launch");
  mem.synchronize();
  Tensor<float> out(Shape{N, C});
  mem.to_host(out.data(), q, N * C);
  return out;
}

}  // namespace

Tensor<float> cwy(const ReflectorProblem<float>& p) { return cwy_columns(p.v(), p.N(), "orthogonal.cwy cuda-f32"); }
Tensor<float> tcwy(const StiefelProblem<float>& p) { return cwy_columns(p.v(), p.M(), "orthogonal.tcwy cuda-f32"); }

Tensor<float> cwy_vjp(const CwyBackwardProblem<float>& p) {
  require_device();
  const char* backend = p.stiefel() ? "orthogonal.tcwy_backward cuda-f32" : "orthogonal.cwy_backward cuda-f32";
  const i64 L = p.L(), N = p.N(), C = p.columns();
  Memory mem(backend);
  auto v = mem.alloc<float>(L * N);
  auto g = mem.alloc<float>(N * C);
  mem.to_device(v, p.v().data(), L * N);
  mem.to_device(g, p.g().data(), N * C);
  const Factors f = factors(mem, backend, v, L, N);
  auto x1 = mem.alloc<float>(L * N);
  auto z = mem.alloc<float>(L * C);
  auto x3 = mem.alloc<float>(L * C);
  auto t1 = mem.alloc<float>(L * L);
  auto du = mem.alloc<float>(L * N);
  auto proj = mem.alloc<float>(L);
  auto dv = mem.alloc<float>(L * N);
  x1_kernel<<<blocks(N), kThreads>>>(f.u.get(), f.s.get(), g.get(), L, N, C, x1.get());
  launched(backend, "X1 launch");
  z_kernel<<<blocks(C), kThreads>>>(f.u.get(), f.s.get(), g.get(), L, N, C, z.get(), x3.get());
  launched(backend, "Z launch");
  t1_kernel<<<blocks(L), kThreads>>>(f.u.get(), f.s.get(), z.get(), L, N, C, t1.get());
  launched(backend, "T1 launch");
  p_kernel<<<blocks(L), kThreads>>>(f.s.get(), L, t1.get());
  launched(backend, "P launch");
  du_kernel<<<blocks(L * N), kThreads>>>(f.u.get(), x1.get(), x3.get(), t1.get(), L, N, C, du.get());
  launched(backend, "dU launch");
  projection_kernel<<<blocks(L), kThreads>>>(f.u.get(), du.get(), L, N, proj.get());
  launched(backend, "projection launch");
  dv_kernel<<<blocks(L * N), kThreads>>>(f.u.get(), du.get(), proj.get(), f.norm.get(), L, N, dv.get());
  launched(backend, "dV launch");
  mem.synchronize();
  Tensor<float> out(Shape{L, N});
  mem.to_host(out.data(), dv, L * N);
  return out;
}

Tensor<float> matching_step(const MatchingStepProblem<float>& p) {
  require_device();
  const char* backend = "orthogonal.matching_step cuda-f32";
  const i64 N = p.N(), M = p.M();
  std::vector<i64> pairs;
  for (const auto& [i, j] : round_robin_matching(M, p.round())) pairs.push_back(i), pairs.push_back(j);
  const i64 P = static_cast<i64>(pairs.size()) / 2;
  Memory mem(backend);
  auto x = mem.alloc<float>(N * M);
  auto g = mem.alloc<float>(N * M);
  auto pd = mem.alloc<i64>(2 * P);
  auto theta = mem.alloc<float>(P);
  auto cs = mem.alloc<float>(P);
  auto sn = mem.alloc<float>(P);
  mem.to_device(x, p.x().data(), N * M);
  mem.to_device(g, p.g().data(), N * M);
  mem.to_device(pd, pairs.data(), 2 * P);
  Tensor<float> out(Shape{N, M});
  if (P == 0) {  // M = 1: no pair, X unchanged
    mem.to_host(out.data(), x, N * M);
    return out;
  }
  theta_kernel<<<blocks(P), kThreads>>>(x.get(), g.get(), pd.get(), N, M, matching_scale(p.eta(), matching_rounds(M)),
                                        P, theta.get());
  launched(backend, "theta launch");
  mem.synchronize();
  std::vector<float> th(static_cast<std::size_t>(P)), c(th.size()), s(th.size());
  mem.to_host(th.data(), theta, P);
  for (std::size_t q = 0; q < th.size(); ++q) matching_cos_sin(th[q], &c[q], &s[q]);
  mem.to_device(cs, c.data(), P);
  mem.to_device(sn, s.data(), P);
  rotate_kernel<<<blocks(N * P), kThreads>>>(x.get(), pd.get(), cs.get(), sn.get(), N, M, P);
  launched(backend, "rotate launch");
  mem.synchronize();
  mem.to_host(out.data(), x, N * M);
  return out;
}

}  // namespace touchstone::orthogonal::cuda
