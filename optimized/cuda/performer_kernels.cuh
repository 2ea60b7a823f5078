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

#include <cmath>
#include <cstdint>

#include "common/elementary.hpp"
#include "touchstone/reference/performer_problem.hpp"

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

// ---- Exact softmax attention ([PERF-SOFTMAX-CPU], [PERF-SOFTMAX-VJP-CPU]) ----

TOUCHSTONE_HD float max_f(float a, float b) { return a < b ? b : a; }  // the order's max

// cpu-f32's placement (order::SoftmaxPlacement{}): q~ = fl(c q), k~ = fl(c k) with c = fl(d^-1/4),
// out = fl(num / den).
struct SoftmaxDims {
  std::int64_t L, D, E;  // positions, dim, value width
  bool causal;
  float c;  // fl(d^-1/4)
};

// s_ij = sequential sum_t fl(fl(c q_it) fl(c k_jt)): the logit of query i and key j.
TOUCHSTONE_HD float softmax_logit(const float* q, const float* k, std::int64_t i, std::int64_t j, const SoftmaxDims& d) {
  float s = 0.0f;
  for (std::int64_t t = 0; t < d.D; ++t) s = s + (d.c * q[i * d.D + t]) * (d.c * k[j * d.D + t]);
  return s;
}

// Row i's weights (softmax_row_weights) into e[0 .. count): index j: s_j; index 0: m = the running
// max of s_0 .. s_count-1 into *m; index j: e_j = exp(s_j - m). The caller syncs after.
template <class Block>
TOUCHSTONE_HD void softmax_row_weights(Block& b, const float* q, const float* k, std::int64_t i, std::int64_t count,
                                       const SoftmaxDims& d, float* e, float* m) {
  b.for_each(count, [&](std::int64_t j) { e[j] = softmax_logit(q, k, i, j, d); });
  b.sync();
  b.for_each(1, [&](std::int64_t) {
    float x = e[0];
    for (std::int64_t j = 1; j < count; ++j) x = max_f(x, e[j]);
    *m = x;
  });
  b.sync();
  b.for_each(count, [&](std::int64_t j) { e[j] = touchstone::elementary::exp_f32(e[j] - *m); });
}

// den = sequential sum_j e_j, and num_c = sequential sum_j fl(e_j v_jc) (softmax_row_outputs).
TOUCHSTONE_HD float softmax_den(const float* e, std::int64_t count) {
  float den = 0.0f;
  for (std::int64_t j = 0; j < count; ++j) den = den + e[j];
  return den;
}
TOUCHSTONE_HD float softmax_num(const float* e, const float* v, std::int64_t count, std::int64_t c,
                                const SoftmaxDims& d) {
  float num = 0.0f;
  for (std::int64_t j = 0; j < count; ++j) num = num + e[j] * v[j * d.E + c];
  return num;
}

// [PERF-CUDA] One (batch, head) of softmax attention ([PERF-SOFTMAX-CPU]); q, k (L, D), v, out (L,
// E) are the head's; e is scratch of L + 1 floats (a row's logits, then weights; [L] the row max).
// For i = 0 .. L-1 (count = i + 1 causal, L otherwise): softmax_row_weights, then index c: den
// (every c the same value), num_c, out_ic = num_c / den. O(L) scratch per head: no L x L matrix.
template <class Block>
TOUCHSTONE_HD void softmax_attention_head(Block& b, const float* q, const float* k, const float* v, const SoftmaxDims& d,
                                          float* e, float* out) {
  for (std::int64_t i = 0; i < d.L; ++i) {
    const std::int64_t count = d.causal ? i + 1 : d.L;
    b.sync();
    softmax_row_weights(b, q, k, i, count, d, e, e + d.L);
    b.sync();
    b.for_each(d.E, [&](std::int64_t c) { out[i * d.E + c] = softmax_num(e, v, count, c, d) / softmax_den(e, count); });
  }
}

// The backward pass's scratch for one (batch, head): L + E + 2 + L floats.
struct SoftmaxVjpScratch {
  float* e;    // L + 1: a row's logits, weights, then p_j = e_j / den; [L] the row max
  float* ds;   // L: the row's ds_j
  float* out;  // E: the row's out_c = num_c / den
  float* den;  // 1
};

