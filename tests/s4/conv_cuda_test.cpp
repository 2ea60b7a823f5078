// cuda-f32 s4.causal_conv on a device: against the oracle within the cpu-f32 bound
// ([S4CONV-ASSUME-CUFFT]); skipped with the reason where no GPU (or no CUDA build) is present.
#include <gtest/gtest.h>

#include "../tightness.hpp"
#include "builtin.hpp"
#include "cuda/device.hpp"

using namespace touchstone;

// covers: S4CONV-ASSUME-CUFFT S4CONV-CONV-CUDA
TEST(ConvCuda, DefaultProblemsWithinTheBound) {
  const std::string why = touchstone::cuda::unavailable_reason();
  if (!why.empty()) GTEST_SKIP() << "cuda-f32 s4.causal_conv not run: " << why;
  const Algorithm& a = builtin_registry().get("s4.causal_conv");
  const BackendSpec& b = builtin_registry().backend(a, "cuda-f32");
  double worst = 0;
  for (const std::string& size : a.sizes())
    for (const std::uint64_t seed : {1u, 2u, 3u}) {
      const auto h = a.generate(size, Format::float32, seed);
      const ExactArrays exact = a.reference(*h, 256);
      const Arrays out = b.run(*h), bound = b.bound(*h);
      for (const auto& j : judge(out, exact, &bound, Format::float32)) {
        EXPECT_EQ(j.summary.outside, 0) << size << " seed " << seed;
        worst = std::max(worst, j.summary.max_ratio);
      }
    }
  std::printf("cuda-f32 s4.causal_conv worst ratio %.3e\n", worst);
  EXPECT_GT(worst, kVacuousRatio);
}
