// The cuda-f32 Mamba block ([MAMBA-BLOCK-CUDA]): the per-thread bodies of its kernels and their
// host-side orchestration, written against a device policy so that the same code runs on a GPU
// (mamba_block.cu, policy CudaBlockDevice) and, without one, on the host
// (tests/mamba/cuda_block_emulation_test.cpp), where every "kernel" is a loop over its threads.
// No kernel uses shared memory, barriers or atomics: each thread computes one output element
// (or one (b, d) sequence) from inputs no other thread writes, so the loop is a faithful model
// of the launch, and the results do not depend on the launch shape or the schedule.
//
// The association order of every body is the CPU float32 block's, operation for operation
// (optimized/cpu/mamba_block.cpp, mamba.cpp); each body cites the CPU code it mirrors.
//
// The device policy `Dev` provides:
//   template <class T> class Buffer                 device memory, .get(); movable
//   template <class T> Buffer<T> alloc(i64 count)  uninitialized
//   template <class T> void to_device(const Buffer<T>&, const T*, i64 count)
//   template <class T> void to_host(T*, const Buffer<T>&, i64 count)
//   template <class F> void each(i64 threads, const F& body)   body(i) for i in [0, threads)
//   SelectiveScanGrads<float> scan_backward(const SelectiveScanBackwardProblem<float>&)
//   void synchronize()                              wait for every launch, report errors
// Launches and copies run in order.
//
// Include only from nvcc or from host C++ (no CUDA header is included here).
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>

#include "common/elementary.hpp"
#include "cuda/mamba_block.hpp"
#include "touchstone/core/errors.hpp"
#include "touchstone/core/tensor.hpp"
#include "touchstone/reference/mamba_block_problem.hpp"
#include "touchstone/reference/mamba_problem.hpp"

#if defined(__CUDACC__)
#define TOUCHSTONE_BLOCK_HD __host__ __device__
#else
#define TOUCHSTONE_BLOCK_HD
#endif

