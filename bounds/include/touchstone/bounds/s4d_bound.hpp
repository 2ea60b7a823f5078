// A-priori per-element error bounds of S4D Vandermonde kernel implementations (spec/s4d.md
// [S4D-BOUND-MODEL] .. [S4D-BOUND-ANY]), by tracked complex arithmetic in moduli
// (core/tracked_complex.hpp) run in the order the implementation uses.
#pragma once

#include <string>
#include <vector>

#include "touchstone/core/formats.hpp"
#include "touchstone/core/tensor.hpp"
#include "touchstone/order/s4d_order.hpp"
#include "touchstone/reference/s4d.hpp"

namespace touchstone::s4 {

struct S4DArithmetic {
  std::string name;
  FormatInfo compute = format_info(Format::float32);  // every rounding is to this format
  FormatInfo storage = format_info(Format::float32);  // outputs rounded once more if different
  double exp_ulps = 1, sincos_ulps = 1;                // elementary functions, ulps of compute
  // true: the chunked powers of [S4D-CPU-ORDER]; false: [S4D-BOUND-ANY], every term
  // v exp(l x) with x = dt A (zoh) or the principal log of the computed A_bar (bilinear).
  bool chunked = true;
};

// The measured float32 cos/sin of the CPU backends ([MAMBA-CSCAN-ELEMENTARY]) and glibc's
// binary64 ones (assumed, [MAMBA-CSCAN-ASSUME-LIBM-SINCOS]) are taken from mamba_complex_bound.hpp.
S4DArithmetic s4d_arithmetic_cpu_f32();
S4DArithmetic s4d_arithmetic_cpu_f64();
// [S4D-BOUND-ANY] For `touchstone diff`: any order of the 2N' real products' sum, each term
// computed as v exp(l x), elementary functions (exp, cos, sin, log) within `elementary_ulps`,
// computed in float32 (storage float32/bfloat16/float16) or float64 (storage float64).
S4DArithmetic s4d_arithmetic_any_order(Format storage, double elementary_ulps);

// Per element of K (H, L): |computed - exact| <= bound; +inf where an intermediate may overflow
// the compute format (outside the bound's domain).
Tensor<double> s4d_kernel_bound(const S4DProblem<double>& p, const S4DArithmetic& m);
// [CORE-DIFF-JOINT-BOUND] s4d_kernel_bound(p, ms[i]) for each i, bit for bit, from one pass over
// the channels and modes: each mode's setup evaluated once for the arithmetics that share it (the
// any-order bound's two power models), the other power models beside it (cpu-f64's).
std::vector<Tensor<double>> s4d_kernel_bounds(const S4DProblem<double>& p, const std::vector<S4DArithmetic>& ms);

// [S4D-BWD-BOUND] Per element of each gradient (both parts of a complex one get the bound of its
// modulus): the tracked model of [S4D-BWD-CPU]'s order. Only the CPU order is modelled (m.chunked
// is ignored).
S4DGrads<double> s4d_kernel_backward_bound(const S4DBackwardProblem<double>& q, const S4DArithmetic& m);
// [CORE-DIFF-JOINT-BOUND] s4d_kernel_backward_bound(q, ms[i]) for each i, bit for bit, from one
// pass: the binary64 power sums of [S4D-BWD-BOUND-COHERENT], which do not depend on the
// arithmetic, evaluated once per mode for all of them.
std::vector<S4DGrads<double>> s4d_kernel_backward_bounds(const S4DBackwardProblem<double>& q,
                                                         const std::vector<S4DArithmetic>& ms);

}  // namespace touchstone::s4
