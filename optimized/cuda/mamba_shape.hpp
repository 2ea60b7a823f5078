// Launch shape of the selective scan kernel ([MAMBA-SCAN-CUDA]), shared by the kernel
// (mamba.cu), the stub of builds without CUDA and the error bound ([MAMBA-SCAN-BOUND-CUDA-F32]).
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
#pragma once

#include "cuda/mamba.cuh"

namespace touchstone::mamba::cuda {
inline constexpr ScanKernelShape kSelectiveScanShape{128, 16, 2048, 8, 256};
}  // namespace touchstone::mamba::cuda
