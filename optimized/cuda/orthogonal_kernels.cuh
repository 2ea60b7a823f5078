// The orthogonal family's cuda-f32 bodies (spec/orthogonal.md [ORTH-CUDA]; the host API and the
// decomposition are documented in orthogonal.hpp): __host__ __device__ functions that the kernels
// of orthogonal.cu run once per thread and that the host emulation (tests/orthogonal/
// cuda_emulation.hpp, cuda_emulation_test.cpp) runs on the CPU. Plain C++ when not compiled by nvcc.
//
// Every body follows the operation sequence of order/orthogonal_order.hpp exactly as cpu-f32 runs
// it (cpu_common::NativeArithmetic<float>: a sum starts from +0 and adds its terms in index order,
// x - p is accumulated as x + (-p), S's halved diagonal is the doubling t + t), each operation one
// IEEE round-to-nearest float32 rounding: on the device by the _rn intrinsics (so neither -fmad
// nor -prec-div/-prec-sqrt can change a bit), on the host by plain operators (-ffp-contract=off).
// So a thread's result has cpu-f32's bits.
#pragma once

#include <cmath>
#include <cstdint>

#include "common/elementary.hpp"

namespace touchstone::orthogonal::cuda {

using i64 = std::int64_t;

// One IEEE float32 rounding each, round to nearest even.
TOUCHSTONE_HD float add_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
TOUCHSTONE_HD float sub_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}
TOUCHSTONE_HD float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
TOUCHSTONE_HD float div_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}
TOUCHSTONE_HD float sqrt_rn(float a) {
#if defined(__CUDA_ARCH__)
  return __fsqrt_rn(a);
#else
  return std::sqrt(a);
#endif
}

// ---- CWY's factors ([ORTH-CWY-CPU], order::cwy_factors) ----

// Thread i < L: norm_i = fl(sqrt(v_i . v_i)) (k order) and u_ik = fl(v_ik / norm_i). v, u (L, N).
TOUCHSTONE_HD void cwy_normalize_row(const float* v, i64 N, i64 i, float* u, float* norm) {
  const float* vi = v + i * N;
  float vv = 0.0f;
  for (i64 k = 0; k < N; ++k) vv = add_rn(vv, mul_rn(vi[k], vi[k]));
  const float n = sqrt_rn(vv);
  norm[i] = n;
  for (i64 k = 0; k < N; ++k) u[i * N + k] = div_rn(vi[k], n);
}

// Thread e = i L + j: the strict upper triangle of S, s_ij = u_i . u_j (k order) for i < j; 0 below
// and on the diagonal (never read: the substitutions use S = I/2 + the strict upper triangle).
TOUCHSTONE_HD void cwy_gram_entry(const float* u, i64 L, i64 N, i64 i, i64 j, float* s) {
  if (j <= i) {
    s[i * L + j] = 0.0f;
    return;
  }
  float g = 0.0f;
  for (i64 k = 0; k < N; ++k) g = add_rn(g, mul_rn(u[i * N + k], u[j * N + k]));
  s[i * L + j] = g;
}

// x <- S^-1 x by back substitution (transpose: S^-T x by forward substitution), x_i at x[i stride]
// (order::solve_s_steps): x_i = 2 (x_i - s_i,i+1 x_i+1 - ... - s_iL x_L), subtracted in j order.
TOUCHSTONE_HD void solve_s(const float* s, i64 L, float* x, i64 stride, bool transpose) {
  for (i64 n = 0; n < L; ++n) {
    const i64 i = transpose ? n : L - 1 - n;
    float t = 0.0f;
    t = add_rn(t, x[i * stride]);
    if (!transpose)
      for (i64 j = i + 1; j < L; ++j) t = add_rn(t, -mul_rn(s[i * L + j], x[j * stride]));
    else
      for (i64 j = 0; j < i; ++j) t = add_rn(t, -mul_rn(s[j * L + i], x[j * stride]));
    x[i * stride] = add_rn(t, t);
  }
}

// ---- CWY / T-CWY forward ([ORTH-CWY-CPU], [ORTH-TCWY-CPU], order::cwy_columns) ----

// Thread c < C: column c of W = S^-1 U_{:, :C} (W (L, C)), w_:c = S^-1 u_:c.
TOUCHSTONE_HD void cwy_solve_column(const float* u, const float* s, i64 L, i64 N, i64 C, i64 c, float* w) {
  for (i64 i = 0; i < L; ++i) w[i * C + c] = u[i * N + c];
  solve_s(s, L, w + c, C, false);
}

// Thread e = r C + c: Q_rc = delta_rc - u_1r w_1c - ... - u_Lr w_Lc, subtracted in i order.
TOUCHSTONE_HD float cwy_entry(const float* u, const float* w, i64 L, i64 N, i64 C, i64 r, i64 c) {
  float t = 0.0f;
  t = add_rn(t, r == c ? 1.0f : 0.0f);
  for (i64 i = 0; i < L; ++i) t = add_rn(t, -mul_rn(u[i * N + r], w[i * C + c]));
  return t;
}

// ---- CWY / T-CWY VJP ([ORTH-CWY-VJP-CPU], order::cwy_vjp), G (N, C) ----

// Thread r < N: column r of X1 = S^-1 (U_{:, :C} G^T) (X1 (L, N)): x1_ir = sum_c u_ic g_rc (c order),
// then the back substitution in place.
TOUCHSTONE_HD void vjp_x1_column(const float* u, const float* s, const float* g, i64 L, i64 N, i64 C, i64 r,
                                 float* x1) {
  for (i64 i = 0; i < L; ++i) {
    float t = 0.0f;
    for (i64 c = 0; c < C; ++c) t = add_rn(t, mul_rn(u[i * N + c], g[r * C + c]));
    x1[i * N + r] = t;
  }
  solve_s(s, L, x1 + r, N, false);
}