namespace touchstone::mamba::cuda::block_detail {

using i64 = std::int64_t;

// Steps between the forward scan's checkpoints: the CPU's kTimeBlock (optimized/cpu/mamba_lanes.hpp).
inline constexpr i64 kCheckpointBlock = 256;

TOUCHSTONE_BLOCK_HD inline float fmaf_(float a, float b, float c) { return elementary::fma_f(a, b, c); }
TOUCHSTONE_BLOCK_HD inline bool finite_(float x) {
  return (elementary::bits_of(x) & 0x7f800000u) != 0x7f800000u;
}

// ---- Per-thread bodies. Every offset is 64-bit. ----

// A matrix product or a (batch, time) weight-gradient sum, one thread per output element
// (ob, j, i) of extents (nb, rows, cols):
//   Y[ob, j, i] = init[ob, j, i] (or +0), then acc = fmaf(W(ob?, j, k1, k2), X(ob, i, k1, k2), acc)
//   for k1 < K1, k2 < K2 in increasing (k1, k2): the CPU's `product` (mamba_block.cpp) with its
//   reduction index k = k1 K2 + k2 (K1 = 1 for the products over a feature; K1 = batch,
//   K2 = seqlen for the weight gradients, b-major, t increasing).
struct Product {
  const float* W;
  const float* X;
  const float* init;  // null: +0; else an array laid out as Y (may be Y itself)
  float* Y;
  i64 nb, rows, cols, K1, K2;
  i64 w_j, w_k1, w_k2;
  i64 x_b, x_i, x_k1, x_k2;
  i64 y_b, y_j, y_i;
  TOUCHSTONE_BLOCK_HD void operator()(i64 e) const {
    const i64 i = e % cols, j = (e / cols) % rows, ob = e / (cols * rows);
    const i64 yo = ob * y_b + j * y_j + i * y_i;
    float acc = init ? init[yo] : 0.0f;
    const float* wr = W + j * w_j;
    const float* xr = X + ob * x_b + i * x_i;
    for (i64 k1 = 0; k1 < K1; ++k1)
      for (i64 k2 = 0; k2 < K2; ++k2) acc = fmaf_(wr[k1 * w_k1 + k2 * w_k2], xr[k1 * x_k1 + k2 * x_k2], acc);
    Y[yo] = acc;
  }
};

// [MAMBA-BLOCK-CONV] one thread per (b, d, t) of (batch, di, L): the CPU's causal_conv.
// x is the x half of xz, element (b, d, t) at b x_b + d L + t.
struct Conv {
  const float* x;
  const float* W;     // (di, 1, K)
  const float* bias;  // (di,)
  float* xc;          // (batch, di, L) or null
  float* u;           // (batch, di, L) or null: silu(xc)
  i64 di, L, K, x_b;
  TOUCHSTONE_BLOCK_HD void operator()(i64 e) const {
    const i64 t = e % L, d = (e / L) % di, b = e / (L * di);
    const float* xs = x + b * x_b + d * L;
    float acc = bias[d];
    for (i64 k = 0; k < K; ++k) {
      const i64 src = t - (K - 1) + k;
      acc = fmaf_(W[d * K + k], src >= 0 ? xs[src] : 0.0f, acc);
    }
    if (xc) xc[e] = acc;
    if (u) u[e] = elementary::silu_f32(acc);
  }
};

// A = -exp(A_log) (the CPU's state_matrix).
struct NegExp {
  const float* A_log;
  float* A;
  TOUCHSTONE_BLOCK_HD void operator()(i64 e) const { A[e] = -elementary::exp_f32(A_log[e]); }
};

// out[e] = a[e] * b[e] (dA_log = dA * A).
struct Multiply {
  const float* a;
  const float* b;
  float* out;
  TOUCHSTONE_BLOCK_HD void operator()(i64 e) const { out[e] = a[e] * b[e]; }
};

// dst[b dst_b + i] = src[b src_b + i] for i < per: a copy of rows between batched arrays.
struct CopyRows {
  const float* src;
  float* dst;
  i64 per, src_b, dst_b;
  TOUCHSTONE_BLOCK_HD void operator()(i64 e) const {
    const i64 i = e % per, b = e / per;
    dst[b * dst_b + i] = src[b * src_b + i];
  }
};

// Sets *flag when a[e] is not finite (every writer writes 1: the outcome does not depend on the
// schedule).
struct NonFinite {
  const float* a;
  int* flag;
  TOUCHSTONE_BLOCK_HD void operator()(i64 e) const {
    if (!finite_(a[e])) *flag = 1;
  }
};

// The selective scan forward, one thread per (b, d) of (batch, di): the CPU lane's sequence
// (optimized/cpu/mamba.cpp scan_tile, [MAMBA-SCAN-CPU]) with delta_bias, softplus, D and z, B and
// C variable with one group (rows R + n and R + N + n of xdbl):
//   x = delta + bias; dt = x > 20 ? x : softplus(x); s = silu(z); du = dt u; y = +0;
//   for n: a = exp(dt A[d, n]); h[n] = fma(a, h[n], du B[n, t]); y = fma(h[n], C[n, t], y);
//   out = fma(D, u, y) * s.
// h lives in `h` ((batch, di, N): the last state at the end), starting from h0 or +0; with `ck`,
// the state entering every block of 256 steps is saved there ((batch, di, n_blocks, N)).
struct ScanForward {
  const float* u;      // (batch, di, L)
  const float* delta;  // (batch, di, L)
  const float* A;      // (di, N)
  const float* xdbl;   // (batch, R + 2N, L)
  const float* D;      // (di,)
  const float* z;      // element (b, d, t) at b z_b + d L + t
  const float* bias;   // (di,)
  const float* h0;     // (batch, di, N) or null
  float* y;            // (batch, di, L)
  float* h;            // (batch, di, N)
  float* ck;           // (batch, di, n_blocks, N) or null
  i64 di, L, N, R, z_b, n_blocks;
  TOUCHSTONE_BLOCK_HD void operator()(i64 e) const {
    const i64 b = e / di, d = e % di;
    const i64 seq = e * L;  // (b di + d) L
    float* hs = h + e * N;
    for (i64 n = 0; n < N; ++n) hs[n] = h0 ? h0[e * N + n] : 0.0f;
    const float* Bv = xdbl + (b * (R + 2 * N) + R) * L;
    const float* Cv = xdbl + (b * (R + 2 * N) + R + N) * L;
    const float* As = A + d * N;
    const float bd = bias[d], Dd = D[d];
    const float* zs = z + b * z_b + d * L;
    for (i64 t = 0; t < L; ++t) {
      if (ck && t % kCheckpointBlock == 0)
        for (i64 n = 0; n < N; ++n) ck[(e * n_blocks + t / kCheckpointBlock) * N + n] = hs[n];
      const float x = delta[seq + t] + bd;
      const float sp = elementary::softplus_f32(x);
      const float dt = x > 20.0f ? x : sp;
      const float s = elementary::silu_f32(zs[t]);
      const float ut = u[seq + t];
      const float du = dt * ut;
      float acc = 0.0f;
      for (i64 n = 0; n < N; ++n) {
        const float a = elementary::exp_f32(dt * As[n]);
        hs[n] = fmaf_(a, hs[n], du * Bv[n * L + t]);
        acc = fmaf_(hs[n], Cv[n * L + t], acc);
      }
      const float v = fmaf_(Dd, ut, acc);
      y[seq + t] = v * s;
    }
  }
};

// [MAMBA-BLOCK-PREFILL] conv_state[b, d, k] = x[b, d, L - K + k] (+0 before t = 0).
struct ConvStateTail {
  const float* x;  // x half of xz, (b, d, t) at b x_b + d L + t
  float* conv_state;  // (batch, di, K)
  i64 di, L, K, x_b;
  TOUCHSTONE_BLOCK_HD void operator()(i64 e) const {
    const i64 k = e % K, d = (e / K) % di, b = e / (K * di);
    const i64 src = L - K + k;
    conv_state[e] = src >= 0 ? x[b * x_b + d * L + src] : 0.0f;
  }
};

// [MAMBA-BLOCK-STEP] the conv over the rolled state, one thread per (b, d): window =
// (conv_state[1..K-1], x), acc = bias, fma over the K taps (the CPU's causal_conv at the
// window's last position, every tap inside it), u = silu(acc); the window is the new state.
struct StepConv {
  const float* conv_state;  // (batch, di, K)
  const float* xz;          // (batch, 2 di, 1)
  const float* W;
  const float* bias;
  float* window;  // (batch, di, K)
  float* u;       // (batch, di, 1)
  i64 di, K;
  TOUCHSTONE_BLOCK_HD void operator()(i64 e) const {
    const i64 b = e / di, d = e % di;
    float* wnd = window + e * K;
    for (i64 k = 0; k + 1 < K; ++k) wnd[k] = conv_state[e * K + k + 1];
    wnd[K - 1] = xz[b * 2 * di + d];
    float acc = bias[d];
    for (i64 k = 0; k < K; ++k) acc = fmaf_(W[d * K + k], wnd[k], acc);
    u[e] = elementary::silu_f32(acc);
  }
};

// Backward: dxc = du * (s * fma(xc, 1 - s, 1)), s = sigmoid(xc), one thread per (b, d, t).
struct DSilu {
  const float* du;
  const float* xc;
  float* dxc;
  TOUCHSTONE_BLOCK_HD void operator()(i64 e) const {
    const float v = xc[e];
    const float s = elementary::sigmoid_f32(v);
    const float dsilu = s * fmaf_(v, 1.0f - s, 1.0f);
    dxc[e] = du[e] * dsilu;
  }
};

// d conv1d_bias[d] = sum_(b, t) dxc[b, d, t], additions from +0, b-major, t increasing.
struct ConvBiasGrad {
  const float* dxc;
  float* dbias;
  i64 batch, di, L;
  TOUCHSTONE_BLOCK_HD void operator()(i64 d) const {
    float acc = 0.0f;
    for (i64 b = 0; b < batch; ++b)
      for (i64 t = 0; t < L; ++t) acc = acc + dxc[(b * di + d) * L + t];
    dbias[d] = acc;
  }
};

// d conv1d_weight[d, k] = sum_(b, t >= K-1-k) dxc[b, d, t] x[b, d, t - (K-1) + k], fma from +0,
// one thread per (d, k).
struct ConvWeightGrad {
  const float* dxc;
  const float* x;  // x half of xz, (b, d, t) at b x_b + d L + t
  float* dW;       // (di, 1, K)
  i64 batch, di, L, K, x_b;
  TOUCHSTONE_BLOCK_HD void operator()(i64 e) const {
    const i64 d = e / K, k = e % K;
    float acc = 0.0f;
    for (i64 b = 0; b < batch; ++b) {
      const float* g = dxc + (b * di + d) * L;
      const float* xr = x + b * x_b + d * L;
      for (i64 t = std::max<i64>(0, K - 1 - k); t < L; ++t) acc = fmaf_(g[t], xr[t - (K - 1) + k], acc);
    }
    dW[e] = acc;
  }
};

// dx[b, d, s] = sum_k W[d, k] dxc[b, d, s + (K-1) - k] (terms inside the sequence), fma from +0
// in increasing k, one thread per (b, d, s); written to row d of dxz (batch, 2 di, L).
struct ConvInputGrad {
  const float* dxc;
  const float* W;
  float* dxz;
  i64 di, L, K;
  TOUCHSTONE_BLOCK_HD void operator()(i64 e) const {
    const i64 s = e % L, d = (e / L) % di, b = e / (L * di);
    const float* g = dxc + (b * di + d) * L;
    float acc = 0.0f;
    for (i64 k = 0; k < K; ++k) {
      const i64 t = s + (K - 1) - k;
      if (t < L) acc = fmaf_(W[d * K + k], g[t], acc);
    }
    dxz[(b * 2 * di + d) * L + s] = acc;
  }
};

// ---- Host orchestration ----

template <class Dev>
class Run {
 public:
  template <class T>
  using Buffer = typename Dev::template Buffer<T>;

