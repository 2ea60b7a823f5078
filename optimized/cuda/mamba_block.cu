// The Mamba block on CUDA, float32 (spec/mamba_block.md [MAMBA-BLOCK-CUDA]). The association
// order is documented in mamba_block.hpp; the kernels' bodies and the orchestration are in
// mamba_block_kernels.cuh. This file gives them the CUDA runtime: one grid-stride kernel template
// that runs a body for every thread index (64-bit), device buffers, copies on the legacy default
// stream (which orders every launch and copy), and the scan backward of mamba_backward.cu.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "cuda/device.hpp"
#include "cuda/mamba.hpp"
#include "cuda/mamba_block.hpp"
#include "cuda/mamba_block_kernels.cuh"
#include "cuda/runtime_memory.cuh"
#include "touchstone/core/errors.hpp"

namespace touchstone::mamba::cuda {
namespace {

constexpr const char* kBackend = "cuda-f32 mamba block";

// body(i) for every i < n: a grid-stride loop in 64-bit indices, so any n below 2^63 is covered
// whatever the grid.
template <class F>
__global__ void __launch_bounds__(256) each_kernel(std::int64_t n, F body) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride)
    body(i);
}

struct CudaBlockDevice : RuntimeMemory {
  CudaBlockDevice() : RuntimeMemory(kBackend) {}
  template <class F>
  void each(std::int64_t n, const F& body) {
    constexpr std::int64_t kBlock = 256, kMaxBlocks = 1 << 20;
    const unsigned grid = static_cast<unsigned>(
        std::max<std::int64_t>(1, std::min<std::int64_t>((n - 1) / kBlock + 1, kMaxBlocks)));
    each_kernel<F><<<grid, static_cast<unsigned>(kBlock)>>>(n, body);
    check(cudaGetLastError(), "kernel launch");
  }
  SelectiveScanGrads<float> scan_backward(const SelectiveScanBackwardProblem<float>& q) {
    return cuda::selective_scan_backward(q);
  }
};

void require_device() {
  const std::string reason = touchstone::cuda::unavailable_reason();
  if (!reason.empty()) throw BackendUnavailable(reason);
  (void)cudaGetLastError();  // an earlier, unrelated error must not be reported as ours
}

}  // namespace

Tensor<float> mamba_block_forward(const MambaBlockWeights<float>& w, const Tensor<float>& hidden,
                                  MambaBlockCache* cache) {
  require_device();
  CudaBlockDevice dev;
  return block_detail::Run<CudaBlockDevice>(dev).forward(w, hidden, cache, nullptr);
}

MambaBlockGrads<float> mamba_block_backward(const MambaBlockWeights<float>& w,
                                            const MambaBlockCache& cache, const Tensor<float>& dout) {
  require_device();
  CudaBlockDevice dev;
  return block_detail::Run<CudaBlockDevice>(dev).backward(w, cache, dout);
}

Tensor<float> mamba_block_prefill(const MambaBlockWeights<float>& w, const Tensor<float>& hidden,
                                  MambaBlockState<float>& state) {
  require_device();
  CudaBlockDevice dev;
  return block_detail::Run<CudaBlockDevice>(dev).forward(w, hidden, nullptr, &state);
}

Tensor<float> mamba_block_step(const MambaBlockWeights<float>& w, const Tensor<float>& hidden,
                               MambaBlockState<float>& state) {
  require_device();
  CudaBlockDevice dev;
  return block_detail::Run<CudaBlockDevice>(dev).step(w, hidden, state);
}

}  // namespace touchstone::mamba::cuda
