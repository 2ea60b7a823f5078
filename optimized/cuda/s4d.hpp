// The S4D Vandermonde kernel on CUDA, float32 (spec/s4d.md [S4D-CUDA]). Plain C++ header: the
// host API is callable from code built without nvcc; the element body is a __host__ __device__
// function in s4d_kernels.cuh that the host emulation test runs on the CPU.
//
// Association order: the per-mode setup (A_bar, v, the powers t_i and w_j = v P_j of
// [S4D-CPU-ORDER]) is cpu::s4d_setup's, computed on the host, so its bits are the cpu-f32
// backend's; the O(H N' L) Vandermonde product runs on the device, one thread per output
// element (h, l), summing over n in increasing order with the same two fmas per mode as the CPU
// backend. So cuda-f32 equals cpu-f32 bitwise and its bound is s4d_arithmetic_cpu_f32's.
#pragma once

#include "cpu/s4d.hpp"
#include "cuda/availability.hpp"
#include "touchstone/core/tensor.hpp"
#include "touchstone/reference/s4d.hpp"

namespace touchstone::s4::cuda {

// The Vandermonde product of a setup made by cpu::s4d_setup (the caller makes it, so this library
// does not depend on the CPU one): K (H, L). Throws BackendUnavailable when no device can run
// it, std::runtime_error on a CUDA error.
TOUCHSTONE_CUDA_ENTRY(Tensor<float> s4d_product(const cpu::S4DSetup<float>& s))

}  // namespace touchstone::s4::cuda
