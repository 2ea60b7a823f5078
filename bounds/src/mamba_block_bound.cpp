// The Mamba block's error bounds: the CPU backends' order, run over Tracked arithmetic
// ([CORE-TRACKED]). Each function below mirrors one part of optimized/cpu/mamba_block.cpp or of
// the selective scan it calls (optimized/cpu/mamba.hpp [MAMBA-SCAN-CPU],
// optimized/cpu/mamba_backward.cpp [MAMBA-BWD-CPU]), operation for operation; the comments name
// the operation each Tracked call bounds. spec/mamba_block.md derives the rules
// ([MAMBA-BLOCK-BOUND-MODEL]).
//
// The same code, with BlockArithmetic::any_order, bounds an implementation of unknown order
// ([MAMBA-BLOCK-BOUND-ANY]): the Engine then turns every reduction (a `Reduction`: dot
// products, conv taps, (batch, t) sums) into an any-order sum of its separately rounded terms,
// every fma into a rounded product and a rounded sum, each step of the scan's two recurrences
// (h forward, lambda backward) into [MAMBA-SCAN-BOUND-STATE] with [MAMBA-SCAN-BOUND-ANY]'s
// constants, and rounds the outputs once more to the storage format.
//
// The Engine and Reduction are in touchstone/bounds/mamba_block_engine.hpp, with
// product_reductions: the projections' matrix products a row of reductions at a time, 8 columns
// to a vector register, every reduction the same to the bit ([MAMBA-BLOCK-PRODUCT-ROWS]).
// The engine's vector helpers are always inlined (mamba_block_engine.hpp): no V8 crosses a call,
// whatever gcc's -Wpsabi says about builds for CPUs without 512-bit registers. gcc reports it where
// the templates are evaluated (the end of the file), so it is off for the whole file.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

#include "touchstone/bounds/mamba_block_bound.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <vector>

#include "touchstone/core/tracked.hpp"
#include "touchstone/bounds/mamba_backward_bound.hpp"
#include "touchstone/bounds/mamba_block_engine.hpp"
#include "touchstone/bounds/mamba_bound.hpp"

