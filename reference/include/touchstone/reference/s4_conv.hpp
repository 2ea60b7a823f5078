// The oracles of the convolution chapter (spec/s4_conv.md): the causal convolution as its
// defining sum, the diagonal recurrent scan step by step, and the scan's convolution kernel.
//
// Templated on the real scalar R; complex numbers are (re, im) pairs of R multiplied by the
// textbook formula (so NaN and Inf behave as IEEE arithmetic does on that formula, like the
// backends). Instantiated for MPFR (mp_real, the oracle) and double in
// reference/src/s4_conv_reference.cpp, the only translation unit that does. Inputs come from
// double problems; every float or double converts exactly, so the oracle answers "the exact
// result for exactly these inputs" (up to one rounding per operation at the working precision,
// 2^-256 relative by default).
#pragma once

#include <optional>
#include <vector>

#include "touchstone/core/mp.hpp"
#include "touchstone/core/tensor.hpp"
#include "touchstone/reference/s4_conv_problem.hpp"

namespace touchstone::s4::reference {

// [S4CONV-CONV-DEF] y[b,h,t] = sum_{s <= t, s < Lk} k[h,s] u[b,h,t-s]  (+ D[h] u[b,h,t]).
// embed-begin causal_conv
template <class R>
Tensor<R> causal_conv(const Tensor<R>& u, const Tensor<R>& k, const std::optional<Tensor<R>>& D) {
  const Index batch = u.extent(0), H = u.extent(1), L = u.extent(2), Lk = k.extent(1);
  Tensor<R> y(Shape{batch, H, L});
  for (Index b = 0; b < batch; ++b)
    for (Index h = 0; h < H; ++h)
      for (Index t = 0; t < L; ++t) {
        R acc = 0;
        for (Index s = 0; s <= t && s < Lk; ++s) acc += k(h, s) * u(b, h, t - s);
        if (D) acc += (*D)(h) * u(b, h, t);
        y(b, h, t) = acc;
      }
  return y;
}
// embed-end causal_conv

template <class R>
Tensor<R> causal_conv(const ConvProblem<double>& p) {
  const auto& in = p.in();
  std::optional<Tensor<R>> D;
  if (in.D) D = in.D->template cast<R>();
  return causal_conv<R>(in.u.template cast<R>(), in.k.template cast<R>(), D);
}


// [S4CONV-SCAN-DEF] Per channel h and mode n, with x_{-1} = 0:
//   x_t = dA x_{t-1} + dB u_t,    y_t = c Re(sum_n dC_n x_{t,n}) + D u_t,
// c = 2 for conj = halves, 1 for full; last_state = x_{L-1}. dA, dB, dC are (H, N, 2) (re, im).
// embed-begin ssm_scan
template <class R>
ScanResult<R> ssm_scan(const Tensor<R>& dA, const Tensor<R>& dB, const Tensor<R>& dC, const Tensor<R>& u,
                       const std::optional<Tensor<R>>& D, Conj conj) {
  const Index batch = u.extent(0), H = u.extent(1), L = u.extent(2), N = dA.extent(1);
  const R c = conj == Conj::halves ? 2 : 1;
  ScanResult<R> r{Tensor<R>(Shape{batch, H, L}), Tensor<R>(Shape{batch, H, N, 2})};
  std::vector<R> xr(static_cast<std::size_t>(N)), xi(static_cast<std::size_t>(N));
  for (Index b = 0; b < batch; ++b)
    for (Index h = 0; h < H; ++h) {
      for (Index n = 0; n < N; ++n) xr[n] = xi[n] = 0;
      for (Index t = 0; t < L; ++t) {
        const R& ut = u(b, h, t);
        R acc = 0;
        for (Index n = 0; n < N; ++n) {
          const R& ar = dA(h, n, Index{0});
          const R& ai = dA(h, n, Index{1});
          const R nr = ar * xr[n] - ai * xi[n] + dB(h, n, Index{0}) * ut;
          const R ni = ar * xi[n] + ai * xr[n] + dB(h, n, Index{1}) * ut;
          xr[n] = nr;
          xi[n] = ni;
          acc += dC(h, n, Index{0}) * xr[n] - dC(h, n, Index{1}) * xi[n];
        }
        R y = c * acc;
        if (D) y += (*D)(h) * ut;
        r.y(b, h, t) = y;
      }
      for (Index n = 0; n < N; ++n) {
        r.last_state(b, h, n, Index{0}) = xr[n];
        r.last_state(b, h, n, Index{1}) = xi[n];
      }
    }
  return r;
}
// embed-end ssm_scan

template <class R>
ScanResult<R> ssm_scan(const ScanProblem<double>& p) {
  const auto& in = p.in();
  std::optional<Tensor<R>> D;
  if (in.D) D = in.D->template cast<R>();
  return ssm_scan<R>(in.dA.template cast<R>(), in.dB.template cast<R>(), in.dC.template cast<R>(),
                     in.u.template cast<R>(), D, p.conj());
}

// [S4CONV-CNN-RNN] The scan's convolution kernel, (H, L): K_l = c Re(sum_n dC_n dA_n^l dB_n),
// so that y = K * u + D u equals the scan in exact arithmetic.
template <class R>
Tensor<R> scan_kernel(const ScanProblem<double>& p, Index L) {
  const auto& in = p.in();
  const Index H = p.channels(), N = p.modes();
  const R c = p.conj() == Conj::halves ? 2 : 1;
  Tensor<R> K(Shape{H, L});
  for (Index h = 0; h < H; ++h)
    for (Index n = 0; n < N; ++n) {
      const R ar = R(in.dA(h, n, Index{0})), ai = R(in.dA(h, n, Index{1}));
      R pr = R(in.dB(h, n, Index{0})), pi = R(in.dB(h, n, Index{1}));  // dA^l dB
      const R cr = R(in.dC(h, n, Index{0})), ci = R(in.dC(h, n, Index{1}));
      for (Index l = 0; l < L; ++l) {
        K(h, l) += c * (cr * pr - ci * pi);
        const R qr = ar * pr - ai * pi, qi = ar * pi + ai * pr;
        pr = qr;
        pi = qi;
      }
    }
  return K;
}

extern template Tensor<mp_real> causal_conv<mp_real>(const Tensor<mp_real>&, const Tensor<mp_real>&,
                                                     const std::optional<Tensor<mp_real>>&);
extern template Tensor<mp_real> causal_conv<mp_real>(const ConvProblem<double>&);
extern template ScanResult<mp_real> ssm_scan<mp_real>(const ScanProblem<double>&);
extern template ScanResult<mp_real> ssm_scan<mp_real>(const Tensor<mp_real>&, const Tensor<mp_real>&,
                                                      const Tensor<mp_real>&, const Tensor<mp_real>&,
                                                      const std::optional<Tensor<mp_real>>&, Conj);
extern template Tensor<mp_real> scan_kernel<mp_real>(const ScanProblem<double>&, Index);

}  // namespace touchstone::s4::reference
