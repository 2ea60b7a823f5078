// The cuda-f32 MAML backends' block bodies (optimized/cuda/bilevel_kernels.cuh) run on the CPU
// ([BILEVEL-CUDA] host emulation): each parallel phase for every thread index in turn, with plain
// arrays standing in for global and shared memory. They must equal order::Mlp run on float here
// (the order header itself, whatever cpu-f32's loops become) and cpu-f32 bit for bit over every output element, for any number of threads run in either order, on random tasks, ReLU ties at
// 0 and overflowing weights that make Inf and NaN; and take order::exact_recompute's step counts.
// covers: BILEVEL-CUDA
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "common/native_arithmetic.hpp"
#include "cpu/bilevel.hpp"
#include "cuda/bilevel_kernels.cuh"
#include "maml_cuda_support.hpp"

using namespace touchstone;
using namespace touchstone::bilevel;
using namespace touchstone::bilevel::cuda_testing;

namespace {

// order::Mlp's policy on float as cpu-f32 declares it: IEEE operations, sums in call order, the
// mask [a > 0] as an exact 0 or 1.
struct FloatPolicy : cpu_common::NativeArithmetic<float> {
  static float relu_mask(float a) { return a > 0.0f ? 1.0f : 0.0f; }
  static float masked(float m, float a) { return m != 0.0f ? a : 0.0f; }
};

// The order header on float: FOM or order::exact_recompute.
Tensor<float> order_on_float(const MamlProblem<float>& p, bool exact) {
  FloatPolicy ar;
  order::Mlp<FloatPolicy> cls(ar, p.cast<double>());
  const std::vector<float> theta =
      order::initial(ar, p.dim(), [&](Index i) { return static_cast<double>(p.in().theta[i]); });
  std::vector<float> g = exact ? order::exact_recompute(cls, theta, p.steps()) : order::fom(cls, theta, p.steps());
  return Tensor<float>(Shape{p.dim()}, std::move(g));
}

struct Emulated {
  Tensor<float> grad;
  cuda::MlpCounts counts;
};

// The kernel's body for one task on `threads` emulated threads (run in reverse order: `reverse`).
Emulated emulate(const MamlProblem<float>& p, bool exact, Index threads, bool reverse) {
  const auto& in = p.in();
  const Index h = p.hidden(), P = p.dim();
  const cuda::MlpTask task{in.theta.data(),     in.x_support.data(), in.y_support.data(), in.x_query.data(),
                           in.y_query.data(),   h,                   in.x_support.count(), in.x_query.count(),
                           p.steps(),           in.alpha};
  // NaN-filled, so that a read of a value no phase wrote shows.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> phi(P, nan), lambda(P, nan), g(P, nan), shared(cuda::mlp_shared_floats(h), nan);
  const cuda::MlpWork w{phi.data(), lambda.data(), g.data(), shared.data()};
  const cuda::HostBlock block{threads, reverse};
  Emulated out;
  out.counts = exact ? cuda::mlp_exact_recompute(block, task, w) : cuda::mlp_fom(block, task, w, w.lambda);
  out.grad = Tensor<float>(Shape{P}, lambda);
  return out;
}

void check(const MamlProblem<float>& p, const std::string& what) {
  order::Counts fom_counts, exact_counts;
  const Tensor<float> fom = cpu::maml_fom(p, &fom_counts);
  const Tensor<float> exact = cpu::maml_hypergradient(p, order::Method::recompute, &exact_counts);
  const Tensor<float> fom_order = order_on_float(p, false), exact_order = order_on_float(p, true);
  for (const auto& [threads, reverse] : {std::pair{Index{1}, false}, std::pair{Index{3}, false}, std::pair{Index{3}, true},
                                         std::pair{Index{32}, false}, std::pair{Index{256}, true}}) {
    const std::string label = what + " threads=" + std::to_string(threads) + (reverse ? " reversed" : "");
    const Emulated f = emulate(p, false, threads, reverse);
    expect_bitwise(f.grad, fom, label + " fom");
    expect_bitwise(f.grad, fom_order, label + " fom (order header)");
    EXPECT_EQ(f.counts.inner_steps, fom_counts.inner_steps) << label;
    EXPECT_EQ(f.counts.outer_gradients, fom_counts.outer_gradients) << label;
    EXPECT_EQ(f.counts.hvps, fom_counts.hvps) << label;
    const Emulated e = emulate(p, true, threads, reverse);
    expect_bitwise(e.grad, exact, label + " exact_recompute");
    expect_bitwise(e.grad, exact_order, label + " exact_recompute (order header)");
    EXPECT_EQ(e.counts.inner_steps, exact_counts.inner_steps) << label;
    EXPECT_EQ(e.counts.outer_gradients, exact_counts.outer_gradients) << label;
    EXPECT_EQ(e.counts.hvps, exact_counts.hvps) << label;
    // [BILEVEL-RECOMPUTE-COST]: r + r(r - 1)/2 inner steps, r HVPs, one outer gradient.
    const Index r = p.steps();
    EXPECT_EQ(e.counts.inner_steps, r + r * (r - 1) / 2) << label;
    EXPECT_EQ(e.counts.hvps, r) << label;
    EXPECT_EQ(e.counts.outer_gradients, 1) << label;
  }
}

TEST(BilevelMamlCudaEmulation, RandomTasksEqualCpuF32Bitwise) {
  struct Case {
    Index h, k, kq, r;
    double alpha;
  };
  const Case cases[] = {{1, 1, 1, 0, 0.01}, {1, 3, 2, 2, 0.05}, {3, 5, 4, 3, 0.01},
                        {4, 5, 5, 1, 0.01}, {8, 5, 5, 3, 0.01}, {40, 10, 10, 2, 0.01}};
  std::uint64_t seed = 1;
  for (const Case& c : cases) {
    const MamlProblem<float> p = make_task(c.h, c.k, c.kq, c.r, c.alpha, seed++);
    check(p, "h=" + std::to_string(c.h) + " K=" + std::to_string(c.k) + " r=" + std::to_string(c.r));
  }
}

// Large steps make the inner loop move the ReLU boundaries, so masks differ between iterates.
TEST(BilevelMamlCudaEmulation, LargeStepsEqualCpuF32Bitwise) {
  for (std::uint64_t seed : {11, 12, 13}) check(make_task(6, 7, 6, 4, 0.3, seed), "alpha=0.3 seed=" + std::to_string(seed));
}

TEST(BilevelMamlCudaEmulation, ReluTiesAtZeroEqualCpuF32Bitwise) {
  for (std::uint64_t seed : {21, 22}) {
    const MamlProblem<float> p = with_ties(make_task(5, 4, 4, 3, 0.01, seed));
    // The ties are there: a1 of the first unit at the first support point and a2 of the first
    // second-layer unit are exactly 0 at theta.
    const auto& in = p.in();
    const Index h = p.hidden();
    ASSERT_EQ(in.theta[0] * in.x_support[0] + in.theta[h], 0.0f);
    check(p, "ties seed=" + std::to_string(seed));
    check(with_ties(make_task(5, 4, 4, 0, 0.01, seed)), "ties r=0 seed=" + std::to_string(seed));
  }
}

// Large weights: the forward pass overflows, Inf - Inf makes NaN; at r = 0 the outputs mix NaN and
// Inf, at r = 2 NaN and finite values (masks at 0 keep some elements finite). The problem's
// inputs are finite (MamlProblem rejects a NaN or Inf input with InvalidInput, so no NaN input
// reaches either backend); these NaN arise inside the loop.
TEST(BilevelMamlCudaEmulation, OverflowToInfAndNanEqualsCpuF32) {
  bool nan = false, inf = false, finite = false;
  for (const auto& [scale, r] : {std::pair{1e9, Index{0}}, std::pair{1e18, Index{2}}}) {
    const MamlProblem<float> p = make_task(4, 5, 5, r, 0.01, 31, scale);
    const Tensor<float> exact = cpu::maml_hypergradient(p, order::Method::recompute);
    const Tensor<float> fom = cpu::maml_fom(p);
    for (const Tensor<float>* t : {&exact, &fom})
      for (Index i = 0; i < t->count(); ++i) {
        nan = nan || std::isnan((*t)[i]);
        inf = inf || std::isinf((*t)[i]);
        finite = finite || std::isfinite((*t)[i]);
      }
    check(p, "overflow scale=" + std::to_string(scale) + " r=" + std::to_string(r));
  }
  EXPECT_TRUE(nan) << "the cases no longer make a NaN";
  EXPECT_TRUE(inf) << "the cases no longer make an Inf";
  EXPECT_TRUE(finite) << "the cases no longer leave a finite element";
}

// The problem class rejects a NaN input before any backend runs, naming the array.
TEST(BilevelMamlCudaEmulation, NanInputIsInvalidInput) {
  MamlInputs<double> in = make_task(2, 3, 3, 1, 0.01, 41).cast<double>().in();
  in.x_support[1] = std::numeric_limits<double>::quiet_NaN();
  try {
    (void)MamlProblem<double>(std::move(in));
    FAIL() << "a NaN support point was accepted";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("x_support"), std::string::npos) << e.what();
  }
}

}  // namespace