// Thread c < C: column c of Z = U G (z_ic = sum_r u_ir g_rc, r order) and of X3 = S^-T Z (Z, X3 (L, C)).
TOUCHSTONE_HD void vjp_z_column(const float* u, const float* s, const float* g, i64 L, i64 N, i64 C, i64 c, float* z,
                                float* x3) {
  for (i64 i = 0; i < L; ++i) {
    float t = 0.0f;
    for (i64 r = 0; r < N; ++r) t = add_rn(t, mul_rn(u[i * N + r], g[r * C + c]));
    z[i * C + c] = t;
    x3[i * C + c] = t;
  }
  solve_s(s, L, x3 + c, C, true);
}

// Thread j < L: column j of T1 = S^-T (Z U_{:, :C}^T) (T1 (L, L)): k_ij = sum_c z_ic u_jc (c order).
TOUCHSTONE_HD void vjp_t1_column(const float* u, const float* s, const float* z, i64 L, i64 N, i64 C, i64 j,
                                 float* t1) {
  for (i64 i = 0; i < L; ++i) {
    float t = 0.0f;
    for (i64 c = 0; c < C; ++c) t = add_rn(t, mul_rn(z[i * C + c], u[j * N + c]));
    t1[i * L + j] = t;
  }
  solve_s(s, L, t1 + j, L, true);
}

// Thread i < L: row i of T1 <- S^-1 (row i)^T in place; afterwards P_ij = t1[i L + j] for j > i
// (the entries at j <= i are never read).
TOUCHSTONE_HD void vjp_p_row(const float* s, i64 L, i64 i, float* t1) { solve_s(s, L, t1 + i * L, 1, false); }

// Thread e = i N + k: du_ik = -x1_ik - x3_ik [k < C] + sum_{j != i} D_ij u_jk in j order, D_ij = P_ij
// (i < j) or P_ji (i > j); p is T1 after vjp_p_row.
TOUCHSTONE_HD float vjp_du_entry(const float* u, const float* x1, const float* x3, const float* p, i64 L, i64 N, i64 C,
                                 i64 i, i64 k) {
  float t = 0.0f;
  t = add_rn(t, -x1[i * N + k]);
  if (k < C) t = add_rn(t, -x3[i * C + k]);
  for (i64 j = 0; j < L; ++j)
    if (j != i) t = add_rn(t, mul_rn(j > i ? p[i * L + j] : p[j * L + i], u[j * N + k]));
  return t;
}

// Thread i < L: a_i = u_i . du_i (k order).
TOUCHSTONE_HD float vjp_projection(const float* u, const float* du, i64 N, i64 i) {
  float a = 0.0f;
  for (i64 k = 0; k < N; ++k) a = add_rn(a, mul_rn(u[i * N + k], du[i * N + k]));
  return a;
}

// Thread e = i N + k: dv_ik = fl(fl(du_ik - fl(u_ik a_i)) / norm_i).
TOUCHSTONE_HD float vjp_dv_entry(const float* u, const float* du, const float* proj, const float* norm, i64 N, i64 i,
                                 i64 k) {
  return div_rn(sub_rn(du[i * N + k], mul_rn(u[i * N + k], proj[i])), norm[i]);
}

// ---- The matching step ([ORTH-MATCH-CPU], order::matching_rotate), X, G (N, M) ----

// Thread q < the number of pairs, pair (i, j) = (pairs[2q], pairs[2q + 1]): a = x_:i . g_:j,
// b = g_:i . x_:j (k order), theta = -fl(scale fl(fl(a - b) / 2)) with scale = fl(eta R).
TOUCHSTONE_HD float matching_theta(const float* x, const float* g, const i64* pairs, i64 N, i64 M, float scale, i64 q) {
  const i64 i = pairs[2 * q], j = pairs[2 * q + 1];
  float a = 0.0f, b = 0.0f;
  for (i64 k = 0; k < N; ++k) a = add_rn(a, mul_rn(x[k * M + i], g[k * M + j]));
  for (i64 k = 0; k < N; ++k) b = add_rn(b, mul_rn(g[k * M + i], x[k * M + j]));
  return -mul_rn(scale, mul_rn(0.5f, sub_rn(a, b)));
}

// Thread e = r P + q (P pairs): the rotation of row r's pair q in place, from the old values:
// x_ri = fl(fl(c x_ri) - fl(s x_rj)), x_rj = fl(fl(s x_ri) + fl(c x_rj)). The pairs are disjoint, so
// no two threads touch the same element.
TOUCHSTONE_HD void matching_rotate_pair(float* x, const i64* pairs, const float* cs, const float* sn, i64 M, i64 r,
                                        i64 q) {
  const i64 i = pairs[2 * q], j = pairs[2 * q + 1];
  const float co = cs[q], si = sn[q];
  const float xi = x[r * M + i], xj = x[r * M + j];
  x[r * M + i] = sub_rn(mul_rn(co, xi), mul_rn(si, xj));
  x[r * M + j] = add_rn(mul_rn(si, xi), mul_rn(co, xj));
}

// Host functions (not __device__: orthogonal.cu's host code and the emulation call them): scale = fl(eta R) and each pair's cos and
// sin as cpu-f32 takes them, glibc's binary64 functions rounded to float32 ([ORTH-MATCH-CPU]).
inline float matching_scale(float eta, i64 rounds) { return eta * static_cast<float>(rounds); }
inline void matching_cos_sin(float theta, float* c, float* s) {
  *c = static_cast<float>(std::cos(static_cast<double>(theta)));
  *s = static_cast<float>(std::sin(static_cast<double>(theta)));
}

}  // namespace touchstone::orthogonal::cuda
