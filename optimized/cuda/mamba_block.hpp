// The Mamba block on CUDA, float32 (spec/mamba_block.md [MAMBA-BLOCK-CUDA]). Plain C++ header:
// the host API is callable from code built without nvcc (TOUCHSTONE_CUDA_ENTRY: every entry
// point throws BackendUnavailable there).
//
// Association order: exactly the CPU float32 block's (optimized/cpu/mamba_block.cpp documents
// it), so that on a GPU every output is bitwise cpu::mamba_block_{forward,backward,step} on
// float32 and the cpu-f32 bounds ([MAMBA-BLOCK-BOUND-CPU-F32]) are this backend's:
//   - every matrix product and every (batch, time) weight-gradient sum: one thread per output
//     element, acc = +0 (or the stated initial value), acc = fmaf(w, x, acc) in increasing
//     reduction index ((b, t) b-major, t increasing);
//   - the causal conv: one thread per (b, d, t), acc = bias, fmaf over the taps w = 0..K-1, the
//     zero terms before t = 0 computed; u = silu_f32(acc);
//   - the selective scan forward: one thread per (b, d) running the CPU lane's sequence
//     ([MAMBA-SCAN-CPU]) for every t and n, saving the state entering every block of 256 steps
//     (the CPU's checkpoints);
//   - the scan backward: cuda::selective_scan_backward ([MAMBA-BWD-CUDA]), bitwise the CPU's;
//   - conv weight/bias gradients: one thread per (d, w) / d over (b, t) in the CPU's order.
// The elementary functions are optimized/common/elementary.hpp (host and device, the same code);
// fmaf only where the CPU calls fma, -fmad=false elsewhere. No atomics: deterministic.
// The kernels' per-thread bodies are in mamba_block_kernels.cuh (__host__ __device__), which the
// emulation test (tests/mamba/cuda_block_emulation_test.cpp) runs on the host over every thread.
#pragma once

#include "cuda/availability.hpp"
#include "touchstone/core/tensor.hpp"
#include "touchstone/reference/mamba_block_problem.hpp"

namespace touchstone::mamba::cuda {

// What the backward pass needs (host copies), the fields of cpu::MambaBlockCache<float> with the
// same shapes and, on a GPU, the same bits.
struct MambaBlockCache {
  Tensor<float> hidden;      // (batch, seqlen, d_model)
  Tensor<float> x_pre_conv;  // (batch, d_inner, seqlen)
  Tensor<float> u;           // (batch, d_inner, seqlen)
  Tensor<float> z;           // (batch, d_inner, seqlen)
  Tensor<float> dt_low;      // (batch, dt_rank, seqlen)
  Tensor<float> delta;       // (batch, d_inner, seqlen)
  Tensor<float> B, C;        // (batch, 1, d_state, seqlen)
  Tensor<float> y;           // (batch, d_inner, seqlen)
  Index checkpoint_block = 0;         // 256
  Tensor<float> checkpoint_states;    // (batch, d_inner, ceil(seqlen / 256), d_state)
};

// hidden (batch, seqlen, d_model) -> out (batch, seqlen, d_model). InvalidInput as the CPU block
// (shapes, non-finite weights or intermediates); BackendUnavailable without a device;
// std::runtime_error on a CUDA error.
TOUCHSTONE_CUDA_ENTRY(Tensor<float> mamba_block_forward(const MambaBlockWeights<float>& w,
                                                        const Tensor<float>& hidden,
                                                        MambaBlockCache* cache = nullptr))

// dout (batch, seqlen, d_model) -> gradients, from a cache of mamba_block_forward.
TOUCHSTONE_CUDA_ENTRY(MambaBlockGrads<float> mamba_block_backward(const MambaBlockWeights<float>& w,
                                                                  const MambaBlockCache& cache,
                                                                  const Tensor<float>& dout))

// The forward pass over a prompt that also returns the state after its last token.
TOUCHSTONE_CUDA_ENTRY(Tensor<float> mamba_block_prefill(const MambaBlockWeights<float>& w,
                                                        const Tensor<float>& hidden,
                                                        MambaBlockState<float>& state))

// One token: hidden (batch, 1, d_model) -> out (batch, 1, d_model), advancing `state`.
TOUCHSTONE_CUDA_ENTRY(Tensor<float> mamba_block_step(const MambaBlockWeights<float>& w,
                                                     const Tensor<float>& hidden,
                                                     MambaBlockState<float>& state))

}  // namespace touchstone::mamba::cuda
