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
#include "touchstone/bounds/mamba_block_bound.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <vector>

#include "touchstone/core/tracked.hpp"
#include "touchstone/bounds/mamba_backward_bound.hpp"
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

using TT = std::vector<Tracked>;

Tracked neg(const Tracked& x) { return {-x.hi, -x.lo, x.err}; }

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

constexpr double kTinyD = 4.9406564584124654e-324;  // 2^-1074

bool exact_zero(const Tracked& t) { return t.lo == 0 && t.hi == 0 && t.err == 0; }

class Engine {
 public:
  Engine(const BlockArithmetic& m) : m_(m), r_(Rounding::of(m.compute)) {}

  bool any() const { return m_.any_order; }
  const Rounding& rounding() const { return r_; }

  // Checks an intermediate against the format's range ([MAMBA-BLOCK-BOUND-MODEL]): once any may
  // overflow, every bound of the run is +inf.
  const Tracked& check(const Tracked& t) {
    if (t.overflows(r_)) overflow_ = true;
    return t;
  }
  Tracked add(const Tracked& x, const Tracked& y) { return check(touchstone::add(x, y, r_)); }
  Tracked mul(const Tracked& x, const Tracked& y) { return check(touchstone::mul(x, y, r_)); }
  Tracked sub(const Tracked& x, const Tracked& y) { return check(touchstone::sub(x, y, r_)); }
  // One fma of the CPU order; in any order a rounded product, then a rounded sum, whose bound
  // dominates the fma's (the product's rounding error is added to the sum's propagated error).
  Tracked fma(const Tracked& x, const Tracked& y, const Tracked& z) {
    if (m_.any_order) return add(mul(x, y), z);
    return check(touchstone::fma(x, y, z, r_));
  }
  // exp's argument dt A: one rounded product; in any order up to 3 roundings, which covers
  // exp2(dt A log2 e) ([MAMBA-SCAN-BOUND-ANY], exp_arg_roundings = 3).
  Tracked exp_arg(const Tracked& dt, const Tracked& A) {
    Tracked p = mul(dt, A);
    if (m_.any_order)
      for (int k = 1; k < 3; ++k) p.err += r_.u * p.computed_mag() + r_.eta;
    return check(p);
  }

  // [MAMBA-BLOCK-BOUND-ANY] The scan's recurrences in any order. set_scan_length(L) fixes the
  // constants of [MAMBA-SCAN-BOUND-ANY] for a recurrence of L steps: k = 2 roundings per step,
  // a term (or the initial state) enters through at most c = L + 1 roundings, at most
  // 2 (L + 1) underflow errors per step, each scaled by 1 + W (W: the running maximum of
  // H + G over the channel's states, products of a's being formed).
  void set_scan_length(Index L) {
    const double leaves = static_cast<double>(L) + 1;
    g_step_ = gamma_k(r_.u, 2);
    g_term_ = gamma_k(r_.u, leaves);
    underflows_ = 2 * leaves;
  }
  // The initial state's error: ((1+u)^c0 - 1) |h0| ([MAMBA-SCAN-BOUND-STATE] G_{-1}).
  Tracked scan_initial(double h0) const { return {h0, h0, g_term_ * std::fabs(h0)}; }
  // One step h = a h_prev + beta of [MAMBA-SCAN-BOUND-STATE], with computed a, h_prev and
  // beta (magnitudes M, errors E = G for the state):
  // G = (1+u)^k (Ma + Ea) G_prev + (((1+u)^k - 1) Ma + (1+u)^k Ea) H_prev
  //     + ((1+u)^c - 1) M_beta + (1+u)^c E_beta + m eta (1 + W).
  Tracked scan_step(const Tracked& a, const Tracked& h, const Tracked& beta, double W) {
    Tracked s = tracked_detail::interval_add(tracked_detail::interval_mul(a, {h.lo, h.hi, 0}),
                                             {beta.lo, beta.hi, 0});
    const double q_step = 1 + g_step_, Ma = a.mag(), Ea = a.err, H = h.mag(), G = h.err;
    s.err = q_step * (Ma + Ea) * G + (g_step_ * Ma + q_step * Ea) * H + g_term_ * beta.mag() +
            (1 + g_term_) * beta.err + underflows_ * r_.eta * (1 + W);
    return check(s);
  }
  Tracked exp(const Tracked& x) { return check(touchstone::exp(x, m_.exp_ulps, r_)); }
  Tracked silu(const Tracked& x) { return check(touchstone::silu(x, m_.silu_ulps, r_)); }
  Tracked sigmoid(const Tracked& x) { return check(touchstone::sigmoid(x, m_.sigmoid_ulps, r_)); }
  Tracked softplus(const Tracked& x) {
    return check(touchstone::softplus_thresholded(x, m_.softplus_ulps, r_));
  }
  // 1 - s, one rounding.
  Tracked one_minus(const Tracked& s) { return add(Tracked::exact(1), neg(s)); }