// [PERF-CUDA] One (batch, head) of the VJP of softmax attention ([PERF-SOFTMAX-VJP-CPU]); q, k, dq,
// dk (L, D), v, g, dv (L, E) are the head's. dk and dv hold the running sums over rows (from 0);
// index (j, t), (j, c) finally scale dk by c. For i = 0 .. L-1:
//   softmax_row_weights; index c: den (every c the same; c = 0 keeps it), out_c = num_c / den;
//   index j: p_j = e_j / den, D = sequential sum_c fl(g_ic out_c), dp = sequential sum_c
//     fl(g_ic v_jc), dv_jc += fl(p_j g_ic) (c in order), ds_j = fl(p_j fl(dp - D)),
//     dk_jt += fl(ds_j fl(c q_it)) (t in order);
//   index t: dq_it = fl(c sequential sum_j fl(ds_j fl(c k_jt))).
// Each dk_j, dv_j element is owned by index j of every row, so its sum runs over rows in order.
template <class Block>
TOUCHSTONE_HD void softmax_attention_vjp_head(Block& b, const float* q, const float* k, const float* v, const float* g,
                                              const SoftmaxDims& d, const SoftmaxVjpScratch& s, float* dq, float* dk,
                                              float* dv) {
  const std::int64_t L = d.L, D = d.D, E = d.E;
  b.for_each(L * D, [&](std::int64_t jt) { dk[jt] = 0.0f; });
  b.for_each(L * E, [&](std::int64_t jc) { dv[jc] = 0.0f; });
  for (std::int64_t i = 0; i < L; ++i) {
    const std::int64_t count = d.causal ? i + 1 : L;
    b.sync();
    softmax_row_weights(b, q, k, i, count, d, s.e, s.e + L);
    b.sync();
    b.for_each(E, [&](std::int64_t c) {
      const float den = softmax_den(s.e, count);
      s.out[c] = softmax_num(s.e, v, count, c, d) / den;
      if (c == 0) s.den[0] = den;
    });
    b.sync();
    b.for_each(count, [&](std::int64_t j) {
      const float p = s.e[j] / s.den[0];
      float Di = 0.0f, dp = 0.0f;
      for (std::int64_t c = 0; c < E; ++c) Di = Di + g[i * E + c] * s.out[c];
      for (std::int64_t c = 0; c < E; ++c) {
        dp = dp + g[i * E + c] * v[j * E + c];
        dv[j * E + c] = dv[j * E + c] + p * g[i * E + c];
      }
      const float ds = p * (dp - Di);
      s.ds[j] = ds;
      for (std::int64_t t = 0; t < D; ++t) dk[j * D + t] = dk[j * D + t] + ds * (d.c * q[i * D + t]);
    });
    b.sync();
    b.for_each(D, [&](std::int64_t t) {
      float a = 0.0f;
      for (std::int64_t j = 0; j < count; ++j) a = a + s.ds[j] * (d.c * k[j * D + t]);
      dq[i * D + t] = d.c * a;
    });
  }
  b.sync();
  b.for_each(L * D, [&](std::int64_t jt) { dk[jt] = d.c * dk[jt]; });
}

// ---- Random-feature maps ([PERF-FEATURES-CPU], [PERF-HYPERBOLIC-CPU], [PERF-TRIG-CPU]) ----

// Map codes, as performer::FeatureMap: 0 positive, 1 hyperbolic, 2 trigonometric.
inline constexpr int kMapPositive = 0, kMapHyperbolic = 1, kMapTrig = 2;

struct FeatureDims {
  std::int64_t L, D, M;  // positions, dim, nb_features
  int map;
  bool is_query;
  // The order's constants as cpu-f32 rounds them: fl(d^-1/4), fl(d^-1/2), fl(W^-1/2) (W the
  // exponents a row: m, 2m for the hyperbolic map; m for the trigonometric one), fl(eps).
  float c, c2, ratio, eps;
};

