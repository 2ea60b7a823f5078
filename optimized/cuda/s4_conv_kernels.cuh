// The per-element bodies of the cuda-f32 causal convolution's kernels, callable on the host too
// (tests/s4/conv_cuda_emulation_test.cpp runs them on the CPU, with FFTW standing in for cuFFT,
// and checks that they give the cpu-f32 backend's bits). Same arithmetic as optimized/cpu/s4_conv.cpp:
// separate roundings (the .cu is built with -fmad=false), textbook complex products.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define TOUCHSTONE_CONV_HD __host__ __device__
#else
#define TOUCHSTONE_CONV_HD
#endif

namespace touchstone::s4::cuda::kernels {

// Element j of a zero-padded complex row of length n holding x[0..len) (interleaved re, im).
TOUCHSTONE_CONV_HD inline void pad_element(const float* x, std::int64_t len, std::int64_t j, float* out) {
  out[2 * j] = j < len ? x[j] : 0.0f;
  out[2 * j + 1] = 0.0f;
}

// a_j <- a_j * k_j by (ar cr - ai ci, ar ci + ai cr), each product rounded, then the sum.
TOUCHSTONE_CONV_HD inline void product_element(float* a, const float* k, std::int64_t j) {
  const float ar = a[2 * j], ai = a[2 * j + 1], cr = k[2 * j], ci = k[2 * j + 1];
  const float pr = ar * cr, qr = ai * ci, pi = ar * ci, qi = ai * cr;
  a[2 * j] = pr - qr;
  a[2 * j + 1] = pi + qi;
}

// y_t = Re(c_t) * (1/n), then + D u_t when there is a skip term.
TOUCHSTONE_CONV_HD inline float finish_element(const float* c, std::int64_t t, float inv_n, bool has_D,
                                               float D, float ut) {
  const float v = c[2 * t] * inv_n;
  if (!has_D) return v;
  const float du = D * ut;
  return v + du;
}

// The direct sum of a row with a non-finite input ([S4CONV-CONV-NONFINITE]), output t.
TOUCHSTONE_CONV_HD inline float direct_element(const float* u, const float* k, std::int64_t taps,
                                               std::int64_t t, bool has_D, float D) {
  float acc = 0.0f;
  for (std::int64_t s = 0; s <= t && s < taps; ++s) {
    const float term = k[s] * u[t - s];
    acc = acc + term;
  }
  if (!has_D) return acc;
  const float du = D * u[t];
  return acc + du;
}

}  // namespace touchstone::s4::cuda::kernels
