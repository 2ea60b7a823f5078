// Regressions: the group mapping, the softplus threshold, layouts that must agree, L = 1.
// covers: MAMBA-SCAN-GROUPS MAMBA-SCAN-SOFTPLUS MAMBA-SCAN-DELTA MAMBA-SCAN-INIT MAMBA-SCAN-LAST
// covers: MAMBA-SCAN-DISCRETIZE MAMBA-SCAN-REC MAMBA-SCAN-OUT MAMBA-SCAN-SKIP MAMBA-SCAN-GATE
#include <gtest/gtest.h>

#include <cmath>

#include "cuda_scan_emulation.hpp"
#include "scan_test_support.hpp"

using namespace touchstone;
using namespace touchstone::mamba;
using namespace touchstone::mamba::testing;

namespace {
void expect_all_backends_within_bound(const SelectiveScanProblem<double>& p) {
  const auto exact = oracle(p);
  const auto shape = mamba::cuda::selective_scan_kernel_shape();
  const Judged a = judge(as_double(cpu::selective_scan(p.cast<float>())), exact,
                         selective_scan_bound(p, arithmetic_cpu_f32()), Format::float32);
  EXPECT_TRUE(a.pass()) << a.describe(p);
  const Judged b = judge(cpu::selective_scan(p), exact, selective_scan_bound(p, arithmetic_cpu_f64()),
                         Format::float64);
  EXPECT_TRUE(b.pass()) << b.describe(p);
  const Judged c = judge(as_double(cuda_scan_emulation(p.cast<float>())), exact,
                         selective_scan_bound(p, arithmetic_cuda_f32(shape.tree_depth, shape.chunk)),
                         Format::float32);
  EXPECT_TRUE(c.pass()) << c.describe(p);
}
}  // namespace

TEST(Regression, ChannelReadsGroupDOverDimOverGNotDModG) {
  // dim 4, G 2: channels 0 and 1 read group 0, channels 2 and 3 read group 1. Group 0's B is
  // zero, so channels 0 and 1 have a zero state and out = D u; channels 2 and 3 do not.
  SelectiveScanInputs<double> in;
  in.u = Tensor<double>(Shape{1, 4, 3}, 1.0);
  in.delta = Tensor<double>(Shape{1, 4, 3}, 0.5);
  in.A = Tensor<double>(Shape{4, 2}, -1.0);
  in.B = Tensor<double>(Shape{1, 2, 2, 3}, 0.0);
  for (Index n = 0; n < 2; ++n)
    for (Index t = 0; t < 3; ++t) in.B(0, 1, n, t) = 1.0;
  in.C = Tensor<double>(Shape{4, 2}, 1.0);
  in.D = Tensor<double>(Shape{4}, 2.0);
  const SelectiveScanProblem<double> p(std::move(in));
  const auto exact = oracle(p);
  const auto f32 = as_double(cpu::selective_scan(p.cast<float>()));
  const auto cu = as_double(cuda_scan_emulation(p.cast<float>()));
  for (Index d = 0; d < 4; ++d)
    for (Index t = 0; t < 3; ++t) {
      const bool zero_state = d < 2;
      EXPECT_EQ(exact.out(0, d, t) == mp_real(2.0), zero_state) << d << " " << t;
      EXPECT_EQ(f32.out(0, d, t) == 2.0, zero_state);
      EXPECT_EQ(cu.out(0, d, t) == 2.0, zero_state);
    }
  expect_all_backends_within_bound(p);
}

TEST(Regression, SoftplusThresholdIsStrictlyAbove20) {
  // x = 20 takes log1p(exp(20)) = 20 + 2.06e-9; just above 20 returns x itself.
  const WorkingPrecision precision(256);
  const mp_real at = reference::softplus_thresholded(mp_real(20));
  EXPECT_GT(at, mp_real(20));
  EXPECT_LT(at - 20, mp_real(2.0612e-9));
  EXPECT_GT(at - 20, mp_real(2.0611e-9));
  const mp_real above(std::nextafter(20.0, 21.0));
  EXPECT_EQ(reference::softplus_thresholded(above), above);
}

