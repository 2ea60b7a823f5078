// The arithmetic policy of the order headers (order/<family>_order.hpp) on native floats, what the
// CPU backends of every family share: every operation one IEEE rounding in T (the project builds
// with -ffp-contract=off), sums in the order of the calls, exp from elementary.hpp. A family's
// policy derives from it and adds its own functions (Performer's kernels, the orthogonal
// family's sqrt).
#pragma once

#include <type_traits>

#include "common/elementary.hpp"

namespace touchstone::cpu_common {

template <class T>
struct NativeArithmetic {
  using V = T;
  using Acc = T;  // 0 + t is exact, so starting from 0 adds no rounding
  static V input(double x) { return static_cast<T>(x); }
  static V add(V a, V b) { return a + b; }
  static V sub(V a, V b) { return a - b; }
  static V mul(V a, V b) { return a * b; }
  static V div(V a, V b) { return a / b; }
  static V neg(V a) { return -a; }
  static V exp(V a) {
    if constexpr (std::is_same_v<T, float>) return elementary::exp_f32(a);
    else return elementary::exp_f64(a);
  }
  static V max(V a, V b) { return a < b ? b : a; }
  static Acc acc() { return T(0); }
  static void accumulate(Acc& s, V t) { s = s + t; }
  static V total(Acc s) { return s; }
};

}  // namespace touchstone::cpu_common
