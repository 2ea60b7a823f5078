// The S4D Vandermonde product's per-element body ([S4D-CUDA]; the order is documented in
// s4d.hpp): a __host__ __device__ function that the kernel (s4d.cu) runs once per output element
// and that the host emulation (tests/s4d/s4d_test.cpp) runs on the CPU. Plain C++ when not
// compiled by nvcc.
#pragma once

#include <cstdint>

#include "common/elementary.hpp"

namespace touchstone::s4::cuda {

// [S4D-CUDA] K[h, l] for l = j T + i: acc = 0; for n = 0 .. N-1: w = w[h, n, j] (re, im),
// acc = fma(w.re, t_re[h, n, i], acc); acc = fma(-w.im, t_im[h, n, i], acc); K = scale acc.
// Layouts: w (H, N, J, 2); tab (H, N, 2, T) (the T real parts, then the T imaginary parts).
TOUCHSTONE_HD float s4d_element(const float* w, const float* tab, std::int64_t N, std::int64_t J,
                                std::int64_t T, std::int64_t h, std::int64_t l, float scale) {
  const std::int64_t j = l / T, i = l - j * T;
  float acc = 0.0f;
  for (std::int64_t n = 0; n < N; ++n) {
    const float* wn = w + ((h * N + n) * J + j) * 2;
    const float* tn = tab + (h * N + n) * 2 * T;
    acc = touchstone::elementary::fma_f(wn[0], tn[i], acc);
    acc = touchstone::elementary::fma_f(-wn[1], tn[T + i], acc);
  }
  return scale * acc;
}

}  // namespace touchstone::s4::cuda
