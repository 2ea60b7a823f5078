// Evaluation of the selective scan backward bounds, real state (spec/mamba.md
// [MAMBA-BWD-BOUND-CPU], [MAMBA-BWD-BOUND-ANY]) and complex state (spec/mamba_complex.md
// [MAMBA-CSCAN-BWD-BOUND-CPU], [MAMBA-CSCAN-BWD-BOUND-ANY]): the backward pass of
// optimized/cpu/mamba_backward.cpp, operation by operation in its order. Real quantities are
// Tracked ([CORE-TRACKED]); the complex state's quantities carry (M, E), bounds on the modulus of
// the exact value and of the error ([MAMBA-CSCAN-BOUND-MODEL]). The forward quantities (dt, a or
// A_bar, h, v) are tracked the same way: the backward recomputes them bit for bit as the forward
// does. What the two states share (the gate, the skip, the softplus slope, the per-channel
// outputs and the cross-channel sums) is written once below; the state's recurrence and adjoint
// are each state's own.
#include "touchstone/bounds/mamba_backward_bound.hpp"

#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "touchstone/bounds/mamba_bound.hpp"
#include "touchstone/bounds/mamba_complex_backward_bound.hpp"
#include "touchstone/bounds/mamba_complex_bound.hpp"
#include "touchstone/core/tracked.hpp"

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
  m.exp_ulps = m.softplus_ulps = m.silu_ulps = m.sigmoid_ulps = m.sincos_ulps = elementary_ulps;
  m.any_order = true;
  return m;
}

// The complex scan's backends: the real ones' functions, and their cos and sin.
ComplexBackwardArithmetic complex_backward_arithmetic_cpu_f32() {
  BackwardArithmetic m = backward_arithmetic_cpu_f32();
  m.sincos_ulps = kSinCosF32Ulps;
  return m;
}

ComplexBackwardArithmetic complex_backward_arithmetic_cpu_f64() {
  BackwardArithmetic m = backward_arithmetic_cpu_f64();
  m.sincos_ulps = kSinCosF64Ulps;
  return m;
}

ComplexBackwardArithmetic complex_backward_arithmetic_any_order(Format storage, double elementary_ulps) {
  return backward_arithmetic_any_order(storage, elementary_ulps);
}

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kTiny = 4.9406564584124654e-324;

Tracked X(double v) { return Tracked::exact(v); }

// A gradient element's bound from its magnitude and error bounds: +inf when the lane may
// overflow, else the error, plus the rounding to a narrower storage format, with the slack of
// [MAMBA-SCAN-BOUND-EVAL].
double finish(double mag, double err, bool overflow, const BackwardArithmetic& m, double slack) {
  if (overflow) return kInf;
  double E = err;
  const bool narrower = m.storage.precision != m.compute.precision || m.storage.emin != m.compute.emin;
  if (narrower) E += m.storage.u * (mag + E) + std::max(m.storage.eta, kTiny);
  return E * (1 + slack) + kTiny;
}
double finish(const Tracked& t, bool overflow, const BackwardArithmetic& m, double slack) {
  return finish(t.mag(), t.err, overflow, m, slack);
}

// The flat index of B's or C's element (b, d, n, t) (of its complex element for the complex
// state): variable (b, group, n, t) or constant (d, n).
Index operand_index(const GroupedOperand& g, Index N, Index L, Index b, Index d, Index n, Index t) {
  return g.variable ? ((b * g.groups + g.group_of(d)) * N + n) * L + t : d * N + n;
}

// One lane (b, d) of the adjoint pass, what both states do alike. `o` is the state's Ops (its
// results report to `overflow` as the state's rules say); `watch` reports a result here too.
// Both states' Ops compute the same fma, mul and add of Tracked values and differ only in which
// results they report; every `watch` below is the real bound's, and repeats a report the
// complex Ops makes itself (the same test, Tracked::overflows).
template <class Ops, class Acc>
struct Lane {
  const Ops& o;
  const BackwardArithmetic& m;
  bool any;
  bool overflow = false;
  Acc acc_dD{}, acc_dbias{};
  std::vector<Tracked> o_du, o_ddelta, o_dz;  // written after the lane's overflow verdict
  Lane(const Ops& ops, const BackwardArithmetic& arith, Index L)
      : o(ops), m(arith), any(arith.any_order), o_du(L), o_ddelta(L), o_dz(L) {}

  Tracked watch(const Tracked& t) {
    if (t.overflows(o.r)) overflow = true;
    return t;
  }

