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

#include <limits>
#include <vector>

#include <cmath>
#include <type_traits>

#include "common/elementary.hpp"
#include "touchstone/reference/s4d.hpp"

namespace touchstone::s4::cpu {

// The complex operations of the S4D and DSS backends (the order of s4d.hpp's header comment),
// shared by optimized/cpu/s4d.cpp and optimized/cpu/dss.cpp.
namespace s4d_detail {

template <class T>
struct Cx {
  T re, im;
};

template <class T>
T fma_t(T a, T b, T c) {
  if constexpr (std::is_same_v<T, float>)
    return elementary::fma_f(a, b, c);
  else
    return elementary::fma_d(a, b, c);
}

template <class T>
Cx<T> cmul(Cx<T> a, Cx<T> b) {
  return {fma_t(a.re, b.re, -(a.im * b.im)), fma_t(a.re, b.im, a.im * b.re)};
}

template <class T>
Cx<T> cdiv(Cx<T> x, Cx<T> y) {
  const T d = fma_t(y.re, y.re, y.im * y.im);
  return {fma_t(x.re, y.re, x.im * y.im) / d, fma_t(x.im, y.re, -(x.re * y.im)) / d};
}

inline float exp_t(float x) { return elementary::exp_f32(x); }
inline double exp_t(double x) { return std::exp(x); }
// glibc's binary64 cos and sin of the exact double of x, rounded once to float32
// ([MAMBA-CSCAN-ELEMENTARY]).
inline float cos_t(float x) { return static_cast<float>(std::cos(static_cast<double>(x))); }
inline float sin_t(float x) { return static_cast<float>(std::sin(static_cast<double>(x))); }
inline double cos_t(double x) { return std::cos(x); }
inline double sin_t(double x) { return std::sin(x); }

// [S4D-CPU-ORDER] t_0 = 1, t_1 = A_bar, t_i = t_(i-1) A_bar for i < tcount (T + 1 when L > T,
// else L); P_0 = 1, P_1 = t_T, P_j = P_(j-1) t_T for j < J.
template <class T>
void power_tables(Cx<T> Abar, Index Tb, Index J, Index L, std::vector<Cx<T>>& t, std::vector<Cx<T>>& P) {
  const Index tcount = J > 1 ? Tb + 1 : (L < Tb ? L : Tb);
  t.assign(static_cast<std::size_t>(Tb + 1), Cx<T>{T(0), T(0)});
  P.assign(static_cast<std::size_t>(J), Cx<T>{T(1), T(0)});
  t[0] = {T(1), T(0)};
  for (Index i = 1; i < tcount; ++i) t[i] = i == 1 ? Abar : cmul(t[i - 1], Abar);
  for (Index j = 1; j < J; ++j) P[j] = j == 1 ? t[Tb] : cmul(P[j - 1], t[Tb]);
}

}  // namespace s4d_detail

template <class F>
struct S4DSetup;

namespace s4d_detail {
// Stores mode (h, n)'s power table t_i (i < tcount, zero beyond) and its block weights
// w_j = v P_j (NaN where the channel has a non-finite input) into a setup.
template <class T>
void store_mode(S4DSetup<T>& s, Index h, Index n, Index tcount, const std::vector<Cx<T>>& t,
                const std::vector<Cx<T>>& P, Cx<T> v, bool nonfinite);
}  // namespace s4d_detail

template <class F>
struct S4DSetup {
  Index H = 0, N = 0, L = 0, T = 0, J = 0;
  F scale = 1;
  std::vector<F> w;    // (H, N, J, 2)
  std::vector<F> tab;  // (H, N, 2, T): t_i's real parts, then imaginary parts, i < T
  // (H, N), DSS only (empty: none): 1 where the mode's powers run backwards, the power k
  // landing in K[L-1-k] ([DSS-SOFTMAX-FLIP]).
  std::vector<unsigned char> reversed;
};

// K[h, :] = scale acc from a setup, the accumulation of [S4D-CPU-ORDER] (threads across channels).
namespace s4d_detail {
template <class T>
void store_mode(S4DSetup<T>& s, Index h, Index n, Index tcount, const std::vector<Cx<T>>& t,
                const std::vector<Cx<T>>& P, Cx<T> v, bool nonfinite) {
  const Index Tb = s.T, J = s.J, N = s.N;
  const T nan = std::numeric_limits<T>::quiet_NaN();
  T* tab = &s.tab[static_cast<std::size_t>((h * N + n) * 2 * Tb)];
  for (Index i = 0; i < Tb; ++i) {
    tab[i] = i < tcount ? t[i].re : T(0);
    tab[Tb + i] = i < tcount ? t[i].im : T(0);
  }
  T* w = &s.w[static_cast<std::size_t>((h * N + n) * J * 2)];
  for (Index j = 0; j < J; ++j) {
    const Cx<T> wj = j == 0 ? v : cmul(v, P[j]);
    w[2 * j] = nonfinite ? nan : wj.re;
    w[2 * j + 1] = nonfinite ? nan : wj.im;
  }
}
}  // namespace s4d_detail

Tensor<float> vandermonde_product(const S4DSetup<float>& s, int threads = 0);
Tensor<double> vandermonde_product(const S4DSetup<double>& s, int threads = 0);

S4DSetup<float> s4d_setup(const S4DProblem<float>& p, int threads = 0);
S4DSetup<double> s4d_setup(const S4DProblem<double>& p, int threads = 0);
Tensor<float> s4d_kernel(const S4DProblem<float>& p, int threads = 0);
Tensor<double> s4d_kernel(const S4DProblem<double>& p, int threads = 0);

// [S4D-BWD-CPU] The VJP, per channel h and mode n, every operation rounded once (the forward's
// setup of A_bar and q first, then):
//   a_k = dK_k (k < L), b_k = (k + 1) * dK_(k+1) (k < L - 1)
//   F  = G_0 + sum_(j>=1) P_j G_j, G_j = sum_i a_(jT+i) t_i (per part fma chains in i, from +0),
//        the complex additions and products in j order; F1 the same with b (0 when L = 1)
//   zoh:      Ad = dt * A_bar (per part), dq = (Ad - q) / A, dAd = Ad, Adt = A * A_bar, qdt = A_bar
//   bilinear: i2 = 1 / (d1 * d1), Ad = dt * i2, dq = ((dt * dt) * 0.5) * i2, Adt = A * i2, qdt = i2
//   cb = B ? C * B : C;  qF = q * F
//   dC = conj(s (B ? B * qF : qF)), dB = conj(s (C * qF))
//   dA = conj(s cb * ((dq * F) + q * (F1 * Ad)))
//   acc += Re(cb * ((qdt * F) + q * (F1 * Adt))) (n in order, from +0); ddt = s acc, times dt
//   (one more rounding) for log_dt.
// A channel with a non-finite input gets NaN gradients. Threads across channels.
S4DGrads<float> s4d_kernel_backward(const S4DBackwardProblem<float>& q, int threads = 0);
S4DGrads<double> s4d_kernel_backward(const S4DBackwardProblem<double>& q, int threads = 0);

}  // namespace touchstone::s4::cpu
