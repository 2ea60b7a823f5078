// [ORTH-CWY-FAST] CWY, T-CWY and the CWY apply on the CPU, blocked and vectorized, with every
// output element's rounding sequence that of order/orthogonal_order.hpp (cwy_factors, solve_s,
// cwy_columns, cwy_apply): each sum starts from +0 and adds its terms in the order's index order,
// one rounding per product and per addition (no FMA: -ffp-contract=off), so the results are bit
// identical to the order header's run on T (namespace generic) and the order's bound covers them.
// What changes is only which elements are computed together: vectors of consecutive columns
// (GCC's vector extensions, 32 or 64 bytes) and register tiles of rows, independent tiles on threads
// (parallel_for, [CORE-THREADS]: each tile writes its own outputs, so the thread count changes
// nothing).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "orthogonal.hpp"
#include "touchstone/core/parallel.hpp"

namespace touchstone::orthogonal::cpu {
namespace {

// 64-byte vectors where the target has AVX-512 (32 vector registers), else 32 bytes. On this
// machine (AMD EPYC with AVX-512) 64 bytes formed Q at N = L = 1024 in 0.32 s against 0.42 s with
// 32 (one thread, loaded machine). The lanes' arithmetic is the same either way.
#if defined(__AVX512F__)
constexpr int kVectorBytes = 64;
#else
constexpr int kVectorBytes = 32;
#endif
template <class T>
struct Vec {
  static constexpr int kLanes = kVectorBytes / static_cast<int>(sizeof(T));
  typedef T type __attribute__((vector_size(kVectorBytes)));
};

template <class T>
typename Vec<T>::type load(const T* p) {
  typename Vec<T>::type v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class T>
void store(T* p, typename Vec<T>::type v) {
  std::memcpy(p, &v, sizeof v);
}

// Two vectors of columns per row: a register tile of R x 2 vectors.
constexpr int kTileVectors = 2;
constexpr int kTileRows = 6;

// out(r, c) for r in [0, R), c in [0, width): acc = +0 + init(r, c), then for k in [0, K) in order
// acc = acc + a(r, k) b(k, c) (Sub: acc = acc - a(r, k) b(k, c), which IEEE defines as
// acc + (-(a b))). a(r, k) = a[r * lda + k], b(k, c) = b[k * ldb + c]. Full tiles of R rows by
// kTileVectors vectors; columns past the last full tile by the same loop on scalars.
template <class T, bool Sub, int R, class Init, class Out>
void tile(const T* a, std::int64_t lda, const T* b, std::int64_t ldb, std::int64_t K, std::int64_t width, Init init,
          Out out) {
  using VT = typename Vec<T>::type;
  constexpr int W = Vec<T>::kLanes;
  std::int64_t c = 0;
  for (; c + kTileVectors * W <= width; c += kTileVectors * W) {
    VT acc[R][kTileVectors];
    for (int r = 0; r < R; ++r)
      for (int q = 0; q < kTileVectors; ++q) {
        VT v;
        for (int l = 0; l < W; ++l) v[l] = T(0) + init(r, c + q * W + l);
        acc[r][q] = v;
      }
    for (std::int64_t k = 0; k < K; ++k) {
      VT bv[kTileVectors];
      for (int q = 0; q < kTileVectors; ++q) bv[q] = load(b + k * ldb + c + q * W);
      for (int r = 0; r < R; ++r) {
        const T av = a[r * lda + k];  // scalar op vector: broadcast
        for (int q = 0; q < kTileVectors; ++q) {
          if constexpr (Sub) acc[r][q] = acc[r][q] - av * bv[q];
          else acc[r][q] = acc[r][q] + av * bv[q];
        }
      }
    }
    for (int r = 0; r < R; ++r)
      for (int q = 0; q < kTileVectors; ++q)
        for (int l = 0; l < W; ++l) out(r, c + q * W + l, acc[r][q][l]);
  }
  for (; c < width; ++c)
    for (int r = 0; r < R; ++r) {
      T acc = T(0) + init(r, c);
      for (std::int64_t k = 0; k < K; ++k) {
        if constexpr (Sub) acc = acc - a[r * lda + k] * b[k * ldb + c];
        else acc = acc + a[r * lda + k] * b[k * ldb + c];
      }
      out(r, c, acc);
    }
}

// tile() for any row count up to kTileRows.
template <class T, bool Sub, class Init, class Out>
void tile_rows(int rows, const T* a, std::int64_t lda, const T* b, std::int64_t ldb, std::int64_t K, std::int64_t width,
               Init init, Out out) {
  switch (rows) {
    case 1: return tile<T, Sub, 1>(a, lda, b, ldb, K, width, init, out);
    case 2: return tile<T, Sub, 2>(a, lda, b, ldb, K, width, init, out);
    case 3: return tile<T, Sub, 3>(a, lda, b, ldb, K, width, init, out);
    case 4: return tile<T, Sub, 4>(a, lda, b, ldb, K, width, init, out);
    case 5: return tile<T, Sub, 5>(a, lda, b, ldb, K, width, init, out);
    default: return tile<T, Sub, 6>(a, lda, b, ldb, K, width, init, out);
  }
}

// Columns per work item: a panel of b, copied to a contiguous K x kPanel buffer (rows of a large
// matrix a page apart would miss the TLB and collide in the cache at every k).
constexpr std::int64_t kPanel = 64;

template <class T>
void pack_panel(const T* b, std::int64_t ldb, std::int64_t K, std::int64_t c0, std::int64_t width, std::vector<T>& buf) {
  buf.resize(static_cast<std::size_t>(K * width));
  for (std::int64_t k = 0; k < K; ++k) std::copy_n(b + k * ldb + c0, width, buf.data() + k * width);
}

// out(r, c) = +0 + init(r, c) -(+) a(r, 0) b(0, c) -(+) ... a(r, K-1) b(K-1, c) for c < cols and
// the rows r in [first_row(c0), last_row(c0 + width)) of each panel [c0, c0 + width): panels on
// threads, row tiles within a panel.
template <class T, bool Sub, class Rows, class Init, class Out>
void product(std::int64_t cols, std::int64_t K, const T* a, std::int64_t lda, const T* b, std::int64_t ldb, Rows rows,
             Init init, Out out) {
  const std::int64_t panels = (cols + kPanel - 1) / kPanel;
  parallel_for(panels, 0, [&](std::int64_t p) {
    const std::int64_t c0 = p * kPanel, width = std::min(kPanel, cols - c0);
    std::vector<T> buf;
    pack_panel(b, ldb, K, c0, width, buf);
    const auto [r_begin, r_end] = rows(c0, width);
    for (std::int64_t r0 = r_begin; r0 < r_end; r0 += kTileRows) {
      const int n = static_cast<int>(std::min<std::int64_t>(kTileRows, r_end - r0));
      tile_rows<T, Sub>(
          n, a + r0 * lda, lda, buf.data(), width, K, width,
          [&init, r0, c0](int r, std::int64_t c) { return init(r0 + r, c0 + c); },
          [&out, r0, c0](int r, std::int64_t c, T x) { out(r0 + r, c0 + c, x); });
    }
  });
}

// The order's CWY factors: u (L x N row-major), its transpose ut (N x L) and S's strict upper
// triangle s (L x L row-major, zero elsewhere).
template <class T>
struct Factors {
  std::vector<T> u, ut, s;
};

template <class T>
Factors<T> factors(const Tensor<T>& v, std::int64_t L, std::int64_t N) {
  Factors<T> f;
  f.u.resize(static_cast<std::size_t>(L * N));
  f.ut.resize(static_cast<std::size_t>(N * L));
  f.s.assign(static_cast<std::size_t>(L * L), T(0));
  for (std::int64_t i = 0; i < L; ++i) {
    T vv = T(0);
    for (std::int64_t k = 0; k < N; ++k) vv = vv + v[i * N + k] * v[i * N + k];
    const T norm = std::sqrt(vv);
    for (std::int64_t k = 0; k < N; ++k) f.u[static_cast<std::size_t>(i * N + k)] = v[i * N + k] / norm;
  }
  for (std::int64_t i = 0; i < L; ++i)
    for (std::int64_t k = 0; k < N; ++k) f.ut[static_cast<std::size_t>(k * L + i)] = f.u[static_cast<std::size_t>(i * N + k)];
  // s_ij = +0 + u_i1 u_j1 + ... + u_iN u_jN for i < j: the panel of columns j in [c0, c0 + w) needs
  // the rows i < c0 + w - 1; a tile keeps the entries above the diagonal.
  T* s = f.s.data();
  product<T, false>(
      L, N, f.u.data(), N, f.ut.data(), L,
      [](std::int64_t c0, std::int64_t w) { return std::pair<std::int64_t, std::int64_t>{0, c0 + w - 1}; },
      [](std::int64_t, std::int64_t) { return T(0); },
      [s, L](std::int64_t i, std::int64_t j, T x) {
        if (j > i) s[i * L + j] = x;
      });
  return f;
}

// The order's solve_s on the columns [0, width) of x (L rows, row stride ldx), vectorized across
// columns: x_i = twice(+0 + x_i - s_i,j x_j - ... in j order) for i = L-1 .. 0 (transpose:
// x_i - s_j,i x_j for j < i, i = 0 .. L-1).
template <class T>
void solve_columns(const std::vector<T>& s, std::int64_t L, T* x, std::int64_t ldx, std::int64_t width, bool transpose) {
  using VT = typename Vec<T>::type;
  constexpr int W = Vec<T>::kLanes;
  constexpr int kSolveVectors = 4;
  auto sv = [&](std::int64_t i, std::int64_t j) { return transpose ? s[j * L + i] : s[i * L + j]; };
  std::int64_t c = 0;
  for (; c + kSolveVectors * W <= width; c += kSolveVectors * W)
    for (std::int64_t n = 0; n < L; ++n) {
      const std::int64_t i = transpose ? n : L - 1 - n;
      const std::int64_t j0 = transpose ? 0 : i + 1, j1 = transpose ? i : L;
      VT acc[kSolveVectors];
      for (int q = 0; q < kSolveVectors; ++q) acc[q] = T(0) + load(x + i * ldx + c + q * W);
      for (std::int64_t j = j0; j < j1; ++j) {
        const T a = sv(i, j);
        for (int q = 0; q < kSolveVectors; ++q) acc[q] = acc[q] - a * load(x + j * ldx + c + q * W);
      }
      for (int q = 0; q < kSolveVectors; ++q) store(x + i * ldx + c + q * W, acc[q] + acc[q]);
    }
  for (; c < width; ++c)
    for (std::int64_t n = 0; n < L; ++n) {
      const std::int64_t i = transpose ? n : L - 1 - n;
      const std::int64_t j0 = transpose ? 0 : i + 1, j1 = transpose ? i : L;
      T acc = T(0) + x[i * ldx + c];
      for (std::int64_t j = j0; j < j1; ++j) acc = acc - sv(i, j) * x[j * ldx + c];
      x[i * ldx + c] = acc + acc;
    }
}

// Solves every column of x (L x width, row stride ldx) in packed panels on threads.
template <class T>
void solve_all(const std::vector<T>& s, std::int64_t L, T* x, std::int64_t ldx, std::int64_t width, bool transpose) {
  const std::int64_t panels = (width + kPanel - 1) / kPanel;
  parallel_for(panels, 0, [&](std::int64_t p) {
    const std::int64_t c0 = p * kPanel, w = std::min(kPanel, width - c0);
    std::vector<T> buf;
    pack_panel(x, ldx, L, c0, w, buf);
    solve_columns(s, L, buf.data(), w, w, transpose);
    for (std::int64_t i = 0; i < L; ++i) std::copy_n(buf.data() + i * w, w, x + i * ldx + c0);
  });
}

template <class T>
std::pair<std::int64_t, std::int64_t> all_rows_of(std::int64_t rows) {
  return {0, rows};
}

// [ORTH-CWY-CPU] The first C columns of Q = I - U^T S^-1 U: W = S^-1 U[:, :C] (the order's solve per
// column), then Q_rc = +0 + delta_rc - u_1r w_1c - ... - u_Lr w_Lc.
template <class T>
Tensor<T> cwy_columns_fast(const ReflectorProblem<T>& p, std::int64_t C) {
  const std::int64_t L = p.L(), N = p.N();
  const Factors<T> f = factors(p.v(), L, N);
  std::vector<T> w(static_cast<std::size_t>(L * C));
  for (std::int64_t i = 0; i < L; ++i)
    std::copy_n(f.u.data() + i * N, C, w.data() + i * C);
  solve_all(f.s, L, w.data(), C, C, false);
  Tensor<T> q(Shape{N, C});
  T* qd = &q[0];
  product<T, true>(
      C, L, f.ut.data(), L, w.data(), C, [N](std::int64_t, std::int64_t) { return all_rows_of<T>(N); },
      [](std::int64_t r, std::int64_t c) { return T(r == c ? 1 : 0); },
      [qd, C](std::int64_t r, std::int64_t c, T x) { qd[r * C + c] = x; });
  return q;
}

// [ORTH-CWY-APPLY-CPU] y = h - U^T S^-1 U h for each row h: a_i = +0 + u_i1 h_1 + ... (a^T = U H^T,
// columns b), the order's solve per column b, y_bk = +0 + h_bk - s_1 u_1k - ... - s_L u_Lk.
template <class T>
Tensor<T> cwy_apply_fast(const ApplyProblem<T>& p) {
  const std::int64_t L = p.L(), N = p.N(), B = p.B();
  const Factors<T> f = factors(p.v(), L, N);
  std::vector<T> ht(static_cast<std::size_t>(N * B));
  const Tensor<T>& h = p.h();
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t k = 0; k < N; ++k) ht[static_cast<std::size_t>(k * B + b)] = h[b * N + k];
  // a^T (L x B): rows i, k over N, a(i, k) = u_ik, b(k, b) = h_bk; u_ik h_bk is the order's product
  // fl(u_ik h_k) (multiplication commutes exactly).
  std::vector<T> at(static_cast<std::size_t>(L * B));
  T* atd = at.data();
  product<T, false>(
      B, N, f.u.data(), N, ht.data(), B, [L](std::int64_t, std::int64_t) { return all_rows_of<T>(L); },
      [](std::int64_t, std::int64_t) { return T(0); }, [atd, B](std::int64_t i, std::int64_t b, T x) { atd[i * B + b] = x; });
  solve_all(f.s, L, at.data(), B, B, p.transpose());
  std::vector<T> sb(static_cast<std::size_t>(B * L));
  for (std::int64_t i = 0; i < L; ++i)
    for (std::int64_t b = 0; b < B; ++b) sb[static_cast<std::size_t>(b * L + i)] = at[static_cast<std::size_t>(i * B + b)];
  Tensor<T> y(Shape{B, N});
  T* yd = &y[0];
  product<T, true>(
      N, L, sb.data(), L, f.u.data(), N, [B](std::int64_t, std::int64_t) { return all_rows_of<T>(B); },
      [&h, N](std::int64_t b, std::int64_t k) { return h[b * N + k]; },
      [yd, N](std::int64_t b, std::int64_t k, T x) { yd[b * N + k] = x; });
  return y;
}

}  // namespace

Tensor<float> cwy(const ReflectorProblem<float>& p) { return cwy_columns_fast(p, p.N()); }
Tensor<double> cwy(const ReflectorProblem<double>& p) { return cwy_columns_fast(p, p.N()); }
Tensor<float> tcwy(const StiefelProblem<float>& p) { return cwy_columns_fast(p.reflectors(), p.M()); }
Tensor<double> tcwy(const StiefelProblem<double>& p) { return cwy_columns_fast(p.reflectors(), p.M()); }
Tensor<float> cwy_apply(const ApplyProblem<float>& p) { return cwy_apply_fast(p); }
Tensor<double> cwy_apply(const ApplyProblem<double>& p) { return cwy_apply_fast(p); }

}  // namespace touchstone::orthogonal::cpu
