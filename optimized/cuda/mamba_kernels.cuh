// The cuda-f32 selective scan's per-thread arithmetic ([MAMBA-SCAN-CUDA]; the order is documented
// in mamba.hpp): __host__ __device__ bodies that the kernel (mamba.cu) calls between its data
// movements (warp shuffles, shared memory, barriers), and that the host emulation
// (tests/mamba/cuda_scan_emulation.hpp) calls for every thread of a block, phase by phase between
// the same barriers, so that its results are the kernel's bits. Every operation of the scan is
// here, once: the steps' dt and du, the per-thread fold, the combines of the block scan (its
// Kogge-Stone levels, the fold of the warp totals, the join), the carry-in and the recomputation,
// the skip and the gate; the kernel adds only where each value comes from.
//
// Plain C++ when not compiled by nvcc; no CUDA header is included here.
#pragma once

#include <algorithm>
#include <cstdint>

#include "common/elementary.hpp"
#include "cuda/mamba.hpp"
#include "cuda/mamba_index.hpp"

// Full unrolling keeps a thread's items in registers (device pass only: the host has no such pragma).
#if defined(__CUDA_ARCH__)
#define TOUCHSTONE_SCAN_UNROLL _Pragma("unroll")
#else
#define TOUCHSTONE_SCAN_UNROLL
#endif

