// The discrete Fourier transform at arbitrary precision: the oracle that the FFT error model
// (fft_bound.hpp, spec/s4_conv.md [S4CONV-FFT-BOUND]) is tested against.
//
// [S4CONV-DFT-DEF] For x of length n:  forward  y_k = sum_{j<n} x_j w^{jk},   w = e^{-2 pi i / n};
//                                      inverse  y_k = sum_{j<n} x_j w^{-jk}  (unnormalized).
// `dft_direct` is that sum as written (O(n^2)); `dft_exact` computes the same numbers by the
// mixed-radix splitting y_k = sum_{r<p} w^{rk} Y^(r)_{k mod m} (n = p m, p the smallest prime
// factor, Y^(r) the length-m DFT of x_{r + p j}), exact in exact arithmetic, so that lengths up
// to 2^15 take seconds at 160 bits. Parts are kept as two real arrays (re, im) of the scalar R.
// Instantiated for mp_real (MPFR) in reference/src/s4_conv_reference.cpp.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace touchstone::s4::reference {

template <class R>
struct ComplexVector {
  std::vector<R> re, im;
  explicit ComplexVector(std::size_t n = 0) : re(n), im(n) {}
  std::size_t size() const { return re.size(); }
};

namespace dft_detail {

// w^t = e^{sign 2 pi i t / n} for t < n, at R's working precision.
template <class R>
ComplexVector<R> twiddles(std::int64_t n, int sign) {
  using std::atan, std::cos, std::sin;
  const R two_pi = 8 * atan(R(1));
  ComplexVector<R> w(static_cast<std::size_t>(n));
  for (std::int64_t t = 0; t < n; ++t) {
    const R angle = two_pi * R(t) / R(n);
    w.re[t] = cos(angle);
    w.im[t] = sign * sin(angle);
  }
  return w;
}

template <class R>
void split(const R* xr, const R* xi, std::int64_t n, std::int64_t stride, const ComplexVector<R>& w,
           std::int64_t wstep, R* yr, R* yi) {
  std::int64_t p = n;
  for (std::int64_t q = 2; q * q <= n; ++q)
    if (n % q == 0) {
      p = q;
      break;
    }
  const std::int64_t m = n / p;
  std::vector<R> sr(static_cast<std::size_t>(n)), si(static_cast<std::size_t>(n));
  if (m == 1) {
    for (std::int64_t j = 0; j < n; ++j) {
      sr[j] = xr[j * stride];
      si[j] = xi[j * stride];
    }
  } else {
    for (std::int64_t r = 0; r < p; ++r)
      split(xr + r * stride, xi + r * stride, m, stride * p, w, wstep * p, sr.data() + r * m,
            si.data() + r * m);
  }
  for (std::int64_t k = 0; k < n; ++k) {
    R accr = 0, acci = 0;
    for (std::int64_t r = 0; r < p; ++r) {
      const std::int64_t t = (r * k) % n * wstep;
      const R& a = sr[r * m + k % m];
      const R& b = si[r * m + k % m];
      accr += a * w.re[t] - b * w.im[t];
      acci += a * w.im[t] + b * w.re[t];
    }
    yr[k] = accr;
    yi[k] = acci;
  }
}

}  // namespace dft_detail

// [S4CONV-DFT-DEF] The definition, term by term.
template <class R>
ComplexVector<R> dft_direct(const ComplexVector<R>& x, bool inverse) {
  const std::int64_t n = static_cast<std::int64_t>(x.size());
  const ComplexVector<R> w = dft_detail::twiddles<R>(n, inverse ? 1 : -1);
  ComplexVector<R> y(x.size());
  for (std::int64_t k = 0; k < n; ++k) {
    R accr = 0, acci = 0;
    for (std::int64_t j = 0; j < n; ++j) {
      const std::int64_t t = (j * k) % n;
      accr += x.re[j] * w.re[t] - x.im[j] * w.im[t];
      acci += x.re[j] * w.im[t] + x.im[j] * w.re[t];
    }
    y.re[k] = accr;
    y.im[k] = acci;
  }
  return y;
}

// [S4CONV-DFT-DEF] The same numbers by the mixed-radix splitting (exact in exact arithmetic).
template <class R>
ComplexVector<R> dft_exact(const ComplexVector<R>& x, bool inverse) {
  const std::int64_t n = static_cast<std::int64_t>(x.size());
  ComplexVector<R> y(x.size());
  if (n == 0) return y;
  const ComplexVector<R> w = dft_detail::twiddles<R>(n, inverse ? 1 : -1);
  dft_detail::split(x.re.data(), x.im.data(), n, 1, w, 1, y.re.data(), y.im.data());
  return y;
}

}  // namespace touchstone::s4::reference
