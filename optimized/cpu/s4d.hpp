// The S4D Vandermonde kernel on the CPU, float32 and float64 (spec/s4d.md [S4D-CPU]).
//
// Association order ([S4D-CPU-ORDER]; s4d_arithmetic_cpu_f32/f64 bound exactly this), per
// channel h and mode n, every operation rounded once in the backend's format:
//   dt   = log_dt ? exp(log_dt) : dt
//   z    = (dt * Re A, dt * Im A)
//   zoh:      A_bar = (e * cos(z.im), e * sin(z.im)), e = exp(z.re);  q = (A_bar.re - 1, A_bar.im) / A
//   bilinear: hz = (z.re * 0.5, z.im * 0.5); n1 = (1 + hz.re, hz.im); d1 = (1 - hz.re, -hz.im);
//             A_bar = n1 / d1;  q = (dt, 0) / d1
//   cb   = B ? C * B : C;  v = cb * q
//   t_0 = 1, t_1 = A_bar, t_i = t_(i-1) * A_bar (i <= T = 64; t_T only when L > T)
//   P_1 = t_T, P_j = P_(j-1) * t_T;  w_0 = v, w_j = v * P_j
//   K[h, jT + i] = s * acc, acc over n = 0 .. N'-1 by acc = fma(w_j.re, t_i.re, acc),
//                  acc = fma(-w_j.im, t_i.im, acc); s = 2 (halves) or 1 (full), exact.
// Complex products: re = fma(a.re, b.re, -(a.im b.im)), im = fma(a.re, b.im, a.im b.re);
// quotients x / y: d = fma(y.re, y.re, y.im y.im), (fma(x.re, y.re, x.im y.im) / d,
// fma(x.im, y.re, -(x.re y.im)) / d). exp: elementary::exp_f32 (float32), glibc (float64);
// cos, sin: glibc's binary64 ones rounded to float32 (float32), glibc (float64).
// A channel with a non-finite input gives NaN everywhere ([S4D-NONFINITE]): its w are NaN.
// Threads across channels; the inner loop over i vectorizes. Deterministic.
#pragma once

#include <vector>

#include "touchstone/reference/s4d.hpp"

namespace touchstone::s4::cpu {

template <class F>
struct S4DSetup {
  Index H = 0, N = 0, L = 0, T = 0, J = 0;
  F scale = 1;
  std::vector<F> w;    // (H, N, J, 2)
  std::vector<F> tab;  // (H, N, 2, T): t_i's real parts, then imaginary parts, i < T
};

S4DSetup<float> s4d_setup(const S4DProblem<float>& p, int threads = 0);
S4DSetup<double> s4d_setup(const S4DProblem<double>& p, int threads = 0);
Tensor<float> s4d_kernel(const S4DProblem<float>& p, int threads = 0);
Tensor<double> s4d_kernel(const S4DProblem<double>& p, int threads = 0);

}  // namespace touchstone::s4::cpu
