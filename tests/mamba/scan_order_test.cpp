// The CPU selective scans run exactly the order their bounds count (spec/mamba.md
// [MAMBA-SCAN-CPU], spec/mamba_complex.md [MAMBA-CSCAN-CPU]).
//
// The order is written once, order/include/touchstone/order/mamba_order.hpp; the backends run its
// steps in SIMD lanes across channels (optimized/cpu/mamba_lanes.hpp), and bounds/src/mamba_bound.cpp
// counts its roundings in closed form (scan_tracked_test.cpp checks that count against the order
// run on Tracked values). This test runs the header's scan_channel, one (b, d) at a time, on
// plain float and double with this file's own arithmetic (each operation one IEEE rounding, the
// same elementary functions): cpu-f32's and cpu-f64's outputs and last states must equal it bit
// for bit, on RapidCheck problems that reach the edges (every optional input, all B/C layouts,
// ragged L, subnormals, NaN). A backend lane that reassociated, contracted or skipped a step, or a
// tiling that mixed lanes, would differ here even where its result stayed within the bound.
// covers: MAMBA-SCAN-CPU, MAMBA-CSCAN-CPU
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <cmath>

#include "common/elementary.hpp"
#include "complex_generators.hpp"
#include "complex_test_support.hpp"
#include "cpu/mamba.hpp"
#include "cpu/mamba_complex.hpp"
#include "scan_generators.hpp"
#include "scan_test_support.hpp"
#include "touchstone/order/mamba_order.hpp"

using namespace touchstone;
using namespace touchstone::mamba;
using namespace touchstone::mamba::testing;

namespace {

template <class T>
struct Fn;
template <>
struct Fn<float> {
  static float exp(float x) { return elementary::exp_f32(x); }
  static float softplus(float x) { return elementary::softplus_f32(x); }
  static float silu(float x) { return elementary::silu_f32(x); }
  // glibc's binary64 functions of the exact double, rounded once ([MAMBA-CSCAN-ELEMENTARY]).
  static float cos(float x) { return static_cast<float>(std::cos(static_cast<double>(x))); }
  static float sin(float x) { return static_cast<float>(std::sin(static_cast<double>(x))); }
};
template <>
struct Fn<double> {
  static double exp(double x) { return elementary::exp_f64(x); }
  static double softplus(double x) { return elementary::softplus_f64(x); }
  static double silu(double x) { return elementary::silu_f64(x); }
  static double cos(double x) { return std::cos(x); }
  static double sin(double x) { return std::sin(x); }
};

// The order's arithmetic policy on T, each operation rounded once (-ffp-contract=off).
// `unfused` is a deliberately wrong arithmetic (every fma a rounded product, then a rounded sum),
// to show that the comparison can fail.
template <class T>
struct Native {
  using V = T;
  bool unfused = false;
  V input(T x) const { return x; }
  V add(V a, V b) const { return a + b; }
  V mul(V a, V b) const { return a * b; }
  V neg(V a) const { return -a; }
  V twice(V a) const { return T(2) * a; }
  V fma(V a, V b, V c) const { return unfused ? a * b + c : std::fma(a, b, c); }
  V exp(V x) const { return Fn<T>::exp(x); }
  V softplus_thresholded(V x) const { return x > T(20) ? x : Fn<T>::softplus(x); }
  V silu(V x) const { return Fn<T>::silu(x); }
  V cos(V x) const { return Fn<T>::cos(x); }
  V sin(V x) const { return Fn<T>::sin(x); }
};

// The header's order, channel by channel, on T.
template <class T>
SelectiveScanResult<T> listed_order(const SelectiveScanProblem<T>& p, bool unfused = false) {
  const Index B = p.batch(), D = p.dim(), N = p.dstate(), L = p.seqlen();
  SelectiveScanResult<T> r{Tensor<T>(Shape{B, D, L}), Tensor<T>(Shape{B, D, N})};
  Native<T> ar{unfused};
  for (Index b = 0; b < B; ++b)
    for (Index d = 0; d < D; ++d)
      order::scan_channel(
          ar, p, b, d, [&](Index t, T v) { r.out(b, d, t) = v; },
          [&](Index n, T h) { r.last_state(b, d, n) = h; });
  return r;
}

template <class T>
ComplexScanResult<T> listed_complex_order(const ComplexScanProblem<T>& p) {
  const Index B = p.batch(), D = p.dim(), N = p.dstate(), L = p.seqlen();
  ComplexScanResult<T> r{Tensor<T>(Shape{B, D, L}), Tensor<T>(Shape{B, D, N, 2})};
  Native<T> ar;
  for (Index b = 0; b < B; ++b)
    for (Index d = 0; d < D; ++d)
      order::scan_channel(
          ar, p, b, d, [&](Index t, T v) { r.out(b, d, t) = v; },
          [&](Index n, T re, T im) {
            r.last_state(b, d, n, Index{0}) = re;
            r.last_state(b, d, n, Index{1}) = im;
          });
  return r;
}

template <class T>
void expect_same_bits(const char* what, const SelectiveScanProblem<double>& p,
                      const SelectiveScanResult<T>& listed, const SelectiveScanResult<T>& backend) {
  const auto a = as_double(listed), c = as_double(backend);
  if (!same_bits(a.out, c.out) || !same_bits(a.last_state, c.last_state))
    RC_FAIL(std::string(what) + " differs from the listed order:\n" + dump_problem(p));
}

}  // namespace

