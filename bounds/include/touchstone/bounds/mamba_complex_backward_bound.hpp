// A-priori error bounds of complex selective scan backward passes (spec/mamba_complex.md
// [MAMBA-CSCAN-BWD-BOUND-CPU], [MAMBA-CSCAN-BWD-BOUND-ANY]).
//
// For every gradient element a number E with |computed - exact| <= E, from the problem's inputs
// and cotangents, by running the backend's operations in its documented order: real quantities
// over core's Tracked arithmetic ([CORE-TRACKED]), complex ones in the modulus model of
// [MAMBA-CSCAN-BOUND-MODEL] (a bound M on the modulus of the exact value and E on the modulus of
// the error; tracking the two parts separately would let the error of a rotation grow by up to
// sqrt 2 per step). Both parts of a complex gradient get its modulus bound. +inf where an
// intermediate may overflow the compute format.
#pragma once

#include <string>

#include "touchstone/core/formats.hpp"
#include "touchstone/reference/mamba_complex_backward_problem.hpp"

namespace touchstone::mamba {

struct ComplexBackwardArithmetic {
  std::string name;
  FormatInfo compute = format_info(Format::float32);
  FormatInfo storage = format_info(Format::float32);  // gradients rounded once more if narrower
  // Maximum errors of the elementary functions, in units of 2u|f| + 2 eta (an ulp at most).
  double exp_ulps = 1, sincos_ulps = 1, softplus_ulps = 1, silu_ulps = 1, sigmoid_ulps = 1;
  // [MAMBA-CSCAN-BWD-BOUND-ANY] products rounded separately, every sum over n, t, channels and
  // batch in any order, exp's argument with up to 3 roundings per part (else the sequential fma
  // chains of optimized/cpu/mamba_backward.cpp).
  bool any_order = false;
};

ComplexBackwardArithmetic complex_backward_arithmetic_cpu_f32();
ComplexBackwardArithmetic complex_backward_arithmetic_cpu_f64();
// An unknown implementation: float32 compute for float32/bfloat16/float16 storage, float64 for
// float64; elementary functions within `elementary_ulps`.
ComplexBackwardArithmetic complex_backward_arithmetic_any_order(Format storage, double elementary_ulps);

ComplexScanGrads<double> selective_scan_complex_backward_bound(const ComplexScanBackwardProblem<double>& q,
                                                               const ComplexBackwardArithmetic& m);

}  // namespace touchstone::mamba
