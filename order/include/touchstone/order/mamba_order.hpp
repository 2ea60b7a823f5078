// The selective scan's forward order on the CPU (spec/mamba.md [MAMBA-SCAN-CPU]; the complex
// scan's, spec/mamba_complex.md [MAMBA-CSCAN-CPU]), written once over an arithmetic policy:
//   - the CPU backends run these steps in every SIMD lane with LaneMath<T> (optimized/cpu/mamba.cpp,
//     mamba_complex.cpp, and the backward passes' recomputation, mamba_backward.cpp). The lanes
//     take the lines that do not depend on the state (dt, the gate) for a whole time block before
//     the state loop (optimized/cpu/mamba_lanes.hpp load_time_block): that changes when a value is
//     computed, not which operations compute it;
//   - tests/mamba/scan_order_test.cpp runs scan_channel on float and double (the backends must
//     equal it bit for bit) and on Tracked values (the closed-form bound must be at least it on
//     every element).
// The bound, bounds/src/mamba_bound.cpp ([MAMBA-SCAN-BOUND-CPU-F32], [MAMBA-SCAN-BOUND-CPU-F64]),
// counts this order's roundings in closed form rather than running it on Tracked values (it is
// most of `touchstone diff`'s time at production shapes). Per line it instantiates:
//   state_update       proofs/theories/MambaScanBound.v state_bound_mag (state_bound with exact
//                      magnitudes), one RoundOps.v fma_bound_result_mag per step
//                      ([MAMBA-SCAN-BOUND-STATE], k = 1, c = 1, c0 = 0, m = 1)
//   output_accumulate  MambaScanBound.v dot_bound_mag (dot_bound) ([MAMBA-SCAN-BOUND-DOT])
//   skip               RoundOps.v fma_bound_result_mag; gated: RoundOps.v mul_bound
//                      ([MAMBA-SCAN-BOUND-OUTPUT])
//   scaled_input, the products in decay and state_update: RoundOps.v mul_bound
//   biased_delta, activated_delta, decay's exp: on paper ([MAMBA-SCAN-BOUND-DELTA],
//                      [MAMBA-SCAN-BOUND-DISCRETIZE], the functions' ulps [MAMBA-SCAN-ELEMENTARY])
// The complex scan's bound (bounds/src/mamba_complex_bound.cpp, [MAMBA-CSCAN-BOUND-CPU-F32]) is
// on paper. This is not the oracle (reference/mamba.hpp), which follows the definition.
//
// A policy Ar provides
//   V                          a computed value of the compute format
//   V input(x)                 an input element (exact: a value of the compute format)
//   V add(V, V), mul(V, V)     one rounding each
//   V fma(V a, V b, V c)       a b + c, one rounding
//   V exp(V), silu(V)          within their ulps ([MAMBA-SCAN-ELEMENTARY])
//   V softplus_thresholded(V)  x > 20 ? x : softplus(x) ([MAMBA-SCAN-SOFTPLUS])
// and for the complex scan
//   V cos(V), sin(V)           within their ulps ([MAMBA-CSCAN-ELEMENTARY])
//   V neg(V), twice(V)         -x and 2 x (exact, barring overflow)
// Every step is always_inline: the backends call them inside loops over lanes that only vectorize
// when the bodies are inlined (mamba_lanes.hpp).
#pragma once

#include <vector>

#include "touchstone/core/tensor.hpp"
#include "touchstone/reference/mamba_scan_problem.hpp"

#define TOUCHSTONE_ORDER_STEP inline __attribute__((always_inline))

