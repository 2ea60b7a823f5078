// S4 on the CPU, float32 and float64 (spec/s4.md [S4-CAUCHY-CPU], [S4-DPLR-CPU], [S4-SSM-CPU]).
//
// Association orders (the bounds are for exactly these):
//
// cauchy (per (h, l), sequential over n = 0..N-1, each operation rounded once in T; threads over
// h, the inner loop over l vectorized: every lane runs this sequence, so results do not depend on
// the vector width or thread count):
//   c = Re z_l - Re w_n,  d = Im z_l - Im w_n,  den = c*c + d*d
//   acc.re += (Re v c + Im v d) / den,  acc.im += (Im v c - Re v d) / den     (textbook division)
//   halves: then the same with w -> conj w, v -> conj v.
// cauchy_backward (per (h, n), sequential over l):
//   e = conj(z_l - w_n) (two subtractions), dv += dout_l / e (textbook);
//   q = e*e (complex product), dw += dout_l * conj(v_n) / q ... see s4.cpp for the exact sequence.
// kernel_dplr (per channel, [S4-DPLR-FAST]): nodes ω_k = e^{-2πik/L}; at ω_k ≠ -1,
//   t_k = tan(πk/L) (double, by the reduction of [S4-DPLR-NODES]), g = (2/Δ)·t_k,
//   k_ab = Σ_n v_ab,n / (i g - λ_n) in the Cauchy order above (the four sums in one pass),
//   K̂ = (1 + i t_k)·(k00 - k01 k10 / (1 + k11)); at ω = -1 (even L, k = L/2) K̂ = (Δ·Σ_n v00,n)/2;
//   then FFTW's inverse DFT of length L (optimized/cpu/fft.hpp) and K_l = Re(·) / L.
// ssm_kernel (discrete Ā, B̄, C̄ given): x_0 = B̄, x_{l+1} = Ā x_l with each row a sequential
//   dot product, K_l = C̄·x_l sequential. (No Eigen here: Eigen's inline aligned_malloc/free
//   differ between -march=native and generic translation units, an ODR violation that freed
//   memory with the wrong function when the reference's Eigen code was linked in.)
#pragma once

#include <vector>

#include "touchstone/reference/s4_problem.hpp"

namespace touchstone::s4::cpu {

// out (H, L, 2) interleaved (re, im).
template <class T>
std::vector<T> cauchy(const CauchyProblem& p, int threads = 0);
// dv (H, N, 2) then dw (H, N, 2).
template <class T>
std::vector<T> cauchy_backward(const CauchyProblem& p, const std::vector<cdouble>& dout, int threads = 0);
// K (H, L).
template <class T>
std::vector<T> kernel_dplr(const DplrProblem& p, int threads = 0);
// [S4-DPLR-VJP-CPU] The VJP of kernel_dplr given dK (H, L): G = FFTW forward DFT of dK, / L per
// part, then order/include/touchstone/order/s4_order.hpp's sequence per
// channel (threads over channels), shared parameters summed over channels in channel order.
template <class T>
DplrGrads<T> kernel_dplr_backward(const DplrProblem& p, const std::vector<double>& dK, int threads = 0);
// K (L,).
template <class T>
std::vector<T> ssm_kernel(const DiscreteSsmProblem& p, int threads = 0);

// [S4-DPLR-NODES] tan(πk/L) in double for 0 <= k < L, k ≠ L/2: reduced to [0, π/4] by
// tan(π - x) = -tan x and tan(π/2 - y) = 1/tan y with exact integer arithmetic on k.
double node_tan(long long k, long long L);

}  // namespace touchstone::s4::cpu