// Scratch of one (batch, head): u (L, M), diag (L), shift (L: the query shifts; [0] the key
// shift or the trigonometric top), G (L, W): the VJP's per-feature terms.
struct FeatureScratch {
  float* u;
  float* diag;
  float* shift;
  float* G;
};


// cos and sin as cpu-f32 computes them: the binary64 function of the float argument, rounded to
// float. On the host glibc's; on the device CUDA's, which the CUDA Programming Guide gives within
// 2 ulps of binary64 (glibc's: assumed within 1) - so the results may differ in the last bit, and
// both are within kSinCosF32Ulps = 0.50001 ulps of float32 (0.5 + 2^-28).
TOUCHSTONE_HD float cos_f32(float u) {
#if defined(__CUDA_ARCH__)
  return static_cast<float>(::cos(static_cast<double>(u)));
#else
  return static_cast<float>(std::cos(static_cast<double>(u)));
#endif
}
TOUCHSTONE_HD float sin_f32(float u) {
#if defined(__CUDA_ARCH__)
  return static_cast<float>(::sin(static_cast<double>(u)));
#else
  return static_cast<float>(std::sin(static_cast<double>(u)));
#endif
}

// diag_i = fl(sequential sum_t fl(c x_it)^2) * 0.5.
TOUCHSTONE_HD float feature_diag(const float* x, std::int64_t i, const FeatureDims& d) {
  float sq = 0.0f;
  for (std::int64_t t = 0; t < d.D; ++t) {
    const float xs = d.c * x[i * d.D + t];
    sq = sq + xs * xs;
  }
  return sq * 0.5f;
}
// u_ij = sequential sum_t fl(c x_it) w_jt.
TOUCHSTONE_HD float feature_projection(const float* x, const float* w, std::int64_t i, std::int64_t j,
                                       const FeatureDims& d) {
  float u = 0.0f;
  for (std::int64_t t = 0; t < d.D; ++t) u = u + (d.c * x[i * d.D + t]) * w[j * d.D + t];
  return u;
}
// The exponent's projection: u_ij, or -u_i,j-M for the hyperbolic map's last M (exact).
TOUCHSTONE_HD float signed_projection(const float* u, std::int64_t i, std::int64_t j, const FeatureDims& d) {
  return j < d.M ? u[i * d.M + j] : -u[i * d.M + j - d.M];
}

// The projections and shifts of one head (favor_plus_exponents, trig_features_head's top):
//   index i: diag_i; index (i, j): u_ij; | query: index i: the running max of row i's W
//   exponents' projections; key: index 0: the running max over the head in row-major order;
//   trigonometric: index 0: top = the running max of diag.
template <class Block>
TOUCHSTONE_HD void feature_shifts(Block& b, const float* x, const float* w, const FeatureDims& d,
                                  const FeatureScratch& s) {
  const std::int64_t W = d.map == kMapHyperbolic ? 2 * d.M : d.M;
  b.for_each(d.L, [&](std::int64_t i) { s.diag[i] = feature_diag(x, i, d); });
  b.for_each(d.L * d.M, [&](std::int64_t ij) {
    const std::int64_t i = ij / d.M, j = ij - i * d.M;
    s.u[ij] = feature_projection(x, w, i, j, d);
  });
  b.sync();
  if (d.map == kMapTrig) {
    b.for_each(1, [&](std::int64_t) {
      float top = s.diag[0];
      for (std::int64_t i = 0; i < d.L; ++i) top = max_f(top, s.diag[i]);
      s.shift[0] = top;
    });
  } else if (d.is_query) {
    b.for_each(d.L, [&](std::int64_t i) {
      float m = signed_projection(s.u, i, 0, d);
      for (std::int64_t j = 1; j < W; ++j) m = max_f(m, signed_projection(s.u, i, j, d));
      s.shift[i] = m;
    });
  } else {
    b.for_each(1, [&](std::int64_t) {
      float m = signed_projection(s.u, 0, 0, d);
      for (std::int64_t i = 0; i < d.L; ++i)
        for (std::int64_t j = 0; j < W; ++j) m = max_f(m, signed_projection(s.u, i, j, d));
      s.shift[0] = m;
    });
  }
  b.sync();
}

