// The Performer family's cuda-f32 bodies ([PERF-CUDA]; the decomposition and the order are
// documented in performer.hpp): __host__ __device__ functions that the kernels (performer.cu) run
// with one CUDA block per (batch, head) and that the host emulation
// (tests/performer/performer_cuda_emulation_test.cpp) runs on the CPU. Plain C++ when not compiled
// by nvcc.
//
// Each head function is written over a block policy `Block` with
//   for_each(n, f)   f(idx) for every idx in [0, n): on the device the block's threads share the
//                    indices (idx = threadIdx.x, + blockDim.x, ...); in the emulation one loop;
//   sync()           __syncthreads() on the device; nothing in the emulation.
// Between two sync() calls every index writes only its own elements and reads none that another
// index of the same phase writes, so the order in which the indices run changes no value: the
// emulation computes what the device computes. Every value is one IEEE float32 operation of
// cpu-f32's order (order/performer_order.hpp): each sum starts from 0 and adds its terms in the
// order's index order (-fmad=false on the device, -ffp-contract=off on the host, so a * b + c is
// two roundings on both).
#pragma once

#include <cstdint>

#include "common/elementary.hpp"

namespace touchstone::performer::cuda {

// Guard codes, as performer::Guard: 0 none, 1 gr, 2 lr.
inline constexpr int kGuardNone = 0, kGuardGr = 1, kGuardLr = 2;

struct LinearDims {
  std::int64_t L, M, E;  // positions, features, value width
  bool causal;
  int guard;
  float eps;  // the guard's eps, fl(guard_eps)
};

// cpu-f32's guard_gr: R + (eps + eps) where |R| <= eps.
TOUCHSTONE_HD float guard_gr(float R, float eps) {
  const float a = R < 0.0f ? -R : R;  // |R| (NaN stays NaN and fails the test, as fabs's)
  return a <= eps ? R + (eps + eps) : R;
}

// R_i = sequential sum_f q_if S~_f (S~_f = fl(S_f + eps) with the lr guard, causal), then the gr
// guard: [PERF-LINEAR-CPU]'s renormalizer of row q (M features) against the state S.
TOUCHSTONE_HD float linear_renormalizer(const float* q, const float* S, const LinearDims& d) {
  const bool lr = d.guard == kGuardLr && d.causal;
  float r = 0.0f;
  for (std::int64_t f = 0; f < d.M; ++f) r = r + q[f] * (lr ? S[f] + d.eps : S[f]);
  return d.guard == kGuardGr ? guard_gr(r, d.eps) : r;
}

// W_c = sequential sum_f q_if P_fc.
TOUCHSTONE_HD float linear_numerator(const float* q, const float* P, std::int64_t c, const LinearDims& d) {
  float w = 0.0f;
  for (std::int64_t f = 0; f < d.M; ++f) w = w + q[f] * P[f * d.E + c];
  return w;
}

// One element of the key sums after key j: idx < M is S_idx (+= k_j,idx), idx = M + f E + c is
// P_fc (+= fl(k_jf v_jc)). A state is laid out [S (M) | P (M, E)].
TOUCHSTONE_HD float linear_state_add(float s, const float* k, const float* v, std::int64_t j, std::int64_t idx,
                                     const LinearDims& d) {
  if (idx < d.M) return s + k[j * d.M + idx];
  const std::int64_t f = (idx - d.M) / d.E, c = (idx - d.M) - f * d.E;
  return s + k[j * d.M + f] * v[j * d.E + c];
}
// The element after subtracting key j's term ([PERF-LINEAR-VJP-CPU]'s subtraction form).
TOUCHSTONE_HD float linear_state_sub(float s, const float* k, const float* v, std::int64_t j, std::int64_t idx,
                                     const LinearDims& d) {
  if (idx < d.M) return s - k[j * d.M + idx];
  const std::int64_t f = (idx - d.M) / d.E, c = (idx - d.M) - f * d.E;
  return s - k[j * d.M + f] * v[j * d.E + c];
}

// [PERF-CUDA] One (batch, head) of linear attention ([PERF-LINEAR-CPU]). q, k (L, M), v, out
// (L, E) are the head's; state is scratch of M (E + 1) floats.
// Bidirectional: index (f or f, c) sums its state element over j = 0 .. L-1; then index (i, c)
// computes R_i, W_ic and out = W / R. Causal: for i = 0 .. L-1, index (state element) adds key i,
// then index c computes R_i (every c the same value), W_ic, out.
template <class Block>
TOUCHSTONE_HD void linear_attention_head(Block& b, const float* q, const float* k, const float* v, const LinearDims& d,
                                         float* state, float* out) {
  const std::int64_t n = d.M * (d.E + 1);
  const float* S = state;
  const float* P = state + d.M;
  if (!d.causal) {
    b.for_each(n, [&](std::int64_t idx) {
      float s = 0.0f;
      for (std::int64_t j = 0; j < d.L; ++j) s = linear_state_add(s, k, v, j, idx, d);
      state[idx] = s;
    });
    b.sync();
    b.for_each(d.L * d.E, [&](std::int64_t ic) {
      const std::int64_t i = ic / d.E, c = ic - i * d.E;
      const float R = linear_renormalizer(q + i * d.M, S, d);
      out[ic] = linear_numerator(q + i * d.M, P, c, d) / R;
    });
    return;
  }
  b.for_each(n, [&](std::int64_t idx) { state[idx] = 0.0f; });
  for (std::int64_t i = 0; i < d.L; ++i) {
    b.sync();
    b.for_each(n, [&](std::int64_t idx) { state[idx] = linear_state_add(state[idx], k, v, i, idx, d); });
    b.sync();
    b.for_each(d.E, [&](std::int64_t c) {
      const float R = linear_renormalizer(q + i * d.M, S, d);
      out[i * d.E + c] = linear_numerator(q + i * d.M, P, c, d) / R;
    });
  }
}


// The backward pass's scratch for one (batch, head); n = M (E + 1) floats per state.
struct LinearVjpScratch {
  float* state;         // n: the totals (bidirectional), the running state (subtraction)
  float* checkpoints;   // stored: ceil(L / chunk) states, the sums before key s chunk
  float* chunk_states;  // stored: the chunk's states, chunk n
  float* C;             // (M, E): the suffix sums C = sum q_i dW_i^T
  float* D;             // M: D = sum dR_i q_i
  float* dW;            // E: g_i / R_i
  float* t;             // E: fl(g_ic fl(W_ic / R_i)), the terms of g . out
  float* R;             // 1: R_i
};

// [PERF-CUDA] One (batch, head) of the VJP of linear attention ([PERF-LINEAR-VJP-CPU]); q, k, dq,
// dk (L, M), v, g, dv (L, E) are the head's.
// The forward sums: index idx (a state element) sums over j = 0 .. L-1; stored (causal, not
// subtraction) keeps the running sums before every chunk-th key, and when the backward pass enters
// a chunk it adds that chunk's keys to them again, in the same order, keeping each state: every
// state is the running sum through key i, the stored form's value ([PERF-SLICES]), whatever
// `chunk` is. Then for i = L-1 .. 0:
//   A, index c: R_i (every c the same value; c = 0 keeps it), W_ic, dW_c = g_ic / R,
//      t_c = fl(g_ic fl(W_ic / R));
//   B, index f: dR = 0 - fl(sum_c t_c) / R, dq_if = fl(sum_c P_fc dW_c) + dR S~_f,
//      D_f += dR q_if, C_f: += q_if dW (c in order), causal: dk_if = fl(sum_c v_ic C_fc) + D_f;
//   C, causal: index c: dv_ic = sum_f k_if C_fc; subtraction: index idx: state -= key i's term.
// Bidirectional: after the loop, index (j, f): dk_jf, index (j, c): dv_jc from the final C, D.
template <class Block>
TOUCHSTONE_HD void linear_attention_vjp_head(Block& b, const float* q, const float* k, const float* v, const float* g,
                                             const LinearDims& d, bool subtraction, std::int64_t chunk,
                                             const LinearVjpScratch& s, float* dq, float* dk, float* dv) {
  const std::int64_t n = d.M * (d.E + 1), M = d.M, E = d.E;
  const bool stored = d.causal && !subtraction, lr = d.guard == kGuardLr && d.causal;
  b.for_each(n, [&](std::int64_t idx) {
    float x = 0.0f;
    for (std::int64_t j = 0; j < d.L; ++j) {
      if (stored && j % chunk == 0) s.checkpoints[(j / chunk) * n + idx] = x;
      x = linear_state_add(x, k, v, j, idx, d);
    }
    if (!stored) s.state[idx] = x;
  });
  b.for_each(M * E, [&](std::int64_t fc) { s.C[fc] = 0.0f; });
  b.for_each(M, [&](std::int64_t f) { s.D[f] = 0.0f; });
  std::int64_t start = d.L;  // stored: the first position of the chunk whose states chunk_states holds
  for (std::int64_t i = d.L - 1; i >= 0; --i) {
    b.sync();
    const float* st = s.state;
    if (stored) {
      if (i < start) {
        start = i / chunk * chunk;
        const std::int64_t from = start;
        b.for_each(n, [&](std::int64_t idx) {
          float x = s.checkpoints[(i / chunk) * n + idx];
          for (std::int64_t j = from; j <= i; ++j) {
            x = linear_state_add(x, k, v, j, idx, d);
            s.chunk_states[(j - from) * n + idx] = x;
          }
        });
        b.sync();
      }
      st = s.chunk_states + (i - start) * n;
    }
    const float* S = st;
    const float* P = st + M;
    const float* qi = q + i * M;
    b.for_each(E, [&](std::int64_t c) {
      const float R = linear_renormalizer(qi, S, d);
      const float gc = g[i * E + c];
      s.dW[c] = gc / R;
      s.t[c] = gc * (linear_numerator(qi, P, c, d) / R);
      if (c == 0) s.R[0] = R;
    });
    b.sync();
    b.for_each(M, [&](std::int64_t f) {
      const float R = s.R[0];
      float go = 0.0f;
      for (std::int64_t c = 0; c < E; ++c) go = go + s.t[c];
      const float dR = 0.0f - go / R;
      const float St = lr ? S[f] + d.eps : S[f];
      float a = 0.0f;
      for (std::int64_t c = 0; c < E; ++c) a = a + P[f * E + c] * s.dW[c];
      dq[i * M + f] = a + dR * St;
      const float qf = qi[f];
      s.D[f] = s.D[f] + dR * qf;
      for (std::int64_t c = 0; c < E; ++c) s.C[f * E + c] = s.C[f * E + c] + qf * s.dW[c];
      if (d.causal) {
        float kd = 0.0f;
        for (std::int64_t c = 0; c < E; ++c) kd = kd + v[i * E + c] * s.C[f * E + c];
        dk[i * M + f] = kd + s.D[f];
      }
    });
    b.sync();
    if (d.causal) {
      b.for_each(E, [&](std::int64_t c) {
        float a = 0.0f;
        for (std::int64_t f = 0; f < M; ++f) a = a + k[i * M + f] * s.C[f * E + c];
        dv[i * E + c] = a;
      });
      if (subtraction) b.for_each(n, [&](std::int64_t idx) { s.state[idx] = linear_state_sub(s.state[idx], k, v, i, idx, d); });
    }
  }
  if (d.causal) return;
  b.sync();
  b.for_each(d.L * M, [&](std::int64_t jf) {
    const std::int64_t j = jf / M, f = jf - j * M;
    float a = 0.0f;
    for (std::int64_t c = 0; c < E; ++c) a = a + v[j * E + c] * s.C[f * E + c];
    dk[jf] = a + s.D[f];
  });
  b.for_each(d.L * E, [&](std::int64_t jc) {
    const std::int64_t j = jc / E, c = jc - j * E;
    float a = 0.0f;
    for (std::int64_t f = 0; f < M; ++f) a = a + k[j * M + f] * s.C[f * E + c];
    dv[jc] = a;
  });
}

}  // namespace touchstone::performer::cuda
