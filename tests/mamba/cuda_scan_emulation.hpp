// The cuda-f32 selective scan run on the host: the kernel's own per-thread bodies
// (optimized/cuda/mamba_kernels.cuh, the code mamba.cu's kernel calls), executed for every thread
// of a block phase by phase between the kernel's barriers, with the warp shuffles and the shared
// memory of mamba.cu's block_exclusive_prefix replaced by arrays (spec/mamba.md
// [MAMBA-SCAN-CUDA]). So the results are the kernel's bits in the kernel's association order,
// with no hand-kept copy of that order.
//
// Two uses: on any machine, its results are held to the cuda-f32 bound
// ([MAMBA-SCAN-BOUND-CUDA-F32]), which tests the tree-order bound against an implementation that
// really has that order; where a GPU exists, the kernel must match it bit for bit
// (cuda_test.cpp), which tests the data movement that is not shared.
#pragma once

#include <optional>
#include <vector>

#include "cuda/mamba_kernels.cuh"
#include "touchstone/reference/mamba_problem.hpp"

namespace touchstone::mamba::testing {

namespace emulation_detail {

using namespace cuda::scan_detail;

// One block (b, d) = bd, every thread of it, the phases in the kernel's order.
template <bool kVariableB, bool kVariableC>
void emulate_block(const ScanParams& p, i64 bd) {
  struct Items {  // one thread's registers
    float v[kItems];
  };
  const ScanRow row = scan_row<kVariableB, kVariableC>(p, bd);
  const i64 N = row.N, L = row.L;
  std::vector<float> carry[2] = {std::vector<float>(static_cast<std::size_t>(N)),
                                 std::vector<float>(static_cast<std::size_t>(N))};
  for (i64 n = 0; n < N; ++n) carry[0][static_cast<std::size_t>(n)] = initial_state(p, bd, n);

  std::vector<Items> dt(kThreads), du(kThreads), y(kThreads), a(kThreads), bu(kThreads);
  std::vector<ThreadSteps> steps(kThreads);
  std::vector<Affine> summary(kThreads), inclusive(kThreads), before(kThreads);
  Affine totals[kWarps];

  const i64 n_chunks = cuda::offsets::ceil_div(L, kChunk);
  for (i64 c = 0; c < n_chunks; ++c) {
    const int cur = static_cast<int>(c & 1), next = cur ^ 1;
    const int owner = last_owner(L, c);
    for (int tid = 0; tid < kThreads; ++tid) {
      steps[tid] = thread_steps(L, c, tid);
      load_steps(row, steps[tid], dt[tid].v, du[tid].v, y[tid].v);
    }
    for (i64 n = 0; n < N; ++n) {
      // 1. every thread's fold.
      for (int tid = 0; tid < kThreads; ++tid)
        summary[tid] = fold_steps<kVariableB>(row, n, steps[tid], dt[tid].v, du[tid].v,
                                              a[tid].v, bu[tid].v);
      // 2. the block scan: each Kogge-Stone level reads the values of the level before (the
      // shuffle); a lane below the offset gets its own value back.
      inclusive = summary;
      for (int offset = 1; offset < kWarpSize; offset *= 2) {
        before = inclusive;
        for (int tid = 0; tid < kThreads; ++tid) {
          const int lane = tid % kWarpSize;
          const Affine below = lane >= offset ? before[tid - offset] : before[tid];
          inclusive[tid] = warp_scan_level(below, before[tid], lane, offset);
        }
      }
      for (int w = 0; w < kWarps; ++w) totals[w] = inclusive[w * kWarpSize + kWarpSize - 1];
      // 3. every thread's prefix and steps (the kernel's __syncthreads is behind us).
      for (int tid = 0; tid < kThreads; ++tid) {
        const int lane = tid % kWarpSize, warp = tid / kWarpSize;
        const Affine in_warp = lane >= 1 ? inclusive[tid - 1] : inclusive[tid];
        bool empty = false;
        const Affine prefix = exclusive_prefix(totals, in_warp, warp, lane, empty);
        const float h = run_steps<kVariableC>(row, n, steps[tid], a[tid].v, bu[tid].v,
                                              prefix, empty, carry[cur][static_cast<std::size_t>(n)],
                                              y[tid].v);
        // 4. the next chunk's carried state.
        if (tid == owner) carry[next][static_cast<std::size_t>(n)] = h;
      }
    }
    for (int tid = 0; tid < kThreads; ++tid) store_steps(row, steps[tid], y[tid].v);
  }
  const int final_buffer = static_cast<int>(n_chunks & 1);
  for (i64 n = 0; n < N; ++n)
    p.last_state[cuda::offsets::state(bd, N, n)] = carry[final_buffer][static_cast<std::size_t>(n)];
}

}  // namespace emulation_detail

// The cuda-f32 selective scan's results, computed on the host by the kernel's bodies. The problem
// must fit the kernel (dstate <= max_dstate), as for cuda::selective_scan.
inline SelectiveScanResult<float> cuda_scan_emulation(const SelectiveScanProblem<float>& p) {
  namespace ed = emulation_detail;
  const auto& in = p.in();
  const Index batch = p.batch(), dim = p.dim(), N = p.dstate(), L = p.seqlen();
  SelectiveScanResult<float> r{Tensor<float>(Shape{batch, dim, L}), Tensor<float>(Shape{batch, dim, N})};
  auto ptr = [](const std::optional<Tensor<float>>& t) { return t ? t->data() : nullptr; };
  ed::ScanParams params{};
  params.u = in.u.data();
  params.delta = in.delta.data();
  params.A = in.A.data();
  params.B = in.B.data();
  params.C = in.C.data();
  params.D = ptr(in.D);
  params.z = ptr(in.z);
  params.delta_bias = ptr(in.delta_bias);
  params.h0 = ptr(in.h0);
  params.out = r.out.data();
  params.last_state = r.last_state.data();
  params.dim = dim;
  params.dstate = N;
  params.seqlen = L;
  params.B_groups = p.B_layout().groups;
  params.B_channels_per_group = p.B_layout().channels_per_group;
  params.C_groups = p.C_layout().groups;
  params.C_channels_per_group = p.C_layout().channels_per_group;
  params.delta_softplus = in.delta_softplus;
  const bool vb = p.B_layout().variable, vc = p.C_layout().variable;
  for (Index bd = 0; bd < batch * dim; ++bd) {
    if (vb && vc) ed::emulate_block<true, true>(params, bd);
    else if (vb) ed::emulate_block<true, false>(params, bd);
    else if (vc) ed::emulate_block<false, true>(params, bd);
    else ed::emulate_block<false, false>(params, bd);
  }
  return r;
}

}  // namespace touchstone::mamba::testing