// a_ij = fl(fl(su_ij - diag_i) - shift).
TOUCHSTONE_HD float feature_exponent(const FeatureScratch& s, std::int64_t i, std::int64_t j, const FeatureDims& d) {
  return (signed_projection(s.u, i, j, d) - s.diag[i]) - s.shift[d.is_query ? i : 0];
}

// [PERF-CUDA] One (batch, head) of the positive, hyperbolic or trigonometric features; x (L, D),
// w (M, D), out (L, W or 2M). After feature_shifts, index (i, j): positive and hyperbolic
// phi = fl(ratio fl(exp(a_ij) + eps)); trigonometric (index (i, j < M)) s_i = exp(diag_i - top),
// phi_ij = fl(fl(cos u ratio) s_i), phi_i,M+j the same with sin.
template <class Block>
TOUCHSTONE_HD void features_head(Block& b, const float* x, const float* w, const FeatureDims& d,
                                 const FeatureScratch& s, float* out) {
  feature_shifts(b, x, w, d, s);
  if (d.map == kMapTrig) {
    b.for_each(d.L * d.M, [&](std::int64_t ij) {
      const std::int64_t i = ij / d.M, j = ij - i * d.M;
      const float si = touchstone::elementary::exp_f32(s.diag[i] - s.shift[0]), u = s.u[ij];
      out[i * 2 * d.M + j] = (cos_f32(u) * d.ratio) * si;
      out[i * 2 * d.M + d.M + j] = (sin_f32(u) * d.ratio) * si;
    });
    return;
  }
  const std::int64_t W = d.map == kMapHyperbolic ? 2 * d.M : d.M;
  b.for_each(d.L * W, [&](std::int64_t ij) {
    const std::int64_t i = ij / W, j = ij - i * W;
    out[ij] = d.ratio * (touchstone::elementary::exp_f32(feature_exponent(s, i, j, d)) + d.eps);
  });
}

// [PERF-CUDA] One (batch, head) of the features' VJP ([PERF-FEATURES-VJP-CPU],
// [PERF-TRIG-VJP-CPU]); g (L, W or 2M), dx (L, D). After feature_shifts:
//   positive, hyperbolic: index (i, j): G_ij = fl(fl(g_ij ratio) exp(a_ij)); then index (i, t):
//     S1 = sum_j (+-G_ij) w_jt and S2 = sum_j G_ij in j order, dx = fl(fl(c S1) - fl(c2 fl(x S2)));
//   trigonometric: index (i, j < M): A_ij = fl(fl(gs cos u) - fl(gc sin u)),
//     B_ij = fl(fl(gc cos u) + fl(gs sin u)); then index (i, t): rs = fl(ratio exp(diag_i - top)),
//     S1 = sum_j A_ij w_jt, S2 = sum_j B_ij, dx = fl(fl(c fl(rs S1)) + fl(c2 fl(x fl(rs S2)))).
template <class Block>
TOUCHSTONE_HD void features_vjp_head(Block& b, const float* x, const float* w, const float* g, const FeatureDims& d,
                                     const FeatureScratch& s, float* dx) {
  feature_shifts(b, x, w, d, s);
  const std::int64_t M = d.M, D = d.D, W = d.map == kMapPositive ? M : 2 * M;
  if (d.map == kMapTrig) {
    b.for_each(d.L * M, [&](std::int64_t ij) {
      const std::int64_t i = ij / M, j = ij - i * M;
      const float u = s.u[ij], cu = cos_f32(u), su = sin_f32(u);
      const float gc = g[i * W + j], gs = g[i * W + M + j];
      s.G[i * W + j] = gs * cu - gc * su;
      s.G[i * W + M + j] = gc * cu + gs * su;
    });
    b.sync();
    b.for_each(d.L * D, [&](std::int64_t it) {
      const std::int64_t i = it / D, t = it - i * D;
      const float rs = d.ratio * touchstone::elementary::exp_f32(s.diag[i] - s.shift[0]);
      float s1 = 0.0f, s2 = 0.0f;
      for (std::int64_t j = 0; j < M; ++j) {
        s2 = s2 + s.G[i * W + M + j];
        s1 = s1 + s.G[i * W + j] * w[j * D + t];
      }
      dx[it] = d.c * (rs * s1) + d.c2 * (x[it] * (rs * s2));
    });
    return;
  }
  b.for_each(d.L * W, [&](std::int64_t ij) {
    const std::int64_t i = ij / W, j = ij - i * W;
    s.G[ij] = (g[ij] * d.ratio) * touchstone::elementary::exp_f32(feature_exponent(s, i, j, d));
  });
  b.sync();
  b.for_each(d.L * D, [&](std::int64_t it) {
    const std::int64_t i = it / D, t = it - i * D;
    float s1 = 0.0f, s2 = 0.0f;
    for (std::int64_t j = 0; j < W; ++j) {
      const float G = s.G[i * W + j];
      s2 = s2 + G;
      s1 = s1 + (j < M ? G : -G) * w[(j < M ? j : j - M) * D + t];
    }
    dx[it] = d.c * s1 - d.c2 * (x[it] * s2);
  });
}

