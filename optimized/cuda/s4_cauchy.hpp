// The Cauchy kernel and its VJP on CUDA, float32 (spec/s4.md [S4-CAUCHY-CUDA]).
//
// One thread per output element, each running the CPU backend's sequence (optimized/cpu/s4.hpp):
// out[h, l] sequential over n, dv/dw[h, n] sequential over l, textbook divisions, built with
// -fmad=false so every product and sum is rounded once (the bound [S4-CAUCHY-BOUND] is that of the
// CPU float32 backend). The per-element bodies are __host__ __device__ functions in
// s4_cauchy_kernels.cuh, so that tests/s4/cauchy_test.cpp runs the kernel's arithmetic on the
// host. Plain C++ header: the host API is callable from code built without nvcc.
#pragma once

#include <string>
#include <vector>

#include "cuda/availability.hpp"
#include "touchstone/reference/s4_problem.hpp"

namespace touchstone::s4::cuda {

// Empty when the kernels can run here, else why not: touchstone::cuda::unavailable_reason().
inline std::string cauchy_unavailable_reason() { return cuda_availability::unavailable_reason(); }
// out (H, L, 2). BackendUnavailable without a device.
TOUCHSTONE_CUDA_ENTRY(std::vector<float> cauchy(const CauchyProblem& p))
// dv (H, N, 2) then dw (H, N, 2).
TOUCHSTONE_CUDA_ENTRY(std::vector<float> cauchy_backward(const CauchyProblem& p,
                                                         const std::vector<cdouble>& dout))

}  // namespace touchstone::s4::cuda
