// The cuda-f32 Performer backends on a device (label cuda): bitwise equal to cpu-f32, hence within
// its bound. Skips, saying why, where no device can run them.
// covers: PERF-CUDA
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <string>

#include "bit_identity.hpp"
#include "cpu/performer.hpp"
#include "cuda/device.hpp"
#include "cuda/performer.hpp"
#include "touchstone/bounds/performer_bound.hpp"
#include "touchstone/core/random.hpp"
#include "touchstone/reference/performer.hpp"

using namespace touchstone;
using namespace touchstone::performer;

namespace {

Tensor<float> drawn(Shape s, const std::string& name, double scale, bool positive) {
  PhiloxStream r(20261207, "performer_cuda_test/" + name);
  Tensor<float> t(std::move(s));
  for (Index i = 0; i < t.count(); ++i) {
    const double z = scale * r.next_normal();
    t[i] = static_cast<float>(positive ? std::exp(z) : z);
  }
  return t;
}

// The first element whose bits differ, or -1; a NaN matches any NaN (the device's arithmetic makes
// the canonical NaN 0x7fffffff where x86 makes 0xffc00000 or propagates an operand's payload).
Index first_bit_difference(const Tensor<float>& a, const Tensor<float>& b) {
  return testing_bits::first_bit_difference(a, b, testing_bits::NaNs::any_payload);
}

struct Shape5 {
  Index B, H, L, M, E;
};
// L up to 1000 (many chunks of the backward pass), m and dim_v above the block's 256 threads.
constexpr Shape5 kShapes[] = {{1, 1, 1, 2, 1}, {2, 3, 37, 12, 5}, {1, 2, 300, 64, 16}, {1, 1, 1000, 300, 260}};

LinearInputs<float> inputs(const Shape5& s, bool causal, Guard guard, const std::string& tag) {
  LinearInputs<float> in{drawn(Shape{s.B, s.H, s.L, s.M}, tag + "/q", 0.7, true),
                         drawn(Shape{s.B, s.H, s.L, s.M}, tag + "/k", 0.7, true),
                         drawn(Shape{s.B, s.H, s.L, s.E}, tag + "/v", 1.0, false), causal, guard, 1e-6};
  for (Index f = 0; f < s.M; ++f) in.q(0, 0, s.L - 1, f) = 0;  // R = 0: the gr guard's edge
  return in;
}

}  // namespace

TEST(PerformerCuda, LinearAttentionEqualsCpuF32Bitwise) {
  const std::string reason = touchstone::cuda::unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  for (const Shape5& s : kShapes)
    for (const bool causal : {false, true})
      for (const Guard guard : {Guard::none, Guard::gr, Guard::lr}) {
        const std::string tag = std::to_string(s.L) + "/" + std::to_string(causal) + "/" + guard_name(guard);
        SCOPED_TRACE(tag);
        const LinearProblem<float> p(inputs(s, causal, guard, tag));
        EXPECT_EQ(first_bit_difference(performer::cuda::linear_attention(p), cpu::linear_attention(p)), -1);
      }
}

TEST(PerformerCuda, LinearAttentionVjpEqualsCpuF32Bitwise) {
  const std::string reason = touchstone::cuda::unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  for (const Shape5& s : kShapes)
    for (const bool causal : {false, true})
      for (const Guard guard : {Guard::none, Guard::gr, Guard::lr})
        for (const bool subtraction : {false, true}) {
          if (subtraction && !causal) continue;
          const std::string tag = "vjp/" + std::to_string(s.L) + "/" + std::to_string(causal) + "/" + guard_name(guard) +
                                  "/" + std::to_string(subtraction);
          SCOPED_TRACE(tag);
          const LinearBackwardProblem<float> bp(
              {inputs(s, causal, guard, tag), drawn(Shape{s.B, s.H, s.L, s.E}, tag + "/g", 1.0, false), subtraction, 0});
          const AttentionGrads<float> gpu = performer::cuda::linear_attention_vjp(bp), cpu = cpu::linear_attention_vjp(bp);
          EXPECT_EQ(first_bit_difference(gpu.dq, cpu.dq), -1);
          EXPECT_EQ(first_bit_difference(gpu.dk, cpu.dk), -1);
          EXPECT_EQ(first_bit_difference(gpu.dv, cpu.dv), -1);
        }
}

namespace {

struct SoftmaxShape {
  Index B, H, L, D, E;
};
// L above the block's 256 threads (the rows' logits and weights split among them), d and dim_v
// above it too (the dq and out phases).
constexpr SoftmaxShape kSoftmaxShapes[] = {{1, 1, 1, 1, 1}, {2, 3, 37, 8, 5}, {1, 2, 300, 64, 16}, {1, 1, 600, 300, 260}};

}  // namespace

