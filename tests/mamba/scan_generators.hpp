// RapidCheck generators of selective scan problems that reach the edges
// (spec/mamba.md [MAMBA-SCAN-SHAPES], [MAMBA-SCAN-NAN]): L = 1 and ragged L, groups 1/2/4, each
// optional input present or absent, constant and variable B/C in both variable layouts, values
// from zero and subnormals to 2^20, delta and A over many orders of magnitude, and an occasional
// NaN. Values are rounded to the requested format so a float32 backend sees exactly them.
#pragma once

#include <rapidcheck.h>

#include <cmath>

#include "touchstone/core/formats.hpp"
#include "touchstone/reference/mamba_problem.hpp"

namespace touchstone::mamba::testing {

// A value whose binade is drawn uniformly from [emin, emax] (so magnitudes spread over orders),
// with occasional exact zeros and subnormals.
inline double draw_value(Format f, int emin, int emax, bool allow_negative) {
  const int kind = *rc::gen::inRange(0, 40);
  double v;
  if (kind == 0) {
    v = 0.0;
  } else if (kind == 1) {
    const FormatInfo& fi = format_info(f);  // a subnormal of the format
    v = std::ldexp(static_cast<double>(*rc::gen::inRange(1, 1 << 10)), fi.emin - fi.precision + 1);
  } else {
    const int e = *rc::gen::inRange(emin, emax + 1);
    const double m = 1.0 + *rc::gen::inRange(0, 1 << 24) * std::ldexp(1.0, -24);
    v = std::ldexp(m, e);
  }
  if (allow_negative && *rc::gen::arbitrary<bool>()) v = -v;
  return round_to_format(v, f);
}

struct Ranges {
  int value_emin = -20, value_emax = 6;   // u, B, C, D, z, h0
  int delta_emin = -24, delta_emax = 4;   // delta before bias/softplus (signed)
  int A_emin = -24, A_emax = 8;           // |A|
};

inline Tensor<double> draw_tensor(Shape s, Format f, int emin, int emax, bool negative) {
  Tensor<double> t(std::move(s));
  for (Index i = 0; i < t.count(); ++i) t[i] = draw_value(f, emin, emax, negative);
  return t;
}

// A problem small enough for the 256-bit oracle in milliseconds.
inline SelectiveScanProblem<double> draw_problem(Format f, const Ranges& r = {}, bool allow_nan = true) {
  const Index batch = *rc::gen::inRange<Index>(1, 3);
  const Index groups = *rc::gen::element<Index>(1, 2, 4);
  const Index dim = groups * *rc::gen::inRange<Index>(1, 4);
  const Index dstate = *rc::gen::element<Index>(1, 2, 3, 5, 8, 16);
  const Index seqlen = *rc::gen::oneOf(rc::gen::element<Index>(1, 2, 3), rc::gen::inRange<Index>(4, 48));
  SelectiveScanInputs<double> in;
  in.u = draw_tensor(Shape{batch, dim, seqlen}, f, r.value_emin, r.value_emax, true);
  in.delta = draw_tensor(Shape{batch, dim, seqlen}, f, r.delta_emin, r.delta_emax, true);
  in.delta_softplus = *rc::gen::arbitrary<bool>();
  if (!in.delta_softplus)  // without softplus dt is delta itself: keep it non-negative, as Mamba's
    for (Index i = 0; i < in.delta.count(); ++i) in.delta[i] = std::fabs(in.delta[i]);
  // A mostly negative (decay), sometimes zero or slightly positive (growth).
  in.A = draw_tensor(Shape{dim, dstate}, f, r.A_emin, r.A_emax, false);
  for (Index i = 0; i < in.A.count(); ++i)
    in.A[i] = (*rc::gen::inRange(0, 10) == 0) ? round_to_format(std::ldexp(in.A[i], -12), f) : -in.A[i];
  auto operand = [&](const char*) {
    const int layout = *rc::gen::inRange(0, 3);  // constant, (batch, N, L), (batch, G, N, L)
    if (layout == 0) return draw_tensor(Shape{dim, dstate}, f, r.value_emin, r.value_emax, true);
    if (layout == 1) return draw_tensor(Shape{batch, dstate, seqlen}, f, r.value_emin, r.value_emax, true);
    return draw_tensor(Shape{batch, groups, dstate, seqlen}, f, r.value_emin, r.value_emax, true);
  };
  in.B = operand("B");
  in.C = operand("C");
  if (*rc::gen::arbitrary<bool>()) in.D = draw_tensor(Shape{dim}, f, r.value_emin, r.value_emax, true);
  if (*rc::gen::arbitrary<bool>()) in.z = draw_tensor(Shape{batch, dim, seqlen}, f, r.value_emin, 3, true);
  if (*rc::gen::arbitrary<bool>())
    in.delta_bias = draw_tensor(Shape{dim}, f, r.delta_emin, r.delta_emax, true);
  if (*rc::gen::arbitrary<bool>())
    in.h0 = draw_tensor(Shape{batch, dim, dstate}, f, r.value_emin, r.value_emax, true);
  if (allow_nan && *rc::gen::inRange(0, 8) == 0) {
    // One NaN somewhere: it must propagate along its causal cone only.
    std::vector<Tensor<double>*> arrays = {&in.u, &in.delta, &in.A, &in.B, &in.C};
    for (auto* o : {&in.D, &in.z, &in.delta_bias, &in.h0})
      if (*o) arrays.push_back(&**o);
    Tensor<double>& t = *arrays[static_cast<std::size_t>(*rc::gen::inRange<std::size_t>(0, arrays.size()))];
    t[*rc::gen::inRange<Index>(0, t.count())] = NAN;
  }
  return SelectiveScanProblem<double>(std::move(in));
}

// A fixed problem for the tests that show a comparison can fail: batch 1, dim 4, dstate 8, seqlen 32,
// every value offset + scale sin(1 + 0.7 i) of its index i, rounded to float32; u, delta, A and
// constant B and C (the tests add their options with sine_values).
inline Tensor<double> sine_values(Shape s, double scale, double offset) {
  Tensor<double> x(std::move(s));
  for (Index i = 0; i < x.count(); ++i)
    x[i] = static_cast<float>(offset + scale * std::sin(1.0 + 0.7 * static_cast<double>(i)));
  return x;
}
inline SelectiveScanInputs<double> sine_inputs() {
  const Index dim = 4, N = 8, L = 32;
  SelectiveScanInputs<double> in;
  in.u = sine_values(Shape{1, dim, L}, 1.0, 0.0);
  in.delta = sine_values(Shape{1, dim, L}, 1.0, -1.0);
  in.A = sine_values(Shape{dim, N}, 0.5, -1.0);
  in.B = sine_values(Shape{dim, N}, 1.0, 0.0);
  in.C = sine_values(Shape{dim, N}, 1.0, 0.0);
  return in;
}

}  // namespace touchstone::mamba::testing
