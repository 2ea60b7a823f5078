// A host model of the CUDA selective scan kernel's arithmetic (optimized/cuda/mamba.cu): the
// same operations in the same association order, executed phase by phase as the block's threads
// would between barriers (spec/mamba.md [MAMBA-SCAN-CUDA]).
//
// Two uses: on any machine, the model's results are held to the cuda-f32 bound
// ([MAMBA-SCAN-BOUND-CUDA-F32]), which tests the tree-order bound against an implementation
// that really has that order; where a GPU exists, the kernel must match the model bit for bit,
// which tests the kernel. Keep it in step with mamba.cu: a change to the kernel's combine order
// shows up as a bitwise mismatch on the GPU test.
#pragma once

#include <algorithm>
#include <vector>

#include "common/elementary.hpp"
#include "cuda/mamba.cuh"
#include "touchstone/reference/mamba_problem.hpp"

namespace touchstone::mamba::testing {

inline SelectiveScanResult<float> cuda_order_model(const SelectiveScanProblem<float>& p) {
  using elementary::exp_f32, elementary::softplus_f32, elementary::silu_f32;
  constexpr auto shape = cuda::kSelectiveScanShape;
  constexpr int kThreads = shape.threads, kItems = shape.items, kWarps = kThreads / 32;
  constexpr Index kChunk = shape.chunk;
  struct Affine {
    float a, b;
  };
  // (a1, b1) o (a2, b2) = (a2 a1, fma(a2, b1, b2)): the earlier operand on the left.
  auto combine = [](Affine f, Affine s) { return Affine{s.a * f.a, __builtin_fmaf(s.a, f.b, s.b)}; };

  const auto& in = p.in();
  const Index batch = p.batch(), dim = p.dim(), N = p.dstate(), L = p.seqlen();
  SelectiveScanResult<float> r{Tensor<float>(Shape{batch, dim, L}), Tensor<float>(Shape{batch, dim, N})};
  std::vector<float> dt(kThreads * kItems), du(dt.size()), y(dt.size()), a(dt.size()), bu(dt.size());
  std::vector<Affine> summary(kThreads), incl(kThreads), old(kThreads);
  for (Index b = 0; b < batch; ++b) {
    for (Index d = 0; d < dim; ++d) {
      std::vector<float> carry(static_cast<std::size_t>(N));
      for (Index n = 0; n < N; ++n) carry[n] = in.h0 ? (*in.h0)(b, d, n) : 0.f;
      const Index n_chunks = (L + kChunk - 1) / kChunk;
      for (Index c = 0; c < n_chunks; ++c) {
        const Index start = c * kChunk;
        const int last_owner = static_cast<int>((std::min(L - start, kChunk) - 1) / kItems);
        auto valid = [&](int tid) {
          return static_cast<int>(std::clamp<Index>(L - (start + Index{tid} * kItems), 0, kItems));
        };
        for (int tid = 0; tid < kThreads; ++tid)
          for (int i = 0; i < kItems; ++i) {
            const std::size_t k = static_cast<std::size_t>(tid * kItems + i);
            dt[k] = du[k] = y[k] = 0.f;
            if (i < valid(tid)) {
              const Index t = start + Index{tid} * kItems + i;
              float x = in.delta(b, d, t);
              if (in.delta_bias) x = x + (*in.delta_bias)[d];
              if (in.delta_softplus) x = x > 20.f ? x : softplus_f32(x);
              dt[k] = x;
              du[k] = x * in.u(b, d, t);
            }
          }
        for (Index n = 0; n < N; ++n) {
          const float An = in.A(d, n);
          // Per-thread sequential folds, starting from the first valid step.
          for (int tid = 0; tid < kThreads; ++tid) {
            for (int i = 0; i < kItems; ++i) {
              const std::size_t k = static_cast<std::size_t>(tid * kItems + i);
              a[k] = 1.f;
              bu[k] = 0.f;
              if (i < valid(tid)) {
                const Index t = start + Index{tid} * kItems + i;
                a[k] = exp_f32(dt[k] * An);
                bu[k] = du[k] * p.B_at(b, d, n, t);
              }
            }
            Affine s{a[static_cast<std::size_t>(tid * kItems)], bu[static_cast<std::size_t>(tid * kItems)]};
            for (int i = 1; i < valid(tid); ++i)
              s = combine(s, {a[static_cast<std::size_t>(tid * kItems + i)], bu[static_cast<std::size_t>(tid * kItems + i)]});
            summary[tid] = s;
          }
          // Kogge-Stone inclusive scan inside each warp (all lanes shift simultaneously).
          incl = summary;
          for (int off = 1; off < 32; off *= 2) {
            old = incl;
            for (int tid = 0; tid < kThreads; ++tid)
              if (tid % 32 >= off) incl[tid] = combine(old[tid - off], old[tid]);
          }
          for (int tid = 0; tid < kThreads; ++tid) {
            const int lane = tid % 32, warp = tid / 32;
            const Affine in_warp = lane > 0 ? incl[tid - 1] : incl[tid];
            Affine prefix = in_warp;
            if (warp > 0) {
              // Warp totals folded left to right, then joined with the lane's exclusive prefix.
              Affine of = incl[31];
              for (int w = 1; w < warp && w < kWarps; ++w) of = combine(of, incl[w * 32 + 31]);
              prefix = lane == 0 ? of : combine(of, in_warp);
            }
            const bool first = warp == 0 && lane == 0;
            float h = first ? carry[n] : __builtin_fmaf(prefix.a, carry[n], prefix.b);
            for (int i = 0; i < valid(tid); ++i) {
              const std::size_t k = static_cast<std::size_t>(tid * kItems + i);
              const Index t = start + Index{tid} * kItems + i;
              h = __builtin_fmaf(a[k], h, bu[k]);
              y[k] = __builtin_fmaf(h, p.C_at(b, d, n, t), y[k]);
            }
            if (tid == last_owner) carry[n] = h;  // read by no thread until the next chunk
          }
        }
        for (int tid = 0; tid < kThreads; ++tid)
          for (int i = 0; i < valid(tid); ++i) {
            const std::size_t k = static_cast<std::size_t>(tid * kItems + i);
            const Index t = start + Index{tid} * kItems + i;
            float v = y[k];
            if (in.D) v = __builtin_fmaf((*in.D)[d], in.u(b, d, t), v);
            if (in.z) v = v * silu_f32((*in.z)(b, d, t));
            r.out(b, d, t) = v;
          }
      }
      for (Index n = 0; n < N; ++n) r.last_state(b, d, n) = carry[n];
    }
  }
  return r;
}

}  // namespace touchstone::mamba::testing