// Exact softmax attention and its VJP, q and k N(0, 1) and sharp N(0, 6^2) (most weights 0).
TEST(PerformerCuda, SoftmaxAttentionAndVjpEqualCpuF32Bitwise) {
  const std::string reason = touchstone::cuda::unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  for (const SoftmaxShape& s : kSoftmaxShapes)
    for (const bool causal : {false, true})
      for (const double scale : {1.0, 6.0}) {
        const std::string tag = "softmax/" + std::to_string(s.L) + "/" + std::to_string(causal) + "/" +
                                std::to_string(static_cast<int>(scale));
        SCOPED_TRACE(tag);
        const AttentionInputs<float> in{drawn(Shape{s.B, s.H, s.L, s.D}, tag + "/q", scale, false),
                                        drawn(Shape{s.B, s.H, s.L, s.D}, tag + "/k", scale, false),
                                        drawn(Shape{s.B, s.H, s.L, s.E}, tag + "/v", 1.0, false), causal};
        const AttentionProblem<float> p(in);
        EXPECT_EQ(first_bit_difference(performer::cuda::softmax_attention(p), cpu::softmax_attention(p)), -1);
        const AttentionBackwardProblem<float> bp({in, drawn(Shape{s.B, s.H, s.L, s.E}, tag + "/g", 1.0, false)});
        const AttentionGrads<float> gpu = performer::cuda::softmax_attention_vjp(bp), cpu = cpu::softmax_attention_vjp(bp);
        EXPECT_EQ(first_bit_difference(gpu.dq, cpu.dq), -1);
        EXPECT_EQ(first_bit_difference(gpu.dk, cpu.dk), -1);
        EXPECT_EQ(first_bit_difference(gpu.dv, cpu.dv), -1);
      }
}

namespace {

struct FeatureShape {
  Index B, H, L, D, M;
};
constexpr FeatureShape kFeatureShapes[] = {{1, 1, 1, 1, 1}, {2, 3, 37, 8, 12}, {1, 2, 300, 64, 256}, {1, 1, 40, 16, 300}};

// Every element within cpu-f32's bound of the MPFR oracle (the trigonometric map, whose device
// cos and sin need not be glibc's bits).
Index outside_bound(const Tensor<float>& got, const Tensor<mp_real>& exact, const Tensor<double>& bound) {
  if (got.shape() != exact.shape()) return got.count() + 1;
  Index outside = 0;
  for (Index i = 0; i < got.count(); ++i)
    outside += !(std::fabs(static_cast<double>(got[i]) - to_double(exact[i])) <= bound[i]);
  return outside;
}
void expect_within_bound(const Tensor<float>& got, const Tensor<mp_real>& exact, const Tensor<double>& bound) {
  EXPECT_EQ(outside_bound(got, exact, bound), 0);
}

}  // namespace

TEST(PerformerCuda, FeaturesEqualCpuF32BitwiseOrTrigWithinBound) {
  const std::string reason = touchstone::cuda::unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  for (const FeatureShape& s : kFeatureShapes)
    for (const FeatureMap map : {FeatureMap::positive, FeatureMap::hyperbolic, FeatureMap::trig})
      for (const bool is_query : {true, false}) {
        if (map == FeatureMap::trig && !is_query) continue;
        // The trigonometric map is judged against the MPFR oracle: only on the shapes where that is
        // quick (B H L m d <= 2e5).
        if (map == FeatureMap::trig && s.B * s.H * s.L * s.M * s.D > 200000) continue;
        const std::string tag = "features/" + std::to_string(s.L) + "/" + std::to_string(static_cast<int>(map)) +
                                (is_query ? "/q" : "/k");
        SCOPED_TRACE(tag);
        const FeatureProblem<float> p({drawn(Shape{s.B, s.H, s.L, s.D}, tag + "/x", 1.5, false),
                                       drawn(Shape{s.M, s.D}, tag + "/w", 1.0, false), is_query,
                                       map == FeatureMap::trig ? 0.0 : 1e-4, map});
        const FeatureBackwardProblem<float> bp(
            {p.in(), drawn(Shape{s.B, s.H, s.L, p.outputs()}, tag + "/g", 1.0, false)});
        const Tensor<float> fwd = performer::cuda::favor_plus_features(p), vjp = performer::cuda::favor_plus_features_vjp(bp);
        if (map != FeatureMap::trig) {
          EXPECT_EQ(first_bit_difference(fwd, cpu::favor_plus_features(p)), -1);
          EXPECT_EQ(first_bit_difference(vjp, cpu::favor_plus_features_vjp(bp)), -1);
          continue;
        }
        const FeatureProblem<double> pd = p.cast<double>();
        const FeatureBackwardProblem<double> bpd = bp.cast<double>();
        const PerformerArithmetic f32 = performer_arithmetic_cpu(Format::float32);
        expect_within_bound(fwd, reference::favor_plus_features<mp_real>(pd), favor_plus_features_bound(pd, f32));
        expect_within_bound(vjp, reference::favor_plus_features_vjp<mp_real>(bpd), favor_plus_features_vjp_bound(bpd, f32));
      }
}

