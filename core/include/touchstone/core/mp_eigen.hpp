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

namespace Eigen {

template <>
struct NumTraits<touchstone::mp_real> : GenericNumTraits<touchstone::mp_real> {
  using Self = touchstone::mp_real;
  using Real = Self;
  using NonInteger = Self;
  using Nested = Self;
  using Literal = Self;
  enum {
    IsComplex = 0,
    IsInteger = 0,
    IsSigned = 1,
    RequireInitialization = 1,
    ReadCost = HugeCost,
    AddCost = HugeCost,
    MulCost = HugeCost
  };
  static Real epsilon() { return std::numeric_limits<Real>::epsilon(); }
  static Real dummy_precision() {
    // Eigen's fuzzy comparisons: a thousand ulps of the working precision.
    return epsilon() * 1000;
  }
  static Real highest() { return (std::numeric_limits<Real>::max)(); }
  static Real lowest() { return -(std::numeric_limits<Real>::max)(); }
  static Real infinity() { return std::numeric_limits<Real>::infinity(); }
  static Real quiet_NaN() { return std::numeric_limits<Real>::quiet_NaN(); }
  static int digits10() { return std::numeric_limits<Real>::digits10; }
  static int digits() { return std::numeric_limits<Real>::digits; }
};

template <>
struct NumTraits<touchstone::mp_complex> : GenericNumTraits<touchstone::mp_complex> {
  using Self = touchstone::mp_complex;
  using Real = touchstone::mp_real;
  using NonInteger = Self;
  using Nested = Self;
  using Literal = Self;
  enum {
    IsComplex = 1,
    IsInteger = 0,
    IsSigned = 1,
    RequireInitialization = 1,
    ReadCost = HugeCost,
    AddCost = HugeCost,
    MulCost = HugeCost
  };
  static Real epsilon() { return NumTraits<Real>::epsilon(); }
  static Real dummy_precision() { return NumTraits<Real>::dummy_precision(); }
  static Real highest() { return NumTraits<Real>::highest(); }
  static Real lowest() { return NumTraits<Real>::lowest(); }
  static Real infinity() { return NumTraits<Real>::infinity(); }
  static Real quiet_NaN() { return NumTraits<Real>::quiet_NaN(); }
  static int digits10() { return NumTraits<Real>::digits10(); }
  static int digits() { return NumTraits<Real>::digits(); }
};

}  // namespace Eigen
