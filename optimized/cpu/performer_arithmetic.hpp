// The Performer family's arithmetic policy on native floats, shared by the CPU backends
// (optimized/cpu/performer.cpp, performer_slim.cpp) that run order/performer_order.hpp.
#pragma once

#include <cmath>

#include "common/native_arithmetic.hpp"
#include "touchstone/order/performer_order.hpp"

namespace touchstone::performer::cpu {

// The order's arithmetic policy on T: every operation one IEEE rounding (-ffp-contract=off).
template <class T>
struct PerformerArithmetic : cpu_common::NativeArithmetic<T> {
  using V = T;
  using cpu_common::NativeArithmetic<T>::exp;
  static V constant(double c, double) { return static_cast<T>(c); }
  // sin and cos: glibc's binary64 functions (assumed within 1 ulp, [CORE-ASSUME-LIBM-F64]); in
  // float32 their result rounded once more (within 0.50001 ulps of float32, as the complex scan's).
  static V sin(V a) { return static_cast<T>(std::sin(static_cast<double>(a))); }
  static V cos(V a) { return static_cast<T>(std::cos(static_cast<double>(a))); }
  static V guard_gr(V R, V eps) { return std::fabs(R) <= eps ? R + (eps + eps) : R; }
  static V kernel(Kernel f, V t) {
    switch (f) {
      case Kernel::relu: return t > 0 ? t : V(0);
      case Kernel::elu1: return t > 0 ? t + V(1) : exp(t);
      case Kernel::abs: return std::fabs(t);
      case Kernel::sqr: return t * t;
      case Kernel::exp: return exp(t);
      case Kernel::identity: return t;
    }
    return t;
  }
  static V kernel_derivative(Kernel f, V t) {
    switch (f) {
      case Kernel::relu: return t > 0 ? V(1) : V(0);
      case Kernel::elu1: return t > 0 ? V(1) : exp(t);
      case Kernel::abs: return t > 0 ? V(1) : (t < 0 ? V(-1) : V(0));
      case Kernel::sqr: return t + t;
      case Kernel::exp: return exp(t);
      case Kernel::identity: return V(1);
    }
    return V(1);
  }
};

}  // namespace touchstone::performer::cpu
