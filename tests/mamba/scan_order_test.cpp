// The CPU selective scan runs exactly the order its bound counts (spec/mamba.md [MAMBA-SCAN-CPU]).
//
// The Mamba scan has no order header shared by backend and bound: the backends run the order in
// SIMD lanes across channels (optimized/cpu/mamba_lanes.hpp), and bounds/src/mamba_bound.cpp counts
// the roundings of the listing in optimized/cpu/mamba.hpp in closed form. What ties the two is
// this test: a plain scalar transcription of that listing, one (b, d, t) at a time with the same
// elementary functions, must give cpu-f32's and cpu-f64's outputs and last states bit for bit, on
// RapidCheck problems that reach the edges (every optional input, all B/C layouts, ragged L,
// subnormals, NaN). A backend that reassociated, contracted or skipped a step would differ here
// even where its result stayed within the bound.
// covers: MAMBA-SCAN-CPU
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <cmath>

#include "common/elementary.hpp"
#include "cpu/mamba.hpp"
#include "scan_generators.hpp"
#include "scan_test_support.hpp"

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
};
template <>
struct Fn<double> {
  static double exp(double x) { return elementary::exp_f64(x); }
  static double softplus(double x) { return elementary::softplus_f64(x); }
  static double silu(double x) { return elementary::silu_f64(x); }
};

// The listing of optimized/cpu/mamba.hpp, line by line, each operation rounded once in T.
// `unfused_state` is a deliberately wrong variant (h = a h + bu rounded twice instead of one fma),
// to show that the comparison can fail.
template <class T>
SelectiveScanResult<T> listed_order(const SelectiveScanProblem<T>& p, bool unfused_state = false) {
  const auto& in = p.in();
  const Index B = p.batch(), D = p.dim(), N = p.dstate(), L = p.seqlen();
  SelectiveScanResult<T> r{Tensor<T>(Shape{B, D, L}), Tensor<T>(Shape{B, D, N})};
  for (Index b = 0; b < B; ++b)
    for (Index d = 0; d < D; ++d) {
      std::vector<T> h(static_cast<std::size_t>(N));
      for (Index n = 0; n < N; ++n) h[n] = in.h0 ? (*in.h0)(b, d, n) : T(0);
      for (Index t = 0; t < L; ++t) {
        T x = in.delta(b, d, t);
        if (in.delta_bias) x = x + (*in.delta_bias)(d);
        T dt = x;
        if (in.delta_softplus) dt = x > T(20) ? x : Fn<T>::softplus(x);
        const T u = in.u(b, d, t);
        const T du = dt * u;
        T y = T(+0.0);
        for (Index n = 0; n < N; ++n) {
          const T a = Fn<T>::exp(dt * in.A(d, n));
          const T bu = du * p.B_at(b, d, n, t);
          h[n] = unfused_state ? a * h[n] + bu : std::fma(a, h[n], bu);
          y = std::fma(h[n], p.C_at(b, d, n, t), y);
        }
        const T v = in.D ? std::fma((*in.D)(d), u, y) : y;
        r.out(b, d, t) = in.z ? v * Fn<T>::silu((*in.z)(b, d, t)) : v;
      }
      for (Index n = 0; n < N; ++n) r.last_state(b, d, n) = h[n];
    }
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

// The comparison can fail: the state update as a product and a sum, each rounded (what a compiler
// that does not contract, or a hand-written kernel, would do), changes cpu-f32's bits.
TEST(SelectiveScanOrder, AWrongListingIsSeen) {
  // batch 1, dim 4, dstate 8, seqlen 32; values from sin of their index, rounded to float32.
  const Index dim = 4, N = 8, L = 32;
  auto fill = [](Shape s, double scale, double offset) {
    Tensor<double> x(std::move(s));
    for (Index i = 0; i < x.count(); ++i)
      x[i] = static_cast<float>(offset + scale * std::sin(1.0 + 0.7 * static_cast<double>(i)));
    return x;
  };
  SelectiveScanInputs<double> in;
  in.u = fill(Shape{1, dim, L}, 1.0, 0.0);
  in.delta = fill(Shape{1, dim, L}, 1.0, -1.0);
  in.A = fill(Shape{dim, N}, 0.5, -1.0);
  in.B = fill(Shape{dim, N}, 1.0, 0.0);
  in.C = fill(Shape{dim, N}, 1.0, 0.0);
  in.delta_softplus = true;
  const SelectiveScanProblem<double> p(std::move(in));
  const auto p32 = p.cast<float>();
  const auto backend = as_double(cpu::selective_scan(p32));
  EXPECT_TRUE(same_bits(as_double(listed_order(p32)).out, backend.out));
  EXPECT_FALSE(same_bits(as_double(listed_order(p32, true)).out, backend.out))
      << "an unfused state update should change cpu-f32's bits";
}
