// The cuda-f32 causal convolution (spec/s4_conv.md [S4CONV-CONV-CUDA]): cuFFT C2C transforms
// around the same per-element arithmetic as the CPU backend (s4_conv_kernels.cuh). Plain C++
// header: included by host code built without nvcc (TOUCHSTONE_CUDA_ENTRY: it throws
// BackendUnavailable there).
#pragma once

#include "cuda/availability.hpp"
#include "touchstone/reference/s4_conv_problem.hpp"

namespace touchstone::s4::cuda {

TOUCHSTONE_CUDA_ENTRY(Tensor<float> causal_conv(const ConvProblem<float>& p))

}  // namespace touchstone::s4::cuda
