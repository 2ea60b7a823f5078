// Selective scan backward pass on CUDA, float32 (spec/mamba.md [MAMBA-BWD-CUDA]).
//
// The CPU backward's association order, exactly (optimized/cpu/mamba_backward.cpp documents it;
// [MAMBA-BWD-BOUND-CPU] is the bound of that order), so that the gradients are bitwise those of
// cpu-f32 and the cpu-f32 bound is this backend's bound:
//
//  - One thread per channel (b, d), running the CPU lane's sequence of operations: the same
//    elementary functions (optimized/common/elementary.hpp), __fmaf_rn where the CPU calls fma,
//    and no contraction elsewhere (-fmad=false).
//  - Checkpoints: each thread first runs the forward recurrence sequentially from h0 (the CPU
//    forward's h = fma(exp(dt A), h, du B), the same bits), saving the state entering every block
//    of kTimeBlock = 256 steps. (Not from the CUDA forward kernel: its chunk states come out of
//    a tree scan, [MAMBA-SCAN-CUDA], and differ from the CPU's in the last bits.)
//  - Blocks from last to first: the block's states are recomputed from its checkpoint into
//    scratch, then the adjoint runs backwards through it. exp(dt A) is recomputed in the adjoint
//    rather than stored (the same function of the same float: the same bits).
//  - A thread block is a slab: up to kSlabTiles = 8 CPU tiles of <= 16 consecutive channels of
//    one (b, B group, C group), built on the host by the CPU's own rule (make_tiles/make_slabs).
//    Variable dB[n,t], dC[n,t]: at each step the block's threads put their terms lam*du, g*h in
//    shared memory and one thread per n adds them from +0 in channel order (the CPU's slab sum);
//    a second kernel adds the slabs of each (b, group) in slab order (the first one copied).
//  - Constant dB/dC, dA, dD, ddelta_bias: per-(b, d) accumulators, as the CPU's, then summed over
//    b in increasing order (the first copied) by a third kernel.
// No atomics, and no reduction whose order depends on scheduling: the same bits run after run,
// for any wave size (below).
//
// Memory ([MAMBA-BWD-CUDA]): nothing of size (batch, dim, dstate, seqlen). Per slab of 128
// channels: checkpoints (n_blocks N), one block of states ((256 + 1) N), 4 N-vectors and 256
// values of v per channel, and the slab's partial dB/dC (L N each, variable only: the CPU keeps
// the same). Slabs run in waves sized to the free device memory (or to
// BackwardLaunch::max_slabs_per_wave), so the scratch is bounded whatever batch * dim is.
//
// The kernels and the host orchestration are in mamba_backward_kernels.cuh, written against a
// device policy: this file gives it the CUDA runtime (CudaDevice); the emulation test gives it
// host threads, so that the same code is checked bitwise against cpu-f32 without a GPU.
//
// Index arithmetic: every offset is a function of mamba_index.hpp, 64-bit ([MAMBA-INDEX-64]).
// The grid is one-dimensional (slabs along gridDim.x, at most 2^31 - 1 per launch): no 65535
// limit from gridDim.y on dim (the peer's #505).
#include <cuda_runtime.h>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>

#include "cuda/device.hpp"
#include "cuda/mamba.hpp"
#include "cuda/mamba_backward_kernels.cuh"
#include "cuda/runtime_memory.cuh"
#include "touchstone/core/errors.hpp"

namespace touchstone::mamba::cuda {
namespace {

constexpr const char* kBackend = "cuda-f32 selective scan backward";

// backward_detail::run's device policy on the CUDA runtime: the legacy default stream orders
// every launch and copy.
struct CudaDevice : RuntimeMemory {
  CudaDevice() : RuntimeMemory(kBackend) {}
  template <class... A, class... B>
  void launch(void (*kernel)(A...), unsigned grid, unsigned block, B&&... args) {
    kernel<<<grid, block>>>(std::forward<B>(args)...);
    check(cudaGetLastError(), "kernel launch");
  }
  // Grid-stride kernels: 256 threads, enough blocks for the work, at most 2^20 of them.
  unsigned stride_grid(std::int64_t work) {
    constexpr std::int64_t kMaxBlocks = 1 << 20;
    return static_cast<unsigned>(
        std::max<std::int64_t>(1, std::min<std::int64_t>(offsets::ceil_div(work, 256), kMaxBlocks)));
  }
  unsigned stride_block() { return 256; }
  std::size_t free_bytes() {
    std::size_t free_b = 0, total_b = 0;
    check(cudaMemGetInfo(&free_b, &total_b), "cudaMemGetInfo");
    return free_b;
  }
};

}  // namespace

SelectiveScanGrads<float> selective_scan_backward(const SelectiveScanBackwardProblem<float>& q) {
  return selective_scan_backward(q, BackwardLaunch{});
}

SelectiveScanGrads<float> selective_scan_backward(const SelectiveScanBackwardProblem<float>& q,
                                                  const BackwardLaunch& launch) {
  const std::string reason = touchstone::cuda::unavailable_reason();
  if (!reason.empty()) throw BackendUnavailable(reason);
  (void)cudaGetLastError();  // an earlier, unrelated error must not be reported as ours
  CudaDevice dev;
  return backward_detail::run(q, launch, dev);
}

}  // namespace touchstone::mamba::cuda
