// The Cauchy kernel and its VJP on CUDA (spec/s4.md [S4-CAUCHY-CUDA]); the arithmetic is the
// __host__ __device__ bodies of s4_cauchy_kernels.cuh.
#include <cuda_runtime.h>

#include <stdexcept>

#include "cuda/device.hpp"
#include "cuda/runtime_memory.cuh"
#include "cuda/s4_cauchy.hpp"
#include "cuda/s4_cauchy_kernels.cuh"
#include "touchstone/core/errors.hpp"

namespace touchstone::s4::cuda {

namespace {
using Memory = touchstone::mamba::cuda::RuntimeMemory;

__global__ void cauchy_kernel(CauchyView c, float* out) {
  const long long idx = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= c.H * c.L) return;
  const long long h = idx / c.L, l = idx % c.L;
  cauchy_point(c, h, l, &out[2 * idx], &out[2 * idx + 1]);
}

__global__ void cauchy_backward_kernel(CauchyView c, float* out) {
  const long long idx = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= c.H * c.N) return;
  float r[4];
  cauchy_backward_point(c, idx / c.N, idx % c.N, r);
  const long long half = 2 * c.H * c.N;
  out[2 * idx] = r[0];
  out[2 * idx + 1] = r[1];
  out[half + 2 * idx] = r[2];
  out[half + 2 * idx + 1] = r[3];
}

struct DeviceArrays {
  Memory mem{"s4.cauchy cuda-f32"};
  std::vector<Memory::Buffer<float>> bufs;
  const float* put(const std::vector<float>& v) {
    bufs.push_back(mem.alloc<float>(static_cast<std::int64_t>(v.size())));
    mem.to_device(bufs.back(), v.data(), static_cast<std::int64_t>(v.size()));
    return bufs.back().get();
  }
};

std::vector<float> run(const CauchyProblem& p, const std::vector<cdouble>* dout) {
  if (const std::string why = cauchy_unavailable_reason(); !why.empty()) throw BackendUnavailable(why);
  const CauchyHostArrays a = host_arrays(p, dout);
  DeviceArrays d;
  d.bufs.reserve(9);
  CauchyView c = a.view(p);
  c.vr = d.put(a.vr), c.vi = d.put(a.vi), c.wr = d.put(a.wr), c.wi = d.put(a.wi);
  c.zr = d.put(a.zr), c.zi = d.put(a.zi);
  if (dout) c.gr = d.put(a.gr), c.gi = d.put(a.gi);
  const long long items = dout ? p.H * p.N : p.H * p.L;
  const long long count = dout ? 4 * p.H * p.N : 2 * p.H * p.L;
  std::vector<float> out(static_cast<std::size_t>(count));
  Memory::Buffer<float> o = d.mem.alloc<float>(count);
  const int block = 128;
  const unsigned grid = static_cast<unsigned>((items + block - 1) / block);
  if (dout) cauchy_backward_kernel<<<grid, block>>>(c, o.get());
  else cauchy_kernel<<<grid, block>>>(c, o.get());
  touchstone::mamba::cuda::runtime_check(cudaGetLastError(), "s4.cauchy cuda-f32", "launch");
  d.mem.synchronize();
  d.mem.to_host(out.data(), o, count);
  return out;
}
}  // namespace

std::vector<float> cauchy(const CauchyProblem& p) { return run(p, nullptr); }
std::vector<float> cauchy_backward(const CauchyProblem& p, const std::vector<cdouble>& dout) {
  if (static_cast<Index>(dout.size()) != p.H * p.L) throw InvalidInput("dout", "must have shape (H, L)");
  return run(p, &dout);
}

}  // namespace touchstone::s4::cuda