namespace touchstone::mamba::order {

// embed-begin mamba_scan_order
// x = delta + delta_bias (only with delta_bias).
template <class Ar, class V>
TOUCHSTONE_ORDER_STEP V biased_delta(Ar& ar, const V& delta, const V& bias) {
  return ar.add(delta, bias);
}

// dt = x > 20 ? x : softplus(x) (only with delta_softplus).
template <class Ar, class V>
TOUCHSTONE_ORDER_STEP V activated_delta(Ar& ar, const V& x) {
  return ar.softplus_thresholded(x);
}

// du = dt * u.
template <class Ar, class V>
TOUCHSTONE_ORDER_STEP V scaled_input(Ar& ar, const V& dt, const V& u) {
  return ar.mul(dt, u);
}

// a = exp(dt * A[d,n]).
template <class Ar, class V>
TOUCHSTONE_ORDER_STEP V decay(Ar& ar, const V& dt, const V& A) {
  return ar.exp(ar.mul(dt, A));
}

// h[n] = fma(a, h[n], du * B[n,t]), from the previous state h.
template <class Ar, class V>
TOUCHSTONE_ORDER_STEP V state_update(Ar& ar, const V& a, const V& h, const V& du, const V& B) {
  return ar.fma(a, h, ar.mul(du, B));
}

// y = fma(h[n], C[n,t], y), in increasing n from y = +0.
template <class Ar, class V>
TOUCHSTONE_ORDER_STEP V output_accumulate(Ar& ar, const V& h, const V& C, const V& y) {
  return ar.fma(h, C, y);
}

// One n of step t: the three lines above, h updated in place.
template <class Ar, class V>
TOUCHSTONE_ORDER_STEP void state_step(Ar& ar, const V& dt, const V& du, const V& A, const V& B,
                                      const V& C, V& h, V& y) {
  const V a = decay(ar, dt, A);
  h = state_update(ar, a, h, du, B);
  y = output_accumulate(ar, h, C, y);
}

// v = D ? fma(D[d], u, y) : y.
template <class Ar, class V>
TOUCHSTONE_ORDER_STEP V skip(Ar& ar, const V& y, const V& u, const V& D, bool has_D) {
  return has_D ? ar.fma(D, u, y) : y;
}

// s = silu(z) (only with z), then out = z ? v * s : v.
template <class Ar, class V>
TOUCHSTONE_ORDER_STEP V gate(Ar& ar, const V& z) {
  return ar.silu(z);
}
template <class Ar, class V>
TOUCHSTONE_ORDER_STEP V gated(Ar& ar, const V& v, const V& s, bool has_z) {
  return has_z ? ar.mul(v, s) : v;
}

// The complex scan ([MAMBA-CSCAN-CPU]): the same dt, du, skip and gate lines; its state step and
// its output's 2 y are below.
// c, s = cos(dt * Im A[d,n]), sin(dt * Im A[d,n]): one rounded product, two functions.
template <class Ar, class V>
TOUCHSTONE_ORDER_STEP void rotation(Ar& ar, const V& dt, const V& A_im, V& c, V& s) {
  const V arg = ar.mul(dt, A_im);
  c = ar.cos(arg);
  s = ar.sin(arg);
}

// A_bar = exp(dt A) = (m c, m s) with m = exp(dt * Re A[d,n]).
template <class Ar, class V>
TOUCHSTONE_ORDER_STEP void complex_decay(Ar& ar, const V& dt, const V& A_re, const V& c,
                                         const V& s, V& a_re, V& a_im) {
  const V m = ar.exp(ar.mul(dt, A_re));
  a_re = ar.mul(m, c);
  a_im = ar.mul(m, s);
}

// h = A_bar h + bu with bu = (du * Re B, du * Im B), both parts from the previous state (h_re,
// h_im), into (new_re, new_im):
//   new_re = fma(a.re, h.re, fma(-a.im, h.im, bu.re)),  new_im = fma(a.re, h.im, fma(a.im, h.re, bu.im)).
template <class Ar, class V>
TOUCHSTONE_ORDER_STEP void complex_state_update(Ar& ar, const V& a_re, const V& a_im, const V& h_re,
                                                const V& h_im, const V& du, const V& B_re,
                                                const V& B_im, V& new_re, V& new_im) {
  const V bu_re = ar.mul(du, B_re), bu_im = ar.mul(du, B_im);
  new_re = ar.fma(a_re, h_re, ar.fma(ar.neg(a_im), h_im, bu_re));
  new_im = ar.fma(a_re, h_im, ar.fma(a_im, h_re, bu_im));
}

// y += Re(h C) = h.re C.re - h.im C.im: y = fma(h.re, Re C, y), then y = fma(-h.im, Im C, y).
template <class Ar, class V>
TOUCHSTONE_ORDER_STEP V complex_output_accumulate(Ar& ar, const V& h_re, const V& h_im,
                                                  const V& C_re, const V& C_im, const V& y) {
  return ar.fma(ar.neg(h_im), C_im, ar.fma(h_re, C_re, y));
}

// One n of step t of the complex scan, h updated in place (c, s from rotation).
template <class Ar, class V>
TOUCHSTONE_ORDER_STEP void complex_state_step(Ar& ar, const V& dt, const V& du, const V& A_re,
                                              const V& c, const V& s, const V& B_re, const V& B_im,
                                              const V& C_re, const V& C_im, V& h_re, V& h_im, V& y) {
  V a_re, a_im, new_re, new_im;
  complex_decay(ar, dt, A_re, c, s, a_re, a_im);
  complex_state_update(ar, a_re, a_im, h_re, h_im, du, B_re, B_im, new_re, new_im);
  h_re = new_re;
  h_im = new_im;
  y = complex_output_accumulate(ar, h_re, h_im, C_re, C_im, y);
}

// v = D ? fma(D[d], u, 2 y) : 2 y (2 y exact): the complex output is 2 Re(sum_n h C).
template <class Ar, class V>
TOUCHSTONE_ORDER_STEP V complex_skip(Ar& ar, const V& y, const V& u, const V& D, bool has_D) {
  return skip(ar, ar.twice(y), u, D, has_D);
}

// One channel (b, d) of a scan problem (real or complex: St), every line in the listing's
// sequence, one time step after another: out(t, V) gets each output, last(n, V) (complex:
// last(n, re, im)) the final states.
template <class Ar, class T, class St, class Out, class Last>
void scan_channel(Ar& ar, const ScanProblem<T, St>& p, Index b, Index d, Out&& out, Last&& last) {
  using V = typename Ar::V;
  constexpr bool kComplex = St::kComplex;
  const auto& in = p.in();
  const Index N = p.dstate(), L = p.seqlen();
  std::vector<V> h_re, h_im;
  for (Index n = 0; n < N; ++n) {
    if constexpr (kComplex) {
      h_re.push_back(ar.input(T(0)));
      h_im.push_back(ar.input(T(0)));
    } else {
      h_re.push_back(ar.input(in.h0 ? (*in.h0)(b, d, n) : T(0)));
    }
  }
  const bool has_D = in.D.has_value(), has_z = in.z.has_value();
  const V D = ar.input(has_D ? (*in.D)[d] : T(0));
  for (Index t = 0; t < L; ++t) {
    V dt = ar.input(in.delta(b, d, t));
    if (in.delta_bias) dt = biased_delta(ar, dt, ar.input((*in.delta_bias)[d]));
    if (in.delta_softplus) dt = activated_delta(ar, dt);
    const V u = ar.input(in.u(b, d, t));
    const V du = scaled_input(ar, dt, u);
    V y = ar.input(T(0));
    for (Index n = 0; n < N; ++n) {
      if constexpr (kComplex) {
        V c, s;
        rotation(ar, dt, ar.input(p.A_at(d, n, 1)), c, s);
        complex_state_step(ar, dt, du, ar.input(p.A_at(d, n, 0)), c, s,
                           ar.input(p.B_at(b, d, n, t, 0)), ar.input(p.B_at(b, d, n, t, 1)),
                           ar.input(p.C_at(b, d, n, t, 0)), ar.input(p.C_at(b, d, n, t, 1)),
                           h_re[n], h_im[n], y);
      } else {
        state_step(ar, dt, du, ar.input(in.A(d, n)), ar.input(p.B_at(b, d, n, t)),
                   ar.input(p.C_at(b, d, n, t)), h_re[n], y);
      }
    }
    V v;
    if constexpr (kComplex) v = complex_skip(ar, y, u, D, has_D);
    else v = skip(ar, y, u, D, has_D);
    const V s = has_z ? gate(ar, ar.input((*in.z)(b, d, t))) : v;
    out(t, gated(ar, v, s, has_z));
  }
  for (Index n = 0; n < N; ++n) {
    if constexpr (kComplex) last(n, h_re[n], h_im[n]);
    else last(n, h_re[n]);
  }
}
// embed-end mamba_scan_order

}  // namespace touchstone::mamba::order
