// Bit-for-bit comparison of two outputs, shared by the tests that hold a fast path or a CUDA
// body's host emulation to the order it must reproduce exactly ([PERF-FAST-CPU],
// [ORTH-CWY-FAST], [BILEVEL-MAML-FAST-CPU], the *-CUDA sections), and the check that the
// comparison itself catches wrong answers.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "touchstone/core/tensor.hpp"

namespace touchstone::testing_bits {

// Whether two NaNs with different payloads count as equal: the device makes the canonical NaN
// 0x7fffffff where x86 makes 0xffc00000 or propagates an operand's payload.
enum class NaNs { exact_bits, any_payload };

// The first flat index at which a and b differ in their bits (0 for another shape, so -0 and +0
// differ), or -1 if none.
template <class T>
Index first_bit_difference(const Tensor<T>& a, const Tensor<T>& b, NaNs nans = NaNs::exact_bits) {
  if (a.shape() != b.shape()) return 0;
  for (Index i = 0; i < a.count(); ++i) {
    if (nans == NaNs::any_payload && std::isnan(a[i]) && std::isnan(b[i])) continue;
    if (std::memcmp(&a.data()[i], &b.data()[i], sizeof(T)) != 0) return i;
  }
  return -1;
}

// The comparison fails on wrong answers made from `right` (at least 18 elements): one element one
// ulp off, a NaN, -0 for +0, every value doubled, and another shape.
template <class T>
void expect_comparison_catches_wrong_answers(const Tensor<T>& right, NaNs nans = NaNs::exact_bits) {
  ASSERT_GE(right.count(), 18);
  Tensor<T> ulp = right;
  ulp[17] = std::nextafter(ulp[17], std::numeric_limits<T>::infinity());
  EXPECT_EQ(first_bit_difference(ulp, right, nans), 17);
  Tensor<T> nan = right;
  nan[right.count() - 1] = std::numeric_limits<T>::quiet_NaN();
  EXPECT_EQ(first_bit_difference(nan, right, nans), std::isnan(right[right.count() - 1]) && nans == NaNs::any_payload
                                                        ? -1
                                                        : right.count() - 1);
  Tensor<T> zero = right;
  zero[3] = T(0);
  Tensor<T> negative_zero = zero;
  negative_zero[3] = -T(0);
  EXPECT_EQ(first_bit_difference(zero, negative_zero, nans), 3);
  Tensor<T> scaled = right;
  for (Index i = 0; i < scaled.count(); ++i) scaled[i] *= 2;
  EXPECT_NE(first_bit_difference(scaled, right, nans), -1);
  EXPECT_NE(first_bit_difference(Tensor<T>(Shape{1}), right, nans), -1);
}

}  // namespace touchstone::testing_bits
