// The selective scan's backward pass on the CPU, float32 and float64, real state
// (spec/mamba.md [MAMBA-BWD-CPU]) and complex state (spec/mamba_complex.md
// [MAMBA-CSCAN-BWD-CPU]): one template on the state kind, which differs only where the state
// does (its recurrence and its adjoint, real or complex products).
//
// Memory: the backward pass walks blocks of kTimeBlock steps from last to first, recomputes the
// block's states from the state entering it (bit for bit the forward's: the same operations in
// the same order), then runs the adjoint backwards through the block. The real scan takes the
// entering states from its forward pass (SelectiveScanCheckpoints); the complex scan, whose
// forward keeps none, first runs the state recurrence alone per tile to keep them. Per work item
// it holds one block's states, never (batch, dim, dstate, seqlen).
// The recomputation calls the forward's steps (order/mamba_order.hpp) on the same lane
// arithmetic, so it is the forward's by construction.
//
// Association order, per lane (channel d of batch b), for t = L-1 down to 0, each operation
// rounded once. Real state (the bound [MAMBA-BWD-BOUND-CPU] is for exactly this order):
//   g  = z ? dout * silu(z) : dout
//   dz = (dout * v) * (s * fma(z, 1 - s, 1)),  s = sigmoid(z), v = fma(D, u, y) or y (recomputed)
//   dD_acc = fma(g, u, dD_acc);  du_skip = g * D
//   for n = 0 .. dstate-1:
//     lam    = fma(g, C[n,t], lam)                  lam enters as dlast_state, or 0
//     dC     : fma(g, h_t, dC_acc) per lane (constant C) | g * h_t, summed across channels
//     dB     : fma(lam, du, dB_acc) per lane (constant B) | lam * du, summed across channels
//     d_du   = fma(lam, B[n,t], d_du)              (du = dt * u as in the forward)
//     e      = (lam * h_{t-1}) * a                  (a = exp(dt A), recomputed)
//     dA_acc = fma(e, dt, dA_acc);  d_dt = fma(e, A[n], d_dt)
//     lam    = lam * a
//   d_dt = fma(d_du, u, d_dt);  du = fma(d_du, dt, du_skip)
//   ddelta = softplus and !(x > 20) ? d_dt * sigmoid(x) : d_dt;  dbias_acc = dbias_acc + ddelta
// and dh0 = lam at the end.
// Complex state (the bound [MAMBA-CSCAN-BWD-BOUND-CPU] is for exactly this order); dt, A_bar and
// h as mamba_complex.hpp's forward order computes them; (lr, li) is the adjoint state lambda,
// entering as dlast_state or 0; a = A_bar_t, hp = h_{t-1}, h = h_t:
//   g   = z ? dout * silu(z) : dout
//   dz  = (dout * v) * (s * fma(z, 1 - s, 1)),  s = sigmoid(z), v = D ? fma(D, u, 2y) : 2y
//   dD_acc = fma(g, u, dD_acc);  du_skip = D ? g * D : 0
//   g2  = 2 g                                                          (exact)
//   for n = 0 .. dstate-1:
//     lr = fma(g2, Re C, lr);  li = fma(-g2, Im C, li)                lambda += 2 g conj(C)
//     dC : (fma(g2, h.re, acc), fma(-g2, h.im, acc)) per lane (constant C)
//          | (g2 * h.re, -(g2 * h.im)) summed across channels (variable C)
//     dB : (fma(lr, du, acc), fma(li, du, acc)) per lane | (lr * du, li * du) across channels
//     d_du = fma(li, Im B, fma(lr, Re B, d_du))                        Re(conj(B) lambda)
//     q  = (fma(hp.re, lr, hp.im * li), fma(hp.re, li, -(hp.im * lr)))  conj(hp) lambda
//     e  = (fma(a.re, q.re, a.im * q.im), fma(a.re, q.im, -(a.im * q.re)))  conj(a) q
//     dA_acc = (fma(e.re, dt, acc), fma(e.im, dt, acc))
//     d_dt = fma(e.im, Im A, fma(e.re, Re A, d_dt))                    Re(conj(A) e)
//     (lr, li) = (fma(a.re, lr, a.im * li), fma(a.re, li, -(a.im * lr)))  conj(a) lambda
//   d_dt = fma(d_du, u, d_dt);  du = fma(d_du, dt, du_skip)
//   ddelta = softplus and !(x > 20) ? d_dt * sigmoid(x) : d_dt;  dbias_acc = dbias_acc + ddelta
// Sums across channels and batch (fixed, thread-independent order), both states:
//   variable dB[b,g,n,t], dC[b,g,n,t]: the channels of a slab (kSlabTiles consecutive tiles of
//   one group) summed in channel order, then the slabs of the group in order;
//   constant dB[d,n], dC[d,n], dA[d,n], dD[d], ddelta_bias[d]: the per-(b, d) accumulators above,
//   then summed over b in increasing order.
#include <algorithm>
#include <array>
#include <type_traits>
#include <vector>

