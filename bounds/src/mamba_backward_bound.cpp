// Evaluation of the selective scan backward bounds (spec/mamba.md [MAMBA-BWD-BOUND-CPU],
// [MAMBA-BWD-BOUND-ANY]): the backward pass of optimized/cpu/mamba_backward.cpp, operation by
// operation in its order, over Tracked values ([CORE-TRACKED]). The forward quantities (dt, a,
// h, v) are tracked the same way: the backward recomputes them bit for bit as the forward does.
#include "touchstone/bounds/mamba_backward_bound.hpp"

#include <cmath>
#include <limits>
#include <vector>

#include "touchstone/core/tracked.hpp"
#include "touchstone/bounds/mamba_bound.hpp"

namespace touchstone::mamba {

namespace {
BackwardArithmetic sequential(const char* name, Format f) {
  BackwardArithmetic m;
  m.name = name;
  m.compute = m.storage = format_info(f);
  return m;
}
}  // namespace

BackwardArithmetic backward_arithmetic_cpu_f32() {
  BackwardArithmetic m = sequential("cpu-f32", Format::float32);
  m.exp_ulps = kExpF32Ulps;
  m.softplus_ulps = kSoftplusF32Ulps;
  m.silu_ulps = kSiluF32Ulps;
  m.sigmoid_ulps = kSigmoidF32Ulps;
  return m;
}

BackwardArithmetic backward_arithmetic_cpu_f64() {
  BackwardArithmetic m = sequential("cpu-f64", Format::float64);
  m.exp_ulps = kExpF64Ulps;
  m.softplus_ulps = kSoftplusF64Ulps;
  m.silu_ulps = kSiluF64Ulps;
  m.sigmoid_ulps = kSigmoidF64Ulps;
  return m;
}

BackwardArithmetic backward_arithmetic_any_order(Format storage, double elementary_ulps) {
  BackwardArithmetic m = sequential("any-order", storage == Format::float64 ? Format::float64
                                                                          : Format::float32);
  m.storage = format_info(storage);
  m.exp_ulps = m.softplus_ulps = m.silu_ulps = m.sigmoid_ulps = elementary_ulps;
  m.any_order = true;
  return m;
}

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// The operations of one backend: fma fused, or (any order) a rounded product then a sum. The
// unfused product is an intermediate that may overflow while the sum does not (an addend just
// below the format's largest value cancelling it): it reports to `overflow`, the lane's flag.
struct Ops {
  Rounding r;
  bool fused;
  bool* overflow = nullptr;
  Tracked fma(const Tracked& x, const Tracked& y, const Tracked& z) const {
    if (fused) return touchstone::fma(x, y, z, r);
    const Tracked p = touchstone::mul(x, y, r);
    if (overflow && p.overflows(r)) *overflow = true;
    return touchstone::add(p, z, r);
  }
  Tracked mul(const Tracked& x, const Tracked& y) const { return touchstone::mul(x, y, r); }
  Tracked add(const Tracked& x, const Tracked& y) const { return touchstone::add(x, y, r); }
};

// A per-channel sequential accumulator (fma chain), or, in any order, a TrackedSum of the terms.
// `overflow` records whether a partial sum may leave the format's range.
struct Accumulator {
  Tracked seq{};
  TrackedSum any;
  bool overflow = false;
  void add_product(const Ops& o, bool any_order, const Tracked& x, const Tracked& y) {
    if (any_order) any.add_term(o.mul(x, y));
    else seq = o.fma(x, y, seq);
    note(o, any_order);
  }
  void add_term(const Ops& o, bool any_order, const Tracked& x) {
    if (any_order) any.add_term(x);
    else seq = o.add(seq, x);
    note(o, any_order);
  }
  void note(const Ops& o, bool any_order) {
    if (any_order ? any.may_overflow(o.r) : seq.overflows(o.r)) overflow = true;
  }
  Tracked value(const Ops& o, bool any_order) const { return any_order ? any.result(o.r) : seq; }
};

double finish(const Tracked& t, bool overflow, const BackwardArithmetic& m, double slack) {
  if (overflow) return kInf;
  double E = t.err;
  const bool narrower = m.storage.precision != m.compute.precision || m.storage.emin != m.compute.emin;
  if (narrower) E += m.storage.u * (t.mag() + E) + std::max(m.storage.eta, 4.9406564584124654e-324);
  return E * (1 + slack) + 4.9406564584124654e-324;
}

}  // namespace