namespace touchstone::mamba {

BlockArithmetic block_arithmetic_cpu_f32() {
  // sigmoid_f32 is evaluated in double and rounded once, as silu_f32 ([MAMBA-BLOCK-ELEMENTARY]).
  return {"cpu-f32", format_info(Format::float32), kExpF32Ulps, kSoftplusF32Ulps, kSiluF32Ulps,
          kSigmoidF32Ulps, false, Format::float32};
}
BlockArithmetic block_arithmetic_cpu_f64() {
  // sigmoid_f64 = 1 / (1 + exp(-z)): exp within 1 ulp, two roundings: 2.01 ulp as silu_f64.
  return {"cpu-f64", format_info(Format::float64), kExpF64Ulps, kSoftplusF64Ulps, kSiluF64Ulps,
          kSigmoidF64Ulps, false, Format::float64};
}
BlockArithmetic block_arithmetic_any_order(Format storage, double elementary_ulps) {
  // The compute format of [MAMBA-SCAN-BOUND-ANY]: float64 for float64 storage, else float32.
  BlockArithmetic m;
  m.name = "any-order";
  m.compute = format_info(storage == Format::float64 ? Format::float64 : Format::float32);
  m.storage = storage;
  m.exp_ulps = m.softplus_ulps = m.silu_ulps = m.sigmoid_ulps = elementary_ulps;
  m.any_order = true;
  return m;
}

namespace {

using namespace block_engine;
using TT = std::vector<Tracked>;

// A flat (row-major) array of Tracked with its extents.
struct TArray {
  std::vector<Index> ext;
  TT v;
  TArray() = default;
  explicit TArray(std::vector<Index> e) : ext(std::move(e)) {
    Index n = 1;
    for (Index x : ext) n *= x;
    v.assign(static_cast<std::size_t>(n), Tracked::exact(0));
  }
  Tracked& operator[](Index i) { return v[static_cast<std::size_t>(i)]; }
  const Tracked& operator[](Index i) const { return v[static_cast<std::size_t>(i)]; }
};

TArray exact_array(const Tensor<double>& t) {
  TArray a(t.shape().extents());
  for (Index i = 0; i < t.count(); ++i) a[i] = Tracked::exact(t[i]);
  return a;
}

// The forward pass in the CPU order, keeping what the backward's bound needs.
struct Forward {
  Index batch = 0, L = 0, dm = 0, di = 0, N = 0, R = 0, K = 0;
  TArray x, z, xc, u, dt_low, delta, B, C, A, y, out;  // CPU layouts: (batch, rows, L)
  // The scan's internals: per (b, d, t) the softplus argument, dt, du = dt u, v = fma(D, u, y)
  // and silu(z); per (b, d, t, n) a = exp(dt A); H (b, d, t + 1, n): H row 0 = h_{-1}.
  TArray sx, sdt, sdu, v, sz, a, beta, H;
  TArray conv_state, ssm_state;
};

// hidden (batch, L, dm); `prefix` (batch, di, K-1): the pre-conv x values before t = 0 (zero in a
// forward pass; the conv state's last K-1 values in a step); `h0` (batch, di, N) or zero.
Forward run_forward(Engine& e, const MambaBlockWeights<double>& w, const Tensor<double>& hidden,
                    const Tensor<double>* prefix, const Tensor<double>* h0, bool keep) {
  Forward f;
  const MambaBlockDims s = validate_weights(w);
  f.batch = hidden.extent(0);
  f.L = hidden.extent(1);
  f.dm = s.d_model;
  f.di = s.d_inner;
  f.N = s.d_state;
  f.R = s.dt_rank;
  f.K = s.d_conv;
  const Index batch = f.batch, L = f.L, dm = f.dm, di = f.di, N = f.N, R = f.R, K = f.K;
  const TArray Win = exact_array(w.in_proj_weight), Wc = exact_array(w.conv1d_weight),
               bc = exact_array(w.conv1d_bias), Wx = exact_array(w.x_proj_weight),
               Wdt = exact_array(w.dt_proj_weight), bdt = exact_array(w.dt_proj_bias),
               Dw = exact_array(w.D), Wo = exact_array(w.out_proj_weight), h = exact_array(hidden);
  f.x = TArray({batch, di, L});
  f.z = TArray({batch, di, L});
  // in_proj: x, z = dot over k < dm of in_proj_weight[j, k] hidden[b, t, k].
  // The projections' products are formed a row of reductions at a time ([MAMBA-BLOCK-PRODUCT-ROWS]).
  const auto from_zero = [&](Index, Index) { return Reduction(e); };
  for (Index b = 0; b < batch; ++b)
    product_reductions(
        e, 2 * di, L, dm, true, from_zero, [&](Index j, Index k) { return Win[j * dm + k]; },
        [&](Index k, Index t) { return h[(b * L + t) * dm + k]; },
        [&](Index j, Index t, const Reduction& r) {
          const Tracked v = r.value();
          if (j < di) f.x[(b * di + j) * L + t] = v;
          else f.z[(b * di + j - di) * L + t] = v;
        });
  // conv: acc = bias; acc = fma(W[d, w], x[t - (K-1) + w], acc); u = silu(acc).
  f.xc = TArray({batch, di, L});
  f.u = TArray({batch, di, L});
  for (Index b = 0; b < batch; ++b)
    for (Index d = 0; d < di; ++d)
      for (Index t = 0; t < L; ++t) {
        Reduction r(e, bc[d]);
        for (Index k = 0; k < K; ++k) {
          const Index src = t - (K - 1) + k;
          Tracked xv = Tracked::exact(0);
          if (src >= 0) xv = f.x[(b * di + d) * L + src];
          else if (prefix) xv = Tracked::exact((*prefix)(b, d, (K - 1) + src));
          r.fma(Wc[d * K + k], xv);
        }
        const Tracked acc = r.value();
        f.xc[(b * di + d) * L + t] = acc;
        f.u[(b * di + d) * L + t] = e.silu(acc);
      }
  // x_proj and dt_proj.
  f.dt_low = TArray({batch, R, L});
  f.B = TArray({batch, N, L});
  f.C = TArray({batch, N, L});
  f.delta = TArray({batch, di, L});
  for (Index b = 0; b < batch; ++b) {
    product_reductions(
        e, R + 2 * N, L, di, true, from_zero, [&](Index q, Index d) { return Wx[q * di + d]; },
        [&](Index d, Index t) { return f.u[(b * di + d) * L + t]; },
        [&](Index q, Index t, const Reduction& r) {
          const Tracked v = r.value();
          if (q < R) f.dt_low[(b * R + q) * L + t] = v;
          else if (q < R + N) f.B[(b * N + q - R) * L + t] = v;
          else f.C[(b * N + q - R - N) * L + t] = v;
        });
    product_reductions(
        e, di, L, R, true, from_zero, [&](Index d, Index q) { return Wdt[d * R + q]; },
        [&](Index q, Index t) { return f.dt_low[(b * R + q) * L + t]; },
        [&](Index d, Index t, const Reduction& r) { f.delta[(b * di + d) * L + t] = r.value(); });
  }
  // A = -exp(A_log).
  f.A = TArray({di, N});
  for (Index i = 0; i < di * N; ++i) f.A[i] = neg(e.exp(Tracked::exact(w.A_log[i])));
  // The scan, [MAMBA-SCAN-CPU] order.
  f.y = TArray({batch, di, L});
  if (keep) {
    f.sx = TArray({batch, di, L});
    f.sdt = TArray({batch, di, L});
    f.sdu = TArray({batch, di, L});
    f.v = TArray({batch, di, L});
    f.sz = TArray({batch, di, L});
    f.a = TArray({batch, di, L, N});
    f.beta = TArray({batch, di, L, N});
    f.H = TArray({batch, di, L + 1, N});
  }
  f.ssm_state = TArray({batch, di, N});
  std::vector<Tracked> hs(static_cast<std::size_t>(N));
  e.set_scan_length(L);
  for (Index b = 0; b < batch; ++b)
    for (Index d = 0; d < di; ++d) {
      double W = 0;  // any order: the running maximum of H + G ([MAMBA-SCAN-BOUND-STATE])
      for (Index n = 0; n < N; ++n) {
        const double v0 = h0 ? (*h0)(b, d, n) : 0.0;
        hs[n] = e.any() ? e.scan_initial(v0) : Tracked::exact(v0);
        W = std::max(W, hs[n].computed_mag());
        if (keep) f.H[((b * di + d) * (L + 1)) * N + n] = hs[n];
      }
      for (Index t = 0; t < L; ++t) {
        const Index i = (b * di + d) * L + t;
        const Tracked xarg = e.add(f.delta[i], bdt[d]);  // x = delta + delta_bias
        const Tracked dt = e.softplus(xarg);               // dt = x > 20 ? x : softplus(x)
        const Tracked du = e.mul(dt, f.u[i]);               // du = dt * u
        Reduction yr(e);
        for (Index n = 0; n < N; ++n) {
          const Tracked an = e.exp(e.exp_arg(dt, f.A[d * N + n]));  // a = exp(dt * A)
          const Tracked bu = e.mul(du, f.B[(b * N + n) * L + t]);    // bu = du * B
          // h = fma(a, h, bu); any order: [MAMBA-SCAN-BOUND-STATE]
          hs[n] = e.any() ? e.scan_step(an, hs[n], bu, W) : e.fma(an, hs[n], bu);
          yr.fma(hs[n], f.C[(b * N + n) * L + t]);                   // y = fma(h, C, y)
          if (keep) {
            f.a[i * N + n] = an;
            f.beta[i * N + n] = bu;
            f.H[((b * di + d) * (L + 1) + t + 1) * N + n] = hs[n];
          }
        }
        for (Index n = 0; n < N; ++n) W = std::max(W, hs[n].computed_mag());
        const Tracked yv = yr.value();
        const Tracked vv = e.fma(Dw[d], f.u[i], yv);  // v = fma(D, u, y)
        const Tracked sz = e.silu(f.z[i]);
        f.y[i] = e.mul(vv, sz);                       // out = v * silu(z)
        if (keep) {
          f.sx[i] = xarg;
          f.sdt[i] = dt;
          f.sdu[i] = du;
          f.v[i] = vv;
          f.sz[i] = sz;
        }
      }
      for (Index n = 0; n < N; ++n) f.ssm_state[(b * di + d) * N + n] = hs[n];
    }
  // out_proj.
  f.out = TArray({batch, L, dm});
  for (Index b = 0; b < batch; ++b)
    product_reductions(
        e, dm, L, di, true, from_zero, [&](Index m, Index d) { return Wo[m * di + d]; },
        [&](Index d, Index t) { return f.y[(b * di + d) * L + t]; },
        [&](Index m, Index t, const Reduction& r) { f.out[(b * L + t) * dm + m] = r.value(); });
  // The state after the last token: the last K pre-conv x values, and h.
  f.conv_state = TArray({batch, di, K});
  for (Index b = 0; b < batch; ++b)
    for (Index d = 0; d < di; ++d)
      for (Index k = 0; k < K; ++k) {
        const Index src = L - K + k;
        Tracked v = Tracked::exact(0);
        if (src >= 0) v = f.x[(b * di + d) * L + src];
        else if (prefix && K - 1 + src >= 0) v = Tracked::exact((*prefix)(b, d, K - 1 + src));
        f.conv_state[(b * di + d) * K + k] = v;
      }
  return f;
}

// The bound evaluation's own rounding is covered by this factor ([MAMBA-BLOCK-BOUND-EVAL]).
double slack_for(Index chain) {
  return std::max(std::ldexp(1.0, -20), static_cast<double>(chain) * std::ldexp(1.0, -40));
}

Tensor<double> finish(const Engine& e, const TArray& a, double slack) {
  Tensor<double> t{Shape(a.ext)};
  for (Index i = 0; i < t.count(); ++i) t[i] = e.finish(a[i], slack);
  return t;
}

}  // namespace

MambaBlockBound mamba_block_forward_bound(const MambaBlockProblem<double>& p,
                                          const BlockArithmetic& m) {
  Engine e(m);
  const Forward f = run_forward(e, p.weights(), p.hidden(), nullptr, nullptr, false);
  const double slack = slack_for(f.dm + f.di + f.R + f.K + f.L + f.N + f.di);
  return {finish(e, f.out, slack), {finish(e, f.conv_state, slack), finish(e, f.ssm_state, slack)}};
}

MambaBlockBound mamba_block_step_bound(const MambaBlockStepProblem<double>& p,
                                       const BlockArithmetic& m) {
  Engine e(m);
  const Index batch = p.batch(), di = p.dims().d_inner, K = p.dims().d_conv;
  // The step is the forward's arithmetic on one token after the K-1 values of the state's tail.
  Tensor<double> prefix(Shape{batch, di, K - 1});
  for (Index b = 0; b < batch; ++b)
    for (Index d = 0; d < di; ++d)
      for (Index k = 0; k + 1 < K; ++k) prefix(b, d, k) = p.state().conv_state(b, d, k + 1);
  const Forward f = run_forward(e, p.weights(), p.hidden(), &prefix, &p.state().ssm_state, false);
  const double slack = slack_for(f.dm + f.di + f.R + f.K + f.N + f.di);
  return {finish(e, f.out, slack), {finish(e, f.conv_state, slack), finish(e, f.ssm_state, slack)}};
}

MambaBlockGrads<double> mamba_block_backward_bound(const MambaBlockBackwardProblem<double>& q,
                                                   const BlockArithmetic& m) {
  Engine e(m);
  const MambaBlockWeights<double>& w = q.forward().weights();
  const Forward f = run_forward(e, w, q.forward().hidden(), nullptr, nullptr, true);
  const Index batch = f.batch, L = f.L, dm = f.dm, di = f.di, N = f.N, R = f.R, K = f.K;
  const TArray Win = exact_array(w.in_proj_weight), Wc = exact_array(w.conv1d_weight),
               Wx = exact_array(w.x_proj_weight), Wdt = exact_array(w.dt_proj_weight),
               Dw = exact_array(w.D), Wo = exact_array(w.out_proj_weight),
               dout = exact_array(q.dout()), h = exact_array(q.forward().hidden());
  // Sums over (b, t), b-major and t increasing (l = b L + t), sequential fma from +0 (any order: a
  // Reduction): the products g(i, b, t) x(b, t, j), a row of reductions at a time
  // ([MAMBA-BLOCK-PRODUCT-ROWS]).
  const auto from_zero = [&](Index, Index) { return Reduction(e); };
  auto bt_products = [&](Index rows, Index cols, auto g_at, auto x_at, auto out_at) {
    product_reductions(
        e, rows, cols, batch * L, true, from_zero, [&](Index i, Index l) { return g_at(i, l / L, l % L); },
        [&](Index l, Index j) { return x_at(l / L, l % L, j); },
        [&](Index i, Index j, const Reduction& r) { out_at(i, j) = r.value(); });
  };
  MambaBlockGrads<double> out{Tensor<double>(q.forward().hidden().shape()), w};

  // dy = out_proj_weight^T dout;  d out_proj = dout y^T.
  TArray dy({batch, di, L});
  for (Index b = 0; b < batch; ++b)
    product_reductions(
        e, di, L, dm, true, from_zero, [&](Index d, Index mm) { return Wo[mm * di + d]; },
        [&](Index mm, Index t) { return dout[(b * L + t) * dm + mm]; },
        [&](Index d, Index t, const Reduction& r) { dy[(b * di + d) * L + t] = r.value(); });
  TArray dWo({dm, di});
  bt_products(
      dm, di, [&](Index mm, Index b, Index t) { return dout[(b * L + t) * dm + mm]; },
      [&](Index b, Index t, Index d) { return f.y[(b * di + d) * L + t]; },
      [&](Index mm, Index d) -> Tracked& { return dWo[mm * di + d]; });

  // The scan's backward, [MAMBA-BWD-CPU] order, per (b, d), t = L-1 down to 0.
  // du is a reduction: the scan's g D and d_du dt, then x_proj's products.
  TArray ddelta({batch, di, L}), dz({batch, di, L});
  std::vector<Reduction> du(static_cast<std::size_t>(batch * di * L), Reduction(e));
  // Per (b, d) partial sums over t (the CPU's per-channel chains), summed over b below. In any
  // order one sum of all (b, t) terms, in the slots of b = 0: the terms then come b-major as the
  // parts' concatenation did.
  std::vector<Reduction> dA_part(static_cast<std::size_t>(batch * di * N), Reduction(e)),
      dD_part(static_cast<std::size_t>(batch * di), Reduction(e)),
      dbias_part(static_cast<std::size_t>(batch * di), Reduction(e));
  // Variable dB, dC: per (b, n, t) the channel terms, summed in a fixed order the bound does
  // not rely on (the any-order sum rule).
  std::vector<AnySum> dB_terms(static_cast<std::size_t>(batch * N * L)),
      dC_terms(static_cast<std::size_t>(batch * N * L));
  // CPU order: lam = fma(g, C, lam) then lam = lam a. Any order: lam'_t = a_{t+1} lam'_{t+1} +
  // g_t C_t is the scan's linear recurrence run backwards, bounded by the same
  // [MAMBA-SCAN-BOUND-STATE] step; a_next holds a_{t+1} (1 at t = L - 1, where lam' is 0).
  std::vector<Tracked> lam(static_cast<std::size_t>(N)), a_next(static_cast<std::size_t>(N));
  for (Index b = 0; b < batch; ++b)
    for (Index d = 0; d < di; ++d) {
      std::fill(lam.begin(), lam.end(), Tracked::exact(0));
      std::fill(a_next.begin(), a_next.end(), Tracked::exact(1));
      double W = 0;  // any order: the running maximum of lam's M + E
      const Index pb = e.any() ? 0 : b;  // the partial sums' batch slot
      Reduction& acc_dD = dD_part[pb * di + d];
      Reduction& acc_dbias = dbias_part[pb * di + d];
      for (Index t = L - 1; t >= 0; --t) {
        const Index i = (b * di + d) * L + t;
        const Tracked& go = dy[i];
        const Tracked gl = e.mul(go, f.sz[i]);                       // g = dout * silu(z)
        const Tracked s = e.sigmoid(f.z[i]);                         // s = sigmoid(z)
        const Tracked slope = e.mul(s, e.fma(f.z[i], e.one_minus(s), Tracked::exact(1)));
        dz[i] = e.mul(e.mul(go, f.v[i]), slope);                     // (dout v) slope
        acc_dD.fma(gl, f.u[i]);                                      // dD += g u
        const Tracked du_skip = e.mul(gl, Dw[d]);                    // g * D
        Reduction d_du_r(e), d_dt_r(e);
        for (Index n = 0; n < N; ++n) {
          const Index bn = (b * N + n) * L + t;
          const Tracked& hn = f.H[((b * di + d) * (L + 1) + t + 1) * N + n];
          const Tracked& hp = f.H[((b * di + d) * (L + 1) + t) * N + n];
          const Tracked& an = f.a[i * N + n];
          // lam = fma(g, C, lam); any order: the reverse recurrence's step
          lam[n] = e.any() ? e.scan_step(a_next[n], lam[n], e.mul(gl, f.C[bn]), W)
                           : e.fma(gl, f.C[bn], lam[n]);
          dC_terms[static_cast<std::size_t>(bn)].add(e.mul(gl, hn));  // g * h_t
          d_du_r.fma(lam[n], f.B[bn]);                               // d_du = fma(lam, B, d_du)
          Tracked ex = e.mul(e.mul(lam[n], hp), an);                 // (lam h_{t-1}) a
          if (e.any()) {
            // a h_{t-1} may be formed as h_t - B_bar u_t, as the peer does ([MAMBA-BWD-BOUND-ANY]).
            const Tracked ex2 = e.mul(lam[n], e.sub(hn, f.beta[i * N + n]));
            ex.lo = std::min(ex.lo, ex2.lo);
            ex.hi = std::max(ex.hi, ex2.hi);
            ex.err = std::max(ex.err, ex2.err);
          }
          dA_part[(pb * di + d) * N + n].fma(ex, f.sdt[i]);          // dA += e dt
          d_dt_r.fma(ex, f.A[d * N + n]);                            // d_dt += e A
          dB_terms[static_cast<std::size_t>(bn)].add(e.mul(lam[n], f.sdu[i]));  // lam du
          if (e.any()) a_next[n] = an;
          else lam[n] = e.mul(lam[n], an);                           // lam = lam a
        }
        for (Index n = 0; n < N; ++n) W = std::max(W, lam[n].computed_mag());
        const Tracked d_du = d_du_r.value(), d_dt = d_dt_r.value();
        const Tracked ddt = e.fma(d_du, f.u[i], d_dt);               // fma(d_du, u, d_dt)
        du[i] = Reduction(e, du_skip);
        du[i].fma(d_du, f.sdt[i]);                                   // fma(d_du, dt, g D)
        // ddelta = x > 20 ? ddt : ddt sigmoid(x); where the computed x may fall on either side
        // of 20, the larger of the two errors (|ddt| (1 - sigmoid(x)) <= |ddt| e^-20 apart).
        const Tracked& xa = f.sx[i];
        Tracked dd;
        if (xa.lo - xa.err > 20) {
          dd = ddt;
        } else {
          dd = e.mul(ddt, e.sigmoid(xa));
          if (xa.hi + xa.err > 20) dd.err = std::max(dd.err, ddt.err) + ddt.computed_mag() * 2.0612e-9;
        }
        ddelta[i] = dd;
        acc_dbias.add(dd);                                           // dbias += ddelta
      }
    }
  // Sums over b in increasing order (any order: one any-order sum of all (b, t) terms).
  auto over_batch = [&](const std::vector<Reduction>& part, Index per, Index i) {
    Tracked acc = part[i].value();
    if (!e.any())
      for (Index b = 1; b < batch; ++b) acc = e.add(acc, part[b * per + i].value());
    return acc;
  };
  TArray dA_log({di, N}), dD({di}), dbdt({di});
  for (Index i = 0; i < di * N; ++i) dA_log[i] = e.mul(over_batch(dA_part, di * N, i), f.A[i]);
  for (Index d = 0; d < di; ++d) {
    dD[d] = over_batch(dD_part, di, d);
    dbdt[d] = over_batch(dbias_part, di, d);
  }
  TArray dB({batch, N, L}), dC({batch, N, L});
  for (Index i = 0; i < batch * N * L; ++i) {
    dB[i] = e.any_order_sum(dB_terms[static_cast<std::size_t>(i)]);
    dC[i] = e.any_order_sum(dC_terms[static_cast<std::size_t>(i)]);
  }

  // dt_proj.
  TArray dWdt({di, R}), dxdbl({batch, R + 2 * N, L});
  bt_products(
      di, R, [&](Index d, Index b, Index t) { return ddelta[(b * di + d) * L + t]; },
      [&](Index b, Index t, Index r) { return f.dt_low[(b * R + r) * L + t]; },
      [&](Index d, Index r) -> Tracked& { return dWdt[d * R + r]; });
  for (Index b = 0; b < batch; ++b)
    product_reductions(
        e, R, L, di, true, from_zero, [&](Index r, Index d) { return Wdt[d * R + r]; },
        [&](Index d, Index t) { return ddelta[(b * di + d) * L + t]; },
        [&](Index r, Index t, const Reduction& red) { dxdbl[(b * (R + 2 * N) + r) * L + t] = red.value(); });
  for (Index b = 0; b < batch; ++b)
    for (Index t = 0; t < L; ++t) {
      for (Index n = 0; n < N; ++n) {
        dxdbl[(b * (R + 2 * N) + R + n) * L + t] = dB[(b * N + n) * L + t];
        dxdbl[(b * (R + 2 * N) + R + N + n) * L + t] = dC[(b * N + n) * L + t];
      }
    }
  // x_proj.
  TArray dWx({R + 2 * N, di});
  bt_products(
      R + 2 * N, di, [&](Index qq, Index b, Index t) { return dxdbl[(b * (R + 2 * N) + qq) * L + t]; },
      [&](Index b, Index t, Index d) { return f.u[(b * di + d) * L + t]; },
      [&](Index qq, Index d) -> Tracked& { return dWx[qq * di + d]; });
  // du continues from the scan's du.
  for (Index b = 0; b < batch; ++b)
    product_reductions(
        e, di, L, R + 2 * N, true, [&](Index d, Index t) { return du[(b * di + d) * L + t]; },
        [&](Index d, Index qq) { return Wx[qq * di + d]; },
        [&](Index qq, Index t) { return dxdbl[(b * (R + 2 * N) + qq) * L + t]; },
        [&](Index d, Index t, const Reduction& r) { du[(b * di + d) * L + t] = r; });
  // silu and conv.
  TArray dxc({batch, di, L}), dxz({batch, 2 * di, L}), dWc({di, 1, K}), dbc({di});
  for (Index i = 0; i < batch * di * L; ++i) {
    const Tracked s = e.sigmoid(f.xc[i]);
    const Tracked ds = e.mul(s, e.fma(f.xc[i], e.one_minus(s), Tracked::exact(1)));
    dxc[i] = e.mul(du[i].value(), ds);
  }
  for (Index d = 0; d < di; ++d) {
    Reduction acc(e);
    for (Index b = 0; b < batch; ++b)
      for (Index t = 0; t < L; ++t) acc.add(dxc[(b * di + d) * L + t]);
    dbc[d] = acc.value();
    for (Index k = 0; k < K; ++k) {
      Reduction a(e);
      for (Index b = 0; b < batch; ++b)
        for (Index t = std::max<Index>(0, K - 1 - k); t < L; ++t)
          a.fma(dxc[(b * di + d) * L + t], f.x[(b * di + d) * L + t - (K - 1) + k]);
      dWc[d * K + k] = a.value();
    }
    for (Index b = 0; b < batch; ++b)
      for (Index s2 = 0; s2 < L; ++s2) {
        Reduction a(e);
        for (Index k = 0; k < K; ++k) {
          const Index t = s2 + (K - 1) - k;
          if (t < L) a.fma(Wc[d * K + k], dxc[(b * di + d) * L + t]);
        }
        dxz[(b * 2 * di + d) * L + s2] = a.value();
        dxz[(b * 2 * di + di + d) * L + s2] = dz[(b * di + d) * L + s2];
      }
  }
  // in_proj.
  TArray dWin({2 * di, dm}), dh({batch, L, dm});
  bt_products(
      2 * di, dm, [&](Index j, Index b, Index t) { return dxz[(b * 2 * di + j) * L + t]; },
      [&](Index b, Index t, Index k) { return h[(b * L + t) * dm + k]; },
      [&](Index j, Index k) -> Tracked& { return dWin[j * dm + k]; });
  for (Index b = 0; b < batch; ++b)
    product_reductions(
        e, dm, L, 2 * di, true, from_zero, [&](Index k, Index j) { return Win[j * dm + k]; },
        [&](Index j, Index t) { return dxz[(b * 2 * di + j) * L + t]; },
        [&](Index k, Index t, const Reduction& r) { dh[(b * L + t) * dm + k] = r.value(); });

  const double slack = slack_for(3 * (dm + di + R + K + N) + 4 * batch * L + batch * di);
  out.dhidden = finish(e, dh, slack);
  MambaBlockWeights<double>& g = out.dweights;
  g.in_proj_weight = finish(e, dWin, slack);
  g.conv1d_weight = finish(e, dWc, slack);
  g.conv1d_bias = finish(e, dbc, slack);
  g.x_proj_weight = finish(e, dWx, slack);
  g.dt_proj_weight = finish(e, dWdt, slack);
  g.dt_proj_bias = finish(e, dbdt, slack);
  g.A_log = finish(e, dA_log, slack);
  g.D = finish(e, dD, slack);
  g.out_proj_weight = finish(e, dWo, slack);
  return out;
}

}  // namespace touchstone::mamba