namespace touchstone::mamba::cuda::scan_detail {

using i64 = std::int64_t;

inline constexpr int kThreads = kSelectiveScanShape.threads;
inline constexpr int kItems = kSelectiveScanShape.items;
inline constexpr int kChunk = kSelectiveScanShape.chunk;
inline constexpr int kMaxDstate = kSelectiveScanShape.max_dstate;
inline constexpr int kWarpSize = 32;
inline constexpr int kWarps = kThreads / kWarpSize;

// Combines on the path of one thread summary to any exclusive prefix of the block scan:
// log2(32) Kogge-Stone levels in the warp, (warps - 2) in the left fold of the warp totals (the
// last warp's prefix folds warps - 1 totals), 1 to join the warp's prefix and the lane's.
constexpr int scan_tree_depth(int warps) { return warps == 1 ? 5 : 5 + (warps - 2) + 1; }

static_assert(kChunk == kThreads * kItems, "chunk = threads * items");
static_assert(kThreads % kWarpSize == 0 && kWarps >= 1, "whole warps only");
static_assert(kSelectiveScanShape.tree_depth == scan_tree_depth(kWarps),
              "mamba.hpp's tree_depth must be the depth of the block scan");

// A read of an input: through the read-only data cache on the device, plain on the host.
TOUCHSTONE_HD float load(const float* p) {
#if defined(__CUDA_ARCH__)
  return __ldg(p);
#else
  return *p;
#endif
}

// An affine map h -> a h + b: a thread's summary of consecutive steps, or a prefix of them.
struct Affine {
  float a, b;
};

// `first` then `second`: (a1, b1) o (a2, b2) = (a2 a1, fma(a2, b1, b2)), each rounded once.
TOUCHSTONE_HD Affine combine(Affine first, Affine second) {
  return {second.a * first.a, elementary::fma_f(second.a, first.b, second.b)};
}

struct ScanParams {
  const float* u;           // (batch, dim, L)
  const float* delta;       // (batch, dim, L)
  const float* A;           // (dim, N)
  const float* B;           // (dim, N) constant, or (batch, groups, N, L) variable
  const float* C;           // idem
  const float* D;           // (dim,) or nullptr
  const float* z;           // (batch, dim, L) or nullptr
  const float* delta_bias;  // (dim,) or nullptr
  const float* h0;          // (batch, dim, N) or nullptr
  float* out;               // (batch, dim, L)
  float* last_state;        // (batch, dim, N)
  std::int64_t dim, dstate, seqlen;
  std::int64_t B_groups, B_channels_per_group;  // variable B only
  std::int64_t C_groups, C_channels_per_group;  // variable C only
  bool delta_softplus;
};

// One block's sequence (b, d), bd = b * dim + d: its rows of every operand. All offsets in 64
// bits ([MAMBA-INDEX-64]); every offset is one of mamba_index.hpp's functions, tested on the host.
struct ScanRow {
  const float* u;
  const float* delta;
  const float* z;  // nullptr without z
  float* out;
  const float* A;
  // Variable B/C: the (N, L) slab of group d / channels_per_group, element (n, t) at n L + t.
  // Constant B/C: the row d, element n.
  const float* B;
  const float* C;
  float bias, D;
  bool has_bias, has_D, has_z, softplus;
  i64 N, L;
};

template <bool kVariableB, bool kVariableC>
TOUCHSTONE_HD ScanRow scan_row(const ScanParams& p, i64 bd) {
  namespace ix = offsets;
  const i64 b = bd / p.dim, d = bd % p.dim;
  const i64 N = p.dstate, L = p.seqlen;
  ScanRow r;
  r.u = p.u + ix::sequence(bd, L, 0);
  r.delta = p.delta + ix::sequence(bd, L, 0);
  r.z = p.z ? p.z + ix::sequence(bd, L, 0) : nullptr;
  r.out = p.out + ix::sequence(bd, L, 0);
  r.A = p.A + ix::weight(d, N, 0);
  r.B = kVariableB ? p.B + ix::grouped(ix::grouped_row(b, p.B_groups,
                                                       ix::group_of(d, p.B_channels_per_group)),
                                       N, L, 0, 0)
                   : p.B + ix::weight(d, N, 0);
  r.C = kVariableC ? p.C + ix::grouped(ix::grouped_row(b, p.C_groups,
                                                       ix::group_of(d, p.C_channels_per_group)),
                                       N, L, 0, 0)
                   : p.C + ix::weight(d, N, 0);
  r.has_bias = p.delta_bias != nullptr;
  r.has_D = p.D != nullptr;
  r.has_z = r.z != nullptr;
  r.softplus = p.delta_softplus;
  r.bias = r.has_bias ? load(p.delta_bias + d) : 0.0f;
  r.D = r.has_D ? load(p.D + d) : 0.0f;
  r.N = N;
  r.L = L;
  return r;
}

// The state entering the sequence, state n.
TOUCHSTONE_HD float initial_state(const ScanParams& p, i64 bd, i64 n) {
  return p.h0 ? load(p.h0 + offsets::state(bd, p.dstate, n)) : 0.0f;
}

// Thread `tid`'s steps in chunk c: t0 .. t0 + valid - 1 (fewer than kItems, or none, only in the
// ragged last chunk). Steps past L are skipped: they read nothing, write nothing, and leave the
// summary as it is (the identity for a thread without valid steps).
struct ThreadSteps {
  i64 t0;
  int valid;
};
TOUCHSTONE_HD ThreadSteps thread_steps(i64 L, i64 c, int tid) {
  const i64 t0 = offsets::chunk_step(c, kChunk, tid, kItems);
  return {t0, static_cast<int>(std::min<i64>(std::max<i64>(L - t0, 0), kItems))};
}

// The thread whose steps include chunk c's last valid step: it stores the carried state.
TOUCHSTONE_HD int last_owner(i64 L, i64 c) {
  const i64 chunk_start = offsets::chunk_step(c, kChunk, 0, kItems);
  return static_cast<int>((std::min<i64>(L - chunk_start, kChunk) - 1) / kItems);
}

// dt and du of the thread's steps (once per chunk), y = +0: the CPU backend's operations in its
// order (x = delta + bias, the softplus threshold, dt * u).
TOUCHSTONE_HD void load_steps(const ScanRow& r, ThreadSteps s, float (&dt)[kItems],
                              float (&du)[kItems], float (&y)[kItems]) {
  using elementary::softplus_f32;
  TOUCHSTONE_SCAN_UNROLL
  for (int i = 0; i < kItems; ++i) {
    dt[i] = 0.0f;
    du[i] = 0.0f;
    y[i] = 0.0f;  // +0, as the CPU backend's y
    if (i < s.valid) {
      float x = load(r.delta + s.t0 + i);
      if (r.has_bias) x = x + r.bias;
      if (r.softplus) x = x > 20.0f ? x : softplus_f32(x);
      dt[i] = x;
      du[i] = x * load(r.u + s.t0 + i);
    }
  }
}

// For state n: a_i = exp(dt_i A[d,n]) and bu_i = du_i B[n,t_i] (the identity (1, 0) past L), and
// the thread's summary, its steps folded sequentially. The fold starts from the first step
// itself rather than fma'ing it into (1, 0): the same value, without an operation that would
// turn a -0 into +0.
template <bool kVariableB>
TOUCHSTONE_HD Affine fold_steps(const ScanRow& r, i64 n, ThreadSteps s, const float (&dt)[kItems],
                                const float (&du)[kItems], float (&a)[kItems],
                                float (&bu)[kItems]) {
  using elementary::exp_f32;
  const float An = load(r.A + n);
  const float Bn = kVariableB ? 0.0f : load(r.B + n);
  const float* Brow = kVariableB ? r.B + offsets::grouped(0, r.N, r.L, n, 0) : r.B;  // row n of B
  TOUCHSTONE_SCAN_UNROLL
  for (int i = 0; i < kItems; ++i) {
    a[i] = 1.0f;
    bu[i] = 0.0f;
    if (i < s.valid) {
      a[i] = exp_f32(dt[i] * An);
      bu[i] = du[i] * (kVariableB ? load(Brow + s.t0 + i) : Bn);
    }
  }
  Affine summary{a[0], bu[0]};
  TOUCHSTONE_SCAN_UNROLL
  for (int i = 1; i < kItems; ++i)
    if (i < s.valid) summary = combine(summary, Affine{a[i], bu[i]});
  return summary;
}

// One Kogge-Stone level of the inclusive scan inside a warp: `below` is the inclusive value of
// the lane `offset` below (what __shfl_up_sync returns; on lanes below `offset`, their own).
TOUCHSTONE_HD Affine warp_scan_level(Affine below, Affine inclusive, int lane, int offset) {
  return lane >= offset ? combine(below, inclusive) : inclusive;
}

// The thread's exclusive prefix from the warp totals (lane 31's inclusive values) and its
// exclusive prefix inside the warp `in_warp` (the inclusive value of the lane below; meaningless
// on lane 0): the prefix of its warp is a left fold of the totals of the warps before it, then
// (warp prefix) o (in_warp). Thread 0's prefix is empty (`empty` is set for it).
TOUCHSTONE_HD Affine exclusive_prefix(const Affine* totals, Affine in_warp, int warp, int lane,
                                      bool& empty) {
  empty = warp == 0 && lane == 0;
  if (warp == 0) return in_warp;
  Affine of_warp = totals[0];
  TOUCHSTONE_SCAN_UNROLL
  for (int w = 1; w < kWarps - 1; ++w)
    if (w < warp) of_warp = combine(of_warp, totals[w]);
  return lane == 0 ? of_warp : combine(of_warp, in_warp);
}

// For state n: the state at the start of the thread's steps, then its steps sequentially,
// h = fma(a_i, h, bu_i) and y_i = fma(h, C[n,t_i], y_i), exactly as the CPU backend. Thread 0's
// prefix is empty: it continues from the carried state itself, as the CPU backend does. Returns
// the state after the thread's last valid step (h_carry when it has none).
template <bool kVariableC>
TOUCHSTONE_HD float run_steps(const ScanRow& r, i64 n, ThreadSteps s, const float (&a)[kItems],
                              const float (&bu)[kItems], Affine prefix, bool empty, float h_carry,
                              float (&y)[kItems]) {
  using elementary::fma_f;
  const float Cn = kVariableC ? 0.0f : load(r.C + n);
  const float* Crow = kVariableC ? r.C + offsets::grouped(0, r.N, r.L, n, 0) : r.C;  // row n of C
  float h = empty ? h_carry : fma_f(prefix.a, h_carry, prefix.b);
  TOUCHSTONE_SCAN_UNROLL
  for (int i = 0; i < kItems; ++i) {
    if (i < s.valid) {
      h = fma_f(a[i], h, bu[i]);
      y[i] = fma_f(h, kVariableC ? load(Crow + s.t0 + i) : Cn, y[i]);
    }
  }
  return h;
}

// Skip connection and gate, as the CPU backend: out = (D ? fma(D, u, y) : y) * silu(z).
TOUCHSTONE_HD void store_steps(const ScanRow& r, ThreadSteps s, const float (&y)[kItems]) {
  using elementary::silu_f32;
  TOUCHSTONE_SCAN_UNROLL
  for (int i = 0; i < kItems; ++i) {
    if (i < s.valid) {
      float v = y[i];
      if (r.has_D) v = elementary::fma_f(r.D, load(r.u + s.t0 + i), v);
      if (r.has_z) v = v * silu_f32(load(r.z + s.t0 + i));
      r.out[s.t0 + i] = v;
    }
  }
}

}  // namespace touchstone::mamba::cuda::scan_detail
