// Test inputs shared by the orthogonal family's tests: normal matrices from a named Philox stream
// and points of St(N, M), both rounded to a format; and the check of a computed answer against the
// oracle within a per-element bound.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "touchstone/core/formats.hpp"
#include "touchstone/core/random.hpp"
#include "touchstone/reference/orthogonal.hpp"

namespace touchstone::orthogonal::test_inputs {

// 2^-200: identities of the 256-bit oracles hold to a few roundings; a wrong one is off by O(1).
inline const double kExact = std::ldexp(1.0, -200);

// A VJP checked against a central difference in MPFR with step h = 2^-40: the difference is exact
// to O(h^2) ~ 1e-24 relative (256-bit rounding adds 2^-256 / h ~ 1e-65). This is that truncation
// with a margin of 1e4: the right VJP is within it, and a wrong VJP must fail the same comparison.
inline constexpr double kCentralDifferenceTolerance = 1e-20;

// A rows x cols matrix of standard normals from the stream "<test>/<name>", rounded to f.
inline Tensor<double> normal(const std::string& test, Index rows, Index cols, std::uint64_t seed, const char* name,
                             Format f = Format::float32) {
  PhiloxStream r(seed, test + "/" + name);
  Tensor<double> t(Shape{rows, cols});
  for (Index i = 0; i < t.count(); ++i) t[i] = round_to_format(r.next_normal(), f);
  return t;
}

// A point of St(N, M) rounded to float32: the binary64 Q factor of a normal matrix.
inline Tensor<double> stiefel_point(const std::string& test, Index N, Index M, std::uint64_t seed) {
  Tensor<double> x = reference::qf<double>(QfProblem<double>(normal(test, N, M, seed, "Y", Format::float64)));
  for (Index i = 0; i < x.count(); ++i) x[i] = round_to_format(x[i], Format::float32);
  return x;
}

// The largest |computed - exact| / bound over the elements, failing the test where an element's
// bound is not finite or its error exceeds it.
inline double worst_ratio(const Tensor<double>& computed, const Tensor<mp_real>& exact, const Tensor<double>& bound,
                          const std::string& what) {
  double worst = 0;
  for (Index i = 0; i < computed.count(); ++i) {
    const double err = std::fabs(to_double(mp_real(computed[i]) - exact[i]));
    EXPECT_TRUE(std::isfinite(bound[i])) << what << " element " << i;
    EXPECT_LE(err, bound[i]) << what << " element " << i;
    worst = std::max(worst, err / bound[i]);
  }
  return worst;
}

}  // namespace touchstone::orthogonal::test_inputs
