// The FFT causal convolution and the diagonal scan on the CPU (see s4_conv.hpp for the orders).
#include "s4_conv.hpp"

#include <cmath>
#include <complex>
#include <vector>

#include "fft.hpp"
#include "touchstone/core/parallel.hpp"

namespace touchstone::s4::cpu {
namespace {

template <class T>
bool all_finite(const T* x, Index n) {
  for (Index i = 0; i < n; ++i)
    if (!std::isfinite(x[i])) return false;
  return true;
}

template <class T>
Tensor<T> conv_impl(const ConvProblem<T>& p) {
  const auto& in = p.in();
  const Index batch = p.batch(), H = p.channels(), L = p.length(), Lk = p.kernel_length();
  const Index taps = p.taps(), n = p.fft_length();
  const T inv_n = T(1) / static_cast<T>(n);  // a power of two: exact
  Tensor<T> y(Shape{batch, H, L});
  // Per channel: whether its taps and D are finite, and the transform of its taps.
  std::vector<char> channel_finite(static_cast<std::size_t>(H));
  std::vector<std::complex<T>> khat(static_cast<std::size_t>(H * n));
  parallel_for(H, 0, [&](Index h) {
    const T* k = in.k.data() + h * Lk;
    channel_finite[h] = all_finite(k, taps) && (!in.D || std::isfinite((*in.D)[h]));
    if (!channel_finite[h]) return;
    std::vector<std::complex<T>> buf(static_cast<std::size_t>(n));
    for (Index s = 0; s < taps; ++s) buf[s] = {k[s], T(0)};
    fft::dft(buf.data(), khat.data() + h * n, n, fft::Direction::forward);
  });
  parallel_for(batch * H, 0, [&](Index row) {
    const Index h = row % H;
    const T* u = in.u.data() + row * L;
    const T* k = in.k.data() + h * Lk;
    T* out = y.data() + row * L;
    const bool has_D = in.D.has_value();
    const T D = has_D ? (*in.D)[h] : T(0);
    if (channel_finite[h] && all_finite(u, L)) {
      std::vector<std::complex<T>> a(static_cast<std::size_t>(n)), b(static_cast<std::size_t>(n));
      for (Index t = 0; t < L; ++t) a[t] = {u[t], T(0)};
      fft::dft(a.data(), b.data(), n, fft::Direction::forward);
      const std::complex<T>* kh = khat.data() + h * n;
      for (Index j = 0; j < n; ++j) {
        const T ar = b[j].real(), ai = b[j].imag(), cr = kh[j].real(), ci = kh[j].imag();
        const T pr = ar * cr, qr = ai * ci, pi = ar * ci, qi = ai * cr;
        a[j] = {pr - qr, pi + qi};
      }
      fft::dft(a.data(), b.data(), n, fft::Direction::inverse);
      for (Index t = 0; t < L; ++t) {
        const T c = b[t].real() * inv_n;
        out[t] = has_D ? c + D * u[t] : c;
      }
    } else {
      // [S4CONV-CONV-NONFINITE] The direct sum: IEEE arithmetic on the definition.
      for (Index t = 0; t < L; ++t) {
        T acc = 0;
        for (Index s = 0; s <= t && s < taps; ++s) {
          const T term = k[s] * u[t - s];
          acc = acc + term;
        }
        out[t] = has_D ? acc + D * u[t] : acc;
      }
    }
  });
  return y;
}

template <class T>
ScanResult<T> scan_impl(const ScanProblem<T>& p) {
  const auto& in = p.in();
  const Index batch = p.batch(), H = p.channels(), L = p.length(), N = p.modes();
  const bool halves = p.conj() == Conj::halves;
  ScanResult<T> r{Tensor<T>(Shape{batch, H, L}), Tensor<T>(Shape{batch, H, N, 2})};
  parallel_for(batch * H, 0, [&](Index row) {
    const Index h = row % H;
    const T* A = in.dA.data() + h * N * 2;
    const T* B = in.dB.data() + h * N * 2;
    const T* C = in.dC.data() + h * N * 2;
    const T* u = in.u.data() + row * L;
    T* y = r.y.data() + row * L;
    const bool has_D = in.D.has_value();
    const T D = has_D ? (*in.D)[h] : T(0);
    std::vector<T> x(static_cast<std::size_t>(2 * N), T(0));
    for (Index t = 0; t < L; ++t) {
      const T ut = u[t];
      T acc = 0;
      for (Index m = 0; m < N; ++m) {
        const T ar = A[2 * m], ai = A[2 * m + 1], xr = x[2 * m], xi = x[2 * m + 1];
        const T p1 = ar * xr, p2 = ai * xi, p3 = ar * xi, p4 = ai * xr;
        const T b1 = B[2 * m] * ut, b2 = B[2 * m + 1] * ut;
        const T nr = (p1 - p2) + b1, ni = (p3 + p4) + b2;
        x[2 * m] = nr;
        x[2 * m + 1] = ni;
        const T c1 = C[2 * m] * nr, c2 = C[2 * m + 1] * ni;
        const T term = c1 - c2;
        acc = m == 0 ? term : acc + term;
      }
      const T yc = halves ? 2 * acc : acc;
      y[t] = has_D ? yc + D * ut : yc;
    }
    T* last = r.last_state.data() + row * N * 2;
    for (Index i = 0; i < 2 * N; ++i) last[i] = x[i];
  });
  return r;
}

}  // namespace

Tensor<float> causal_conv(const ConvProblem<float>& p) { return conv_impl(p); }
Tensor<double> causal_conv(const ConvProblem<double>& p) { return conv_impl(p); }
ScanResult<float> ssm_scan(const ScanProblem<float>& p) { return scan_impl(p); }
ScanResult<double> ssm_scan(const ScanProblem<double>& p) { return scan_impl(p); }

}  // namespace touchstone::s4::cpu
