// Problems of the MAML class for the cuda-f32 tests ([BILEVEL-CUDA]): the host emulation
// (maml_cuda_emulation_test.cpp) and the device test (bilevel_cuda_test.cpp) compare against
// cpu-f32 on the same float32 problems.
#pragma once

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "touchstone/core/random.hpp"
#include "touchstone/core/formats.hpp"
#include "touchstone/reference/bilevel_problem.hpp"

namespace touchstone::bilevel::cuda_testing {

// A sinusoid task and PyTorch-initialized weights (the registry's distributions, this test's own
// Philox streams), every value a float32; `scale` multiplies every initial weight.
inline MamlProblem<float> make_task(Index h, Index k, Index kq, Index r, double alpha, std::uint64_t seed,
                                    double scale = 1.0) {
  PhiloxStream g(seed, "maml_cuda_test/task"), init(seed, "maml_cuda_test/init");
  const double amplitude = g.next_uniform(0.1, 5.0), phase = g.next_uniform(0.0, 3.14159265358979323846);
  MamlInputs<double> in;
  auto points = [&](Index n, Tensor<double>& x, Tensor<double>& y) {
    x = Tensor<double>(Shape{n});
    y = Tensor<double>(Shape{n});
    for (Index i = 0; i < n; ++i) {
      x[i] = round_to_format(g.next_uniform(-5.0, 5.0), Format::float32);
      y[i] = round_to_format(amplitude * std::sin(x[i] - phase), Format::float32);
    }
  };
  points(k, in.x_support, in.y_support);
  points(kq, in.x_query, in.y_query);
  in.theta = Tensor<double>(Shape{mlp_parameter_count(h)});
  const Index w2 = 2 * h;
  for (Index i = 0; i < in.theta.count(); ++i) {
    const double fan_in = i < w2 ? 1.0 : static_cast<double>(h);
    in.theta[i] = round_to_format(scale * init.next_uniform(-1.0, 1.0) / std::sqrt(fan_in), Format::float32);
  }
  in.alpha = round_to_format(alpha, Format::float32);
  in.r = r;
  return MamlProblem<double>(std::move(in)).cast<float>();
}

// ReLU ties at 0: the first unit's a1 = W1 x + b1 is exactly +0 at the first support point
// (W1 = 1/2, b1 = -x/2, both exact), the second unit's -0 + 0 ... (W1 = 0, b1 = -0), and the
// first hidden unit of the second layer has W2 row 0 and b2 = 0 (a2 = 0 at every point until a
// step moves them). h >= 2.
inline MamlProblem<float> with_ties(const MamlProblem<float>& p) {
  MamlInputs<double> in = p.template cast<double>().in();
  const Index h = p.hidden();
  const double x0 = in.x_support[0];
  in.theta[0] = 0.5;
  in.theta[h] = -x0 / 2;
  in.theta[1] = 0.0;
  in.theta[h + 1] = -0.0;
  for (Index i = 0; i < h; ++i) in.theta[2 * h + i] = 0.0;
  in.theta[2 * h + h * h] = 0.0;
  return MamlProblem<double>(std::move(in)).cast<float>();
}

// a and b bit for bit (NaN: both NaN, any payload), every element; `what` names the case.
inline void expect_bitwise(const Tensor<float>& a, const Tensor<float>& b, const std::string& what) {
  ASSERT_EQ(a.count(), b.count()) << what;
  for (Index i = 0; i < a.count(); ++i) {
    if (std::isnan(b[i])) {
      EXPECT_TRUE(std::isnan(a[i])) << what << " element " << i;
      continue;
    }
    EXPECT_EQ(std::bit_cast<std::uint32_t>(a[i]), std::bit_cast<std::uint32_t>(b[i]))
        << what << " element " << i << ": " << a[i] << " vs " << b[i];
  }
}

}  // namespace touchstone::bilevel::cuda_testing
