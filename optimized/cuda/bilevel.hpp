// The MAML sinusoid class on CUDA, float32 (spec/bilevel.md [BILEVEL-CUDA]): bilevel.maml.fom and
// bilevel.maml.exact_recompute. Plain C++ header: the host API is callable from code built without
// nvcc; the block bodies are __host__ __device__ functions in bilevel_kernels.cuh that the host
// emulation test runs on the CPU.
//
// One thread block per task (a problem is one task: one block), threads over the hidden units and
// the parameter elements; every value is order::Mlp's on float in its order (bilevel_kernels.cuh
// says how the work is split), so cuda-f32 computes cpu-f32's bits and takes cpu-f32's bound.
#pragma once

#include "cuda/availability.hpp"
#include "touchstone/core/tensor.hpp"
#include "touchstone/order/bilevel_order.hpp"
#include "touchstone/reference/bilevel_problem.hpp"

namespace touchstone::bilevel::cuda {

// [BILEVEL-CUDA] F = grad L_query(phi_r) (cpu::maml_fom's order). Throws BackendUnavailable when no
// device can run it, std::runtime_error on a CUDA error.
TOUCHSTONE_CUDA_ENTRY(Tensor<float> maml_fom(const MamlProblem<float>& p, order::Counts* counts = nullptr))
// [BILEVEL-CUDA] The exact hypergradient by reverse mode recomputing each phi_j from theta
// (cpu::maml_hypergradient(p, Method::recompute)'s order): O(h^2) device memory whatever r.
TOUCHSTONE_CUDA_ENTRY(Tensor<float> maml_exact_recompute(const MamlProblem<float>& p, order::Counts* counts = nullptr))

}  // namespace touchstone::bilevel::cuda