  // g = z ? dout silu(z) : dout, dz = (dout v) (s fma(z, 1 - s, 1)), dD's term, du_skip = g D.
  struct Gate {
    Tracked uu, g, du_skip;
  };
  template <class Inputs>
  Gate gate(const Inputs& in, const Tensor<double>& dout, Index b, Index d, Index t, const Tracked& v) {
    const Rounding& r = o.r;
    const Tracked uu = X(in.u(b, d, t)), go = X(dout(b, d, t));
    Tracked g = go;
    if (in.z) {
      const Tracked zz = X((*in.z)(b, d, t));
      g = watch(o.mul(go, silu(zz, m.silu_ulps, r)));
      const Tracked s = sigmoid(zz, m.sigmoid_ulps, r);
      const Tracked slope = watch(o.mul(s, o.fma(zz, sub(X(1), s, r), X(1))));
      o_dz[t] = watch(o.mul(watch(o.mul(go, v)), slope));
    }
    Tracked du_skip = X(0);
    if (in.D) {
      acc_dD.add_product(o, any, g, uu);
      du_skip = watch(o.mul(g, X((*in.D)[d])));
    }
    return {uu, g, du_skip};
  }

  // du = fma(d_du, dt, du_skip); ddelta = d_dt' times softplus's slope at x; dbias's term.
  template <class Inputs>
  void delta(const Inputs& in, Index t, const Gate& gate, const Tracked& d_du, const Tracked& d_dt,
             const Tracked& x, const Tracked& dt) {
    const Rounding& r = o.r;
    const Tracked ddt = watch(o.fma(d_du, gate.uu, d_dt));
    o_du[t] = watch(o.fma(d_du, dt, gate.du_skip));
    Tracked d_arg = ddt;
    if (in.delta_softplus) {
      // The branch on the computed x: surely above 20 (slope 1), surely at or below (slope
      // sigmoid(x)), or either, where the slopes differ by 1 - sigmoid(20 -+ err) < 2.1e-9.
      const bool above = x.lo - x.err > 20, below = x.hi + x.err <= 20;
      if (!above) {
        d_arg = o.mul(ddt, sigmoid(x, m.sigmoid_ulps, r));
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

  // The per-channel gradients of lane (b, d).
  template <class Inputs, class Grads>
  void write(const Inputs& in, Grads& out, Index b, Index d, double slack) const {
    for (Index t = 0; t < static_cast<Index>(o_du.size()); ++t) {
      out.du(b, d, t) = finish(o_du[t], overflow, m, slack);
      out.ddelta(b, d, t) = finish(o_ddelta[t], overflow, m, slack);
      if (in.z) (*out.dz)(b, d, t) = finish(o_dz[t], overflow, m, slack);
    }
  }
};

// The sums across channels and batch ([CORE-TRACKED-SUM]) of dB, dC, dA (sums of `Sum`, one per
// element, complex for the complex state) and dD, ddelta_bias (TrackedSum), with their overflow
// flags: a lane that may overflow makes every sum it enters +inf.
template <class Sum>
struct CrossSums {
  std::vector<Sum> dB, dC, dA;
  std::vector<TrackedSum> dD, dbias;
  std::vector<char> of_dB, of_dC, of_dA, of_dim;
  CrossSums(std::size_t B, std::size_t C, Index dim, Index N)
      : dB(B), dC(C), dA(static_cast<std::size_t>(dim * N)), dD(static_cast<std::size_t>(dim)),
        dbias(static_cast<std::size_t>(dim)), of_dB(B, 0), of_dC(C, 0), of_dA(dA.size(), 0),
        of_dim(static_cast<std::size_t>(dim), 0) {}

  // Lane (b, d)'s shares: its variable dB, dC terms and its per-channel accumulators.
  template <class Term, class Lane, class Acc>
  void add_lane(const Lane& lane, Index d, Index N, const GroupedOperand& Bl, const GroupedOperand& Cl,
                const std::vector<std::pair<std::size_t, Term>>& terms_dB,
                const std::vector<std::pair<std::size_t, Term>>& terms_dC, const std::vector<Acc>& acc_dA,
                const std::vector<Acc>& acc_dB, const std::vector<Acc>& acc_dC) {
    const auto& o = lane.o;
    const bool any = lane.any, overflow = lane.overflow;
    for (const auto& [i, term] : terms_dB) {
      dB[i].add_term(term);
      of_dB[i] |= overflow;
    }
    for (const auto& [i, term] : terms_dC) {
      dC[i].add_term(term);
      of_dC[i] |= overflow;
    }
    for (Index n = 0; n < N; ++n) {
      const std::size_t i = static_cast<std::size_t>(d * N + n);
      dA[i].add_term(acc_dA[n].value(o, any));
      of_dA[i] |= overflow;
      if (!Bl.variable) dB[i].add_term(acc_dB[n].value(o, any)), of_dB[i] |= overflow;
      if (!Cl.variable) dC[i].add_term(acc_dC[n].value(o, any)), of_dC[i] |= overflow;
    }
    dD[d].add_term(lane.acc_dD.value(o, any));
    dbias[d].add_term(lane.acc_dbias.value(o, any));
    of_dim[d] |= overflow;
  }
};

// ---- The real state ([MAMBA-BWD-BOUND-CPU], [MAMBA-BWD-BOUND-ANY]) ----

namespace real_state {

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

}  // namespace real_state

}  // namespace

SelectiveScanGrads<double> selective_scan_backward_bound(const SelectiveScanBackwardProblem<double>& q,
                                                         const BackwardArithmetic& m) {
  using namespace real_state;
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

  auto out = grads_shaped_like<SelectiveScanGrads<double>>(in);
  CrossSums<TrackedSum> sums(static_cast<std::size_t>(in.B.count()), static_cast<std::size_t>(in.C.count()),
                             dim, N);

  std::vector<Tracked> x(L), dt(L), du(L), v(L), a(L * N), H((L + 1) * N), lam(N);
  std::vector<Accumulator> acc_dA(N), acc_dB(N), acc_dC(N);
  for (Index b = 0; b < batch; ++b) {
    for (Index d = 0; d < dim; ++d) {
      Lane<Ops, Accumulator> lane(o, m, L);
      o.overflow = &lane.overflow;
      auto watch = [&](const Tracked& t) { return lane.watch(t); };
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
      std::vector<std::pair<std::size_t, Tracked>> terms_dB, terms_dC;
      for (Index t = L - 1; t >= 0; --t) {
        const auto gate = lane.gate(in, q.dout(), b, d, t, v[t]);
        const Tracked& g = gate.g;
        Accumulator d_du, d_dt;
        for (Index n = 0; n < N; ++n) {
          const Tracked cv = X(p.C_at(b, d, n, t)), bv = X(p.B_at(b, d, n, t));
          lam[n] = watch(o.fma(g, cv, lam[n]));
          if (Cl.variable)
            terms_dC.emplace_back(operand_index(Cl, N, L, b, d, n, t), watch(o.mul(g, H[(t + 1) * N + n])));
          else acc_dC[n].add_product(o, any, g, H[(t + 1) * N + n]);
          if (Bl.variable) terms_dB.emplace_back(operand_index(Bl, N, L, b, d, n, t), watch(o.mul(lam[n], du[t])));
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
        if (d_du.overflow || d_dt.overflow) lane.overflow = true;
        lane.delta(in, t, gate, watch(d_du.value(o, any)), watch(d_dt.value(o, any)), x[t], dt[t]);
      }

      for (Index n = 0; n < N; ++n)
        if (acc_dA[n].overflow || acc_dB[n].overflow || acc_dC[n].overflow) lane.overflow = true;
      if (lane.acc_dD.overflow || lane.acc_dbias.overflow) lane.overflow = true;
      // Per-channel outputs, and this channel's share of the cross-channel sums.
      lane.write(in, out, b, d, slack);
      if (in.h0)
        for (Index n = 0; n < N; ++n) (*out.dh0)(b, d, n) = finish(lam[n], lane.overflow, m, slack);
      sums.add_lane(lane, d, N, Bl, Cl, terms_dB, terms_dC, acc_dA, acc_dB, acc_dC);
    }
  }
  o.overflow = nullptr;
  auto write = [&](const std::vector<TrackedSum>& s, const std::vector<char>& of, Tensor<double>& t) {
    for (std::size_t i = 0; i < s.size(); ++i)
      t[static_cast<Index>(i)] = finish(s[i].result(r), of[i] || s[i].may_overflow(r), m, slack);
  };
  write(sums.dB, sums.of_dB, out.dB);
  write(sums.dC, sums.of_dC, out.dC);
  write(sums.dA, sums.of_dA, out.dA);
  if (in.D) write(sums.dD, sums.of_dim, *out.dD);
  if (in.delta_bias) write(sums.dbias, sums.of_dim, *out.ddelta_bias);
  return out;
}

namespace {

// ---- The complex state ([MAMBA-CSCAN-BWD-BOUND-CPU], [MAMBA-CSCAN-BWD-BOUND-ANY]) ----

namespace complex_state {

constexpr double kSqrt2 = 1.4142135623730951 * (1 + 0x1p-52);

// A complex quantity: its exact value lies in the disc of radius `rad` about the double (re, im),
// and |computed - exact| <= E. The disc follows the exact value through the computation (a
// midpoint-radius form of [CORE-TRACKED]'s intervals), so M() bounds the modulus of this very
// value rather than a sum of moduli: for states that rotate, the triangle-inequality sum would
// exceed |h| many times over, and every rounding term with it.
struct CT {
  double re = 0, im = 0, rad = 0, E = 0;
  double center_mag() const { return std::hypot(re, im) * (1 + 0x1p-52) + kTiny; }
  double M() const { return center_mag() + rad; }
  double computed() const { return M() + E; }
  bool overflows(const Rounding& r) const { return !(computed() <= r.max_finite); }
  CT conj() const { return {re, -im, rad, E}; }
};
CT exact_c(double re, double im) { return {re, im, 0, 0}; }
double propagation(double Mx, double Ex, double My, double Ey) { return Mx * Ey + Ex * My + Ex * Ey; }

// Disc arithmetic on the exact values (no E): the double results, and radii that cover both the
// operands' radii and binary64's own rounding (a complex product in double is within
// sqrt 2 gamma_2 < 2^-50 relative of its modulus bound, a sum within 2^-52 of its parts).
CT disc_mul(const CT& x, const CT& y) {
  const double xm = x.center_mag(), ym = y.center_mag();
  return {x.re * y.re - x.im * y.im, x.re * y.im + x.im * y.re,
          xm * y.rad + x.rad * ym + x.rad * y.rad + 0x1p-50 * xm * ym + kTiny, 0};
}
CT disc_add(const CT& x, const CT& y) {
  return {x.re + y.re, x.im + y.im,
          x.rad + y.rad + 0x1p-52 * (x.center_mag() + y.center_mag()) + kTiny, 0};
}
// A Tracked real's exact range as midpoint and radius.
struct RealDisc {
  double mid, rad;
};
RealDisc disc_of(const Tracked& s) {
  const double mid = 0.5 * (s.lo + s.hi);
  return {mid, 0.5 * (s.hi - s.lo) * (1 + 0x1p-51) + 0x1p-52 * std::fabs(mid) + kTiny};
}
CT disc_scale(const Tracked& s, const CT& z) {
  const RealDisc d = disc_of(s);
  const double zm = z.center_mag(), sm = std::fabs(d.mid);
  return {d.mid * z.re, d.mid * z.im, sm * z.rad + d.rad * zm + d.rad * z.rad + 0x1p-51 * sm * zm + kTiny, 0};
}

// The arithmetic of one backend: the real operations fused or not, and the complex rules
// ([MAMBA-CSCAN-BWD-BOUND-CPU]); conjugation is the caller's (CT::conj), which changes no bound.
//
// Every operation reports to `overflow` (the lane's flag) when its result, or an intermediate it
// rounds on the way (an fma's inner product, a complex part's first fma), may exceed the format:
// the states are discs around the exact value, so a result can be small by cancellation while an
// intermediate overflows (the registry properties found conj(h_{t-1}) lambda = inf times
// conj(A_bar) = 0, a NaN ddelta under a finite bound; ComplexBackwardRegression below in
// tests/mamba/complex_backward_test.cpp).
struct Ops {
  Rounding r;
  bool fused;
  double gamma2, gamma3;
  bool* overflow = nullptr;
  // An intermediate of magnitude at most `size` is rounded.
  void need(double size) const {
    if (overflow && !(size <= r.max_finite)) *overflow = true;
  }
  Tracked checked(const Tracked& t) const {
    need(t.computed_mag());
    return t;
  }
  CT checked(const CT& c) const {
    need(c.computed());
    return c;
  }
  Tracked fma(const Tracked& x, const Tracked& y, const Tracked& z) const {
    return fused ? checked(touchstone::fma(x, y, z, r)) : add(mul(x, y), z);
  }
  Tracked mul(const Tracked& x, const Tracked& y) const { return checked(touchstone::mul(x, y, r)); }
  Tracked add(const Tracked& x, const Tracked& y) const { return checked(touchstone::add(x, y, r)); }

  // A complex product x y, each part a sum of two products formed as fma(p, q, +-(s t)) or, in
  // any order, two rounded products and a sum: per part gamma_2 (|p q| + |s t|) + (2 + u) eta,
  // and that vector's modulus is at most sqrt 2 gamma_2 |x||y| + 3 eta
  // ([MAMBA-CSCAN-BOUND-MODEL]).
  CT cmul(const CT& x, const CT& y) const {
    CT p = disc_mul(x, y);
    p.E = propagation(x.M(), x.E, y.M(), y.E) + kSqrt2 * gamma2 * x.computed() * y.computed() + 3 * r.eta;
    // Per part |p q| + |s t| <= |x^||y^|: the inner product and the fma's result.
    need(x.computed() * y.computed() * (1 + gamma2) + 3 * r.eta);
    return checked(p);
  }
  // s z for a real s, each part one rounded product: u |s^||z^| + sqrt 2 eta.
  CT scale(const Tracked& s, const CT& z) const {
    CT p = disc_scale(s, z);
    p.E = propagation(s.mag(), s.err, z.M(), z.E) + r.u * s.computed_mag() * z.computed() + kSqrt2 * r.eta;
    return checked(p);
  }
  // acc + s z, each part one fma: u (|s^||z^| + |acc^|) + sqrt 2 eta.
  CT scale_add(const Tracked& s, const CT& z, const CT& acc) const {
    CT p = disc_add(disc_scale(s, z), acc);
    p.E = acc.E + propagation(s.mag(), s.err, z.M(), z.E) +
          r.u * (s.computed_mag() * z.computed() + acc.computed()) + kSqrt2 * r.eta;
    return checked(p);
  }
  // x + y, each part one rounded sum (exact on underflow).
  CT cadd(const CT& x, const CT& y) const {
    CT p = disc_add(x, y);
    p.E = x.E + y.E + r.u * (x.computed() + y.computed());
    return checked(p);
  }
  // acc + Re(x y) by two fmas: r1 = fma(p, q, acc), r2 = fma(s, t, r1), with
  // |p q| + |s t| <= |x||y|: gamma_2 (|x^||y^| + |acc^|) + 3 eta.
  Tracked re_dot_add(const Tracked& acc, const CT& x, const CT& y) const {
    const CT d = disc_mul(x, y);
    Tracked s = tracked_detail::interval_add(acc, Tracked::range(d.re - d.rad, d.re + d.rad));
    s.err = acc.err + propagation(x.M(), x.E, y.M(), y.E) +
            gamma2 * (x.computed() * y.computed() + acc.computed_mag()) + 3 * r.eta;
    // r1 = acc + p q: at most |acc^| + |x^||y^| before its rounding.
    need((acc.computed_mag() + x.computed() * y.computed()) * (1 + gamma2) + 3 * r.eta);
    return checked(s);
  }
};

// Any order: Re(x y) as a term of a sum whose additions may come in any order. Its two
// products p q and s t, rounded separately, are two summands of [CORE-TRACKED-SUM]: gamma_(k-1)
// counts both, and grows with their magnitudes, together at most (1 + u) |x^||y^| + 2 eta
// (|p q| + |s t| <= |x||y|), not with |Re(x y)|, which cancellation can make far smaller.
void add_re_dot_terms(TrackedSum& sum, const Ops& o, const CT& x, const CT& y) {
  const CT d = disc_mul(x, y);
  Tracked t = Tracked::range(d.re - d.rad, d.re + d.rad);
  t.err = propagation(x.M(), x.E, y.M(), y.E) + o.r.u * x.computed() * y.computed() + 2 * o.r.eta;
  const double summands = (1 + o.r.u) * x.computed() * y.computed() + 2 * o.r.eta;
  o.need(summands);
  sum.add_term(t, summands, 2);
}

// [CORE-TRACKED-SUM] for complex terms: per part the sum's rounding is at most gamma_(k-1) times
// the sum of the parts' magnitudes, a vector whose modulus is at most the sum of the moduli.
struct CSum {
  double re = 0, im = 0, rad = 0, parts = 0, E = 0, size = 0;
  long long count = 0;
  void add_term(const CT& t) {
    re += t.re;
    im += t.im;
    rad += t.rad;
    parts += std::fabs(t.re) + std::fabs(t.im);
    E += t.E;
    size += t.computed();
    ++count;
  }
  // A partial sum, in some order, may exceed the format: each part of every partial sum is at
  // most the sum of the terms' moduli (times 1 + gamma), as for TrackedSum::may_overflow.
  bool may_overflow(const Rounding& r) const {
    return !(size * (1 + gamma_k(r.u, static_cast<double>(count))) <= r.max_finite);
  }
  CT result(const Rounding& r) const {
    const double gamma = count > 1 ? std::expm1(static_cast<double>(count - 1) * std::log1p(r.u)) : 0.0;
    // The centers' own sum in double: within (count - 1) 2^-53 of the parts' magnitudes.
    return {re, im, rad + static_cast<double>(count) * 0x1p-52 * parts + kTiny, E + gamma * size};
  }
};

// A per-channel accumulation of real-times-complex products: an fma chain per part, or (any
// order) a CSum of rounded products.
struct CAccumulator {
  CT seq{};
  CSum any;
  void add_product(const Ops& o, bool any_order, const Tracked& s, const CT& z) {
    if (any_order) any.add_term(o.scale(s, z));
    else seq = o.scale_add(s, z, seq);
  }
  CT value(const Ops& o, bool any_order) const {
    if (any_order && any.may_overflow(o.r)) o.need(kInf);
    return any_order ? o.checked(any.result(o.r)) : seq;
  }
};

// The complex state's real accumulations (fma chains, or a TrackedSum; Re(x y) terms too), which
// report to the lane through Ops rather than keep a flag as real_state::Accumulator does.
struct Accumulator {
  Tracked seq{};
  TrackedSum any;
  void add_product(const Ops& o, bool any_order, const Tracked& x, const Tracked& y) {
    if (any_order) any.add_term(o.mul(x, y));
    else seq = o.fma(x, y, seq);
  }
  void add_re_dot(const Ops& o, bool any_order, const CT& x, const CT& y) {
    if (any_order) add_re_dot_terms(any, o, x, y);
    else seq = o.re_dot_add(seq, x, y);
  }
  void add_term(const Ops& o, bool any_order, const Tracked& x) {
    if (any_order) any.add_term(x);
    else seq = o.add(seq, x);
  }
  Tracked value(const Ops& o, bool any_order) const {
    if (any_order && any.may_overflow(o.r)) o.need(kInf);
    return any_order ? o.checked(any.result(o.r)) : seq;
  }
};

}  // namespace complex_state

}  // namespace

ComplexScanGrads<double> selective_scan_complex_backward_bound(const ComplexScanBackwardProblem<double>& q,
                                                               const ComplexBackwardArithmetic& m) {
  using namespace complex_state;
  const ComplexScanProblem<double>& p = q.forward();
  const auto& in = p.in();
  const Rounding r = Rounding::of(m.compute);
  const double u = r.u, eta = r.eta;
  Ops o{r, !m.any_order, std::expm1(2 * std::log1p(u)) * (1 + 0x1p-50),
        std::expm1(3 * std::log1p(u)) * (1 + 0x1p-50)};
  const bool any = m.any_order;
  const Index batch = p.batch(), dim = p.dim(), N = p.dstate(), L = p.seqlen();
  // [MAMBA-SCAN-BOUND-EVAL]'s argument, for the longer chains of the complex backward pass.
  const double slack = std::max(std::ldexp(1.0, -20), static_cast<double>(L * (2 * N + 4) + batch * dim) *
                                                          std::ldexp(1.0, -40));
  const GroupedOperand &Bl = p.B_layout(), &Cl = p.C_layout();

  auto out = grads_shaped_like<ComplexScanGrads<double>>(in);
  // Per complex element of dB, dC, dA (count / 2).
  CrossSums<CSum> sums(static_cast<std::size_t>(in.B.count() / 2), static_cast<std::size_t>(in.C.count() / 2),
                       dim, N);
  // [MAMBA-CSCAN-BOUND-DISCRETIZE] (e^(i theta^) computed within k (2u + 2 sqrt 2 eta) per part).
  const double cs_round = m.sincos_ulps * (2 * u + 2 * kSqrt2 * eta);
  // Any order: exp's argument with up to 3 roundings per part (2 more than the CPU's one).
  auto widen_arg = [&](Tracked t) {
    if (any) t.err += 2.01 * u * t.computed_mag() + 2 * eta;
    return t;
  };

  std::vector<Tracked> x(L), dt(L), v(L);
  std::vector<CT> a(L * N), bu(L * N), H((L + 1) * N), lam(N);
  std::vector<CAccumulator> acc_dA(N), acc_dB(N), acc_dC(N);
  for (Index b = 0; b < batch; ++b) {
    for (Index d = 0; d < dim; ++d) {
      Lane<Ops, Accumulator> lane(o, m, L);
      bool& overflow = lane.overflow;
      o.overflow = &overflow;  // every Ops result and intermediate reports here
      // What Ops does not compute (elementary functions, the discs built by hand) is watched.
      auto watch = [&](const auto& t) {
        if (t.overflows(r)) overflow = true;
        return t;
      };
      // The forward quantities, as the forward pass computes them ([MAMBA-CSCAN-BOUND-STATE]).
      for (Index n = 0; n < N; ++n) H[n] = CT{};
      for (Index t = 0; t < L; ++t) {
        x[t] = in.delta_bias ? o.add(X(in.delta(b, d, t)), X((*in.delta_bias)[d]))
                             : X(in.delta(b, d, t));
        dt[t] = in.delta_softplus ? watch(softplus_thresholded(x[t], m.softplus_ulps, r)) : x[t];
        const double uu = std::fabs(in.u(b, d, t));
        Accumulator y;
        for (Index n = 0; n < N; ++n) {
          const Tracked mm = watch(exp(widen_arg(o.mul(dt[t], X(p.A_at(d, n, 0)))), m.exp_ulps, r));
          const Tracked theta = watch(widen_arg(o.mul(dt[t], X(p.A_at(d, n, 1)))));
          const double Ecs = std::min(theta.err, 2.0) + cs_round;
          // The exact A_bar = m e^(i theta) lies within m_rad + |m| theta_rad (e^(i .) is
          // 1-Lipschitz) of m_mid e^(i theta_mid), evaluated here by libm within 2^-49 |m|.
          const RealDisc md = disc_of(mm), th = disc_of(theta);
          const double m_abs = std::fabs(md.mid);
          CT an{md.mid * std::cos(th.mid), md.mid * std::sin(th.mid),
                md.rad + (m_abs + md.rad) * th.rad + 0x1p-49 * m_abs + kTiny, 0};
          an.E = mm.err * (1 + Ecs) + mm.mag() * Ecs + u * mm.computed_mag() * (1 + Ecs) + kSqrt2 * eta;
          a[t * N + n] = watch(an);
          // dt u B: (dt u) B on the CPU; any order of the three factors covered by gamma_2 and
          // an underflow term for each possible intermediate.
          const CT B = exact_c(p.B_at(b, d, n, t, 0), p.B_at(b, d, n, t, 1));
          const double Bm = B.M();
          // Every pairwise product of the three factors is an intermediate in some order (dt u
          // on the CPU): one that may overflow leaves the bound's domain, even where the triple
          // product is small (registry_fuzz: u = -1.76e38, dt = -2, B = (0, 2^-126) made dt u
          // inf and dA NaN under a finite bound; corpus file regression_mamba_complex_bwd_du_overflow).
          {
            const double mdt = dt[t].computed_mag(), fmax = r.max_finite;
            if (!(mdt * uu <= fmax && mdt * Bm <= fmax && uu * Bm <= fmax)) overflow = true;
          }
          CT bn = disc_scale(tracked_detail::interval_mul(dt[t], X(in.u(b, d, t))), B);
          bn.E = dt[t].err * uu * Bm + o.gamma2 * dt[t].computed_mag() * uu * Bm +
                 kSqrt2 * eta * (1 + uu + Bm + dt[t].computed_mag());
          bu[t * N + n] = watch(bn);
          // h = A_bar h + bu, each part by two fmas (any order: two products and two sums).
          const CT& hp = H[t * N + n];
          const double g_prod = any ? o.gamma3 : o.gamma2;
          CT hn = disc_add(disc_mul(an, hp), bn);
          hn.E = propagation(an.M(), an.E, hp.M(), hp.E) + bn.E +
                 g_prod * kSqrt2 * an.computed() * hp.computed() + o.gamma2 * bn.computed() + 3 * eta;
          // The inner fma (or, in any order, a product or partial sum): per part at most
          // |A_bar^||h^| + |bu^| before its rounding.
          o.need((an.computed() * hp.computed() + bn.computed()) * (1 + o.gamma3) + 3 * eta);
          H[(t + 1) * N + n] = watch(hn);
          // y += Re(h C).
          y.add_re_dot(o, any, H[(t + 1) * N + n], exact_c(p.C_at(b, d, n, t, 0), p.C_at(b, d, n, t, 1)));
        }
        Tracked y2 = y.value(o, any);
        // 2 y is exact unless it overflows, which y's own check does not see (registry_fuzz:
        // y = 2.2e38 made v = inf and dz = -inf in float32 under a finite bound while the exact
        // dz is -5.6e37; corpus file regression_mamba_complex_bwd_twice_y_overflow).
        y2 = watch(twice(y2));
        v[t] = in.D ? watch(o.fma(X((*in.D)[d]), X(in.u(b, d, t)), y2)) : y2;
      }

      // The adjoint pass.
      for (Index n = 0; n < N; ++n) {
        lam[n] = q.dlast_state() ? exact_c((*q.dlast_state())(b, d, n, Index{0}),
                                           (*q.dlast_state())(b, d, n, Index{1}))
                                 : CT{};
        acc_dA[n] = acc_dB[n] = acc_dC[n] = CAccumulator{};
      }
      std::vector<std::pair<std::size_t, CT>> terms_dB, terms_dC;
      for (Index t = L - 1; t >= 0; --t) {
        const auto gate = lane.gate(in, q.dout(), b, d, t, v[t]);
        const Tracked& g = gate.g;
        // 2 g is exact unless it overflows (registry_fuzz: dout = -3e38 made 2g = -inf and dB = -inf
        // in float32 under a finite bound while the exact dB is -4.3e37; corpus file
        // regression_mamba_complex_bwd_twice_g_overflow).
        const Tracked g2 = watch(twice(g));
        const Tracked du = o.mul(dt[t], gate.uu);
        Accumulator d_du, d_dt;
        for (Index n = 0; n < N; ++n) {
          const CT C = exact_c(p.C_at(b, d, n, t, 0), p.C_at(b, d, n, t, 1));
          const CT B = exact_c(p.B_at(b, d, n, t, 0), p.B_at(b, d, n, t, 1));
          const CT A = exact_c(p.A_at(d, n, 0), p.A_at(d, n, 1));
          const CT& h = H[(t + 1) * N + n];
          // lambda += 2 g conj(C).
          lam[n] = any ? o.cadd(lam[n], o.scale(g2, C.conj())) : o.scale_add(g2, C.conj(), lam[n]);
          if (Cl.variable) terms_dC.emplace_back(operand_index(Cl, N, L, b, d, n, t), o.scale(g2, h.conj()));
          else acc_dC[n].add_product(o, any, g2, h.conj());
          if (Bl.variable) terms_dB.emplace_back(operand_index(Bl, N, L, b, d, n, t), o.scale(du, lam[n]));
          else acc_dB[n].add_product(o, any, du, lam[n]);
          d_du.add_re_dot(o, any, B.conj(), lam[n]);
          // e = conj(A_bar) (conj(h_{t-1}) lambda).
          CT e = o.cmul(a[t * N + n].conj(), o.cmul(H[t * N + n].conj(), lam[n]));
          if (any) {
            // An implementation may form A_bar h_{t-1} as h_t - B_bar u_t (the peer's CUDA
            // backward does): e = conj(h_t - bu) lambda.
            const CT ah = o.cadd(h, bu[t * N + n]);
            const double ah_M = disc_mul(a[t * N + n], H[t * N + n]).M();
            const double e2 = propagation(ah_M, ah.E, lam[n].M(), lam[n].E) +
                              kSqrt2 * o.gamma2 * (ah_M + ah.E) * lam[n].computed() + 3 * eta;
            e.E = std::max(e.E, e2);
          }
          acc_dA[n].add_product(o, any, dt[t], e);
          d_dt.add_re_dot(o, any, A.conj(), e);
          lam[n] = o.cmul(a[t * N + n].conj(), lam[n]);
        }
        lane.delta(in, t, gate, d_du.value(o, any), d_dt.value(o, any), x[t], dt[t]);
      }

      // Per-channel outputs, and this channel's share of the cross-channel sums.
      lane.write(in, out, b, d, slack);
      sums.add_lane(lane, d, N, Bl, Cl, terms_dB, terms_dC, acc_dA, acc_dB, acc_dC);
    }
  }
  o.overflow = nullptr;
  // Both parts of a complex gradient get its modulus bound; here a sum's result that may exceed
  // the format leaves the domain too.
  auto complex_out = [&](const std::vector<CSum>& s, const std::vector<char>& of, Tensor<double>& t) {
    for (std::size_t i = 0; i < s.size(); ++i) {
      const CT c = s[i].result(r);
      t[static_cast<Index>(2 * i)] = t[static_cast<Index>(2 * i + 1)] =
          finish(c.M(), c.E, of[i] || c.overflows(r) || s[i].may_overflow(r), m, slack);
    }
  };
  complex_out(sums.dB, sums.of_dB, out.dB);
  complex_out(sums.dC, sums.of_dC, out.dC);
  complex_out(sums.dA, sums.of_dA, out.dA);
  auto real_out = [&](const std::vector<TrackedSum>& s, Tensor<double>& t) {
    for (std::size_t i = 0; i < s.size(); ++i) {
      const Tracked v = s[i].result(r);
      t[static_cast<Index>(i)] = finish(v, sums.of_dim[i] || v.overflows(r) || s[i].may_overflow(r), m, slack);
    }
  };
  if (in.D) real_out(sums.dD, *out.dD);
  if (in.delta_bias) real_out(sums.dbias, *out.ddelta_bias);
  return out;
}

}  // namespace touchstone::mamba