  // A sum of `terms` in an unknown order with separate roundings (no underflow: sums are exact
  // there): |error| <= sum E_i + ((1+u)^(n-1) - 1) sum (|t_i| + E_i) ([MAMBA-BLOCK-BOUND-SUM]).
  Tracked any_order_sum(const TT& terms) {
    Tracked s = Tracked::exact(0);
    double prop = 0, mags = 0;
    for (const Tracked& t : terms) {
      s.lo += t.lo;
      s.hi += t.hi;
      prop += t.err;
      mags += t.mag() + t.err;
    }
    const double n = static_cast<double>(std::max<std::size_t>(terms.size(), 1) - 1);
    if (m_.any_order) {
      // The enclosure moved outwards by the double sums' own rounding (at most n 2^-53 of the
      // terms' magnitudes), so that it holds the exact value for certain: the storage rounding
      // in `finish` uses it directly.
      const double move = 0x1p-51 * (n + 1) * mags + kTinyD;
      s.lo -= move;
      s.hi += move;
    }
    const double g = std::expm1(n * std::log1p(r_.u));
    s.err = prop + g * mags;
    // In some order a partial sum may reach sum (|t_i| + E_i) (1 + gamma): it must stay in range.
    if (!(mags * (1 + g) <= r_.max_finite)) overflow_ = true;
    return check(s);
  }

  bool overflow() const { return overflow_; }

  // The final bound of an element ([MAMBA-BLOCK-BOUND-EVAL]).
  // In any order the output is rounded once more to the storage format when it differs from the
  // compute format ([MAMBA-SCAN-BOUND-ANY]): E += u_s (M + E) + eta_s, and the computed value
  // must be in the storage format's range. Where the computed value is known to within a few
  // storage cells (values in float16's subnormal range) the rounding's actual reach is sharper:
  // rounding to nearest is monotone, so with the computed value c in [lo - E, hi + E] and the
  // exact x in [lo, hi], |rn(c) - x| <= max(rn(hi + E) - lo, hi - rn(lo - E)); the smaller of
  // the two bounds holds.
  double finish(const Tracked& t, double slack) const {
    constexpr double inf = std::numeric_limits<double>::infinity();
    if (overflow_ || t.overflows(r_)) return inf;
    double E = t.err;
    const FormatInfo& sf = format_info(m_.storage);
    if (m_.any_order && (sf.precision != m_.compute.precision || sf.emin != m_.compute.emin)) {
      if (!(t.computed_mag() <= sf.max_finite)) return inf;
      const double usual = E + sf.u * t.computed_mag() + std::max(sf.eta, kTinyD);
      // The ends of c's range, moved outwards by their own double rounding (and E's, by slack).
      const double Es = E * (1 + slack);
      const double clo = t.lo - Es - 0x1p-52 * (std::fabs(t.lo) + Es) - kTinyD;
      const double chi = t.hi + Es + 0x1p-52 * (std::fabs(t.hi) + Es) + kTinyD;
      const double up = round_to_format(chi, m_.storage) - t.lo,
                   down = t.hi - round_to_format(clo, m_.storage);
      const double sharp = std::max(up, down) * (1 + 0x1p-50) + kTinyD;
      E = std::min(usual, sharp);
    }
    return E * (1 + slack) + kTinyD;
  }