  explicit Run(Dev& dev) : dev_(dev) {}

  Buffer<float> upload(const Tensor<float>& t) {
    Buffer<float> buf = dev_.template alloc<float>(t.count());
    dev_.to_device(buf, t.data(), t.count());
    return buf;
  }
  Tensor<float> download(const Buffer<float>& buf, Shape shape) {
    Tensor<float> t(std::move(shape));
    dev_.to_host(t.data(), buf, t.count());
    return t;
  }
  template <class F>
  void each(i64 threads, const F& body) {
    if (threads > 0) dev_.each(threads, body);
  }

  // Y (nb, rows, cols) by Product; the layout arguments as in Product.
  void product(const float* W, const float* X, const float* init, float* Y, i64 nb, i64 rows,
               i64 cols, i64 K1, i64 K2, i64 w_j, i64 w_k1, i64 w_k2, i64 x_b, i64 x_i, i64 x_k1,
               i64 x_k2, i64 y_b, i64 y_j, i64 y_i) {
    each(nb * rows * cols, Product{W, X, init, Y, nb, rows, cols, K1, K2, w_j, w_k1, w_k2, x_b,
                                   x_i, x_k1, x_k2, y_b, y_j, y_i});
  }

  // The CPU's scan_problem check: an intermediate that overflowed is reported naming hidden,
  // with the first offending index, before the scan runs.
  void require_finite(const Buffer<float>& buf, const Shape& shape, const char* name) {
    Buffer<int> flag = dev_.template alloc<int>(1);
    const int zero = 0;
    dev_.to_device(flag, &zero, 1);
    each(shape.count(), NonFinite{buf.get(), flag.get()});
    int set = 0;
    dev_.to_host(&set, flag, 1);
    if (!set) return;
    const Tensor<float> t = download(buf, shape);
    for (Index i = 0; i < t.count(); ++i)
      if (!finite_(t[i]))
        throw InvalidInput("hidden", std::string("the block's intermediate ") + name +
                                         " is not finite at " + index_string(t.shape(), i) +
                                         ": it overflowed the format (outside the block's "
                                         "domain, spec/mamba_block.md [MAMBA-BLOCK-NONFINITE])");
  }