SelectiveScanGrads<double> selective_scan_backward_bound(const SelectiveScanBackwardProblem<double>& q,
                                                         const BackwardArithmetic& m) {
  const SelectiveScanProblem<double>& p = q.forward();
  const auto& in = p.in();
  Ops o{Rounding::of(m.compute), !m.any_order};
  const Rounding& r = o.r;
  const bool any = m.any_order;
  const Index batch = p.batch(), dim = p.dim(), N = p.dstate(), L = p.seqlen();
  // [MAMBA-SCAN-BOUND-EVAL]'s argument, for the longer chains of the backward pass.
  const double eval_slack = std::max(std::ldexp(1.0, -20),
                                     static_cast<double>(L * (N + 4) + batch * dim) * std::ldexp(1.0, -40));
  // The any-order bound evaluates a different expression for the same errors; 4x the slack lets
  // it dominate each backend's bound where the two models coincide up to binary64 rounding.
  const double slack = any ? 4 * eval_slack : eval_slack;
  const GroupedOperand &Bl = p.B_layout(), &Cl = p.C_layout();
  auto X = [](double v) { return Tracked::exact(v); };

  SelectiveScanGrads<double> out{Tensor<double>(in.u.shape()), Tensor<double>(in.delta.shape()),
                                 Tensor<double>(in.A.shape()), Tensor<double>(in.B.shape()),
                                 Tensor<double>(in.C.shape()), {}, {}, {}, {}};
  if (in.D) out.dD = Tensor<double>(in.D->shape());
  if (in.z) out.dz = Tensor<double>(in.z->shape());
  if (in.delta_bias) out.ddelta_bias = Tensor<double>(in.delta_bias->shape());
  if (in.h0) out.dh0 = Tensor<double>(in.h0->shape());

  // Cross-channel and cross-batch sums ([CORE-TRACKED-SUM]) and their overflow flags.
  std::vector<TrackedSum> sum_dB(static_cast<std::size_t>(in.B.count())),
      sum_dC(static_cast<std::size_t>(in.C.count())), sum_dA(static_cast<std::size_t>(dim * N)),
      sum_dD(static_cast<std::size_t>(dim)), sum_dbias(static_cast<std::size_t>(dim));
  std::vector<char> of_dB(sum_dB.size(), 0), of_dC(sum_dC.size(), 0), of_dA(sum_dA.size(), 0),
      of_dim(static_cast<std::size_t>(dim), 0);
  auto B_index = [&](Index b, Index d, Index n, Index t) {
    return Bl.variable ? ((b * Bl.groups + Bl.group_of(d)) * N + n) * L + t : d * N + n;
  };
  auto C_index = [&](Index b, Index d, Index n, Index t) {
    return Cl.variable ? ((b * Cl.groups + Cl.group_of(d)) * N + n) * L + t : d * N + n;
  };

  std::vector<Tracked> x(L), dt(L), du(L), v(L), a(L * N), H((L + 1) * N), lam(N);
  std::vector<Accumulator> acc_dA(N), acc_dB(N), acc_dC(N);
  for (Index b = 0; b < batch; ++b) {
    for (Index d = 0; d < dim; ++d) {
      bool overflow = false;
      o.overflow = &overflow;
      auto watch = [&](const Tracked& t) {
        if (t.overflows(r)) overflow = true;
        return t;
      };
      // The forward quantities, as the forward pass computes them.
      for (Index n = 0; n < N; ++n) H[n] = X(in.h0 ? (*in.h0)(b, d, n) : 0.0);
      for (Index t = 0; t < L; ++t) {
        x[t] = in.delta_bias ? watch(o.add(X(in.delta(b, d, t)), X((*in.delta_bias)[d])))
                             : X(in.delta(b, d, t));
        dt[t] = in.delta_softplus ? watch(softplus_thresholded(x[t], m.softplus_ulps, r)) : x[t];
        const Tracked uu = X(in.u(b, d, t));
        du[t] = watch(o.mul(dt[t], uu));
        Tracked y = X(0);
        for (Index n = 0; n < N; ++n) {
          a[t * N + n] = watch(exp(watch(o.mul(dt[t], X(in.A(d, n)))), m.exp_ulps, r));
          const Tracked beta = watch(o.mul(du[t], X(p.B_at(b, d, n, t))));
          H[(t + 1) * N + n] = watch(o.fma(a[t * N + n], H[t * N + n], beta));
          y = watch(o.fma(H[(t + 1) * N + n], X(p.C_at(b, d, n, t)), y));
        }
        v[t] = in.D ? watch(o.fma(X((*in.D)[d]), uu, y)) : y;
      }

      // The adjoint pass.
      for (Index n = 0; n < N; ++n) {
        lam[n] = X(q.dlast_state() ? (*q.dlast_state())(b, d, n) : 0.0);
        acc_dA[n] = acc_dB[n] = acc_dC[n] = Accumulator{};
      }
      Accumulator acc_dD, acc_dbias;
      // Per-channel outputs are written after the overflow verdict of the whole channel.
      std::vector<Tracked> o_du(L), o_ddelta(L), o_dz(L);
      std::vector<std::pair<std::size_t, Tracked>> terms_dB, terms_dC;
      for (Index t = L - 1; t >= 0; --t) {
        const Tracked uu = X(in.u(b, d, t)), go = X(q.dout()(b, d, t));
        Tracked g = go;
        if (in.z) {
          const Tracked zz = X((*in.z)(b, d, t));
          g = watch(o.mul(go, silu(zz, m.silu_ulps, r)));
          const Tracked s = sigmoid(zz, m.sigmoid_ulps, r);
          const Tracked slope = watch(o.mul(s, o.fma(zz, sub(X(1), s, r), X(1))));
          o_dz[t] = watch(o.mul(watch(o.mul(go, v[t])), slope));
        }
        Tracked du_skip = X(0);
        if (in.D) {
          acc_dD.add_product(o, any, g, uu);
          du_skip = watch(o.mul(g, X((*in.D)[d])));
        }
        Accumulator d_du, d_dt;
        for (Index n = 0; n < N; ++n) {
          const Tracked cv = X(p.C_at(b, d, n, t)), bv = X(p.B_at(b, d, n, t));
          lam[n] = watch(o.fma(g, cv, lam[n]));
          if (Cl.variable) terms_dC.emplace_back(C_index(b, d, n, t), watch(o.mul(g, H[(t + 1) * N + n])));
          else acc_dC[n].add_product(o, any, g, H[(t + 1) * N + n]);
          if (Bl.variable) terms_dB.emplace_back(B_index(b, d, n, t), watch(o.mul(lam[n], du[t])));
          else acc_dB[n].add_product(o, any, lam[n], du[t]);
          d_du.add_product(o, any, lam[n], bv);
          // lam h_{t-1} may overflow although e = lam h a does not (a may underflow to 0): then
          // the computed e is inf * 0 = NaN (found by the former fuzz/mamba_fuzz.cpp, now fuzz/registry_fuzz.cpp).
          Tracked e = watch(o.mul(watch(o.mul(lam[n], H[t * N + n])), a[t * N + n]));
          if (any) {
            // An implementation may form A_bar h_{t-1} as h_t - B_bar u_t (the peer does).
            const Tracked ah = watch(sub(H[(t + 1) * N + n], o.mul(du[t], bv), r));
            const Tracked e2 = watch(o.mul(lam[n], ah));
            e.err = std::max(e.err, e2.err);
          }
          acc_dA[n].add_product(o, any, e, dt[t]);
          d_dt.add_product(o, any, e, X(in.A(d, n)));
          lam[n] = watch(o.mul(lam[n], a[t * N + n]));
        }
        if (d_du.overflow || d_dt.overflow) overflow = true;
        Tracked d_du_v = watch(d_du.value(o, any)), d_dt_v = watch(d_dt.value(o, any));
        const Tracked ddt = watch(o.fma(d_du_v, uu, d_dt_v));
        o_du[t] = watch(o.fma(d_du_v, dt[t], du_skip));
        Tracked d_arg = ddt;
        if (in.delta_softplus) {
          // The branch on the computed x: surely above 20 (slope 1), surely at or below (slope
          // sigmoid(x)), or either, where the slopes differ by 1 - sigmoid(20 -+ err) < 2.1e-9.
          const bool above = x[t].lo - x[t].err > 20, below = x[t].hi + x[t].err <= 20;
          if (!above) {
            d_arg = o.mul(ddt, sigmoid(x[t], m.sigmoid_ulps, r));
            if (!below) {
              d_arg.lo = std::min(d_arg.lo, ddt.lo);
              d_arg.hi = std::max(d_arg.hi, ddt.hi);
              d_arg.err += 2.1e-9 * ddt.computed_mag() + ddt.err;
            }
          }
        }
        o_ddelta[t] = watch(d_arg);
        if (in.delta_bias) acc_dbias.add_term(o, any, d_arg);
      }

      for (Index n = 0; n < N; ++n)
        if (acc_dA[n].overflow || acc_dB[n].overflow || acc_dC[n].overflow) overflow = true;
      if (acc_dD.overflow || acc_dbias.overflow) overflow = true;
      // Per-channel outputs, and this channel's share of the cross-channel sums.
      for (Index t = 0; t < L; ++t) {
        out.du(b, d, t) = finish(o_du[t], overflow, m, slack);
        out.ddelta(b, d, t) = finish(o_ddelta[t], overflow, m, slack);
        if (in.z) (*out.dz)(b, d, t) = finish(o_dz[t], overflow, m, slack);
      }
      if (in.h0)
        for (Index n = 0; n < N; ++n) (*out.dh0)(b, d, n) = finish(lam[n], overflow, m, slack);
      for (const auto& [i, term] : terms_dB) {
        sum_dB[i].add_term(term);
        of_dB[i] |= overflow;
      }
      for (const auto& [i, term] : terms_dC) {
        sum_dC[i].add_term(term);
        of_dC[i] |= overflow;
      }
      for (Index n = 0; n < N; ++n) {
        const std::size_t i = static_cast<std::size_t>(d * N + n);
        sum_dA[i].add_term(acc_dA[n].value(o, any));
        of_dA[i] |= overflow;
        if (!Bl.variable) sum_dB[i].add_term(acc_dB[n].value(o, any)), of_dB[i] |= overflow;
        if (!Cl.variable) sum_dC[i].add_term(acc_dC[n].value(o, any)), of_dC[i] |= overflow;
      }
      sum_dD[d].add_term(acc_dD.value(o, any));
      sum_dbias[d].add_term(acc_dbias.value(o, any));
      of_dim[d] |= overflow;
    }
  }
  o.overflow = nullptr;
  for (std::size_t i = 0; i < sum_dB.size(); ++i) {
    const Tracked t = sum_dB[i].result(r);
    out.dB[static_cast<Index>(i)] = finish(t, of_dB[i] || sum_dB[i].may_overflow(r), m, slack);
  }
  for (std::size_t i = 0; i < sum_dC.size(); ++i) {
    const Tracked t = sum_dC[i].result(r);
    out.dC[static_cast<Index>(i)] = finish(t, of_dC[i] || sum_dC[i].may_overflow(r), m, slack);
  }
  for (std::size_t i = 0; i < sum_dA.size(); ++i) {
    const Tracked t = sum_dA[i].result(r);
    out.dA[static_cast<Index>(i)] = finish(t, of_dA[i] || sum_dA[i].may_overflow(r), m, slack);
  }
  for (Index d = 0; d < dim; ++d) {
    const Tracked tD = sum_dD[d].result(r), tb = sum_dbias[d].result(r);
    if (in.D) (*out.dD)[d] = finish(tD, of_dim[d] || sum_dD[d].may_overflow(r), m, slack);
    if (in.delta_bias)
      (*out.ddelta_bias)[d] = finish(tb, of_dim[d] || sum_dbias[d].may_overflow(r), m, slack);
  }
  return out;
}

}  // namespace touchstone::mamba