TEST(PerformerCuda, GeneralizedFeaturesEqualCpuF32Bitwise) {
  const std::string reason = touchstone::cuda::unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  for (const FeatureShape& s : kFeatureShapes)
    for (const Kernel f : {Kernel::relu, Kernel::elu1, Kernel::abs, Kernel::sqr, Kernel::exp, Kernel::identity})
      for (const bool projected : {true, false}) {
        const std::string tag = "generalized/" + std::to_string(s.L) + "/" + std::to_string(static_cast<int>(f)) +
                                std::to_string(projected);
        SCOPED_TRACE(tag);
        std::optional<Tensor<float>> w;
        if (projected) w = drawn(Shape{s.M, s.D}, tag + "/w", 1.0, false);
        const GeneralizedFeatureProblem<float> p({drawn(Shape{s.B, s.H, s.L, s.D}, tag + "/x", 1.5, false), w, f, true, 1e-3});
        const GeneralizedFeatureBackwardProblem<float> bp(
            {p.in(), drawn(Shape{s.B, s.H, s.L, p.features()}, tag + "/g", 1.0, false)});
        EXPECT_EQ(first_bit_difference(performer::cuda::generalized_features(p), cpu::generalized_features(p)), -1);
        EXPECT_EQ(first_bit_difference(performer::cuda::generalized_features_vjp(bp), cpu::generalized_features_vjp(bp)), -1);
      }
}

// The trigonometric check above (no device needed): cpu-f32 passes it; a scaled output, a NaN, one
// element one part in 2^12 off, the sine and cosine columns swapped fail it.
TEST(PerformerCuda, WithinBoundCheckFailsOnAWrongAnswer) {
  const FeatureShape s = kFeatureShapes[1];
  const FeatureProblem<float> p({drawn(Shape{s.B, s.H, s.L, s.D}, "check/x", 1.5, false),
                                 drawn(Shape{s.M, s.D}, "check/w", 1.0, false), true, 0.0, FeatureMap::trig});
  const FeatureProblem<double> pd = p.cast<double>();
  const Tensor<mp_real> exact = reference::favor_plus_features<mp_real>(pd);
  const Tensor<double> bound = favor_plus_features_bound(pd, performer_arithmetic_cpu(Format::float32));
  const Tensor<float> right = cpu::favor_plus_features(p);
  EXPECT_EQ(outside_bound(right, exact, bound), 0);
  Tensor<float> scaled = right, nan = right, off = right, swapped = right;
  for (Index i = 0; i < scaled.count(); ++i) scaled[i] *= 1.001f;
  nan[5] = std::numeric_limits<float>::quiet_NaN();
  off[7] *= 1 + 0x1p-12f;
  for (Index i = 0; i < swapped.count(); ++i) {
    const Index j = i % (2 * s.M);
    swapped[i] = right[j < s.M ? i + s.M : i - s.M];
  }
  EXPECT_GT(outside_bound(scaled, exact, bound), 0);
  EXPECT_EQ(outside_bound(nan, exact, bound), 1);
  EXPECT_EQ(outside_bound(off, exact, bound), 1);
  EXPECT_GT(outside_bound(swapped, exact, bound), 0);
}

// The bitwise comparison of the device tests (no device needed): one ulp, +0 against -0, a NaN
// against a number, a scaled output and another shape differ; two NaNs of other bits match.
TEST(PerformerCuda, BitComparisonFailsOnAWrongAnswer) {
  const Tensor<float> right = drawn(Shape{1, 2, 5, 3}, "cmp", 1.0, false);
  EXPECT_EQ(first_bit_difference(right, right), -1);
  testing_bits::expect_comparison_catches_wrong_answers(right, testing_bits::NaNs::any_payload);
  Tensor<float> nan = right, other_nan = right;
  nan[7] = std::numeric_limits<float>::quiet_NaN();
  other_nan[7] = -std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(first_bit_difference(nan, other_nan), -1);
}