  struct Weights {
    Buffer<float> in_proj, conv_w, conv_b, x_proj, dt_proj, dt_bias, A_log, D, out_proj, A;
  };
  Weights upload(const MambaBlockWeights<float>& w) {
    Weights d{upload(w.in_proj_weight), upload(w.conv1d_weight), upload(w.conv1d_bias),
              upload(w.x_proj_weight),  upload(w.dt_proj_weight), upload(w.dt_proj_bias),
              upload(w.A_log),          upload(w.D),              upload(w.out_proj_weight),
              dev_.template alloc<float>(w.A_log.count())};
    each(w.A_log.count(), NegExp{d.A_log.get(), d.A.get()});
    return d;
  }

  // [MAMBA-BLOCK-DEF] the CPU block's forward (mamba_block.cpp `forward`).
  Tensor<float> forward(const MambaBlockWeights<float>& w, const Tensor<float>& hidden,
                        MambaBlockCache* cache, MambaBlockState<float>* state) {
    const MambaBlockProblem<float> p(w, hidden);  // validates, as the CPU block
    const MambaBlockDims& s = p.dims();
    const i64 batch = p.batch(), L = p.seqlen(), dm = s.d_model, di = s.d_inner, N = s.d_state,
              R = s.dt_rank, K = s.d_conv, Q = R + 2 * N;
    const i64 n_blocks = (L + kCheckpointBlock - 1) / kCheckpointBlock;
    Weights wd = upload(w);
    Buffer<float> h = upload(hidden);
    // in_proj: xz[b, j, i] = sum_k in_proj[j, k] hidden[b, i, k].
    Buffer<float> xz = dev_.template alloc<float>(batch * 2 * di * L);
    product(wd.in_proj.get(), h.get(), nullptr, xz.get(), batch, 2 * di, L, 1, dm, dm, 0, 1,
            L * dm, dm, 0, 1, 2 * di * L, L, 1);
    // conv, silu.
    Buffer<float> u = dev_.template alloc<float>(batch * di * L);
    each(batch * di * L, Conv{xz.get(), wd.conv_w.get(), wd.conv_b.get(), nullptr, u.get(), di, L, K,
                              2 * di * L});
    // x_proj: xdbl[b, q, i] = sum_k x_proj[q, k] u[b, k, i].
    Buffer<float> xdbl = dev_.template alloc<float>(batch * Q * L);
    product(wd.x_proj.get(), u.get(), nullptr, xdbl.get(), batch, Q, L, 1, di, di, 0, 1, di * L, 1,
            0, L, Q * L, L, 1);
    // dt_proj: delta[b, j, i] = sum_(k < R) dt_proj[j, k] xdbl[b, k, i].
    Buffer<float> delta = dev_.template alloc<float>(batch * di * L);
    product(wd.dt_proj.get(), xdbl.get(), nullptr, delta.get(), batch, di, L, 1, R, R, 0, 1, Q * L,
            1, 0, L, di * L, L, 1);
    // The scan's inputs must be finite (the CPU's scan_problem, in its order: u, delta, A, B, C, z).
    const Shape seq{batch, di, L}, bc{batch, 1, N, L};
    require_finite(u, seq, "u");
    require_finite(delta, seq, "delta");
    require_finite(wd.A, w.A_log.shape(), "A");
    {
      Buffer<float> Cc = dev_.template alloc<float>(batch * N * L);
      each(batch * N * L, CopyRows{xdbl.get() + (R + N) * L, Cc.get(), N * L, Q * L, N * L});
      Buffer<float> Bo = dev_.template alloc<float>(batch * N * L);
      each(batch * N * L, CopyRows{xdbl.get() + R * L, Bo.get(), N * L, Q * L, N * L});
      require_finite(Bo, bc, "B");
      require_finite(Cc, bc, "C");
    }
    Buffer<float> zc = dev_.template alloc<float>(batch * di * L);
    each(batch * di * L, CopyRows{xz.get() + di * L, zc.get(), di * L, 2 * di * L, di * L});
    require_finite(zc, seq, "z");
    // The scan.
    Buffer<float> y = dev_.template alloc<float>(batch * di * L);
    Buffer<float> hs = dev_.template alloc<float>(batch * di * N);
    Buffer<float> ck = dev_.template alloc<float>(cache ? batch * di * n_blocks * N : 0);
    each(batch * di, ScanForward{u.get(), delta.get(), wd.A.get(), xdbl.get(), wd.D.get(), xz.get() + di * L,
                                 wd.dt_bias.get(), nullptr, y.get(), hs.get(), cache ? ck.get() : nullptr,
                                 di, L, N, R, 2 * di * L, n_blocks});
    // out_proj: out[b, i, m] = sum_k out_proj[m, k] y[b, k, i].
    Buffer<float> out = dev_.template alloc<float>(batch * L * dm);
    product(wd.out_proj.get(), y.get(), nullptr, out.get(), batch, dm, L, 1, di, di, 0, 1, di * L,
            1, 0, L, L * dm, 1, dm);
    Tensor<float> result = download(out, Shape{batch, L, dm});
    if (state) {
      Buffer<float> cs = dev_.template alloc<float>(batch * di * K);
      each(batch * di * K, ConvStateTail{xz.get(), cs.get(), di, L, K, 2 * di * L});
      state->conv_state = download(cs, Shape{batch, di, K});
      state->ssm_state = download(hs, Shape{batch, di, N});
    }
    if (cache) {
      Buffer<float> xs = dev_.template alloc<float>(batch * di * L);
      each(batch * di * L, CopyRows{xz.get(), xs.get(), di * L, 2 * di * L, di * L});
      Buffer<float> dts = dev_.template alloc<float>(batch * R * L);
      each(batch * R * L, CopyRows{xdbl.get(), dts.get(), R * L, Q * L, R * L});
      Buffer<float> Bs = dev_.template alloc<float>(batch * N * L);
      each(batch * N * L, CopyRows{xdbl.get() + R * L, Bs.get(), N * L, Q * L, N * L});
      Buffer<float> Cs = dev_.template alloc<float>(batch * N * L);
      each(batch * N * L, CopyRows{xdbl.get() + (R + N) * L, Cs.get(), N * L, Q * L, N * L});
      cache->hidden = hidden;
      cache->x_pre_conv = download(xs, seq);
      cache->u = download(u, seq);
      cache->z = download(zc, seq);
      cache->dt_low = download(dts, Shape{batch, R, L});
      cache->delta = download(delta, seq);
      cache->B = download(Bs, bc);
      cache->C = download(Cs, bc);
      cache->y = download(y, seq);
      cache->checkpoint_block = kCheckpointBlock;
      cache->checkpoint_states = download(ck, Shape{batch, di, n_blocks, N});
    }
    dev_.synchronize();
    return result;
  }

