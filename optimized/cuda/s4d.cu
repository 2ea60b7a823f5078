// The S4D Vandermonde product on CUDA, float32 ([S4D-CUDA]; the order is documented in s4d.hpp).
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "cuda/device.hpp"
#include "cuda/runtime_memory.cuh"
#include "cuda/s4d.hpp"
#include "cuda/s4d_kernels.cuh"
#include "touchstone/core/errors.hpp"

namespace touchstone::s4::cuda {
namespace {

// One thread per output element (h, l), element index e = h L + l < 2^31 ([S4D-SHAPES]).
__global__ void s4d_product_kernel(const float* w, const float* tab, std::int64_t H, std::int64_t N,
                                   std::int64_t L, std::int64_t J, std::int64_t T, float scale,
                                   float* K) {
  const std::int64_t e = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= H * L) return;
  const std::int64_t h = e / L, l = e - h * L;
  K[e] = s4d_element(w, tab, N, J, T, h, l, scale);
}

}  // namespace

Tensor<float> s4d_product(const cpu::S4DSetup<float>& s) {
  const std::string reason = touchstone::cuda::unavailable_reason();
  if (!reason.empty()) throw BackendUnavailable(reason);
  mamba::cuda::RuntimeMemory mem("s4d cuda-f32");
  const std::int64_t nw = static_cast<std::int64_t>(s.w.size()), nt = static_cast<std::int64_t>(s.tab.size());
  const std::int64_t count = s.H * s.L;
  auto w = mem.alloc<float>(nw);
  auto tab = mem.alloc<float>(nt);
  auto K = mem.alloc<float>(count);
  mem.to_device(w, s.w.data(), nw);
  mem.to_device(tab, s.tab.data(), nt);
  constexpr int threads = 256;
  const std::int64_t blocks = (count + threads - 1) / threads;
  s4d_product_kernel<<<static_cast<unsigned>(blocks), threads>>>(w.get(), tab.get(), s.H, s.N, s.L,
                                                                  s.J, s.T, s.scale, K.get());
  mamba::cuda::runtime_check(cudaGetLastError(), "s4d cuda-f32", "kernel launch");
  mem.synchronize();
  Tensor<float> out(Shape{s.H, s.L});
  mem.to_host(out.data(), K, count);
  return out;
}

}  // namespace touchstone::s4::cuda
