// The complex selective scan on the CPU, float32 and float64
// (spec/mamba_complex.md [MAMBA-CSCAN-CPU]).
//
// Association order (the bounds [MAMBA-CSCAN-BOUND-CPU-F32]/[...-F64] are for exactly this
// order): per (b, d, t), each operation rounded once in the backend's format:
//   x  = delta + delta_bias                       (no operation without delta_bias)
//   dt = x > 20 ? x : softplus(x)                 (only with delta_softplus)
//   du = dt * u
//   for n = 0 .. dstate-1:
//     m     = exp(dt * Re A[d,n])
//     c, s  = cos(dt * Im A[d,n]), sin(dt * Im A[d,n])   (one rounded product, two functions)
//     a     = (m * c, m * s)                              A_bar = exp(dt A)
//     bu    = (du * Re B[n,t], du * Im B[n,t])
//     h.re  = fma(a.re, h.re, fma(-a.im, h.im, bu.re))   h = A_bar h + bu, both parts from the
//     h.im  = fma(a.re, h.im, fma( a.im, h.re, bu.im))   old h
//     y     = fma(h.re, Re C[n,t], y)                     y += Re(h C) = h.re C.re - h.im C.im
//     y     = fma(-h.im, Im C[n,t], y)                    (y starts at +0)
//   v   = 2 y                                         (exact)
//   v   = D ? fma(D[d], u, v) : v
//   out = z ? v * silu(z) : v
// Vectorized across channels as the real scan is: W adjacent channels of one group are the lanes
// of a vector, every lane runs exactly this sequence, so the results are bitwise independent of
// the vector width, the thread count and the tiling ([MAMBA-CSCAN-CPU-DETERMINISTIC]).
#pragma once

#include <cmath>

#include "touchstone/reference/mamba_complex_backward_problem.hpp"
#include "touchstone/reference/mamba_complex_problem.hpp"

namespace touchstone::mamba::cpu {

// threads = 0: default_thread_count().
ComplexScanResult<float> selective_scan_complex(const ComplexScanProblem<float>& p, int threads = 0);
ComplexScanResult<double> selective_scan_complex(const ComplexScanProblem<double>& p,
                                                 int threads = 0);

// Backward pass (VJP) of every input ([MAMBA-CSCAN-BWD-CPU]; the order is documented in
// mamba_backward.cpp, which also has the real one). Per channel tile, a first pass keeps the
// state entering every block of 256 steps; the blocks are then recomputed from those
// checkpoints, last to first, bit for bit as the forward computes them. Deterministic: the bits do not depend on `threads`.
ComplexScanGrads<float> selective_scan_complex_backward(const ComplexScanBackwardProblem<float>& q,
                                                        int threads = 0);
ComplexScanGrads<double> selective_scan_complex_backward(const ComplexScanBackwardProblem<double>& q,
                                                         int threads = 0);

// [MAMBA-CSCAN-ELEMENTARY] cos and sin of a float32 argument: glibc's binary64 cos and sin of
// the (exact) double of x, rounded once to float32. glibc's error (at most 1 ulp of binary64,
// [MAMBA-CSCAN-ASSUME-LIBM-SINCOS]) is below 2^-29 ulp of float32, so these are within
// 0.5 + 2^-28 ulp; the measured maximum is in the spec.
inline float cos_f32(float x) { return static_cast<float>(std::cos(static_cast<double>(x))); }
inline float sin_f32(float x) { return static_cast<float>(std::sin(static_cast<double>(x))); }

}  // namespace touchstone::mamba::cpu