 private:
  BlockArithmetic m_;
  Rounding r_;
  bool overflow_ = false;
  double g_step_ = 0, g_term_ = 0, underflows_ = 0;  // set_scan_length
};

// One reduction (a sum of products and terms, from an initial value). In the CPU order a
// sequential chain: acc = fma(x, y, acc) or acc = acc + t, in call order. In any order the list
// of its terms, each product rounded on its own, summed by any_order_sum: every term then passes
// through at most n roundings (its product's and n - 1 additions; an fma merges the two), so
// this covers every order with or without fma ([MAMBA-BLOCK-BOUND-ANY]). Terms that are exact
// zeros (a zero tap) are left out: adding or fma-ing them is exact.
class Reduction {
 public:
  explicit Reduction(Engine& e, const Tracked& init = Tracked::exact(0)) : e_(&e), seq_(init) {
    if (e.any()) push(init);
  }
  void fma(const Tracked& x, const Tracked& y) {
    if (!e_->any()) seq_ = e_->fma(x, y, seq_);
    else if (!exact_zero(x) && !exact_zero(y)) terms_.push_back(e_->mul(x, y));
  }
  void add(const Tracked& t) {
    if (!e_->any()) seq_ = e_->add(seq_, t);
    else push(t);
  }
  // CPU order: this sum plus `o`'s (one addition); any order: the union of the terms.
  void merge(const Reduction& o) {
    if (!e_->any()) seq_ = e_->add(seq_, o.seq_);
    else terms_.insert(terms_.end(), o.terms_.begin(), o.terms_.end());
  }
  Tracked value() const { return e_->any() ? e_->any_order_sum(terms_) : seq_; }

 private:
  void push(const Tracked& t) {
    if (!exact_zero(t)) terms_.push_back(t);
  }
  Engine* e_;
  Tracked seq_;
  TT terms_;
};

// The forward pass in the CPU order, keeping what the backward's bound needs.
struct Forward {
  Index batch = 0, L = 0, dm = 0, di = 0, N = 0, R = 0, K = 0;
  TArray x, z, xc, u, dt_low, delta, B, C, A, y, out;  // CPU layouts: (batch, rows, L)
  // The scan's internals: per (b, d, t) the softplus argument, dt, du = dt u, v = fma(D, u, y)
  // and silu(z); per (b, d, t, n) a = exp(dt A); H (b, d, t + 1, n): H row 0 = h_{-1}.
  TArray sx, sdt, sdu, v, sz, a, beta, H;
  TArray conv_state, ssm_state;
};

