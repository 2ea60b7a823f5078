// [BILEVEL-MAML-FAST-CPU] The MAML class's fast CPU path (optimized/cpu/bilevel.cpp, FastMlp)
// against order::Mlp run on the same format (cpu::generic): bit for bit, every output element, for
// every method (stored, recompute, forward, FOM), on RapidCheck problems that reach the fast path's
// remainders (h below, at and above its 16- and 8-lane blocks; point counts below, at and above its
// chunks of 16 and groups of 4; hidden rows in groups of 4) and the edges (zeros, subnormals, values
// large enough that the passes overflow to Inf and NaN, alpha = 0, r = 0). The backends' bounds run
// order::Mlp's sequence over tracked values, so this equality is what keeps those bounds the fast
// path's own.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "bit_identity.hpp"
#include "cpu/bilevel.hpp"
#include "touchstone/core/formats.hpp"
#include "touchstone/core/random.hpp"

using namespace touchstone;
using namespace touchstone::bilevel;
using order::Method;

namespace {

using touchstone::testing_bits::first_bit_difference;

// A value of the format: its binade uniform in [emin, emax], a random sign, sometimes an exact zero
// or a subnormal.
double draw_value(Format f, int emin, int emax) {
  const int kind = *rc::gen::inRange(0, 30);
  double v;
  if (kind == 0) {
    v = 0.0;
  } else if (kind == 1) {
    const FormatInfo& fi = format_info(f);
    v = std::ldexp(static_cast<double>(*rc::gen::inRange(1, 1 << 10)), fi.emin - fi.precision + 1);
  } else {
    v = std::ldexp(1.0 + *rc::gen::inRange(0, 1 << 24) * std::ldexp(1.0, -24), *rc::gen::inRange(emin, emax + 1));
  }
  if (*rc::gen::arbitrary<bool>()) v = -v;
  return round_to_format(v, f);
}

template <class T>
Tensor<T> draw(Index n, Format f, int emin, int emax) {
  Tensor<T> t(Shape{n});
  for (Index i = 0; i < n; ++i) t[i] = static_cast<T>(draw_value(f, emin, emax));
  return t;
}

// h: small, or around the lane blocks (16 floats, 8 doubles), or the bench's 40. Point counts:
// around the groups of 4 and the chunks of 16. Magnitudes: ordinary, or (one problem in six) up to
// 2^60 for theta and the points, where the float32 passes overflow to Inf and NaN.
template <class T>
MamlProblem<T> draw_problem(Format f) {
  const Index h = *rc::gen::oneOf(rc::gen::inRange<Index>(1, 10), rc::gen::element<Index>(7, 8, 9, 15, 16, 17, 24, 33, 40));
  const Index ks = *rc::gen::oneOf(rc::gen::inRange<Index>(1, 6), rc::gen::element<Index>(10, 15, 16, 17, 33));
  const Index kq = *rc::gen::oneOf(rc::gen::inRange<Index>(1, 6), rc::gen::element<Index>(10, 16, 20));
  const bool huge = *rc::gen::inRange(0, 6) == 0;
  const int emax = huge ? 60 : 2;
  MamlInputs<T> in;
  in.x_support = draw<T>(ks, f, -8, emax);
  in.y_support = draw<T>(ks, f, -8, emax);
  in.x_query = draw<T>(kq, f, -8, emax);
  in.y_query = draw<T>(kq, f, -8, emax);
  in.theta = draw<T>(mlp_parameter_count(h), f, -12, huge ? 40 : 0);
  in.alpha = static_cast<T>(*rc::gen::oneOf(rc::gen::element(0.0, 0.01, 0.1, -0.05, 1.0),
                                            rc::gen::just(draw_value(f, -10, 1))));
  in.r = *rc::gen::inRange<Index>(0, 4);
  return MamlProblem<T>(in);
}

template <class T>
void fast_equals_the_order(const MamlProblem<T>& p) {
  const Index P = p.dim();
  for (const Method m : {Method::stored, Method::recompute, Method::forward}) {
    if (m == Method::forward && P > 60) continue;  // dim HVPs per step on the generic path: small h only
    order::Counts cf, cg;
    const Tensor<T> fast = cpu::maml_hypergradient(p, m, &cf), generic = cpu::generic::maml_hypergradient(p, m, &cg);
    RC_ASSERT(first_bit_difference(fast, generic) == Index{-1});
    RC_ASSERT(cf.inner_steps == cg.inner_steps);
    RC_ASSERT(cf.hvps == cg.hvps);
    RC_ASSERT(cf.outer_gradients == cg.outer_gradients);
  }
  RC_ASSERT(first_bit_difference(cpu::maml_fom(p), cpu::generic::maml_fom(p)) == Index{-1});
}

}  // namespace