TEST(Regression, SoftplusThresholdWhereTheRoundedSumCrosses20) {
  // delta + delta_bias is just below 20 exactly but rounds to 20 or above in float32 (and in
  // float64 for the second pair): the backends take the identity branch where the oracle takes
  // softplus, an error of ~2e-9 that the bound's threshold term must cover.
  const float d32 = std::nextafter(20.0f, 0.0f);
  const double pairs[][2] = {{d32, std::ldexp(1.0, -22) * 0.75},
                             {std::nextafter(20.0, 0.0), std::ldexp(1.0, -51) * 0.75},
                             {20.0, 0.0},
                             {std::nextafter(20.0f, 30.0f), 0.0}};
  for (const auto& pr : pairs) {
    SelectiveScanInputs<double> in;
    in.u = Tensor<double>(Shape{1, 1, 2}, 1.0);
    in.delta = Tensor<double>(Shape{1, 1, 2}, pr[0]);
    in.delta_bias = Tensor<double>(Shape{1}, pr[1]);
    in.A = Tensor<double>(Shape{1, 1}, -0.01);
    in.B = Tensor<double>(Shape{1, 1}, 1.0);
    in.C = Tensor<double>(Shape{1, 1}, 1.0);
    in.delta_softplus = true;
    const SelectiveScanProblem<double> p(in);
    expect_all_backends_within_bound(p);
  }
}

TEST(Regression, ConstantAndVariableLayoutsOfTheSameValuesAgreeBitwise) {
  // B constant (dim, N) with equal rows equals B variable (batch, 1, N, L) with the same values:
  // the backends read them differently and must compute the same bits.
  SelectiveScanInputs<double> in;
  const Index Bt = 2, D = 5, N = 3, L = 7;
  in.u = Tensor<double>(Shape{Bt, D, L});
  in.delta = Tensor<double>(Shape{Bt, D, L});
  for (Index i = 0; i < in.u.count(); ++i) {
    in.u[i] = std::ldexp(static_cast<double>(i % 11) - 5, -3);
    in.delta[i] = std::ldexp(static_cast<double>(i % 5 + 1), -4);
  }
  in.A = Tensor<double>(Shape{D, N}, -0.75);
  in.B = Tensor<double>(Shape{D, N});
  for (Index d = 0; d < D; ++d)
    for (Index n = 0; n < N; ++n) in.B(d, n) = 0.25 * static_cast<double>(n + 1);
  in.C = Tensor<double>(Shape{Bt, N, L});  // 3-d variable
  for (Index i = 0; i < in.C.count(); ++i) in.C[i] = std::ldexp(static_cast<double>(i % 7) - 3, -2);
  SelectiveScanInputs<double> var = in;
  var.B = Tensor<double>(Shape{Bt, 1, N, L});
  for (Index b = 0; b < Bt; ++b)
    for (Index n = 0; n < N; ++n)
      for (Index t = 0; t < L; ++t) var.B(b, 0, n, t) = 0.25 * static_cast<double>(n + 1);
  SelectiveScanInputs<double> four = in;  // C as (batch, 1, N, L)
  four.C = Tensor<double>(Shape{Bt, 1, N, L}, in.C.values());
  const SelectiveScanProblem<double> pc(in), pv(var), p4(four);
  EXPECT_TRUE(same_bits(cpu::selective_scan(pc).out, cpu::selective_scan(pv).out));
  EXPECT_TRUE(same_bits(cpu::selective_scan(pc).out, cpu::selective_scan(p4).out));
  EXPECT_TRUE(same_bits(as_double(cpu::selective_scan(pc.cast<float>())).out,
                        as_double(cpu::selective_scan(pv.cast<float>())).out));
  const auto ec = oracle(pc), ev = oracle(pv);
  for (Index i = 0; i < ec.out.count(); ++i) EXPECT_EQ(ec.out[i], ev.out[i]);
}