// ---- Generalized kernel features ([PERF-GENERALIZED-CPU], [PERF-GENERALIZED-VJP-CPU]) ----

// Kernel codes, as performer::Kernel.
inline constexpr int kKernelRelu = 0, kKernelElu1 = 1, kKernelAbs = 2, kKernelSqr = 3, kKernelExp = 4,
                     kKernelIdentity = 5;

struct GeneralizedDims {
  std::int64_t L, D, M;  // positions, dim, features (M = D without a projection)
  bool projected;
  int kernel;
  float c, eps;  // fl(d^-1/4) (1 without normalize_data), fl(kernel_eps)
};

// cpu-f32's kernel(f, t) and kernel_derivative(f, t) (cpu/performer_arithmetic.hpp).
TOUCHSTONE_HD float kernel_f(int f, float t) {
  switch (f) {
    case kKernelRelu: return t > 0.0f ? t : 0.0f;
    case kKernelElu1: return t > 0.0f ? t + 1.0f : touchstone::elementary::exp_f32(t);
    case kKernelAbs: return touchstone::elementary::float_of(touchstone::elementary::bits_of(t) & 0x7fffffffu);
    case kKernelSqr: return t * t;
    case kKernelExp: return touchstone::elementary::exp_f32(t);
    default: return t;
  }
}
TOUCHSTONE_HD float kernel_derivative_f(int f, float t) {
  switch (f) {
    case kKernelRelu: return t > 0.0f ? 1.0f : 0.0f;
    case kKernelElu1: return t > 0.0f ? 1.0f : touchstone::elementary::exp_f32(t);
    case kKernelAbs: return t > 0.0f ? 1.0f : (t < 0.0f ? -1.0f : 0.0f);
    case kKernelSqr: return t + t;
    case kKernelExp: return touchstone::elementary::exp_f32(t);
    default: return 1.0f;
  }
}

// t_ij: the sequential dot w_j . fl(c x_i), or fl(c x_ij) without a projection.
TOUCHSTONE_HD float generalized_argument(const float* x, const float* w, std::int64_t i, std::int64_t j,
                                         const GeneralizedDims& d) {
  if (!d.projected) return d.c * x[i * d.D + j];
  float t = 0.0f;
  for (std::int64_t s = 0; s < d.D; ++s) t = t + (d.c * x[i * d.D + s]) * w[j * d.D + s];
  return t;
}

// [PERF-CUDA] One (batch, head) of the generalized features: index (i, j): fl(f(t_ij) + eps).
template <class Block>
TOUCHSTONE_HD void generalized_head(Block& b, const float* x, const float* w, const GeneralizedDims& d, float* out) {
  b.for_each(d.L * d.M, [&](std::int64_t ij) {
    const std::int64_t i = ij / d.M, j = ij - i * d.M;
    out[ij] = kernel_f(d.kernel, generalized_argument(x, w, i, j, d)) + d.eps;
  });
}

