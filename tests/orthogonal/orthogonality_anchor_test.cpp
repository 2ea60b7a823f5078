// [ORTH-ORTH-TABLE] The a-priori orthogonality anchor of the table in spec/orthogonal.md:
// max|Q^T Q - I| and ||Q^T Q - I||_F <= 2 sqrt(n) E + n E^2 with E = [ORTH-HH-ROWNORM]'s row bound,
// for the sequential product (a proof) and, as measured, CWY; and the check fails on a wrong Q (a
// column scaled, a NaN, the transpose of a non-orthogonal matrix).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "orthogonality_defect.hpp"
#include "cpu/orthogonal.hpp"
#include "test_inputs.hpp"
#include "touchstone/bounds/orthogonal_bound.hpp"

using namespace touchstone;
using namespace touchstone::orthogonal;

namespace {

using Defect = OrthogonalityDefect;

template <class T>
Defect defect(const Tensor<T>& q) {
  return orthogonality_defect(q);
}

double anchor(const ReflectorProblem<double>& p, Format f) {
  const double E = householder_rownorm_bound(p, f), n = static_cast<double>(p.N());
  return (2 * std::sqrt(n) * E + n * E * E) * (1 + 0x1p-40);
}

template <class T>
bool within(const Tensor<T>& q, double bound) {
  const Defect d = defect(q);
  return d.max <= bound && d.frob <= bound;  // false for NaN
}

// covers: ORTH-ORTH-TABLE
TEST(OrthogonalityAnchor, BoundsTheSequentialProductAndCwy) {
  for (const Index n : {4, 8, 16, 32}) {
    const ReflectorProblem<double> p(test_inputs::normal("anchor", n, n, 3, "V"));
    const double a32 = anchor(p, Format::float32), a64 = anchor(p, Format::float64);
    ASSERT_TRUE(std::isfinite(a32) && std::isfinite(a64)) << n;
    EXPECT_TRUE(within(cpu::householder_product(p.cast<float>()), a32)) << n;
    EXPECT_TRUE(within(cpu::householder_product(p), a64)) << n;
    EXPECT_TRUE(within(cpu::cwy(p.cast<float>()), a32)) << n;
    EXPECT_TRUE(within(cpu::cwy(p), a64)) << n;
    // The anchor says something here: below 1, where [ORTH-ORTH-TABLE] says the worst-case
    // analysis says nothing (a defect of 1 is no orthogonality at all); and float64's is at most
    // float32's scaled by the unit roundoffs, as its first-order term is (the second-order and
    // underflow terms only raise float32's share). Too small an anchor fails `within` above.
    EXPECT_LT(a32, 1.0);
    EXPECT_LE(a64 / 0x1p-53, a32 / 0x1p-24);
  }
}

TEST(OrthogonalityAnchor, FailsOnAWrongQ) {
  const ReflectorProblem<double> p(test_inputs::normal("anchor", 8, 8, 3, "V"));
  const double a32 = anchor(p, Format::float32);
  const Tensor<float> right = cpu::householder_product(p.cast<float>());
  ASSERT_TRUE(within(right, a32));
  Tensor<float> scaled = right;  // one column scaled by 1 + 10 a: its norm is off by about 20 a
  for (Index r = 0; r < 8; ++r) scaled(r, 2) *= static_cast<float>(1 + 10 * a32);
  EXPECT_FALSE(within(scaled, a32));
  Tensor<float> nan = right;
  nan(5, 5) = std::numeric_limits<float>::quiet_NaN();
  EXPECT_FALSE(within(nan, a32));
  Tensor<float> mixed = right;  // two columns mixed by a small shear: no longer orthogonal
  for (Index r = 0; r < 8; ++r) mixed(r, 1) += static_cast<float>(10 * a32) * right(r, 0);
  EXPECT_FALSE(within(mixed, a32));
}

}  // namespace
