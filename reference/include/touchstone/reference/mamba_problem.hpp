// The selective scan problem, real A (spec/mamba.md [MAMBA-SCAN-SHAPES], [MAMBA-SCAN-NONFINITE]):
// ScanProblem (mamba_scan_problem.hpp) on the real state, and what the real scan returns.
#pragma once

#include <optional>

#include "touchstone/core/tensor.hpp"
#include "touchstone/reference/mamba_scan_problem.hpp"

namespace touchstone::mamba {

template <class T>
using SelectiveScanProblem = ScanProblem<T, RealState>;

// Outputs: out (batch, dim, seqlen) and last_state (batch, dim, dstate) = h at t = seqlen - 1.
template <class T>
struct SelectiveScanResult {
  Tensor<T> out;
  Tensor<T> last_state;
};

// Gradients of a scalar loss with respect to every input of the selective scan
// ([MAMBA-BWD-DEF]), each with its input's shape as the problem stores it (a variable B or C is
// 4-d, (batch, groups, dstate, seqlen)); an optional gradient is present when its input is.
template <class T>
struct SelectiveScanGrads {
  Tensor<T> du, ddelta, dA, dB, dC;
  std::optional<Tensor<T>> dD, dz, ddelta_bias, dh0;
};

// The backward problem ([MAMBA-BWD-SHAPES]): a forward problem, dout (batch, dim, seqlen) and
// optionally dlast_state (batch, dim, dstate). The peer ignores the last state's gradient; with
// dlast_state absent (zero) touchstone does the same.
template <class T>
using SelectiveScanBackwardProblem = ScanBackwardProblem<T, RealState>;

}  // namespace touchstone::mamba
