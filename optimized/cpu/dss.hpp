// The DSS-softmax kernel on the CPU, float32 and float64 (spec/dss.md [DSS-SOFTMAX-CPU]).
//
// Association order ([DSS-SOFTMAX-BOUND-CPU] bounds exactly this), per channel h and mode n, each
// operation rounded once in the backend's format, with the complex operations and elementary
// functions of optimized/cpu/s4d.hpp:
//   dt = exp(log_dt);  z = (dt * Re lambda, dt * Im lambda);  flip = Re lambda > 0
//   zs = flip ? -z : z (exact);  zeta = (e * cos(zs.im), e * sin(zs.im)), e = exp(zs.re)
//   t_i, P_j: the power tables of [S4D-CPU-ORDER] for zeta (T = 64)
//   G = t_0 + t_1 + ... (sequential complex additions) over a full block (i < T) and over the
//       last block (i < L - (J-1) T);  S = G_0, then S = S + P_j * G_j for j = 1 .. J-1
//   d = fma(S.re, S.re, S.im * S.im) + eps;  R = (S.re / d, -S.im / d)
//   v = (W / lambda) * R;  w_0 = v, w_j = v * P_j
//   K[h, l] accumulated as in [S4D-CPU-ORDER], the power k of a flipped mode landing in K[L-1-k].
// A channel with a non-finite input is NaN everywhere ([DSS-SOFTMAX-NONFINITE]).
#pragma once

#include "touchstone/reference/dss.hpp"

namespace touchstone::s4::cpu {

Tensor<float> dss_softmax_kernel(const DssSoftmaxProblem<float>& p, int threads = 0);
Tensor<double> dss_softmax_kernel(const DssSoftmaxProblem<double>& p, int threads = 0);

}  // namespace touchstone::s4::cpu
