// The orthogonal family on CUDA, float32 (spec/orthogonal.md [ORTH-CUDA]). Plain C++ header: the
// host API is callable from code built without nvcc (then each function throws
// BackendUnavailable); the per-thread bodies are __host__ __device__ functions in
// orthogonal_kernels.cuh, which the host emulation test runs on the CPU.
//
// Decomposition (one kernel per stage, stages ordered by the default stream):
//   CWY / T-CWY (the first C = N or C = M columns of Q = I - U^T S^-1 U):
//     1. one thread per vector i: norm_i and the row u_i;
//     2. one thread per (i, j): s_ij = u_i . u_j (the strict upper triangle of S);
//     3. one thread per column c < C: w_:c = S^-1 u_:c by back substitution (W is L x C);
//     4. one thread per output (r, c): Q_rc = delta_rc - sum_i u_ir w_ic.
//   The VJPs (dV from dQ (N, N) or dOmega (N, M)): stages 1-2, then one thread per column r of
//     X1 = S^-1 U1 G^T, per column c of Z = U G and X3 = S^-T Z, per column j of T1 = S^-T Z U1^T,
//     per row i of P = striu(T1 S^-T) (in place), per element of dU, per row of the projections
//     u_i . du_i, per element of dV.
//   The matching step: one thread per pair of the round (theta from two column dot products); the
//     pairs' cos and sin on the host (glibc's binary64, rounded: cpu-f32's functions); one thread
//     per (row, pair) rotating the two entries.
// Order: each body runs order/orthogonal_order.hpp's sequence for its part exactly as cpu-f32 does
// (same sums in the same index order, one float32 rounding per operation), so every output has
// cpu-f32's bits and cuda-f32 takes cpu-f32's bound. Device buffers are O(L N + L^2 + N C) (the
// CPU backend's own intermediates), indices int64.
#pragma once

#include "cuda/availability.hpp"
#include "touchstone/core/tensor.hpp"
#include "touchstone/reference/orthogonal_problem.hpp"

namespace touchstone::orthogonal::cuda {

// [ORTH-CUDA] Q (N, N) of orthogonal.cwy and Omega (N, M) of orthogonal.tcwy; dV of
// orthogonal.cwy_backward / orthogonal.tcwy_backward (p.stiefel()); X_next of
// orthogonal.matching_step. Throw BackendUnavailable when no device can run them,
// std::runtime_error on a CUDA error.
TOUCHSTONE_CUDA_ENTRY(Tensor<float> cwy(const ReflectorProblem<float>& p))
TOUCHSTONE_CUDA_ENTRY(Tensor<float> tcwy(const StiefelProblem<float>& p))
TOUCHSTONE_CUDA_ENTRY(Tensor<float> cwy_vjp(const CwyBackwardProblem<float>& p))
TOUCHSTONE_CUDA_ENTRY(Tensor<float> matching_step(const MatchingStepProblem<float>& p))

}  // namespace touchstone::orthogonal::cuda