// covers: BILEVEL-MAML-FAST-CPU
RC_GTEST_PROP(BilevelMamlFast, Float32EqualsTheOrderBitForBit, ()) {
  fast_equals_the_order(draw_problem<float>(Format::float32));
}

// covers: BILEVEL-MAML-FAST-CPU
RC_GTEST_PROP(BilevelMamlFast, Float64EqualsTheOrderBitForBit, ()) {
  fast_equals_the_order(draw_problem<double>(Format::float64));
}

// The bench's shape (h = 40, K = 10) at r = 10 and a chunked K = 40, float32, every method but
// forward (dim = 1761 tangents): the registry's sizes run here, not only the generated ones.
// covers: BILEVEL-MAML-FAST-CPU
TEST(BilevelMamlFast, BenchShapeEqualsTheOrderBitForBit) {
  for (const Index K : {Index{10}, Index{40}}) {
    PhiloxStream g(20261207, "maml_fast_test/" + std::to_string(K));
    MamlInputs<float> in;
    for (Tensor<float>* t : {&in.x_support, &in.y_support, &in.x_query, &in.y_query}) *t = Tensor<float>(Shape{K});
    for (Index i = 0; i < K; ++i) {
      in.x_support[i] = static_cast<float>(5 * g.next_normal());
      in.y_support[i] = static_cast<float>(2 * g.next_normal());
      in.x_query[i] = static_cast<float>(5 * g.next_normal());
      in.y_query[i] = static_cast<float>(2 * g.next_normal());
    }
    in.theta = Tensor<float>(Shape{mlp_parameter_count(40)});
    for (Index i = 0; i < in.theta.count(); ++i) in.theta[i] = static_cast<float>(0.15 * g.next_normal());
    in.alpha = 0.01f;
    in.r = 10;
    const MamlProblem<float> p(in);
    for (const Method m : {Method::stored, Method::recompute})
      EXPECT_EQ(first_bit_difference(cpu::maml_hypergradient(p, m), cpu::generic::maml_hypergradient(p, m)), -1)
          << "K = " << K;
    EXPECT_EQ(first_bit_difference(cpu::maml_fom(p), cpu::generic::maml_fom(p)), -1) << "K = " << K;
  }
}

// The comparison above fails on a wrong answer: one element one ulp off, a NaN, the other zero, a
// scaled output, another shape.
TEST(BilevelMamlFast, BitComparisonFailsOnAWrongAnswer) {
  MamlInputs<float> in{Tensor<float>(Shape{3}), Tensor<float>(Shape{3}), Tensor<float>(Shape{2}),
                       Tensor<float>(Shape{2}), Tensor<float>(Shape{mlp_parameter_count(5)}), 0.01f, 2};
  PhiloxStream g(20261207, "maml_fast_test/wrong");
  for (Tensor<float>* t : {&in.x_support, &in.y_support, &in.x_query, &in.y_query, &in.theta})
    for (Index i = 0; i < t->count(); ++i) (*t)[i] = static_cast<float>(g.next_normal());
  const MamlProblem<float> p(in);
  const Tensor<float> right = cpu::maml_hypergradient(p, Method::stored);
  ASSERT_EQ(first_bit_difference(right, cpu::generic::maml_hypergradient(p, Method::stored)), -1);
  touchstone::testing_bits::expect_comparison_catches_wrong_answers(right);
  // FOM is not the exact hypergradient: the comparison tells them apart.
  EXPECT_NE(first_bit_difference(cpu::maml_fom(p), right), -1);
}
