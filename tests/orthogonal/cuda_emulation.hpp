// The orthogonal cuda-f32 backends run on the host (spec/orthogonal.md [ORTH-CUDA]): the kernels'
// own per-thread bodies (optimized/cuda/orthogonal_kernels.cuh, the code orthogonal.cu's kernels
// call), every thread of each stage, the stages in orthogonal.cu's order, on buffers laid out as
// the device's. So the results are the kernels' bits in the kernels' order with no hand-kept copy
// of that order; the device test (orthogonal_cuda_test.cpp) checks the data movement that is not
// shared. Raw arrays, so NaN and Inf inputs (which the problems reject) can be fed too.
#pragma once

#include <cstdint>
#include <vector>

#include "cuda/orthogonal_kernels.cuh"
#include "touchstone/reference/orthogonal_problem.hpp"

namespace touchstone::orthogonal::testing {

using cuda::i64;
using Floats = std::vector<float>;

struct EmulatedFactors {
  Floats u, norm, s;
};

// Stages 1-2: one thread per vector, one per (i, j).
inline EmulatedFactors emulate_factors(const Floats& v, i64 L, i64 N) {
  EmulatedFactors f{Floats(static_cast<std::size_t>(L * N)), Floats(static_cast<std::size_t>(L)),
                    Floats(static_cast<std::size_t>(L * L))};
  for (i64 i = 0; i < L; ++i) cuda::cwy_normalize_row(v.data(), N, i, f.u.data(), f.norm.data());
  for (i64 e = 0; e < L * L; ++e) cuda::cwy_gram_entry(f.u.data(), L, N, e / L, e % L, f.s.data());
  return f;
}

// The first C columns of CWY's Q (N, C), row-major.
inline Floats emulate_cwy_columns(const Floats& v, i64 L, i64 N, i64 C) {
  const EmulatedFactors f = emulate_factors(v, L, N);
  Floats w(static_cast<std::size_t>(L * C)), q(static_cast<std::size_t>(N * C));
  for (i64 c = 0; c < C; ++c) cuda::cwy_solve_column(f.u.data(), f.s.data(), L, N, C, c, w.data());
  for (i64 e = 0; e < N * C; ++e) q[e] = cuda::cwy_entry(f.u.data(), w.data(), L, N, C, e / C, e % C);
  return q;
}

// dV (L, N) of the first C columns given G (N, C).
inline Floats emulate_cwy_vjp(const Floats& v, const Floats& g, i64 L, i64 N, i64 C) {
  const EmulatedFactors f = emulate_factors(v, L, N);
  const auto n = [](i64 k) { return static_cast<std::size_t>(k); };
  Floats x1(n(L * N)), z(n(L * C)), x3(n(L * C)), t1(n(L * L)), du(n(L * N)), proj(n(L)), dv(n(L * N));
  for (i64 r = 0; r < N; ++r) cuda::vjp_x1_column(f.u.data(), f.s.data(), g.data(), L, N, C, r, x1.data());
  for (i64 c = 0; c < C; ++c) cuda::vjp_z_column(f.u.data(), f.s.data(), g.data(), L, N, C, c, z.data(), x3.data());
  for (i64 j = 0; j < L; ++j) cuda::vjp_t1_column(f.u.data(), f.s.data(), z.data(), L, N, C, j, t1.data());
  for (i64 i = 0; i < L; ++i) cuda::vjp_p_row(f.s.data(), L, i, t1.data());
  for (i64 e = 0; e < L * N; ++e)
    du[n(e)] = cuda::vjp_du_entry(f.u.data(), x1.data(), x3.data(), t1.data(), L, N, C, e / N, e % N);
  for (i64 i = 0; i < L; ++i) proj[n(i)] = cuda::vjp_projection(f.u.data(), du.data(), N, i);
  for (i64 e = 0; e < L * N; ++e) dv[n(e)] = cuda::vjp_dv_entry(f.u.data(), du.data(), proj.data(), f.norm.data(), N, e / N, e % N);
  return dv;
}

// X_next (N, M) of one matching step on round `round`.
inline Floats emulate_matching_step(Floats x, const Floats& g, i64 N, i64 M, float eta, i64 round) {
  std::vector<i64> pairs;
  for (const auto& pr : round_robin_matching(M, round)) pairs.push_back(pr.first), pairs.push_back(pr.second);
  const i64 P = static_cast<i64>(pairs.size()) / 2;
  const float scale = cuda::matching_scale(eta, matching_rounds(M));
  Floats theta(static_cast<std::size_t>(P)), cs(theta.size()), sn(theta.size());
  for (i64 q = 0; q < P; ++q) theta[q] = cuda::matching_theta(x.data(), g.data(), pairs.data(), N, M, scale, q);
  for (i64 q = 0; q < P; ++q) cuda::matching_cos_sin(theta[q], &cs[q], &sn[q]);
  for (i64 e = 0; e < N * P; ++e) cuda::matching_rotate_pair(x.data(), pairs.data(), cs.data(), sn.data(), M, e / P, e % P);
  return x;
}

}  // namespace touchstone::orthogonal::testing
