// The Mamba block on the CPU (spec/mamba_block.md [MAMBA-BLOCK-CPU]).
//
// Association order (the bounds [MAMBA-BLOCK-BOUND-CPU-F32]/[...-F64] and
// bounds/src/mamba_block_bound.cpp are for exactly this order); every operation is rounded
// once in the backend's format, fma only where written:
//   every matrix product Y[j, i] = sum_k W[j, k] X[k, i]: acc = +0 (or the stated initial value),
//       then acc = fma(W[j, k], X[k, i], acc) for k = 0, 1, ... in increasing order;
//   in_proj, x_proj, dt_proj, out_proj: such products (k over d_model, d_inner, dt_rank, d_inner);
//   conv: acc = conv1d_bias[d], then acc = fma(W[d, w], x[t - (K-1) + w], acc) for w = 0..K-1,
//       with x = +0 before t = 0 (the zero terms are computed, so a step from a zero state is the
//       same arithmetic);
//   u = silu(acc) ([MAMBA-SCAN-ELEMENTARY]);  A = -exp(A_log) (exp_f32 / glibc exp; the negation
//       is exact);
//   the selective scan: cpu::selective_scan, order [MAMBA-SCAN-CPU], with D, z, delta_bias =
//       dt_proj_bias, softplus.
// The backward order is documented at mamba_block_backward below. The step is the same
// arithmetic on one token, and its scan is cpu::selective_scan on L = 1 starting from
// h0 = ssm_state, so stepping token by token gives the forward pass's bits exactly.
//
// Vectorization: each product's inner loop runs over i (time or an output column), each lane
// doing its own element's sequence above, so the results do not depend on the vector width,
// the tiling or the thread count (threads take independent (matrix, column tile, row tile)
// items; every element is written by one item).
#include "mamba_block.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../common/elementary.hpp"
#include "touchstone/core/parallel.hpp"