  // The CPU block's backward (mamba_block.cpp `backward`, its order listed there).
  MambaBlockGrads<float> backward(const MambaBlockWeights<float>& w, const MambaBlockCache& c,
                                  const Tensor<float>& dout) {
    const MambaBlockProblem<float> p(w, c.hidden);
    const MambaBlockDims& s = p.dims();
    const i64 batch = p.batch(), L = p.seqlen(), dm = s.d_model, di = s.d_inner, N = s.d_state,
              R = s.dt_rank, K = s.d_conv, Q = R + 2 * N;
    const MambaBlockBackwardProblem<float> q(p, dout);  // validates dout
    MambaBlockGrads<float> g{Tensor<float>(c.hidden.shape()), w};
    const Shape seq{batch, di, L};
    Weights wd = upload(w);
    Buffer<float> dO = upload(dout), yv = upload(c.y);
    // dy[b, d, t] = sum_m out_proj[m, d] dout[b, t, m].
    Buffer<float> dy = dev_.template alloc<float>(batch * di * L);
    product(wd.out_proj.get(), dO.get(), nullptr, dy.get(), batch, di, L, 1, dm, 1, 0, di, L * dm,
            dm, 0, 1, di * L, L, 1);
    // d out_proj[m, d] = sum_(b, t) dout[b, t, m] y[b, d, t].
    Buffer<float> g_out = dev_.template alloc<float>(dm * di);
    product(dO.get(), yv.get(), nullptr, g_out.get(), 1, dm, di, batch, L, 1, L * dm, dm, 0, L,
            di * L, 1, 0, di, 1);
    g.dweights.out_proj_weight = download(g_out, w.out_proj_weight.shape());

    // The scan's backward, from the cache (the CPU's scan_problem checks included).
    SelectiveScanInputs<float> in;
    in.u = c.u;
    in.delta = c.delta;
    in.A = download(wd.A, w.A_log.shape());
    in.B = c.B;
    in.C = c.C;
    in.D = w.D;
    in.z = c.z;
    in.delta_bias = w.dt_proj_bias;
    in.delta_softplus = true;
    for (const auto& [t, name] : {std::pair<const Tensor<float>*, const char*>{&in.u, "u"},
                                  {&in.delta, "delta"}, {&in.A, "A"}, {&in.B, "B"}, {&in.C, "C"},
                                  {&*in.z, "z"}})
      for (Index i = 0; i < t->count(); ++i)
        if (!finite_((*t)[i]))
          throw InvalidInput("hidden", std::string("the block's intermediate ") + name +
                                           " is not finite at " + index_string(t->shape(), i) +
                                           ": it overflowed the format (outside the block's "
                                           "domain, spec/mamba_block.md [MAMBA-BLOCK-NONFINITE])");
    const SelectiveScanBackwardProblem<float> sq(SelectiveScanProblem<float>(std::move(in)),
                                                 download(dy, seq));
    const SelectiveScanGrads<float> sg = dev_.scan_backward(sq);
    {
      Buffer<float> dA = upload(sg.dA), dAlog = dev_.template alloc<float>(w.A_log.count());
      each(w.A_log.count(), Multiply{dA.get(), wd.A.get(), dAlog.get()});
      g.dweights.A_log = download(dAlog, w.A_log.shape());
    }
    g.dweights.D = *sg.dD;
    g.dweights.dt_proj_bias = *sg.ddelta_bias;

    Buffer<float> ddelta = upload(sg.ddelta), dtl = upload(c.dt_low);
    // d dt_proj[d, r] = sum_(b, t) ddelta[b, d, t] dt_low[b, r, t].
    Buffer<float> g_dt = dev_.template alloc<float>(di * R);
    product(ddelta.get(), dtl.get(), nullptr, g_dt.get(), 1, di, R, batch, L, L, di * L, 1, 0, L,
            R * L, 1, 0, R, 1);
    g.dweights.dt_proj_weight = download(g_dt, w.dt_proj_weight.shape());
    // dxdbl = (d dt_low; dB; dC), d dt_low[b, r, t] = sum_d dt_proj[d, r] ddelta[b, d, t].
    Buffer<float> dxdbl = dev_.template alloc<float>(batch * Q * L);
    product(wd.dt_proj.get(), ddelta.get(), nullptr, dxdbl.get(), batch, R, L, 1, di, 1, 0, R,
            di * L, 1, 0, L, Q * L, L, 1);
    {
      Buffer<float> dB = upload(sg.dB), dC = upload(sg.dC);
      each(batch * N * L, CopyRows{dB.get(), dxdbl.get() + R * L, N * L, N * L, Q * L});
      each(batch * N * L, CopyRows{dC.get(), dxdbl.get() + (R + N) * L, N * L, N * L, Q * L});
    }
    // d x_proj[q, d] = sum_(b, t) dxdbl[b, q, t] u[b, d, t].
    Buffer<float> uv = upload(c.u);
    Buffer<float> g_x = dev_.template alloc<float>(Q * di);
    product(dxdbl.get(), uv.get(), nullptr, g_x.get(), 1, Q, di, batch, L, L, Q * L, 1, 0, L,
            di * L, 1, 0, di, 1);
    g.dweights.x_proj_weight = download(g_x, w.x_proj_weight.shape());
    // du = du_s + sum_q x_proj[q, d] dxdbl[b, q, t] (fma from du_s).
    Buffer<float> du = upload(sg.du);
    product(wd.x_proj.get(), dxdbl.get(), du.get(), du.get(), batch, di, L, 1, Q, 1, 0, di, Q * L,
            1, 0, L, di * L, L, 1);

    // silu and conv: xc recomputed by the forward's conv (the same bits).
    Buffer<float> x = upload(c.x_pre_conv);
    Buffer<float> xc = dev_.template alloc<float>(batch * di * L);
    each(batch * di * L, Conv{x.get(), wd.conv_w.get(), wd.conv_b.get(), xc.get(), nullptr, di, L, K, di * L});
    Buffer<float> dxc = dev_.template alloc<float>(batch * di * L);
    each(batch * di * L, DSilu{du.get(), xc.get(), dxc.get()});
    Buffer<float> g_cb = dev_.template alloc<float>(di), g_cw = dev_.template alloc<float>(di * K);
    each(di, ConvBiasGrad{dxc.get(), g_cb.get(), batch, di, L});
    each(di * K, ConvWeightGrad{dxc.get(), x.get(), g_cw.get(), batch, di, L, K, di * L});
    g.dweights.conv1d_bias = download(g_cb, w.conv1d_bias.shape());
    g.dweights.conv1d_weight = download(g_cw, w.conv1d_weight.shape());
    Buffer<float> dxz = dev_.template alloc<float>(batch * 2 * di * L);
    each(batch * di * L, ConvInputGrad{dxc.get(), wd.conv_w.get(), dxz.get(), di, L, K});
    {
      Buffer<float> dz = upload(*sg.dz);
      each(batch * di * L, CopyRows{dz.get(), dxz.get() + di * L, di * L, di * L, 2 * di * L});
    }
    // d in_proj[j, k] = sum_(b, t) dxz[b, j, t] hidden[b, t, k].
    Buffer<float> h = upload(c.hidden);
    Buffer<float> g_in = dev_.template alloc<float>(2 * di * dm);
    product(dxz.get(), h.get(), nullptr, g_in.get(), 1, 2 * di, dm, batch, L, L, 2 * di * L, 1, 0,
            1, L * dm, dm, 0, dm, 1);
    g.dweights.in_proj_weight = download(g_in, w.in_proj_weight.shape());
    // dhidden[b, t, m] = sum_j in_proj[j, m] dxz[b, j, t].
    Buffer<float> dh = dev_.template alloc<float>(batch * L * dm);
    product(wd.in_proj.get(), dxz.get(), nullptr, dh.get(), batch, dm, L, 1, 2 * di, 1, 0, dm,
            2 * di * L, 1, 0, L, L * dm, 1, dm);
    g.dhidden = download(dh, c.hidden.shape());
    dev_.synchronize();
    return g;
  }

