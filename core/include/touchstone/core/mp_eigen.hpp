// Eigen integration for the oracle's scalar types (spec/core.md [CORE-MP-EIGEN]).
//
// Boost 1.74's own boost/multiprecision/eigen.hpp gives a partial NumTraits that lacks infinity()
// and quiet_NaN() (Eigen 3.4 needs them for SelfAdjointEigenSolver and BDCSVD) and returns the
// smallest positive value from lowest(). These full specializations take precedence over it and
// fix both. Include this header only where Eigen is used with mp types: it is heavy.
#pragma once

#include <Eigen/Core>
#include <limits>

#include "touchstone/core/mp.hpp"

namespace touchstone::detail {

// What the two specializations share; `Self` is the scalar, `Real` its real type.
template <class Self, class Real, bool Complex>
struct MpNumTraits : Eigen::GenericNumTraits<Self> {
  using Literal = Self;
  using Nested = Self;
  using NonInteger = Self;
  enum {
    IsComplex = Complex,
    IsInteger = 0,
    IsSigned = 1,
    RequireInitialization = 1,
    ReadCost = Eigen::HugeCost,
    AddCost = Eigen::HugeCost,
    MulCost = Eigen::HugeCost
  };
  static Real epsilon() { return std::numeric_limits<Real>::epsilon(); }
  // Eigen's fuzzy comparisons: a thousand ulps of the working precision.
  static Real dummy_precision() { return epsilon() * 1000; }
  static Real highest() { return (std::numeric_limits<Real>::max)(); }
  static Real lowest() { return -(std::numeric_limits<Real>::max)(); }
  static Real infinity() { return std::numeric_limits<Real>::infinity(); }
  static Real quiet_NaN() { return std::numeric_limits<Real>::quiet_NaN(); }
  static int digits10() { return std::numeric_limits<Real>::digits10; }
  static int digits() { return std::numeric_limits<Real>::digits; }
};

}  // namespace touchstone::detail

namespace Eigen {

template <>
struct NumTraits<touchstone::mp_real>
    : touchstone::detail::MpNumTraits<touchstone::mp_real, touchstone::mp_real, false> {
  using Real = touchstone::mp_real;
};

template <>
struct NumTraits<touchstone::mp_complex>
    : touchstone::detail::MpNumTraits<touchstone::mp_complex, touchstone::mp_real, true> {
  using Real = touchstone::mp_real;
};

}  // namespace Eigen
