// A-priori error bounds of selective scan backward passes (spec/mamba.md [MAMBA-BWD-BOUND-CPU],
// [MAMBA-BWD-BOUND-ANY]).
//
// For every gradient element a number E with |computed - exact| <= E, from the problem's inputs
// and cotangents: the backend's operations are run in its documented order over core's Tracked
// arithmetic ([CORE-TRACKED]). +inf where an intermediate may overflow the compute format.
#pragma once

#include <string>

#include "touchstone/core/formats.hpp"
#include "touchstone/reference/mamba_problem.hpp"

namespace touchstone::mamba {

// The arithmetic of a backward pass, real or complex state (mamba_complex_backward_bound.hpp).
struct BackwardArithmetic {
  std::string name;
  FormatInfo compute = format_info(Format::float32);
  FormatInfo storage = format_info(Format::float32);  // gradients rounded once more if narrower
  // Maximum errors of the elementary functions, in units of 2u|f| + 2 eta (an ulp at most);
  // cos and sin only in the complex scan.
  double exp_ulps = 1, softplus_ulps = 1, silu_ulps = 1, sigmoid_ulps = 1, sincos_ulps = 1;
  // [MAMBA-BWD-BOUND-ANY], [MAMBA-CSCAN-BWD-BOUND-ANY] products rounded separately and every
  // accumulation of the sums over time, state and channels in any order (and for the complex
  // state exp's argument with up to 3 roundings per part); else the sequential fma chains of
  // optimized/cpu/mamba_backward.cpp.
  bool any_order = false;
};

// touchstone's float32 sigmoid (evaluated in double, rounded once; measured over every float
// by tests/mamba/elementary_exhaustive.cpp) and glibc's 1 / (1 + exp(-z)) in binary64
// (exp within one ulp, [CORE-ASSUME-LIBM-F64], then an addition and a division: relative 4u).
inline constexpr double kSigmoidF32Ulps = 0.50001;
inline constexpr double kSigmoidF64Ulps = 2.01;

BackwardArithmetic backward_arithmetic_cpu_f32();
BackwardArithmetic backward_arithmetic_cpu_f64();
// An unknown implementation: float32 compute for float32/bfloat16/float16 storage, float64 for
// float64; sums in any order with separate roundings; elementary functions within
// `elementary_ulps`.
BackwardArithmetic backward_arithmetic_any_order(Format storage, double elementary_ulps);

SelectiveScanGrads<double> selective_scan_backward_bound(const SelectiveScanBackwardProblem<double>& q,
                                                         const BackwardArithmetic& m);

}  // namespace touchstone::mamba
