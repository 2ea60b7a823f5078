// A-priori error bounds of complex selective scan implementations (spec/mamba_complex.md
// [MAMBA-CSCAN-BOUND-MODEL] .. [MAMBA-CSCAN-BOUND-ANY]).
//
// The model of spec/mamba.md [MAMBA-SCAN-BOUND-MODEL] carried to complex numbers: for a complex
// quantity q, M(q) bounds the modulus of the exact value and E(q) the modulus of the error
// |q_computed - q_exact|. Per output element the result E satisfies |computed - exact| <= E; for
// last_state both parts get the modulus bound of the state's error. +inf where an intermediate
// may overflow the compute format (outside the bound's domain); NaN only where an input the
// element depends on is NaN.
#pragma once

#include <string>

#include "touchstone/bounds/elementary_ulps.hpp"
#include "touchstone/core/formats.hpp"
#include "touchstone/reference/mamba_complex_problem.hpp"

namespace touchstone::mamba {

struct ComplexScanArithmetic {
  std::string name;
  FormatInfo compute = format_info(Format::float32);  // every rounding is to this format
  FormatInfo storage = format_info(Format::float32);  // outputs rounded once more if different
  // [MAMBA-CSCAN-BOUND-STATE] Sequential: h = A_bar h + bu with each part formed by two fmas
  // (the CPU order). Otherwise any association order of the scan: per step spanned a term passes
  // through at most two complex multiplications, each part of which is a sum of two products and
  // an addend with at most three roundings on any path, and through at most seqlen + 1
  // additions, each with at most two roundings.
  bool sequential = true;
  // Roundings in each part of exp's argument dt A (real part: dt Re A, or dt (Re A log2 e) for an
  // exp2-based implementation; imaginary part dt Im A), and the maximum errors of the elementary
  // functions in ulps of the compute format.
  int exp_arg_roundings = 1;
  double exp_ulps = 1, sincos_ulps = 1, softplus_ulps = 1, silu_ulps = 1;
  // [MAMBA-CSCAN-BOUND-OUTPUT] y by sequential fmas over (n, part), then 2 y + D u by one fma;
  // otherwise the 2N products and D u summed in any order with separate roundings.
  bool fused_output = true;
};

using touchstone::kSinCosF32Ulps;  // bounds/elementary_ulps.hpp
using touchstone::kSinCosF64Ulps;

ComplexScanArithmetic complex_arithmetic_cpu_f32();
ComplexScanArithmetic complex_arithmetic_cpu_f64();
// [MAMBA-CSCAN-BOUND-ANY] Any association order, separate roundings or fmas, exp's argument with
// up to 3 roundings per part, elementary functions within `elementary_ulps`, computed in float32
// (storage float32/bfloat16/float16) or float64 (storage float64), outputs rounded to `storage`.
ComplexScanArithmetic complex_arithmetic_any_order(Format storage, double elementary_ulps);
// [MAMBA-CSCAN-BOUND-ORACLE] The oracle itself (selective_scan_complex<mp_real, mp_complex>) at
// `bits`: MPFR/MPC operations correctly rounded per part, no underflow or overflow.
ComplexScanArithmetic complex_arithmetic_reference(unsigned bits);

ComplexScanResult<double> selective_scan_complex_bound(const ComplexScanProblem<double>& p,
                                                       const ComplexScanArithmetic& m);

}  // namespace touchstone::mamba
