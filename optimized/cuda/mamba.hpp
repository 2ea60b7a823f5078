// Selective scan on CUDA, float32 (spec/mamba.md [MAMBA-SCAN-CUDA]). Plain C++ header: the host
// API is callable from code built without nvcc.
//
// Association order ([MAMBA-SCAN-BOUND-CUDA-F32] is the bound for it): one thread block per
// (batch, channel); the sequence is cut into chunks of `chunk` = threads * items steps. Within a
// chunk, for each state index n, each thread folds its `items` consecutive steps sequentially,
// the block combines the thread summaries with the scan operator
// (a1, b1) o (a2, b2) = (a2 a1, fma(a2, b1, b2)), each thread applies its exclusive prefix to
// the state carried in from the previous chunk with one fma, then recomputes its steps
// sequentially with h = fma(a, h, bu) exactly as the CPU backend does; y accumulates over n by
// fma in increasing n. dt, du, exp, softplus and silu are the same code and the same operation
// order as the CPU backend (optimized/common/elementary.hpp), so they agree bitwise.
//
// Details of that order (optimized/cuda/mamba.cu): a thread's summary starts from its first
// step's (a, bu) itself, not from fma'ing it into the identity (1, 0); steps past seqlen are
// skipped (a thread without valid steps contributes the identity). The block scan is a
// Kogge-Stone scan in each warp, a left fold of the warp totals, and one combine of the warp's
// prefix with the lane's; its depth is derived below (kSelectiveScanShape). Thread 0's prefix is
// empty: it continues from the carried state unchanged, so a sequence of at most `items` steps
// gives the CPU backend's results bitwise. The carried state is the state after the chunk's last
// valid step, as computed by the thread that owns that step.
#pragma once

#include "cuda/availability.hpp"
#include "touchstone/reference/mamba_problem.hpp"

namespace touchstone::mamba::cuda {

struct ScanKernelShape {
  int threads;     // threads per block
  int items;       // consecutive time steps per thread
  int chunk;       // threads * items
  int tree_depth;  // max combines that add one term to others within a chunk (for the bound)
  int max_dstate;  // largest dstate the kernel accepts
};

// The launch shape of the selective scan kernel ([MAMBA-SCAN-CUDA]), shared by the kernel
// (mamba.cu), its host emulation and the error bound ([MAMBA-SCAN-BOUND-CUDA-F32]).
//
// threads = 128, items = 16, chunk = 2048: mamba_ssm's own shape for long sequences (it uses
// 128 x 16 above seqlen 1024), 4 full warps, and 16 items per thread keep dt, du, y and the
// per-n a, bu of a thread's steps in registers (about 100 of them, no spills).
//
// tree_depth = 8, the most combines (a1, b1) o (a2, b2) = (a2 a1, fma(a2, b1, b2)) on the path
// of one thread summary to any thread's exclusive prefix in the kernel's block scan
// (mamba.cu, block_exclusive_prefix):
//   5  Kogge-Stone inclusive scan inside a warp of 32: log2(32) levels; at each level a value
//      takes part in at most one combine on any one path (as the right operand where it stays
//      in its lane, or as the left operand where it moves up by the level's offset);
//      the exclusive prefix inside the warp is the inclusive one of the lane below: no combine.
//      A warp's total is lane 31's inclusive prefix: also at most 5.
//   2  the prefix of warp w is total[0] o total[1] o ... o total[w-1], folded left to right:
//      with 4 warps, w <= 3, so at most w - 1 = 2 combines after a total enters it
//      (total[0] takes part in both; total[j] enters at the j-th and stays for the rest).
//   1  the thread's prefix is (prefix of its warp) o (its exclusive prefix inside the warp).
// 5 + 2 + 1 = 8 in general 4 + warps for warps >= 2; mamba.cu static_asserts the formula
// against the value here. The per-thread sequential folds, the carry-in fma and the
// recomputation are not combines of the tree: the bound counts them separately (one rounding
// per step, and + 2 per term for the entry fma and the carry-in fma).
inline constexpr ScanKernelShape kSelectiveScanShape{128, 16, 2048, 8, 256};

// The kernel's launch shape (the same in a build without CUDA: the bound needs it).
constexpr ScanKernelShape selective_scan_kernel_shape() { return kSelectiveScanShape; }

// Throws BackendUnavailable when no device can run it, InvalidInput when dstate exceeds
// max_dstate, std::runtime_error on a CUDA error (with the CUDA message).
TOUCHSTONE_CUDA_ENTRY(SelectiveScanResult<float> selective_scan(const SelectiveScanProblem<float>& p))

// Backward pass (VJP) of every input, float32 ([MAMBA-BWD-CUDA]; optimized/cuda/mamba_backward.cu).
// The CPU backward's association order exactly (optimized/cpu/mamba_backward.cpp): one thread
// per channel running the CPU lane's sequence from checkpoints every 256 steps that it computes
// itself by the sequential forward recurrence, cross-channel sums in the CPU's slabs and order.
// So the gradients are bitwise those of cpu::selective_scan_backward on float32, and its bound
// (backward_arithmetic_cpu_f32) is this backend's. Deterministic (no atomics). Scratch is
// O(dstate (seqlen / 256 + 257)) per channel in flight, never (batch, dim, dstate, seqlen).
// Throws BackendUnavailable without a device, std::runtime_error on a CUDA error.
TOUCHSTONE_CUDA_ENTRY(
    SelectiveScanGrads<float> selective_scan_backward(const SelectiveScanBackwardProblem<float>& p))

// Launch options that do not change the result (the bits are the same for any of them): the
// number of slabs of 128 channels run per wave, 0 to size waves to the free device memory.
// Tests use small waves to exercise the wave boundaries of the cross-channel sums.
struct BackwardLaunch {
  long long max_slabs_per_wave = 0;
};
TOUCHSTONE_CUDA_ENTRY(SelectiveScanGrads<float> selective_scan_backward(
    const SelectiveScanBackwardProblem<float>& p, const BackwardLaunch& launch))

}  // namespace touchstone::mamba::cuda