TEST(Regression, SingleStepMatchesTheFormulaDirectly) {
  // L = 1, N = 1, h0 given: out = (C (exp(dt A) h0 + dt B u) + D u) silu(z) with
  // dt = softplus(delta + bias); computed here term by term at 256 bits.
  SelectiveScanInputs<double> in;
  in.u = Tensor<double>(Shape{1, 1, 1}, 0.75);
  in.delta = Tensor<double>(Shape{1, 1, 1}, -0.5);
  in.delta_bias = Tensor<double>(Shape{1}, 0.25);
  in.A = Tensor<double>(Shape{1, 1}, -2.0);
  in.B = Tensor<double>(Shape{1, 1}, 1.5);
  in.C = Tensor<double>(Shape{1, 1}, -0.5);
  in.D = Tensor<double>(Shape{1}, 3.0);
  in.z = Tensor<double>(Shape{1, 1, 1}, 1.25);
  in.h0 = Tensor<double>(Shape{1, 1, 1}, 0.375);
  in.delta_softplus = true;
  const SelectiveScanProblem<double> p(std::move(in));
  const auto exact = oracle(p);
  const WorkingPrecision precision(256);
  const mp_real dt = log1p(exp(mp_real(-0.25)));
  const mp_real h = exp(dt * -2) * mp_real(0.375) + dt * mp_real(1.5) * mp_real(0.75);
  const mp_real z(1.25);
  const mp_real expected = (h * mp_real(-0.5) + mp_real(3.0) * mp_real(0.75)) * (z / (1 + exp(-z)));
  EXPECT_LT(abs(exact.out[0] - expected), mp_real("1e-70"));
  EXPECT_LT(abs(exact.last_state[0] - h), mp_real("1e-70"));
  expect_all_backends_within_bound(p);
}

// covers: MAMBA-SCAN-BOUND-CUDA-F32 MAMBA-SCAN-BOUND-ANY
// The CUDA order multiplies a's together within a chunk: a = e^(5.625) = 277 gives 277^16 = inf
// in float32 while every state is 0 (u = 0), and inf * 0 is a NaN out where the exact out is 0.
// The tree-order bound once stayed finite there (mamba_property_tests found it); a product of a's
// that may overflow within its span now leaves the bound's domain, and the sequential CPU order,
// which forms no such product, keeps a finite bound.
TEST(Regression, TreeOrderProductOfAsOverflowsWhileTheStatesAreZero) {
  SelectiveScanInputs<double> in;
  in.u = Tensor<double>(Shape{1, 1, 20}, 0.0);
  in.delta = Tensor<double>(Shape{1, 1, 20}, -2.25);
  in.A = Tensor<double>(Shape{1, 1}, -2.5);
  in.B = Tensor<double>(Shape{1, 1}, 1.0);
  in.C = Tensor<double>(Shape{1, 1}, 1.0);
  const SelectiveScanProblem<double> p(std::move(in));
  const auto shape = mamba::cuda::selective_scan_kernel_shape();
  const auto cu = as_double(cuda_scan_emulation(p.cast<float>()));
  bool nan = false;
  for (Index t = 0; t < 20; ++t) nan = nan || std::isnan(cu.out(0, 0, t));
  ASSERT_TRUE(nan) << "the case no longer makes the CUDA order's product overflow";
  const auto cuda_bound = selective_scan_bound(p, arithmetic_cuda_f32(shape.tree_depth, shape.chunk));
  const auto any_bound = selective_scan_bound(p, arithmetic_any_order(Format::float32, 20, 1.0));
  for (Index t = 0; t < 20; ++t)
    if (std::isnan(cu.out(0, 0, t))) {
      EXPECT_EQ(cuda_bound.out(0, 0, t), std::numeric_limits<double>::infinity()) << t;
      EXPECT_EQ(any_bound.out(0, 0, t), std::numeric_limits<double>::infinity()) << t;
    }
  EXPECT_TRUE(std::isfinite(selective_scan_bound(p, arithmetic_cpu_f32()).out(0, 0, 19)));
  expect_all_backends_within_bound(p);
}
