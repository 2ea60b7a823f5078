// A-priori error bounds of complex selective scan backward passes (spec/mamba_complex.md
// [MAMBA-CSCAN-BWD-BOUND-CPU], [MAMBA-CSCAN-BWD-BOUND-ANY]), evaluated with the real scan's
// (bounds/src/mamba_backward_bound.cpp).
//
// For every gradient element a number E with |computed - exact| <= E, from the problem's inputs
// and cotangents, by running the backend's operations in its documented order: real quantities
// over core's Tracked arithmetic ([CORE-TRACKED]), complex ones in the modulus model of
// [MAMBA-CSCAN-BOUND-MODEL] (a bound M on the modulus of the exact value and E on the modulus of
// the error; tracking the two parts separately would let the error of a rotation grow by up to
// sqrt 2 per step). Both parts of a complex gradient get its modulus bound. +inf where an
// intermediate may overflow the compute format.
#pragma once

#include "touchstone/bounds/mamba_backward_bound.hpp"
#include "touchstone/reference/mamba_complex_backward_problem.hpp"

namespace touchstone::mamba {

// The real scan's BackwardArithmetic, with sincos_ulps.
using ComplexBackwardArithmetic = BackwardArithmetic;

ComplexBackwardArithmetic complex_backward_arithmetic_cpu_f32();
ComplexBackwardArithmetic complex_backward_arithmetic_cpu_f64();
// An unknown implementation: float32 compute for float32/bfloat16/float16 storage, float64 for
// float64; elementary functions within `elementary_ulps`.
ComplexBackwardArithmetic complex_backward_arithmetic_any_order(Format storage, double elementary_ulps);

ComplexScanGrads<double> selective_scan_complex_backward_bound(const ComplexScanBackwardProblem<double>& q,
                                                               const ComplexBackwardArithmetic& m);

}  // namespace touchstone::mamba
