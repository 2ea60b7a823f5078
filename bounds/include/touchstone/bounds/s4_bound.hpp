// A-priori error bounds of the S4 backends (spec/s4.md [S4-CAUCHY-BOUND], [S4-CAUCHY-VJP-BOUND],
// [S4-DPLR-BOUND]), per output element, for the association orders documented in
// optimized/cpu/s4.hpp (the CUDA Cauchy kernel uses the same order), evaluated with the complex
// error tracking of core/tracked_complex.hpp.
#pragma once

#include <array>
#include <vector>

#include "touchstone/core/formats.hpp"
#include "touchstone/reference/s4_problem.hpp"

namespace touchstone::s4 {

// (H, L, 2): the bound of each part of out[h, l] (the modulus bound of the complex error).
std::vector<double> cauchy_bound(const CauchyProblem& p, Format format);
// The bounds at formats a and b from one pass (the differences' moduli shared), each bit for bit
// cauchy_bound(p, a) and cauchy_bound(p, b) ([CORE-DIFF-JOINT-BOUND]).
std::array<std::vector<double>, 2> cauchy_bound_pair(const CauchyProblem& p, Format a, Format b);
// (2, H, N, 2): dv then dw.
std::vector<double> cauchy_backward_bound(const CauchyProblem& p, const std::vector<cdouble>& dout, Format format);
// At formats a and b from one pass, each bit for bit the one-format call's.
std::array<std::vector<double>, 2> cauchy_backward_bound_pair(const CauchyProblem& p,
                                                              const std::vector<cdouble>& dout, Format a, Format b);
// (H, L).
std::vector<double> kernel_dplr_bound(const DplrProblem& p, Format format);

// [S4-DPLR-VJP-BOUND] Per element of each gradient, in the layout of DplrGrads.
DplrGrads<double> kernel_dplr_backward_bound(const DplrProblem& p, const std::vector<double>& dK, Format format);

// (L,): the discrete SSM kernel's bound [S4-SSM-KERNEL-BOUND].
std::vector<double> ssm_kernel_bound(const DiscreteSsmProblem& p, Format format);

// [S4-DPLR-NODES] tan(πk/L) the way the backends compute it (an approximation of the exact value
// within a relative kTanRelErr64, [S4-ASSUME-LIBM-TAN]).
double node_tan_double(long long k, long long L);
inline constexpr double kTanRelErr64 = 12 * 0x1p-53;

}  // namespace touchstone::s4