// [PERF-CUDA] One (batch, head) of their VJP: without a projection index (i, j):
// dx = fl(c fl(g_ij f'(t_ij))); with one, index (i, j): G_ij = fl(g_ij f'(t_ij)) into scratch G
// (L, M), then index (i, t): dx = fl(c sum_j G_ij w_jt) in j order.
template <class Block>
TOUCHSTONE_HD void generalized_vjp_head(Block& b, const float* x, const float* w, const float* g,
                                        const GeneralizedDims& d, float* G, float* dx) {
  if (!d.projected) {
    b.for_each(d.L * d.M, [&](std::int64_t ij) {
      const std::int64_t i = ij / d.M, j = ij - i * d.M;
      dx[ij] = d.c * (g[ij] * kernel_derivative_f(d.kernel, generalized_argument(x, w, i, j, d)));
    });
    return;
  }
  b.for_each(d.L * d.M, [&](std::int64_t ij) {
    const std::int64_t i = ij / d.M, j = ij - i * d.M;
    G[ij] = g[ij] * kernel_derivative_f(d.kernel, generalized_argument(x, w, i, j, d));
  });
  b.sync();
  b.for_each(d.L * d.D, [&](std::int64_t it) {
    const std::int64_t i = it / d.D, t = it - i * d.D;
    float a = 0.0f;
    for (std::int64_t j = 0; j < d.M; ++j) a = a + G[i * d.M + j] * w[j * d.D + t];
    dx[it] = d.c * a;
  });
}

// ---- Host: a problem's dims, with the order's constants rounded as cpu-f32 rounds them ----

inline LinearDims linear_dims(const LinearProblem<float>& p) {
  const auto& in = p.in();
  return {p.seqlen(), p.features(), p.dim_v(), in.causal, static_cast<int>(in.guard), static_cast<float>(in.guard_eps)};
}

inline SoftmaxDims softmax_dims(const AttentionProblem<float>& p) {
  return {p.seqlen(), p.dim(), p.dim_v(), p.causal(),
          static_cast<float>(1 / std::sqrt(std::sqrt(static_cast<double>(p.dim()))))};
}

inline FeatureDims feature_dims(const FeatureProblem<float>& p) {
  const auto& in = p.in();
  const Index M = p.features(), W = in.map == FeatureMap::hyperbolic ? 2 * M : M;
  const double d = static_cast<double>(p.dim());
  return {p.seqlen(),
          p.dim(),
          M,
          static_cast<int>(in.map),
          in.is_query,
          static_cast<float>(1 / std::sqrt(std::sqrt(d))),
          static_cast<float>(1 / std::sqrt(d)),
          static_cast<float>(1 / std::sqrt(static_cast<double>(W))),
          static_cast<float>(in.eps)};
}

inline GeneralizedDims generalized_dims(const GeneralizedFeatureProblem<float>& p) {
  const auto& in = p.in();
  return {p.seqlen(),
          p.dim(),
          p.features(),
          in.projection.has_value(),
          static_cast<int>(in.kernel),
          in.normalize_data ? static_cast<float>(1 / std::sqrt(std::sqrt(static_cast<double>(p.dim())))) : 1.0f,
          static_cast<float>(in.kernel_eps)};
}

static_assert(kGuardNone == static_cast<int>(Guard::none) && kGuardGr == static_cast<int>(Guard::gr) &&
              kGuardLr == static_cast<int>(Guard::lr));
static_assert(kMapPositive == static_cast<int>(FeatureMap::positive) &&
              kMapHyperbolic == static_cast<int>(FeatureMap::hyperbolic) && kMapTrig == static_cast<int>(FeatureMap::trig));
static_assert(kKernelRelu == static_cast<int>(Kernel::relu) && kKernelElu1 == static_cast<int>(Kernel::elu1) &&
              kKernelAbs == static_cast<int>(Kernel::abs) && kKernelSqr == static_cast<int>(Kernel::sqr) &&
              kKernelExp == static_cast<int>(Kernel::exp) && kKernelIdentity == static_cast<int>(Kernel::identity));

}  // namespace touchstone::performer::cuda
