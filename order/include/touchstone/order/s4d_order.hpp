// The S4D/DSS Vandermonde kernels' CPU (and cuda-f32) operation order (spec/s4d.md [S4D-CPU-ORDER]),
// shared by the backends (optimized/cpu/s4d.cpp, dss.cpp) and their bound
// (bounds/src/s4d_bound.cpp), so that the blocking the bound models is the one the code runs.
#pragma once

#include "touchstone/core/tensor.hpp"

namespace touchstone::s4 {

// [S4D-CPU-ORDER] The powers A_bar^l of the CPU (and cuda-f32) backends: l = j T + i with
// T = kS4DPowerBlock, A_bar^l = P_j t_i, t_i = A_bar^i by repeated multiplication (i <= T),
// P_j = (t_T)^j by repeated multiplication.
inline constexpr Index kS4DPowerBlock = 64;

}  // namespace touchstone::s4
