// The complex selective scan's backward problem and gradients (spec/mamba_complex.md
// [MAMBA-CSCAN-BWD-SHAPES], [MAMBA-CSCAN-BWD-CONVENTION]).
//
// Every complex array, input or gradient, is a real array with a trailing (re, im) axis, as in
// the forward problem. The gradient of a complex input w is the pair (dL/dRe w, dL/dIm w) in
// that axis: read as a complex number, dL/dRe w + i dL/dIm w, which is exactly what PyTorch's
// autograd stores in w.grad for a real loss (its conjugate-Wirtinger convention, 2 dL/d conj(w)).
// A complex cotangent is read the same way, so the loss is
//   L = sum dout * out + sum (dlast.re * last_state.re + dlast.im * last_state.im)
//     = <dout, out> + Re sum conj(dlast_state) last_state,
// the real loss whose gradient PyTorch's backward(grad_outputs) computes.
#pragma once

#include <optional>

#include "touchstone/core/errors.hpp"
#include "touchstone/core/tensor.hpp"
#include "touchstone/reference/mamba_complex_problem.hpp"

namespace touchstone::mamba {

// [MAMBA-CSCAN-BWD-SHAPES] Each gradient has its input's shape; dA, dB, dC carry the (re, im)
// axis. dD, dz, ddelta_bias are present when the input is.
template <class T>
struct ComplexScanGrads {
  Tensor<T> du, ddelta, dA, dB, dC;
  std::optional<Tensor<T>> dD, dz, ddelta_bias;
};

// A forward problem and the cotangents of its outputs: dout (batch, dim, seqlen), real, and
// optionally dlast_state, complex (batch, dim, dstate) as (batch, dim, dstate, 2) (absent: zero)
// ([MAMBA-CSCAN-BWD-NONFINITE]; mamba_scan_problem.hpp).
template <class T>
using ComplexScanBackwardProblem = ScanBackwardProblem<T, ComplexState>;

}  // namespace touchstone::mamba