#include "mamba.hpp"
#include "mamba_complex.hpp"
#include "mamba_lanes.hpp"
#include "touchstone/core/parallel.hpp"

namespace touchstone::mamba::cpu {
namespace {

using namespace lanes;

template <class T, class S>
using GradsOf = std::conditional_t<S::kComplex, ComplexScanGrads<T>, SelectiveScanGrads<T>>;

// The parts of a state quantity: 1 (real) or 2 (re, im), each a lane array of its own.
template <class S>
constexpr int kParts = S::kComplex ? 2 : 1;
template <class T, class S>
using PerPart = std::array<std::vector<T>, kParts<S>>;

// Element (i, j, k) of a (., ., .[, 2]) array, part c of it for the complex state.
template <class S, class X>
decltype(auto) part_at(X& x, Index i, Index j, Index k, int c) {
  if constexpr (S::kComplex) return x(i, j, k, Index{c});
  else return x(i, j, k);
}

template <class T>
struct Partials {
  // Per slab, (dstate, seqlen[, 2]) each, for variable B / C.
  std::vector<T> dB_slab, dC_slab;
  // Per (b, d): (batch, dim, dstate[, 2]) and (batch, dim).
  Tensor<T> dA, dB_const, dC_const, dD, dbias;
};

// `ck`: the real scan's checkpoints (null for the complex scan, which makes its own).
template <class T, class S, bool kVarB, bool kVarC>
void backward_tile(const ScanBackwardProblem<T, S>& q, const SelectiveScanCheckpoints<T>* ck,
                   const Tile& tile, T* dB_slab, T* dC_slab, GradsOf<T, S>& g, Partials<T>& part) {
  constexpr bool kComplex = S::kComplex;
  constexpr int P = kParts<S>;
  using M = LaneMath<T>;
  constexpr int W = M::W;
  M ar;  // the forward's arithmetic (order/mamba_order.hpp) on one lane, for the recomputation
  const ScanProblem<T, S>& p = q.forward();
  const auto& in = p.in();
  const Index L = p.seqlen(), N = p.dstate(), b = tile.b, d0 = tile.d0;
  const int nl = tile.lanes;
  const bool has_bias = in.delta_bias.has_value(), has_D = in.D.has_value(),
             has_z = in.z.has_value(), softplus = in.delta_softplus;
  const std::size_t NW = static_cast<std::size_t>(N * W);

  // Per-lane constants and accumulators per part, [n * W + lane]; padding lanes hold zeros
  // (finite values, dropped).
  auto rows = [&](const Tensor<T>& X, int c) {
    if constexpr (kComplex) return lane_rows<W>(X, tile, N, Index{c});
    else return lane_rows<W>(X, tile, N);
  };
  PerPart<T, S> A, Bc, Cc, lam, acc_dA, acc_dB, acc_dC;
  for (int c = 0; c < P; ++c) {
    A[c] = rows(in.A, c);
    if (!kVarB) Bc[c] = rows(in.B, c);
    if (!kVarC) Cc[c] = rows(in.C, c);
    lam[c].assign(NW, T(0));
    acc_dA[c].assign(NW, T(0));
    acc_dB[c].assign(NW, T(0));
    acc_dC[c].assign(NW, T(0));
    if (q.dlast_state())
      for (int l = 0; l < nl; ++l)
        for (Index n = 0; n < N; ++n) lam[c][n * W + l] = part_at<S>(*q.dlast_state(), b, d0 + l, n, c);
  }
  alignas(64) T bias[W] = {}, Dl[W] = {}, acc_dD[W] = {}, acc_dbias[W] = {};
  for (int l = 0; l < nl; ++l) {
    if (has_bias) bias[l] = (*in.delta_bias)[d0 + l];
    if (has_D) Dl[l] = (*in.D)[d0 + l];
  }
  // Variable B and C of this tile's group: element (n, t) at [n L + t], or for the complex
  // state its (re, im) at [2 (n L + t) + part].
  auto variable = [&](const Tensor<T>& X, const GroupedOperand& layout) {
    if constexpr (kComplex) return &X(b, layout.group_of(d0), Index{0}, Index{0}, Index{0});
    else return &X(b, layout.group_of(d0), Index{0}, Index{0});
  };
  const T* Bv = kVarB ? variable(in.B, p.B_layout()) : nullptr;
  const T* Cv = kVarC ? variable(in.C, p.C_layout()) : nullptr;

  // One block, transposed: element (t, lane) at [t * W + lane]; per-state values (t, n, lane) at
  // [(t * N + n) * W + lane]; row 0 of H is the state entering the block, As holds A_bar.
  const Index K = kComplex ? kTimeBlock : ck->block;
  const std::size_t KW = static_cast<std::size_t>(K * W);
  std::vector<T> x(KW), dt(KW), u(KW), z(KW), sz(KW), go(KW), v(KW), du(KW);
  std::vector<T> o_du(KW), o_ddelta(KW), o_dz(KW);
  PerPart<T, S> H, As;
  for (int c = 0; c < P; ++c) {
    H[c].resize(static_cast<std::size_t>((K + 1) * N * W));
    As[c].resize(KW * static_cast<std::size_t>(N));
  }
  const Index blocks = (L + K - 1) / K;

  // The block's inputs, and dt exactly as the forward computes it (x kept for the softplus slope).
  auto load_block = [&](Index t0, Index tb) {
    std::fill(x.begin(), x.end(), T(0));
    std::fill(u.begin(), u.end(), T(0));
    std::fill(z.begin(), z.end(), T(0));
    std::fill(go.begin(), go.end(), T(0));
    for (int l = 0; l < nl; ++l) {
      const Index d = d0 + l;
      const T* del = &in.delta(b, d, t0);
      const T* uu = &in.u(b, d, t0);
      const T* gg = &q.dout()(b, d, t0);
      for (Index t = 0; t < tb; ++t) {
        x[t * W + l] = del[t];
        u[t * W + l] = uu[t];
        go[t * W + l] = gg[t];
      }
      if (has_z) {
        const T* zz = &(*in.z)(b, d, t0);
        for (Index t = 0; t < tb; ++t) z[t * W + l] = zz[t];
      }
    }
    const Index span = tb * W;
    if (has_bias)
      for (Index i = 0; i < span; ++i) x[i] = order::biased_delta(ar, x[i], bias[i % W]);
    if (softplus) {
      for (Index i = 0; i < span; ++i) dt[i] = order::activated_delta(ar, x[i]);
    } else {
      std::copy(x.begin(), x.begin() + span, dt.begin());
    }
  };

  // The complex state's forward step t of the block (global step tt), with the forward's
  // operations, from the states at hp_* into hn_*; A_bar is kept in a_* when given.
  std::vector<T> cosv(kComplex ? NW : 0), sinv(kComplex ? NW : 0);
  auto complex_step = [&](Index t, Index tt, const T* hp_re, const T* hp_im, T* hn_re, T* hn_im,
                          T* a_re, T* a_im) {
    const T* dl = &dt[t * W];
    const T* ul = &u[t * W];
    const T* Are = A[0].data();
    const T* Aim = A[P - 1].data();
    cos_sin_rows<M>(dl, Aim, N, cosv.data(), sinv.data());
    for (int l = 0; l < W; ++l) du[t * W + l] = order::scaled_input(ar, dl[l], ul[l]);
    for (Index n = 0; n < N; ++n) {
      const std::size_t nw = static_cast<std::size_t>(n * W);
      for (int l = 0; l < W; ++l) {
        const T br = kVarB ? Bv[2 * (n * L + tt)] : Bc[0][nw + l];
        const T bi = kVarB ? Bv[2 * (n * L + tt) + 1] : Bc[P - 1][nw + l];
        T a_r, a_i;
        order::complex_decay(ar, dl[l], Are[nw + l], cosv[nw + l], sinv[nw + l], a_r, a_i);
        order::complex_state_update(ar, a_r, a_i, hp_re[nw + l], hp_im[nw + l], du[t * W + l], br,
                                    bi, hn_re[nw + l], hn_im[nw + l]);
        if (a_re) {
          a_re[nw + l] = a_r;
          a_im[nw + l] = a_i;
        }
      }
    }
  };

  // The complex state entering every block, [k * N W + n W + lane] per part: a first pass of
  // the state recurrence alone.
  PerPart<T, S> entering;
  if constexpr (kComplex) {
    for (int c = 0; c < P; ++c) entering[c].assign(static_cast<std::size_t>(blocks) * NW, T(0));
    std::vector<T> hre(NW, T(0)), him(NW, T(0)), nre(NW), nim(NW);
    for (Index k = 0; k < blocks; ++k) {
      const Index t0 = k * K, tb = std::min(K, L - t0);
      std::copy(hre.begin(), hre.end(), entering[0].begin() + static_cast<std::ptrdiff_t>(k * NW));
      std::copy(him.begin(), him.end(), entering[1].begin() + static_cast<std::ptrdiff_t>(k * NW));
      if (k + 1 == blocks) break;  // the last block's states are recomputed below
      load_block(t0, tb);
      for (Index t = 0; t < tb; ++t) {
        complex_step(t, t0 + t, hre.data(), him.data(), nre.data(), nim.data(), nullptr, nullptr);
        hre.swap(nre);
        him.swap(nim);
      }
    }
  }

  for (Index k = blocks - 1; k >= 0; --k) {
    const Index t0 = k * K, tb = std::min(K, L - t0);
    load_block(t0, tb);
    if (has_z)
      for (Index i = 0; i < tb * W; ++i) sz[i] = order::gate(ar, z[i]);
    if constexpr (kComplex) {
      for (int c = 0; c < P; ++c)
        std::copy(entering[c].begin() + static_cast<std::ptrdiff_t>(k * NW),
                  entering[c].begin() + static_cast<std::ptrdiff_t>((k + 1) * NW), H[c].begin());
    } else {
      std::fill(H[0].begin(), H[0].begin() + static_cast<std::ptrdiff_t>(NW), T(0));
      for (int l = 0; l < nl; ++l)
        for (Index n = 0; n < N; ++n) H[0][n * W + l] = ck->states(b, d0 + l, k, n);
    }

    // Recompute the block's states, A_bar and v, as the forward pass does.
    for (Index t = 0; t < tb; ++t) {
      const T* dl = &dt[t * W];
      const T* ul = &u[t * W];
      alignas(64) T y[W];
      if constexpr (kComplex) {
        const std::size_t row = static_cast<std::size_t>(t) * NW;
        complex_step(t, t0 + t, &H[0][row], &H[1][row], &H[0][row + NW], &H[1][row + NW],
                     &As[0][row], &As[1][row]);
        for (int l = 0; l < W; ++l) y[l] = T(0);
        for (Index n = 0; n < N; ++n) {
          const std::size_t nw = static_cast<std::size_t>(n * W);
          const std::size_t nt = static_cast<std::size_t>(2 * (n * L + t0 + t));
          for (int l = 0; l < W; ++l) {
            const T cr = kVarC ? Cv[nt] : Cc[0][nw + l];
            const T ci = kVarC ? Cv[nt + 1] : Cc[1][nw + l];
            y[l] = order::complex_output_accumulate(ar, H[0][row + NW + nw + l],
                                                    H[1][row + NW + nw + l], cr, ci, y[l]);
          }
        }
        for (int l = 0; l < W; ++l) v[t * W + l] = order::complex_skip(ar, y[l], ul[l], Dl[l], has_D);
      } else {
        for (int l = 0; l < W; ++l) {
          du[t * W + l] = order::scaled_input(ar, dl[l], ul[l]);
          y[l] = T(0);
        }
        for (Index n = 0; n < N; ++n) {
          const T* hp = &H[0][(t * N + n) * W];
          T* hn = &H[0][((t + 1) * N + n) * W];
          T* an = &As[0][(t * N + n) * W];
          const T* An = &A[0][n * W];
          for (int l = 0; l < W; ++l) {
            const T bv = kVarB ? Bv[n * L + t0 + t] : Bc[0][n * W + l];
            const T cv = kVarC ? Cv[n * L + t0 + t] : Cc[0][n * W + l];
            const T a = order::decay(ar, dl[l], An[l]);
            an[l] = a;
            hn[l] = order::state_update(ar, a, hp[l], du[t * W + l], bv);
            y[l] = order::output_accumulate(ar, hn[l], cv, y[l]);
          }
        }
        for (int l = 0; l < W; ++l) v[t * W + l] = order::skip(ar, y[l], ul[l], Dl[l], has_D);
      }
    }

    // The adjoint, backwards through the block.
    for (Index t = tb - 1; t >= 0; --t) {
      const std::size_t o = static_cast<std::size_t>(t * W);
      alignas(64) T gl[W], d_du[W], d_dt[W];
      for (int l = 0; l < W; ++l) {
        gl[l] = has_z ? go[o + l] * sz[o + l] : go[o + l];
        if (has_z) {
          const T s = M::sigmoid(z[o + l]);
          const T slope = s * M::fma(z[o + l], T(1) - s, T(1));
          o_dz[o + l] = (go[o + l] * v[o + l]) * slope;
        }
        if (has_D) acc_dD[l] = M::fma(gl[l], u[o + l], acc_dD[l]);
        o_du[o + l] = has_D ? gl[l] * Dl[l] : T(0);
        d_du[l] = T(0);
        d_dt[l] = T(0);
      }
      if constexpr (kComplex) {
        const std::size_t row = static_cast<std::size_t>(t) * NW;
        alignas(64) T g2[W], term_re[W], term_im[W];
        for (int l = 0; l < W; ++l) g2[l] = T(2) * gl[l];
        for (Index n = 0; n < N; ++n) {
          const std::size_t nw = static_cast<std::size_t>(n * W);
          const std::size_t nt = static_cast<std::size_t>(2 * (n * L + t0 + t));
          T* lre = &lam[0][nw];
          T* lim = &lam[1][nw];
          const T* h_re = &H[0][row + NW + nw];
          const T* h_im = &H[1][row + NW + nw];
          const T* hp_re = &H[0][row + nw];
          const T* hp_im = &H[1][row + nw];
          const T* a_re = &As[0][row + nw];
          const T* a_im = &As[1][row + nw];
          for (int l = 0; l < W; ++l) {
            const T cr = kVarC ? Cv[nt] : Cc[0][nw + l];
            const T ci = kVarC ? Cv[nt + 1] : Cc[1][nw + l];
            const T br = kVarB ? Bv[nt] : Bc[0][nw + l];
            const T bi = kVarB ? Bv[nt + 1] : Bc[1][nw + l];
            lre[l] = M::fma(g2[l], cr, lre[l]);
            lim[l] = M::fma(-g2[l], ci, lim[l]);
            if constexpr (kVarC) {
              term_re[l] = g2[l] * h_re[l];
              term_im[l] = -(g2[l] * h_im[l]);
            } else {
              acc_dC[0][nw + l] = M::fma(g2[l], h_re[l], acc_dC[0][nw + l]);
              acc_dC[1][nw + l] = M::fma(-g2[l], h_im[l], acc_dC[1][nw + l]);
            }
            if constexpr (!kVarB) {
              acc_dB[0][nw + l] = M::fma(lre[l], du[o + l], acc_dB[0][nw + l]);
              acc_dB[1][nw + l] = M::fma(lim[l], du[o + l], acc_dB[1][nw + l]);
            }
            d_du[l] = M::fma(lre[l], br, d_du[l]);
            d_du[l] = M::fma(lim[l], bi, d_du[l]);
            const T q_re = M::fma(hp_re[l], lre[l], hp_im[l] * lim[l]);
            const T q_im = M::fma(hp_re[l], lim[l], -(hp_im[l] * lre[l]));
            const T e_re = M::fma(a_re[l], q_re, a_im[l] * q_im);
            const T e_im = M::fma(a_re[l], q_im, -(a_im[l] * q_re));
            acc_dA[0][nw + l] = M::fma(e_re, dt[o + l], acc_dA[0][nw + l]);
            acc_dA[1][nw + l] = M::fma(e_im, dt[o + l], acc_dA[1][nw + l]);
            d_dt[l] = M::fma(e_re, A[0][nw + l], d_dt[l]);
            d_dt[l] = M::fma(e_im, A[1][nw + l], d_dt[l]);
          }
          if constexpr (kVarC)
            for (int l = 0; l < nl; ++l) {
              dC_slab[nt] = dC_slab[nt] + term_re[l];
              dC_slab[nt + 1] = dC_slab[nt + 1] + term_im[l];
            }
          if constexpr (kVarB) {
            for (int l = 0; l < W; ++l) {
              term_re[l] = lre[l] * du[o + l];
              term_im[l] = lim[l] * du[o + l];
            }
            for (int l = 0; l < nl; ++l) {
              dB_slab[nt] = dB_slab[nt] + term_re[l];
              dB_slab[nt + 1] = dB_slab[nt + 1] + term_im[l];
            }
          }
          for (int l = 0; l < W; ++l) {
            const T new_re = M::fma(a_re[l], lre[l], a_im[l] * lim[l]);
            const T new_im = M::fma(a_re[l], lim[l], -(a_im[l] * lre[l]));
            lre[l] = new_re;
            lim[l] = new_im;
          }
        }
      } else {
        alignas(64) T term[W];
        for (Index n = 0; n < N; ++n) {
          T* lm = &lam[0][n * W];
          const T* hn = &H[0][((t + 1) * N + n) * W];
          const T* hp = &H[0][(t * N + n) * W];
          const T* an = &As[0][(t * N + n) * W];
          const T* An = &A[0][n * W];
          const std::size_t nt = static_cast<std::size_t>(n * L + t0 + t);
          for (int l = 0; l < W; ++l) {
            const T cv = kVarC ? Cv[nt] : Cc[0][n * W + l];
            const T bv = kVarB ? Bv[nt] : Bc[0][n * W + l];
            lm[l] = M::fma(gl[l], cv, lm[l]);
            if constexpr (kVarC) term[l] = gl[l] * hn[l];
            else acc_dC[0][n * W + l] = M::fma(gl[l], hn[l], acc_dC[0][n * W + l]);
            d_du[l] = M::fma(lm[l], bv, d_du[l]);
            const T e = (lm[l] * hp[l]) * an[l];
            acc_dA[0][n * W + l] = M::fma(e, dt[o + l], acc_dA[0][n * W + l]);
            d_dt[l] = M::fma(e, An[l], d_dt[l]);
          }
          if constexpr (kVarC)
            for (int l = 0; l < nl; ++l) dC_slab[nt] = dC_slab[nt] + term[l];
          if constexpr (kVarB) {
            for (int l = 0; l < W; ++l) term[l] = lm[l] * du[o + l];
            for (int l = 0; l < nl; ++l) dB_slab[nt] = dB_slab[nt] + term[l];
          } else {
            for (int l = 0; l < W; ++l)
              acc_dB[0][n * W + l] = M::fma(lm[l], du[o + l], acc_dB[0][n * W + l]);
          }
          for (int l = 0; l < W; ++l) lm[l] = lm[l] * an[l];
        }
      }
      for (int l = 0; l < W; ++l) {
        const T ddt = M::fma(d_du[l], u[o + l], d_dt[l]);
        o_du[o + l] = M::fma(d_du[l], dt[o + l], o_du[o + l]);
        T d_arg = ddt;
        if (softplus) {  // loop-invariant: the compiler unswitches it
          const T sig = M::sigmoid(x[o + l]);
          d_arg = !(x[o + l] > T(20)) ? ddt * sig : ddt;
        }
        o_ddelta[o + l] = d_arg;
        acc_dbias[l] = acc_dbias[l] + d_arg;
      }
    }
    for (int l = 0; l < nl; ++l) {
      const Index d = d0 + l;
      T* du_out = &g.du(b, d, t0);
      T* dd_out = &g.ddelta(b, d, t0);
      for (Index t = 0; t < tb; ++t) {
        du_out[t] = o_du[t * W + l];
        dd_out[t] = o_ddelta[t * W + l];
      }
      if (has_z) {
        T* dz_out = &(*g.dz)(b, d, t0);
        for (Index t = 0; t < tb; ++t) dz_out[t] = o_dz[t * W + l];
      }
    }
  }
  for (int l = 0; l < nl; ++l) {
    const Index d = d0 + l;
    for (Index n = 0; n < N; ++n) {
      const std::size_t i = static_cast<std::size_t>(n * W + l);
      if constexpr (!kComplex)
        if (in.h0) (*g.dh0)(b, d, n) = lam[0][i];
      for (int c = 0; c < P; ++c) {
        part_at<S>(part.dA, b, d, n, c) = acc_dA[c][i];
        if (!kVarB) part_at<S>(part.dB_const, b, d, n, c) = acc_dB[c][i];
        if (!kVarC) part_at<S>(part.dC_const, b, d, n, c) = acc_dC[c][i];
      }
    }
    part.dD(b, d) = acc_dD[l];
    part.dbias(b, d) = acc_dbias[l];
  }
}

template <class T, class S>
GradsOf<T, S> run_backward(const ScanBackwardProblem<T, S>& q, int threads,
                           std::type_identity_t<const SelectiveScanCheckpoints<T>*> given) {
  constexpr bool kComplex = S::kComplex;
  const ScanProblem<T, S>& p = q.forward();
  const auto& in = p.in();
  const Index batch = p.batch(), dim = p.dim(), N = p.dstate(), L = p.seqlen();
  SelectiveScanCheckpoints<T> own;
  if constexpr (!kComplex) {
    if (!given) {
      selective_scan(p, threads, &own);
      given = &own;
    }
    if (given->block < 1 || given->states.shape().extents() !=
                                std::vector<Index>{batch, dim, (L + given->block - 1) / given->block, N})
      throw InvalidInput("checkpoints", "not the checkpoints of a forward pass on this problem");
  }

  auto g = grads_shaped_like<GradsOf<T, S>>(in);

  using M = LaneMath<T>;
  const GroupedOperand &Bl = p.B_layout(), &Cl = p.C_layout();
  const auto tiles = make_tiles(batch, dim, Bl, Cl, M::W);
  const auto slabs = make_slabs(tiles, Bl, Cl);
  const std::size_t NL = static_cast<std::size_t>(kParts<S> * N * L);
  const Shape per_state(scan_problem_detail::with_parts({batch, dim, N}, kComplex));
  Partials<T> part;
  if (Bl.variable) part.dB_slab.assign(slabs.size() * NL, T(0));
  if (Cl.variable) part.dC_slab.assign(slabs.size() * NL, T(0));
  part.dA = Tensor<T>(per_state);
  if (!Bl.variable) part.dB_const = Tensor<T>(per_state);
  if (!Cl.variable) part.dC_const = Tensor<T>(per_state);
  part.dD = Tensor<T>(Shape{batch, dim});
  part.dbias = Tensor<T>(Shape{batch, dim});

  parallel_for(static_cast<std::int64_t>(slabs.size()), threads, [&](std::int64_t s) {
    const Slab& slab = slabs[static_cast<std::size_t>(s)];
    T* dB_slab = Bl.variable ? &part.dB_slab[static_cast<std::size_t>(s) * NL] : nullptr;
    T* dC_slab = Cl.variable ? &part.dC_slab[static_cast<std::size_t>(s) * NL] : nullptr;
    for (std::size_t i = slab.first; i < slab.first + slab.count; ++i) {
      const Tile& tile = tiles[i];
      if (Bl.variable && Cl.variable)
        backward_tile<T, S, true, true>(q, given, tile, dB_slab, dC_slab, g, part);
      else if (Bl.variable)
        backward_tile<T, S, true, false>(q, given, tile, dB_slab, dC_slab, g, part);
      else if (Cl.variable)
        backward_tile<T, S, false, true>(q, given, tile, dB_slab, dC_slab, g, part);
      else
        backward_tile<T, S, false, false>(q, given, tile, dB_slab, dC_slab, g, part);
    }
  });

  // Variable dB, dC: the slabs of each (b, group), in order.
  if (Bl.variable) sum_slabs(tiles, slabs, part.dB_slab, NL, Bl, g.dB);
  else sum_over_batch(part.dB_const, g.dB);
  if (Cl.variable) sum_slabs(tiles, slabs, part.dC_slab, NL, Cl, g.dC);
  else sum_over_batch(part.dC_const, g.dC);
  sum_over_batch(part.dA, g.dA);
  if (in.D) sum_over_batch(part.dD, *g.dD);
  if (in.delta_bias) sum_over_batch(part.dbias, *g.ddelta_bias);
  return g;
}

}  // namespace

SelectiveScanGrads<float> selective_scan_backward(const SelectiveScanBackwardProblem<float>& p,
                                                  int threads,
                                                  const SelectiveScanCheckpoints<float>* ck) {
  return run_backward(p, threads, ck);
}
SelectiveScanGrads<double> selective_scan_backward(const SelectiveScanBackwardProblem<double>& p,
                                                   int threads,
                                                   const SelectiveScanCheckpoints<double>* ck) {
  return run_backward(p, threads, ck);
}

ComplexScanGrads<float> selective_scan_complex_backward(const ComplexScanBackwardProblem<float>& q,
                                                        int threads) {
  return run_backward(q, threads, nullptr);
}
ComplexScanGrads<double> selective_scan_complex_backward(const ComplexScanBackwardProblem<double>& q,
                                                         int threads) {
  return run_backward(q, threads, nullptr);
}

}  // namespace touchstone::mamba::cpu