namespace touchstone::mamba::cpu {
namespace {

#define TOUCHSTONE_BLOCK_INLINE static inline __attribute__((always_inline))
template <class T>
struct BlockMath;
template <>
struct BlockMath<float> {
  TOUCHSTONE_BLOCK_INLINE float fma(float a, float b, float c) { return __builtin_fmaf(a, b, c); }
  TOUCHSTONE_BLOCK_INLINE float exp(float x) { return elementary::exp_f32(x); }
  TOUCHSTONE_BLOCK_INLINE float silu(float x) { return elementary::silu_f32(x); }
  TOUCHSTONE_BLOCK_INLINE float sigmoid(float x) { return elementary::sigmoid_f32(x); }
};
template <>
struct BlockMath<double> {
  TOUCHSTONE_BLOCK_INLINE double fma(double a, double b, double c) { return __builtin_fma(a, b, c); }
  TOUCHSTONE_BLOCK_INLINE double exp(double x) { return elementary::exp_f64(x); }
  TOUCHSTONE_BLOCK_INLINE double silu(double x) { return elementary::silu_f64(x); }
  TOUCHSTONE_BLOCK_INLINE double sigmoid(double x) { return elementary::sigmoid_f64(x); }
};

// Columns per tile of a product: the accumulators of one row stay in registers.
constexpr Index kColumns = 64;
// Rows per work item.
constexpr Index kRows = 16;

// Y[j, i] (row stride ldy) = init + sum_k w(j, k) X[k][i], for j < rows, i < n, sequential fma
// in increasing k. `x_row(k)` points at row k of X (n contiguous values). With `accumulate`,
// init is Y's current value, else +0.
template <class T, class WAt, class XRow>
void product(Index rows, Index K, Index n, WAt w, XRow x_row, T* Y, Index ldy, bool accumulate,
             int threads) {
  using M = BlockMath<T>;
  const Index col_tiles = (n + kColumns - 1) / kColumns, row_tiles = (rows + kRows - 1) / kRows;
  parallel_for(col_tiles * row_tiles, threads, [&](std::int64_t item) {
    const Index i0 = (item % col_tiles) * kColumns, j0 = (item / col_tiles) * kRows;
    const Index ni = std::min(kColumns, n - i0), j1 = std::min(rows, j0 + kRows);
    alignas(64) T acc[kColumns];
    for (Index j = j0; j < j1; ++j) {
      T* y = Y + j * ldy + i0;
      for (Index i = 0; i < kColumns; ++i) acc[i] = accumulate && i < ni ? y[i] : T(0);
      if (ni == kColumns) {
        for (Index k = 0; k < K; ++k) {
          const T wk = w(j, k);
          const T* x = x_row(k) + i0;
          for (Index i = 0; i < kColumns; ++i) acc[i] = M::fma(wk, x[i], acc[i]);
        }
      } else {
        for (Index k = 0; k < K; ++k) {
          const T wk = w(j, k);
          const T* x = x_row(k) + i0;
          for (Index i = 0; i < ni; ++i) acc[i] = M::fma(wk, x[i], acc[i]);
        }
      }
      for (Index i = 0; i < ni; ++i) y[i] = acc[i];
    }
  });
}

// (rows, cols) -> (cols, rows) for one matrix at a time.
template <class T>
void transpose(const T* src, Index rows, Index cols, T* dst) {
  for (Index r = 0; r < rows; ++r)
    for (Index c = 0; c < cols; ++c) dst[c * rows + r] = src[r * cols + c];
}

// [MAMBA-BLOCK-CONV] xc[b, d, t] in the documented order, for every (b, d), then u = silu(xc)
// when `u` is given.
template <class T>
void causal_conv(const MambaBlockWeights<T>& w, const Tensor<T>& x, Tensor<T>& xc, Tensor<T>* u,
                 int threads) {
  using M = BlockMath<T>;
  const Index batch = x.extent(0), di = x.extent(1), L = x.extent(2), K = w.conv1d_weight.extent(2);
  parallel_for(batch * di, threads, [&](std::int64_t item) {
    const Index b = item / di, d = item % di;
    const T* xs = &x(b, d, Index{0});
    T* out = &xc(b, d, Index{0});
    const T bias = w.conv1d_bias[d];
    const T* W = &w.conv1d_weight(d, Index{0}, Index{0});
    for (Index t = 0; t < L; ++t) {
      T acc = bias;
      for (Index k = 0; k < K; ++k) {
        const Index src = t - (K - 1) + k;
        acc = M::fma(W[k], src >= 0 ? xs[src] : T(0), acc);
      }
      out[t] = acc;
    }
    if (u) {
      T* uu = &(*u)(b, d, Index{0});
      for (Index t = 0; t < L; ++t) uu[t] = M::silu(out[t]);
    }
  });
}

// A = -exp(A_log), (d_inner, d_state).
template <class T>
Tensor<T> state_matrix(const Tensor<T>& A_log) {
  Tensor<T> A(A_log.shape());
  for (Index i = 0; i < A.count(); ++i) A[i] = -BlockMath<T>::exp(A_log[i]);
  return A;
}

// The scan's problem. The block's inputs are finite ([MAMBA-BLOCK-NONFINITE]), so a non-finite
// intermediate means one overflowed the format: outside the block's domain, reported naming
// hidden (and the intermediate) before anything more is computed.
template <class T>
SelectiveScanProblem<T> scan_problem(SelectiveScanInputs<T> in) {
  auto finite = [](const Tensor<T>& t, const char* name) {
    for (Index i = 0; i < t.count(); ++i)
      if (!std::isfinite(t[i]))
        throw InvalidInput("hidden", std::string("the block's intermediate ") + name +
                                         " is not finite at " + index_string(t.shape(), i) +
                                         ": it overflowed the format (outside the block's "
                                         "domain, spec/mamba_block.md [MAMBA-BLOCK-NONFINITE])");
  };
  finite(in.u, "u");
  finite(in.delta, "delta");
  finite(in.A, "A");
  finite(in.B, "B");
  finite(in.C, "C");
  finite(*in.z, "z");
  return SelectiveScanProblem<T>(std::move(in));
}

template <class T>
Tensor<T> forward(const MambaBlockWeights<T>& w, const Tensor<T>& hidden, MambaBlockCache<T>* cache,
                  MambaBlockState<T>* state, int threads) {
  const MambaBlockProblem<T> p(w, hidden);  // validates (InvalidInput naming the array)
  const MambaBlockDims& s = p.dims();
  const Index batch = p.batch(), L = p.seqlen(), dm = s.d_model, di = s.d_inner, N = s.d_state,
              R = s.dt_rank, K = s.d_conv;
  // in_proj: (x; z)[b] (2 di, L) = in_proj_weight (2 di, dm) hidden[b]^T (dm, L).
  Tensor<T> hT(Shape{batch, dm, L}), xz(Shape{batch, 2 * di, L});
  for (Index b = 0; b < batch; ++b) transpose(&hidden(b, Index{0}, Index{0}), L, dm, &hT(b, Index{0}, Index{0}));
  for (Index b = 0; b < batch; ++b)
    product<T>(2 * di, dm, L, [&](Index j, Index k) { return w.in_proj_weight(j, k); },
               [&](Index k) { return &hT(b, k, Index{0}); }, &xz(b, Index{0}, Index{0}), L, false,
               threads);
  Tensor<T> x(Shape{batch, di, L}), z(Shape{batch, di, L});
  for (Index b = 0; b < batch; ++b) {
    std::copy_n(&xz(b, Index{0}, Index{0}), di * L, &x(b, Index{0}, Index{0}));
    std::copy_n(&xz(b, di, Index{0}), di * L, &z(b, Index{0}, Index{0}));
  }
  // conv, silu.
  Tensor<T> xc(Shape{batch, di, L}), u(Shape{batch, di, L});
  causal_conv(w, x, xc, &u, threads);
  // x_proj: (dt_low; B; C)[b] (R + 2N, L) = x_proj_weight u[b].
  Tensor<T> xdbl(Shape{batch, R + 2 * N, L});
  for (Index b = 0; b < batch; ++b)
    product<T>(R + 2 * N, di, L, [&](Index j, Index k) { return w.x_proj_weight(j, k); },
               [&](Index k) { return &u(b, k, Index{0}); }, &xdbl(b, Index{0}, Index{0}), L, false,
               threads);
  // dt_proj: delta[b] (di, L) = dt_proj_weight dt_low[b].
  Tensor<T> delta(Shape{batch, di, L});
  for (Index b = 0; b < batch; ++b)
    product<T>(di, R, L, [&](Index j, Index k) { return w.dt_proj_weight(j, k); },
               [&](Index k) { return &xdbl(b, k, Index{0}); }, &delta(b, Index{0}, Index{0}), L,
               false, threads);
  Tensor<T> dt_low(Shape{batch, R, L}), Bv(Shape{batch, 1, N, L}), Cv(Shape{batch, 1, N, L});
  for (Index b = 0; b < batch; ++b) {
    std::copy_n(&xdbl(b, Index{0}, Index{0}), R * L, &dt_low(b, Index{0}, Index{0}));
    std::copy_n(&xdbl(b, R, Index{0}), N * L, &Bv(b, 0, Index{0}, Index{0}));
    std::copy_n(&xdbl(b, R + N, Index{0}), N * L, &Cv(b, 0, Index{0}, Index{0}));
  }
  // The scan.
  SelectiveScanInputs<T> in;
  in.u = u;
  in.delta = delta;
  in.A = state_matrix(w.A_log);
  in.B = Bv;
  in.C = Cv;
  in.D = w.D;
  in.z = z;
  in.delta_bias = w.dt_proj_bias;
  in.delta_softplus = true;
  const SelectiveScanProblem<T> sp = scan_problem(std::move(in));
  SelectiveScanResult<T> scanned =
      selective_scan(sp, threads, cache ? &cache->checkpoints : nullptr);
  // out_proj: out[b]^T (dm, L) = out_proj_weight y[b].
  Tensor<T> outT(Shape{batch, dm, L}), out(Shape{batch, L, dm});
  for (Index b = 0; b < batch; ++b)
    product<T>(dm, di, L, [&](Index j, Index k) { return w.out_proj_weight(j, k); },
               [&](Index k) { return &scanned.out(b, k, Index{0}); }, &outT(b, Index{0}, Index{0}),
               L, false, threads);
  for (Index b = 0; b < batch; ++b) transpose(&outT(b, Index{0}, Index{0}), dm, L, &out(b, Index{0}, Index{0}));

  if (state) {
    // [MAMBA-BLOCK-PREFILL] the last K pre-conv x values (zero before t = 0) and the last state.
    state->conv_state = Tensor<T>(Shape{batch, di, K});
    for (Index b = 0; b < batch; ++b)
      for (Index d = 0; d < di; ++d)
        for (Index k = 0; k < K; ++k) {
          const Index src = L - K + k;
          state->conv_state(b, d, k) = src >= 0 ? x(b, d, src) : T(0);
        }
    state->ssm_state = std::move(scanned.last_state);
  }
  if (cache) {
    cache->hidden = hidden;
    cache->x_pre_conv = std::move(x);
    cache->u = std::move(u);
    cache->z = std::move(z);
    cache->dt_low = std::move(dt_low);
    cache->delta = std::move(delta);
    cache->B = std::move(Bv);
    cache->C = std::move(Cv);
    cache->y = std::move(scanned.out);
  }
  return out;
}

// [MAMBA-BLOCK-CPU] backward order (each sum sequential in the order named, fma, from +0 unless
// an initial value is named; (b, t) sums run b-major, t increasing):
//   dy[b, d, t]      = sum_m out_proj_weight[m, d] dout[b, t, m]
//   d out_proj[m, d] = sum_(b,t) dout[b, t, m] y[b, d, t]
//   scan gradients   : cpu::selective_scan_backward ([MAMBA-BWD-CPU]) from the forward's
//                      checkpoints: du_s, ddelta, dA, dB, dC, dD, dz, ddelta_bias
//   dA_log           = dA * A (one rounding);  dD, d dt_proj_bias = the scan's dD, ddelta_bias
//   d dt_proj[d, r]  = sum_(b,t) ddelta[b, d, t] dt_low[b, r, t]
//   d dt_low[b,r,t]  = sum_d dt_proj_weight[d, r] ddelta[b, d, t]
//   d x_proj[q, d]   = sum_(b,t) dxdbl[b, q, t] u[b, d, t],   dxdbl = (d dt_low; dB; dC)
//   du[b, d, t]      = du_s[b, d, t] + sum_q x_proj_weight[q, d] dxdbl[b, q, t] (fma from du_s)
//   dxc              = du * (s * fma(xc, 1 - s, 1)), s = sigmoid(xc) ([MAMBA-BWD-ELEMENTARY]),
//                      each operation rounded (xc recomputed by the forward's conv: same bits)
//   d conv_bias[d]   = sum_(b,t) dxc[b, d, t] (additions)
//   d conv_w[d, w]   = sum_(b,t) dxc[b, d, t] x[b, d, t - (K-1) + w] (terms with t-(K-1)+w >= 0)
//   dx[b, d, s]      = sum_w conv_w[d, w] dxc[b, d, s + (K-1) - w], w = 0..K-1 (terms < L)
//   d in_proj[j, k]  = sum_(b,t) dxz[b, j, t] hidden[b, t, k],   dxz = (dx; dz)
//   dhidden[b, t, k] = sum_j in_proj_weight[j, k] dxz[b, j, t]
template <class T>
MambaBlockGrads<T> backward(const MambaBlockWeights<T>& w, const MambaBlockCache<T>& c,
                            const Tensor<T>& dout, int threads) {
  using M = BlockMath<T>;
  const MambaBlockProblem<T> p(w, c.hidden);
  const MambaBlockDims& s = p.dims();
  const Index batch = p.batch(), L = p.seqlen(), dm = s.d_model, di = s.d_inner, N = s.d_state,
              R = s.dt_rank, K = s.d_conv, BL = batch * L;
  const MambaBlockBackwardProblem<T> q(p, dout);  // validates dout
  MambaBlockGrads<T> g{Tensor<T>(c.hidden.shape()), w};

  // out_proj.
  Tensor<T> doutT(Shape{batch, dm, L});
  for (Index b = 0; b < batch; ++b) transpose(&dout(b, Index{0}, Index{0}), L, dm, &doutT(b, Index{0}, Index{0}));
  Tensor<T> dy(Shape{batch, di, L});
  for (Index b = 0; b < batch; ++b)
    product<T>(di, dm, L, [&](Index j, Index k) { return w.out_proj_weight(k, j); },
               [&](Index k) { return &doutT(b, k, Index{0}); }, &dy(b, Index{0}, Index{0}), L,
               false, threads);
  Tensor<T> yT(Shape{BL, di});  // row (b, t)
  for (Index b = 0; b < batch; ++b) transpose(&c.y(b, Index{0}, Index{0}), di, L, &yT(b * L, Index{0}));
  product<T>(dm, BL, di, [&](Index m, Index k) { return doutT(k / L, m, k % L); },
             [&](Index k) { return &yT(k, Index{0}); }, g.dweights.out_proj_weight.data(), di,
             false, threads);

  // The scan.
  SelectiveScanInputs<T> in;
  in.u = c.u;
  in.delta = c.delta;
  in.A = state_matrix(w.A_log);
  in.B = c.B;
  in.C = c.C;
  in.D = w.D;
  in.z = c.z;
  in.delta_bias = w.dt_proj_bias;
  in.delta_softplus = true;
  const SelectiveScanBackwardProblem<T> sq(scan_problem(std::move(in)), std::move(dy));
  const SelectiveScanGrads<T> sg = selective_scan_backward(
      sq, threads, c.checkpoints.states.empty() ? nullptr : &c.checkpoints);
  const Tensor<T>& A = sq.forward().in().A;
  for (Index i = 0; i < A.count(); ++i) g.dweights.A_log[i] = sg.dA[i] * A[i];
  g.dweights.D = *sg.dD;
  g.dweights.dt_proj_bias = *sg.ddelta_bias;

  // dt_proj.
  Tensor<T> dtT(Shape{BL, R});
  for (Index b = 0; b < batch; ++b) transpose(&c.dt_low(b, Index{0}, Index{0}), R, L, &dtT(b * L, Index{0}));
  product<T>(di, BL, R, [&](Index d, Index k) { return sg.ddelta(k / L, d, k % L); },
             [&](Index k) { return &dtT(k, Index{0}); }, g.dweights.dt_proj_weight.data(), R,
             false, threads);
  Tensor<T> dxdbl(Shape{batch, R + 2 * N, L});
  for (Index b = 0; b < batch; ++b) {
    product<T>(R, di, L, [&](Index r, Index d) { return w.dt_proj_weight(d, r); },
               [&](Index d) { return &sg.ddelta(b, d, Index{0}); }, &dxdbl(b, Index{0}, Index{0}),
               L, false, threads);
    std::copy_n(&sg.dB(b, 0, Index{0}, Index{0}), N * L, &dxdbl(b, R, Index{0}));
    std::copy_n(&sg.dC(b, 0, Index{0}, Index{0}), N * L, &dxdbl(b, R + N, Index{0}));
  }
  // x_proj.
  Tensor<T> uT(Shape{BL, di});
  for (Index b = 0; b < batch; ++b) transpose(&c.u(b, Index{0}, Index{0}), di, L, &uT(b * L, Index{0}));
  product<T>(R + 2 * N, BL, di, [&](Index qq, Index k) { return dxdbl(k / L, qq, k % L); },
             [&](Index k) { return &uT(k, Index{0}); }, g.dweights.x_proj_weight.data(), di, false,
             threads);
  Tensor<T> du = sg.du;
  for (Index b = 0; b < batch; ++b)
    product<T>(di, R + 2 * N, L, [&](Index d, Index qq) { return w.x_proj_weight(qq, d); },
               [&](Index qq) { return &dxdbl(b, qq, Index{0}); }, &du(b, Index{0}, Index{0}), L,
               true, threads);

  // silu and conv.
  Tensor<T> xc(Shape{batch, di, L});
  causal_conv<T>(w, c.x_pre_conv, xc, nullptr, threads);
  Tensor<T> dxz(Shape{batch, 2 * di, L});
  parallel_for(di, threads, [&](std::int64_t item) {
    const Index d = item;
    const T* W = &w.conv1d_weight(d, Index{0}, Index{0});
    std::vector<T> dxc(static_cast<std::size_t>(L));
    T dbias = T(0);
    std::vector<T> dW(static_cast<std::size_t>(K), T(0));
    for (Index b = 0; b < batch; ++b) {
      const T* xr = &c.x_pre_conv(b, d, Index{0});
      for (Index t = 0; t < L; ++t) {
        const T v = xc(b, d, t);
        const T sg1 = M::sigmoid(v);
        const T dsilu = sg1 * M::fma(v, T(1) - sg1, T(1));
        dxc[t] = du(b, d, t) * dsilu;
      }
      for (Index t = 0; t < L; ++t) dbias = dbias + dxc[t];
      for (Index k = 0; k < K; ++k)
        for (Index t = std::max<Index>(0, K - 1 - k); t < L; ++t)
          dW[k] = M::fma(dxc[t], xr[t - (K - 1) + k], dW[k]);
      T* dx = &dxz(b, d, Index{0});
      for (Index s2 = 0; s2 < L; ++s2) {
        T acc = T(0);
        for (Index k = 0; k < K; ++k) {
          const Index t = s2 + (K - 1) - k;
          if (t < L) acc = M::fma(W[k], dxc[t], acc);
        }
        dx[s2] = acc;
      }
      std::copy_n(&(*sg.dz)(b, d, Index{0}), L, &dxz(b, di + d, Index{0}));
    }
    g.dweights.conv1d_bias[d] = dbias;
    for (Index k = 0; k < K; ++k) g.dweights.conv1d_weight(d, Index{0}, k) = dW[k];
  });

  // in_proj.
  product<T>(2 * di, BL, dm, [&](Index j, Index k) { return dxz(k / L, j, k % L); },
             [&](Index k) { return &c.hidden(k / L, k % L, Index{0}); },
             g.dweights.in_proj_weight.data(), dm, false, threads);
  Tensor<T> dhT(Shape{batch, dm, L});
  for (Index b = 0; b < batch; ++b)
    product<T>(dm, 2 * di, L, [&](Index m, Index j) { return w.in_proj_weight(j, m); },
               [&](Index j) { return &dxz(b, j, Index{0}); }, &dhT(b, Index{0}, Index{0}), L,
               false, threads);
  for (Index b = 0; b < batch; ++b) transpose(&dhT(b, Index{0}, Index{0}), dm, L, &g.dhidden(b, Index{0}, Index{0}));
  return g;
}

// [MAMBA-BLOCK-STEP] One token, in the forward's order (see the header comment).
template <class T>
Tensor<T> step(const MambaBlockWeights<T>& w, const Tensor<T>& hidden, MambaBlockState<T>& state) {
  const MambaBlockStepProblem<T> p(w, hidden, state);  // validates
  const MambaBlockDims& s = p.dims();
  const Index batch = p.batch(), dm = s.d_model, di = s.d_inner, N = s.d_state, R = s.dt_rank,
              K = s.d_conv;
  const int threads = 1;  // one token: too little work to share
  Tensor<T> hT(Shape{batch, dm, 1}), xz(Shape{batch, 2 * di, 1});
  for (Index b = 0; b < batch; ++b)
    for (Index k = 0; k < dm; ++k) hT(b, k, 0) = hidden(b, 0, k);
  for (Index b = 0; b < batch; ++b)
    product<T>(2 * di, dm, 1, [&](Index j, Index k) { return w.in_proj_weight(j, k); },
               [&](Index k) { return &hT(b, k, Index{0}); }, &xz(b, Index{0}, Index{0}), 1, false,
               threads);
  // The conv over the rolled state: the forward's conv on the window (state[1..K-1], x).
  Tensor<T> window(Shape{batch, di, K}), xc(Shape{batch, di, K}), u(Shape{batch, di, 1}),
      z(Shape{batch, di, 1});
  for (Index b = 0; b < batch; ++b)
    for (Index d = 0; d < di; ++d) {
      for (Index k = 0; k + 1 < K; ++k) window(b, d, k) = state.conv_state(b, d, k + 1);
      window(b, d, K - 1) = xz(b, d, 0);
      z(b, d, 0) = xz(b, di + d, 0);
    }
  // xc at the window's last position has all K taps inside the window: the forward's arithmetic.
  {
    Tensor<T> full_u(Shape{batch, di, K});
    causal_conv(w, window, xc, &full_u, threads);
    for (Index b = 0; b < batch; ++b)
      for (Index d = 0; d < di; ++d) u(b, d, 0) = full_u(b, d, K - 1);
  }
  Tensor<T> xdbl(Shape{batch, R + 2 * N, 1}), delta(Shape{batch, di, 1});
  for (Index b = 0; b < batch; ++b) {
    product<T>(R + 2 * N, di, 1, [&](Index j, Index k) { return w.x_proj_weight(j, k); },
               [&](Index k) { return &u(b, k, Index{0}); }, &xdbl(b, Index{0}, Index{0}), 1, false,
               threads);
    product<T>(di, R, 1, [&](Index j, Index k) { return w.dt_proj_weight(j, k); },
               [&](Index k) { return &xdbl(b, k, Index{0}); }, &delta(b, Index{0}, Index{0}), 1,
               false, threads);
  }
  SelectiveScanInputs<T> in;
  in.u = u;
  in.delta = delta;
  in.A = state_matrix(w.A_log);
  in.B = Tensor<T>(Shape{batch, 1, N, 1});
  in.C = Tensor<T>(Shape{batch, 1, N, 1});
  for (Index b = 0; b < batch; ++b)
    for (Index n = 0; n < N; ++n) {
      in.B(b, 0, n, 0) = xdbl(b, R + n, 0);
      in.C(b, 0, n, 0) = xdbl(b, R + N + n, 0);
    }
  in.D = w.D;
  in.z = z;
  in.delta_bias = w.dt_proj_bias;
  in.h0 = state.ssm_state;
  in.delta_softplus = true;
  SelectiveScanResult<T> scanned = selective_scan(scan_problem(std::move(in)), threads);
  Tensor<T> out(Shape{batch, 1, dm});
  for (Index b = 0; b < batch; ++b)
    product<T>(dm, di, 1, [&](Index j, Index k) { return w.out_proj_weight(j, k); },
               [&](Index k) { return &scanned.out(b, k, Index{0}); }, &out(b, Index{0}, Index{0}),
               1, false, threads);
  state.conv_state = std::move(window);
  state.ssm_state = std::move(scanned.last_state);
  return out;
}

}  // namespace

Tensor<float> mamba_block_forward(const MambaBlockWeights<float>& w, const Tensor<float>& hidden,
                                  MambaBlockCache<float>* cache, int threads) {
  return forward<float>(w, hidden, cache, nullptr, threads);
}
Tensor<double> mamba_block_forward(const MambaBlockWeights<double>& w, const Tensor<double>& hidden,
                                   MambaBlockCache<double>* cache, int threads) {
  return forward<double>(w, hidden, cache, nullptr, threads);
}
MambaBlockGrads<float> mamba_block_backward(const MambaBlockWeights<float>& w,
                                            const MambaBlockCache<float>& cache,
                                            const Tensor<float>& dout, int threads) {
  return backward(w, cache, dout, threads);
}
MambaBlockGrads<double> mamba_block_backward(const MambaBlockWeights<double>& w,
                                             const MambaBlockCache<double>& cache,
                                             const Tensor<double>& dout, int threads) {
  return backward(w, cache, dout, threads);
}
Tensor<float> mamba_block_prefill(const MambaBlockWeights<float>& w, const Tensor<float>& hidden,
                                  MambaBlockState<float>& state, int threads) {
  return forward<float>(w, hidden, nullptr, &state, threads);
}
Tensor<double> mamba_block_prefill(const MambaBlockWeights<double>& w,
                                   const Tensor<double>& hidden, MambaBlockState<double>& state,
                                   int threads) {
  return forward<double>(w, hidden, nullptr, &state, threads);
}
Tensor<float> mamba_block_step(const MambaBlockWeights<float>& w, const Tensor<float>& hidden,
                               MambaBlockState<float>& state) {
  return step(w, hidden, state);
}
Tensor<double> mamba_block_step(const MambaBlockWeights<double>& w, const Tensor<double>& hidden,
                                MambaBlockState<double>& state) {
  return step(w, hidden, state);
}

}  // namespace touchstone::mamba::cpu