RC_GTEST_PROP(SelectiveScanOrder, CpuBackendsRunTheListedOrderBitForBit, ()) {
  const auto p = draw_problem(Format::float32);
  const auto p32 = p.cast<float>();
  expect_same_bits("cpu-f32", p, listed_order(p32), cpu::selective_scan(p32));
  expect_same_bits("cpu-f32, one thread", p, listed_order(p32), cpu::selective_scan(p32, 1));
  const auto p64 = draw_problem(Format::float64);
  expect_same_bits("cpu-f64", p64, listed_order(p64), cpu::selective_scan(p64));
}

RC_GTEST_PROP(SelectiveScanOrder, ComplexCpuBackendsRunTheListedOrderBitForBit, ()) {
  const auto p = draw_complex_problem(Format::float32);
  const auto p32 = p.cast<float>();
  auto same = [&](const char* what, const auto& listed, const auto& backend) {
    const auto a = complex_as_double(listed), c = complex_as_double(backend);
    if (!same_bits(a.out, c.out) || !same_bits(a.last_state, c.last_state))
      RC_FAIL(std::string(what) + " differs from the listed order");
  };
  same("complex cpu-f32", listed_complex_order(p32), cpu::selective_scan_complex(p32));
  same("complex cpu-f32, one thread", listed_complex_order(p32), cpu::selective_scan_complex(p32, 1));
  const auto p64 = draw_complex_problem(Format::float64);
  same("complex cpu-f64", listed_complex_order(p64), cpu::selective_scan_complex(p64));
}

// The comparison can fail: the fmas as a product and a sum, each rounded (what a compiler that
// does not contract, or a hand-written kernel, would do), change cpu-f32's bits.
TEST(SelectiveScanOrder, AWrongListingIsSeen) {
  // batch 1, dim 4, dstate 8, seqlen 32; values from sin of their index, rounded to float32.
  SelectiveScanInputs<double> in = sine_inputs();
  in.delta_softplus = true;
  const SelectiveScanProblem<double> p(std::move(in));
  const auto p32 = p.cast<float>();
  const auto backend = as_double(cpu::selective_scan(p32));
  EXPECT_TRUE(same_bits(as_double(listed_order(p32)).out, backend.out));
  EXPECT_FALSE(same_bits(as_double(listed_order(p32, true)).out, backend.out))
      << "unfused state and output updates should change cpu-f32's bits";
}
