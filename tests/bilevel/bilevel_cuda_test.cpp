// The cuda-f32 MAML backends on a device (label cuda): bitwise equal to cpu-f32 (NaN: both NaN),
// hence within its bound, with order::exact_recompute's step counts. Skips, saying why, where no
// device can run them.
// covers: BILEVEL-CUDA
#include <gtest/gtest.h>

#include <string>

#include "cpu/bilevel.hpp"
#include "cuda/bilevel.hpp"
#include "cuda/device.hpp"
#include "maml_cuda_support.hpp"

using namespace touchstone;
using namespace touchstone::bilevel;
using namespace touchstone::bilevel::cuda_testing;

namespace {

void check(const MamlProblem<float>& p, const std::string& what) {
  order::Counts cpu_counts, gpu_counts;
  expect_bitwise(bilevel::cuda::maml_fom(p, &gpu_counts), cpu::maml_fom(p, &cpu_counts), what + " fom");
  EXPECT_EQ(gpu_counts.inner_steps, cpu_counts.inner_steps) << what;
  expect_bitwise(bilevel::cuda::maml_exact_recompute(p, &gpu_counts),
                 cpu::maml_hypergradient(p, order::Method::recompute, &cpu_counts), what + " exact_recompute");
  EXPECT_EQ(gpu_counts.inner_steps, cpu_counts.inner_steps) << what;
  EXPECT_EQ(gpu_counts.hvps, cpu_counts.hvps) << what;
  EXPECT_EQ(gpu_counts.outer_gradients, cpu_counts.outer_gradients) << what;
}

TEST(BilevelMamlCuda, EqualsCpuF32Bitwise) {
  const std::string reason = touchstone::cuda::unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  check(make_task(1, 1, 1, 0, 0.01, 1), "h=1 r=0");
  check(make_task(4, 5, 5, 1, 0.01, 2), "tiny");
  check(make_task(8, 5, 5, 3, 0.01, 3), "small");
  check(make_task(6, 7, 6, 4, 0.3, 4), "alpha=0.3");
  check(make_task(40, 10, 10, 10, 0.01, 5), "standard r=10");
  check(make_task(256, 20, 20, 2, 0.01, 6), "h=256");
  check(with_ties(make_task(5, 4, 4, 3, 0.01, 7)), "ReLU ties");
  check(make_task(4, 5, 5, 2, 0.01, 31, 1e18), "overflow to Inf and NaN");
}

TEST(BilevelMamlCuda, NoDeviceThrowsBackendUnavailable) {
  const std::string reason = touchstone::cuda::unavailable_reason();
  if (reason.empty()) GTEST_SKIP() << "a device is present";
  const MamlProblem<float> p = make_task(2, 3, 3, 1, 0.01, 8);
  EXPECT_THROW((void)bilevel::cuda::maml_fom(p), BackendUnavailable);
  EXPECT_THROW((void)bilevel::cuda::maml_exact_recompute(p), BackendUnavailable);
}

}  // namespace