// Sequential fma dot from `acc`: acc = fma(w_k, x_k, acc), k increasing (the CPU `product`).
// In any order: an any-order sum of acc and the products (a Reduction).
template <class WAt, class XAt>
Tracked dot(Engine& e, Tracked acc, Index n, WAt w, XAt x) {
  Reduction r(e, acc);
  for (Index k = 0; k < n; ++k) r.fma(w(k), x(k));
  return r.value();
}

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
  for (Index b = 0; b < batch; ++b)
    for (Index j = 0; j < 2 * di; ++j)
      for (Index t = 0; t < L; ++t) {
        const Tracked v = dot(
            e, Tracked::exact(0), dm, [&](Index k) { return Win[j * dm + k]; },
            [&](Index k) { return h[(b * L + t) * dm + k]; });
        if (j < di) f.x[(b * di + j) * L + t] = v;
        else f.z[(b * di + j - di) * L + t] = v;
      }
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
    for (Index q = 0; q < R + 2 * N; ++q)
      for (Index t = 0; t < L; ++t) {
        const Tracked v = dot(
            e, Tracked::exact(0), di, [&](Index d) { return Wx[q * di + d]; },
            [&](Index d) { return f.u[(b * di + d) * L + t]; });
        if (q < R) f.dt_low[(b * R + q) * L + t] = v;
        else if (q < R + N) f.B[(b * N + q - R) * L + t] = v;
        else f.C[(b * N + q - R - N) * L + t] = v;
      }
    for (Index d = 0; d < di; ++d)
      for (Index t = 0; t < L; ++t)
        f.delta[(b * di + d) * L + t] = dot(
            e, Tracked::exact(0), R, [&](Index q) { return Wdt[d * R + q]; },
            [&](Index q) { return f.dt_low[(b * R + q) * L + t]; });
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
    for (Index m = 0; m < dm; ++m)
      for (Index t = 0; t < L; ++t)
        f.out[(b * L + t) * dm + m] = dot(
            e, Tracked::exact(0), di, [&](Index d) { return Wo[m * di + d]; },
            [&](Index d) { return f.y[(b * di + d) * L + t]; });
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
  // Sums over (b, t), b-major and t increasing, sequential fma from +0 (any order: a Reduction).
  auto bt_dot = [&](auto g_at, auto x_at) {
    Reduction acc(e);
    for (Index b = 0; b < batch; ++b)
      for (Index t = 0; t < L; ++t) acc.fma(g_at(b, t), x_at(b, t));
    return acc.value();
  };
  MambaBlockGrads<double> out{Tensor<double>(q.forward().hidden().shape()), w};

  // dy = out_proj_weight^T dout;  d out_proj = dout y^T.
  TArray dy({batch, di, L});
  for (Index b = 0; b < batch; ++b)
    for (Index d = 0; d < di; ++d)
      for (Index t = 0; t < L; ++t)
        dy[(b * di + d) * L + t] = dot(
            e, Tracked::exact(0), dm, [&](Index mm) { return Wo[mm * di + d]; },
            [&](Index mm) { return dout[(b * L + t) * dm + mm]; });
  TArray dWo({dm, di});
  for (Index mm = 0; mm < dm; ++mm)
    for (Index d = 0; d < di; ++d)
      dWo[mm * di + d] = bt_dot([&](Index b, Index t) { return dout[(b * L + t) * dm + mm]; },
                                [&](Index b, Index t) { return f.y[(b * di + d) * L + t]; });

  // The scan's backward, [MAMBA-BWD-CPU] order, per (b, d), t = L-1 down to 0.
  // du is a reduction: the scan's g D and d_du dt, then x_proj's products.
  TArray ddelta({batch, di, L}), dz({batch, di, L});
  std::vector<Reduction> du(static_cast<std::size_t>(batch * di * L), Reduction(e));
  // Per (b, d) partial sums over t (the CPU's per-channel chains), summed over b below.
  std::vector<Reduction> dA_part(static_cast<std::size_t>(batch * di * N), Reduction(e)),
      dD_part(static_cast<std::size_t>(batch * di), Reduction(e)),
      dbias_part(static_cast<std::size_t>(batch * di), Reduction(e));
  // Variable dB, dC: per (b, n, t) the channel terms, summed in a fixed order the bound does
  // not rely on (the any-order sum rule).
  std::vector<TT> dB_terms(static_cast<std::size_t>(batch * N * L)),
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
      Reduction& acc_dD = dD_part[b * di + d];
      Reduction& acc_dbias = dbias_part[b * di + d];
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
          dC_terms[static_cast<std::size_t>(bn)].push_back(e.mul(gl, hn));  // g * h_t
          d_du_r.fma(lam[n], f.B[bn]);                               // d_du = fma(lam, B, d_du)
          Tracked ex = e.mul(e.mul(lam[n], hp), an);                 // (lam h_{t-1}) a
          if (e.any()) {
            // a h_{t-1} may be formed as h_t - B_bar u_t, as the peer does ([MAMBA-BWD-BOUND-ANY]).
            const Tracked ex2 = e.mul(lam[n], e.sub(hn, f.beta[i * N + n]));
            ex.lo = std::min(ex.lo, ex2.lo);
            ex.hi = std::max(ex.hi, ex2.hi);
            ex.err = std::max(ex.err, ex2.err);
          }
          dA_part[(b * di + d) * N + n].fma(ex, f.sdt[i]);           // dA += e dt
          d_dt_r.fma(ex, f.A[d * N + n]);                            // d_dt += e A
          dB_terms[static_cast<std::size_t>(bn)].push_back(e.mul(lam[n], f.sdu[i]));  // lam du
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
    if (!e.any()) {
      Tracked acc = part[i].value();
      for (Index b = 1; b < batch; ++b) acc = e.add(acc, part[b * per + i].value());
      return acc;
    }
    Reduction all(e);
    for (Index b = 0; b < batch; ++b) all.merge(part[b * per + i]);
    return all.value();
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
  for (Index d = 0; d < di; ++d)
    for (Index r = 0; r < R; ++r)
      dWdt[d * R + r] = bt_dot([&](Index b, Index t) { return ddelta[(b * di + d) * L + t]; },
                               [&](Index b, Index t) { return f.dt_low[(b * R + r) * L + t]; });
  for (Index b = 0; b < batch; ++b)
    for (Index t = 0; t < L; ++t) {
      for (Index r = 0; r < R; ++r)
        dxdbl[(b * (R + 2 * N) + r) * L + t] = dot(
            e, Tracked::exact(0), di, [&](Index d) { return Wdt[d * R + r]; },
            [&](Index d) { return ddelta[(b * di + d) * L + t]; });
      for (Index n = 0; n < N; ++n) {
        dxdbl[(b * (R + 2 * N) + R + n) * L + t] = dB[(b * N + n) * L + t];
        dxdbl[(b * (R + 2 * N) + R + N + n) * L + t] = dC[(b * N + n) * L + t];
      }
    }
  // x_proj.
  TArray dWx({R + 2 * N, di});
  for (Index qq = 0; qq < R + 2 * N; ++qq)
    for (Index d = 0; d < di; ++d)
      dWx[qq * di + d] =
          bt_dot([&](Index b, Index t) { return dxdbl[(b * (R + 2 * N) + qq) * L + t]; },
                 [&](Index b, Index t) { return f.u[(b * di + d) * L + t]; });
  for (Index b = 0; b < batch; ++b)
    for (Index d = 0; d < di; ++d)
      for (Index t = 0; t < L; ++t) {
        Reduction& acc = du[(b * di + d) * L + t];  // continues from the scan's du
        for (Index qq = 0; qq < R + 2 * N; ++qq)
          acc.fma(Wx[qq * di + d], dxdbl[(b * (R + 2 * N) + qq) * L + t]);
      }
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
  for (Index j = 0; j < 2 * di; ++j)
    for (Index k = 0; k < dm; ++k)
      dWin[j * dm + k] = bt_dot([&](Index b, Index t) { return dxz[(b * 2 * di + j) * L + t]; },
                                [&](Index b, Index t) { return h[(b * L + t) * dm + k]; });
  for (Index b = 0; b < batch; ++b)
    for (Index t = 0; t < L; ++t)
      for (Index k = 0; k < dm; ++k)
        dh[(b * L + t) * dm + k] = dot(
            e, Tracked::exact(0), 2 * di, [&](Index j) { return Win[j * dm + k]; },
            [&](Index j) { return dxz[(b * 2 * di + j) * L + t]; });

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
