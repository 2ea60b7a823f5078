// The S4D Vandermonde kernel on CUDA, float32 (spec/s4d.md [S4D-CUDA]). Plain C++ header: the
// host API is callable from code built without nvcc, and the element body below is a
// __host__ __device__ function that the host emulation test runs on the CPU.
//
// Association order: the per-mode setup (A_bar, v, the powers t_i and w_j = v P_j of
// [S4D-CPU-ORDER]) is cpu::s4d_setup's, computed on the host, so its bits are the cpu-f32
// backend's; the O(H N' L) Vandermonde product runs on the device, one thread per output
// element (h, l), summing over n in increasing order with the same two fmas per mode as the CPU
// backend. So cuda-f32 equals cpu-f32 bitwise and its bound is s4d_arithmetic_cpu_f32's.
#pragma once

#include <cstdint>

#include "common/elementary.hpp"
#include "cpu/s4d.hpp"
#include "cuda/availability.hpp"
#include "touchstone/core/tensor.hpp"
#include "touchstone/reference/s4d.hpp"

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

// The Vandermonde product of a setup made by cpu::s4d_setup (the caller makes it, so this library
// does not depend on the CPU one): K (H, L). Throws BackendUnavailable when no device can run
// it, std::runtime_error on a CUDA error.
TOUCHSTONE_CUDA_ENTRY(Tensor<float> s4d_product(const cpu::S4DSetup<float>& s))

}  // namespace touchstone::s4::cuda
