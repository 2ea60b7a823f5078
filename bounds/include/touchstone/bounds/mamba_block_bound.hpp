// A-priori error bounds of the Mamba block's CPU backends (spec/mamba_block.md
// [MAMBA-BLOCK-BOUND-MODEL] .. [MAMBA-BLOCK-BOUND-EVAL]).
//
// The bound of every output element is obtained by running the block in exactly the backend's
// association order (optimized/cpu/mamba_block.cpp, and the scan's order [MAMBA-SCAN-CPU],
// [MAMBA-BWD-CPU]) over core's Tracked arithmetic ([CORE-TRACKED]): each intermediate carries
// an enclosure of its exact value and a bound on its computed value's error, so the bound uses
// the actual magnitudes of this problem's intermediates (a running error analysis). An element
// is +inf when an intermediate may overflow the format (outside the bound's domain).
#pragma once

#include <string>

#include "touchstone/core/formats.hpp"
#include "touchstone/reference/mamba_block_problem.hpp"

namespace touchstone::mamba {

struct BlockArithmetic {
  std::string name;
  FormatInfo compute = format_info(Format::float32);
  // Maximum errors of the elementary functions, in ulps of the compute format
  // ([MAMBA-SCAN-ELEMENTARY], [CORE-ASSUME-LIBM-F64]).
  double exp_ulps = 1, softplus_ulps = 1, silu_ulps = 1, sigmoid_ulps = 1;
  // [MAMBA-BLOCK-BOUND-ANY] Any association order: every reduction (projection, conv tap sum,
  // (batch, t) and channel sum) in any order with or without fma, the scan's recurrences in any
  // parallel-scan order ([MAMBA-SCAN-BOUND-ANY] constants), separate roundings elsewhere, exp's
  // argument with up to 3 roundings; outputs rounded once more to `storage` when it differs
  // from `compute`. false: the CPU backends' sequential order.
  bool any_order = false;
  Format storage = Format::float32;
};

BlockArithmetic block_arithmetic_cpu_f32();  // [MAMBA-BLOCK-BOUND-CPU-F32]
BlockArithmetic block_arithmetic_cpu_f64();  // [MAMBA-BLOCK-BOUND-CPU-F64]
// [MAMBA-BLOCK-BOUND-ANY] An implementation of unknown order: computes in float64 for float64
// storage, else in float32; elementary functions within `elementary_ulps` of the compute format.
BlockArithmetic block_arithmetic_any_order(Format storage, double elementary_ulps);

// Per-element bounds of a forward pass (and of the state after its last token: prefill).
struct MambaBlockBound {
  Tensor<double> out;
  MambaBlockState<double> state;
};

// [MAMBA-BLOCK-BOUND-FWD] cpu::mamba_block_forward / mamba_block_prefill.
MambaBlockBound mamba_block_forward_bound(const MambaBlockProblem<double>& p,
                                          const BlockArithmetic& m);
// [MAMBA-BLOCK-BOUND-STEP] cpu::mamba_block_step: out and the state after the step.
MambaBlockBound mamba_block_step_bound(const MambaBlockStepProblem<double>& p,
                                       const BlockArithmetic& m);
// [MAMBA-BLOCK-BOUND-BWD] cpu::mamba_block_backward: dhidden and every weight's gradient.
MambaBlockGrads<double> mamba_block_backward_bound(const MambaBlockBackwardProblem<double>& q,
                                                   const BlockArithmetic& m);

}  // namespace touchstone::mamba
