// Helpers of the JVP oracles (reference/src/mamba_backward_reference.cpp and
// mamba_complex_backward_reference.cpp, the only includers: this header pulls in Boost's
// autodiff): jets from a value and a slope, inputs lifted to x + v epsilon (a scan problem's
// inputs, real or complex state), derivatives read back, and the exact inner products of the
// adjoint identity ([MAMBA-BWD-ADJOINT]).
#pragma once

#include <boost/math/differentiation/autodiff.hpp>

#include <optional>
#include <string>

#include "touchstone/core/errors.hpp"
#include "touchstone/core/mp.hpp"
#include "touchstone/core/tensor.hpp"
#include "touchstone/reference/mamba.hpp"

namespace touchstone::mamba::reference::jets {

// f(x) as a jet, from f's value and slope at x's value (Boost 1.74's own elementary functions
// do not compile for an MPFR number, mamba.hpp).
inline Jet from_value_and_slope(const Jet& x, const mp_real& value, const mp_real& slope) {
  return x.apply_derivatives(1, [&](std::size_t order) { return order == 0 ? value : slope; });
}

// x + v epsilon, element by element; v absent is the zero direction.
inline Tensor<Jet> lift(const Tensor<double>& x, const Tensor<double>* v, const std::string& name) {
  if (v && v->shape().extents() != x.shape().extents())
    throw InvalidInput("tangent." + name, "expected the shape of " + name + ", " +
                                              x.shape().str() + ", got " + v->shape().str());
  const Jet epsilon = boost::math::differentiation::make_fvar<mp_real, 1>(mp_real(0));
  Tensor<Jet> out(x.shape());
  for (Index i = 0; i < x.count(); ++i) {
    out[i] = Jet(mp_real(x[i]));
    if (v) out[i] = out[i] + epsilon * mp_real((*v)[i]);
  }
  return out;
}

inline std::optional<Tensor<Jet>> lift(const std::optional<Tensor<double>>& x,
                                       const std::optional<Tensor<double>>& v,
                                       const std::string& name) {
  if (!x) {
    if (v) throw InvalidInput("tangent." + name, "the problem has no " + name);
    return std::nullopt;
  }
  return lift(*x, v ? &*v : nullptr, name);
}

// A required tangent array: empty means the zero direction.
inline const Tensor<double>* required(const Tensor<double>& v) { return v.count() > 0 ? &v : nullptr; }

inline Tensor<mp_real> derivative_of(const Tensor<Jet>& t) {
  Tensor<mp_real> out(t.shape());
  for (Index i = 0; i < t.count(); ++i) out[i] = t[i].derivative(1);
  return out;
}

// <g, v>, exactly at the working precision; an absent array contributes zero.
template <class G>
mp_real dot(const Tensor<G>& g, const Tensor<double>& v) {
  mp_real s = 0;
  for (Index i = 0; i < g.count(); ++i) s += mp_real(g[i]) * mp_real(v[i]);
  return s;
}

template <class G>
mp_real dot(const std::optional<Tensor<G>>& g, const std::optional<Tensor<double>>& v) {
  return g && v ? dot(*g, *v) : mp_real(0);
}

// The inputs x + v epsilon of a scan problem with state kind S (RealState, ComplexState): a
// required tangent array left empty is the zero direction, as is an absent optional one.
template <class S>
typename S::template Inputs<Jet> lift_inputs(const typename S::template Inputs<double>& in,
                                             const typename S::template Inputs<double>& tangent) {
  typename S::template Inputs<Jet> x;
  x.u = lift(in.u, required(tangent.u), "u");
  x.delta = lift(in.delta, required(tangent.delta), "delta");
  x.A = lift(in.A, required(tangent.A), "A");
  x.B = lift(in.B, required(tangent.B), "B");
  x.C = lift(in.C, required(tangent.C), "C");
  x.D = lift(in.D, tangent.D, "D");
  x.z = lift(in.z, tangent.z, "z");
  x.delta_bias = lift(in.delta_bias, tangent.delta_bias, "delta_bias");
  if constexpr (!S::kComplex) x.h0 = lift(in.h0, tangent.h0, "h0");
  x.delta_softplus = in.delta_softplus;
  return x;
}

// <g, v> over every input array of either scan (the (re, im) pairs of complex ones included).
template <class Grads, class Inputs>
mp_real grads_dot(const Grads& g, const Inputs& v) {
  mp_real s = dot(g.du, v.u) + dot(g.ddelta, v.delta) + dot(g.dA, v.A) + dot(g.dB, v.B) +
              dot(g.dC, v.C) + dot(g.dD, v.D) + dot(g.dz, v.z) + dot(g.ddelta_bias, v.delta_bias);
  if constexpr (requires { g.dh0; }) s += dot(g.dh0, v.h0);
  return s;
}

// <w, J v> = sum dout * out_tangent + sum dlast_state * last_state_tangent.
template <class Problem, class Result>
mp_real cotangent_dot(const Problem& w, const Result& jv) {
  mp_real s = 0;
  for (Index i = 0; i < jv.out.count(); ++i) s += mp_real(w.dout()[i]) * jv.out[i];
  if (w.dlast_state())
    for (Index i = 0; i < jv.last_state.count(); ++i)
      s += mp_real((*w.dlast_state())[i]) * jv.last_state[i];
  return s;
}

}  // namespace touchstone::mamba::reference::jets
