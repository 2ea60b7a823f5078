// [PERF-FAST-CPU] The CPU backends' fast paths (optimized/cpu/performer.cpp) against the order
// header run element by element on the same format (cpu::generic): bit for bit, on shapes that
// reach every remainder of the fast paths' blocks (positions per pass, sums held in registers),
// for every map, side, mode, guard and state form. The backends' bounds run the order header's
// sequence over tracked values, so this equality is what keeps those bounds the fast paths' own.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "bit_identity.hpp"
#include "cpu/performer.hpp"
#include "touchstone/core/random.hpp"

using namespace touchstone;
using namespace touchstone::performer;

namespace {

template <class T>
Tensor<T> drawn(Shape s, const std::string& name, double scale, bool positive = false) {
  PhiloxStream r(20261207, "performer_fast_test/" + name);
  Tensor<T> t(std::move(s));
  for (Index i = 0; i < t.count(); ++i) {
    const double z = scale * r.next_normal();
    t[i] = static_cast<T>(positive ? std::exp(z) : z);
  }
  return t;
}

using touchstone::testing_bits::first_bit_difference;

// The shapes: (batch, heads, L, d, m, dim_v). L below, at and above the positions a pass takes (4
// forward, 8 backward) and not a multiple of them; d and m below, at and above the sums held in
// registers (m: 128, d: 64).
struct FastShape {
  Index B, H, L, D, M, E;
};
constexpr FastShape kShapes[] = {{1, 1, 1, 3, 2, 1},    {2, 3, 7, 8, 12, 5},    {1, 2, 21, 40, 70, 9},
                                 {1, 1, 13, 64, 64, 16}, {1, 1, 6, 70, 140, 3}, {1, 1, 5, 128, 256, 4},
                                 {1, 2, 16, 5, 33, 8}};

template <class T>
void features_equal_the_order(const FastShape& s) {
  for (const FeatureMap map : {FeatureMap::positive, FeatureMap::hyperbolic})
    for (const bool is_query : {true, false}) {
      const std::string tag = "features/" + std::to_string(s.L) + "/" + std::to_string(static_cast<int>(map)) +
                              (is_query ? "/q" : "/k");
      SCOPED_TRACE(tag);
      const FeatureProblem<T> p({drawn<T>(Shape{s.B, s.H, s.L, s.D}, tag + "/x", 1.5),
                                 drawn<T>(Shape{s.M, s.D}, tag + "/w", 1.0), is_query, 1e-4, map});
      EXPECT_EQ(first_bit_difference(cpu::favor_plus_features(p), cpu::generic::favor_plus_features(p)), -1);
      const Index W = map == FeatureMap::positive ? s.M : 2 * s.M;
      const FeatureBackwardProblem<T> bp({p.in(), drawn<T>(Shape{s.B, s.H, s.L, W}, tag + "/g", 1.0)});
      EXPECT_EQ(first_bit_difference(cpu::favor_plus_features_vjp(bp), cpu::generic::favor_plus_features_vjp(bp)), -1);
    }
}

template <class T>
void linear_equal_the_order(const FastShape& s) {
  for (const bool causal : {false, true})
    for (const Guard guard : {Guard::none, Guard::gr, Guard::lr}) {
      const std::string tag = "linear/" + std::to_string(s.L) + "/" + std::to_string(causal) + "/" + guard_name(guard);
      SCOPED_TRACE(tag);
      LinearInputs<T> in{drawn<T>(Shape{s.B, s.H, s.L, s.M}, tag + "/q", 0.7, true),
                         drawn<T>(Shape{s.B, s.H, s.L, s.M}, tag + "/k", 0.7, true),
                         drawn<T>(Shape{s.B, s.H, s.L, s.E}, tag + "/v", 1.0), causal, guard, 1e-6};
      if (guard == Guard::gr)  // a zero query row: R = 0, where the guard replaces it (R + 2 eps)
        for (Index f = 0; f < s.M; ++f) in.q(0, 0, s.L - 1, f) = 0;
      const LinearProblem<T> p(in);
      EXPECT_EQ(first_bit_difference(cpu::linear_attention(p), cpu::generic::linear_attention(p)), -1);
      const Tensor<T> g = drawn<T>(Shape{s.B, s.H, s.L, s.E}, tag + "/g", 1.0);
      for (const int form : {0, 1, 2}) {  // stored, subtraction, stored in slices of 3
        if (form > 0 && !causal) continue;
        SCOPED_TRACE(form);
        const LinearBackwardProblem<T> bp({in, g, form == 1, form == 2 ? Index(3) : Index(0)});
        const AttentionGrads<T> fast = cpu::linear_attention_vjp(bp), order = cpu::generic::linear_attention_vjp(bp);
        EXPECT_EQ(first_bit_difference(fast.dq, order.dq), -1);
        EXPECT_EQ(first_bit_difference(fast.dk, order.dk), -1);
        EXPECT_EQ(first_bit_difference(fast.dv, order.dv), -1);
      }
    }
}

}  // namespace

// covers: PERF-FAST-CPU
TEST(PerformerFast, FeaturesEqualTheOrderBitForBit) {
  for (const FastShape& s : kShapes) {
    features_equal_the_order<float>(s);
    features_equal_the_order<double>(s);
  }
}

// covers: PERF-FAST-CPU
TEST(PerformerFast, LinearAttentionAndVjpEqualTheOrderBitForBit) {
  for (const FastShape& s : kShapes) {
    linear_equal_the_order<float>(s);
    linear_equal_the_order<double>(s);
  }
}

// The comparison above fails on a wrong answer: one element one ulp off, a NaN, the other zero, a
// scaled output, another shape.
TEST(PerformerFast, BitComparisonFailsOnAWrongAnswer) {
  const FastShape s = kShapes[2];
  const LinearProblem<float> p({drawn<float>(Shape{s.B, s.H, s.L, s.M}, "cmp/q", 0.7, true),
                                drawn<float>(Shape{s.B, s.H, s.L, s.M}, "cmp/k", 0.7, true),
                                drawn<float>(Shape{s.B, s.H, s.L, s.E}, "cmp/v", 1.0), true, Guard::lr, 1e-6});
  const Tensor<float> right = cpu::linear_attention(p);
  ASSERT_EQ(first_bit_difference(right, cpu::generic::linear_attention(p)), -1);
  touchstone::testing_bits::expect_comparison_catches_wrong_answers(right);
}
