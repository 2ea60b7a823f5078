// Helpers of the S4D and DSS tests: problems from Philox draws, and judging a backend's kernel
// against the oracle and its bound.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <string>

#include "../tightness.hpp"
#include "touchstone/core/metrics.hpp"
#include "touchstone/core/random.hpp"
#include "touchstone/reference/s4d.hpp"

namespace touchstone::s4::testing {

inline Tensor<double> uniform(Shape s, std::uint64_t seed, const std::string& name, double lo, double hi,
                              Format f = Format::float32) {
  PhiloxStream rng(seed, name);
  Tensor<double> t(std::move(s));
  for (Index i = 0; i < t.count(); ++i) t[i] = round_to_format(rng.next_uniform(lo, hi), f);
  return t;
}

// A random S4D problem with float32 values: Re A on [-re_max, -re_min], Im A on [-im, im],
// B, C per part on [-1, 1), dt = e^U[log 1e-3, log 1e-1].
inline S4DInputs<double> random_inputs(std::uint64_t seed, Index H, Index N, Index L, Discretization d,
                                       Conj c, bool with_B, double im = 8.0) {
  S4DInputs<double> in;
  in.A = uniform(Shape{H, N, 2}, seed, "A", -1, 1);
  for (Index i = 0; i < in.A.count(); i += 2) {
    in.A[i] = static_cast<float>(-(0.05 + std::fabs(in.A[i])));
    in.A[i + 1] = static_cast<float>(in.A[i + 1] * im);
  }
  in.C = uniform(Shape{H, N, 2}, seed, "C", -1, 1);
  if (with_B) in.B = uniform(Shape{H, N, 2}, seed, "B", -1, 1);
  in.dt = uniform(Shape{H}, seed, "dt", std::log(1e-3), std::log(1e-1));
  for (Index h = 0; h < H; ++h) in.dt[h] = static_cast<float>(std::exp(in.dt[h]));
  in.L = L;
  in.disc = d;
  in.conj = c;
  return in;
}

// Every element within its bound; returns the largest error/bound ratio.
inline double expect_within(const Tensor<double>& computed, const Tensor<mp_real>& exact,
                            const Tensor<double>& bound, Format f, const std::string& what) {
  const ErrorSummary s = compare("K", computed, exact, &bound, f);
  EXPECT_TRUE(s.pass()) << what << ": " << s.outside << " failures; worst at " << s.worst << " computed "
                        << s.worst_computed << " exact " << s.worst_exact << " bound " << s.worst_bound;
  EXPECT_EQ(s.unjudged, 0) << what;
  return s.max_ratio;
}

}  // namespace touchstone::s4::testing