  // [MAMBA-BLOCK-STEP] the CPU block's step (mamba_block.cpp `step`).
  Tensor<float> step(const MambaBlockWeights<float>& w, const Tensor<float>& hidden,
                     MambaBlockState<float>& state) {
    const MambaBlockStepProblem<float> p(w, hidden, state);  // validates
    const MambaBlockDims& s = p.dims();
    const i64 batch = p.batch(), dm = s.d_model, di = s.d_inner, N = s.d_state, R = s.dt_rank,
              K = s.d_conv, Q = R + 2 * N;
    Weights wd = upload(w);
    Buffer<float> h = upload(hidden), cs = upload(state.conv_state), h0 = upload(state.ssm_state);
    Buffer<float> xz = dev_.template alloc<float>(batch * 2 * di);
    product(wd.in_proj.get(), h.get(), nullptr, xz.get(), batch, 2 * di, 1, 1, dm, dm, 0, 1, dm, 0,
            0, 1, 2 * di, 1, 1);
    Buffer<float> window = dev_.template alloc<float>(batch * di * K), u = dev_.template alloc<float>(batch * di);
    each(batch * di, StepConv{cs.get(), xz.get(), wd.conv_w.get(), wd.conv_b.get(), window.get(), u.get(), di, K});
    Buffer<float> xdbl = dev_.template alloc<float>(batch * Q), delta = dev_.template alloc<float>(batch * di);
    product(wd.x_proj.get(), u.get(), nullptr, xdbl.get(), batch, Q, 1, 1, di, di, 0, 1, di, 0, 0,
            1, Q, 1, 1);
    product(wd.dt_proj.get(), xdbl.get(), nullptr, delta.get(), batch, di, 1, 1, R, R, 0, 1, Q, 0,
            0, 1, di, 1, 1);
    const Shape seq{batch, di, 1}, bc{batch, 1, N, 1};
    require_finite(u, seq, "u");
    require_finite(delta, seq, "delta");
    require_finite(wd.A, w.A_log.shape(), "A");
    {
      Buffer<float> Bo = dev_.template alloc<float>(batch * N), Co = dev_.template alloc<float>(batch * N);
      each(batch * N, CopyRows{xdbl.get() + R, Bo.get(), N, Q, N});
      each(batch * N, CopyRows{xdbl.get() + R + N, Co.get(), N, Q, N});
      require_finite(Bo, bc, "B");
      require_finite(Co, bc, "C");
    }
    {
      Buffer<float> zc = dev_.template alloc<float>(batch * di);
      each(batch * di, CopyRows{xz.get() + di, zc.get(), di, 2 * di, di});
      require_finite(zc, seq, "z");
    }
    Buffer<float> y = dev_.template alloc<float>(batch * di), hs = dev_.template alloc<float>(batch * di * N);
    each(batch * di, ScanForward{u.get(), delta.get(), wd.A.get(), xdbl.get(), wd.D.get(), xz.get() + di,
                                 wd.dt_bias.get(), h0.get(), y.get(), hs.get(), nullptr, di, 1, N, R,
                                 2 * di, 1});
    Buffer<float> out = dev_.template alloc<float>(batch * dm);
    product(wd.out_proj.get(), y.get(), nullptr, out.get(), batch, dm, 1, 1, di, di, 0, 1, di, 0,
            0, 1, dm, 1, 1);
    Tensor<float> result = download(out, Shape{batch, 1, dm});
    state.conv_state = download(window, Shape{batch, di, K});
    state.ssm_state = download(hs, Shape{batch, di, N});
    dev_.synchronize();
    return result;
  }

 private:
  Dev& dev_;
};

}  // namespace touchstone::mamba::cuda::block_detail
