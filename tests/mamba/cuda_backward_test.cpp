// The cuda-f32 backward pass ([MAMBA-BWD-CUDA]) on a GPU: bit for bit the cpu-f32 backward (it
// runs the same association order), within the cpu-f32 bound of the oracle, and the same bits
// run after run and for any wave size. Skips, saying why, without a GPU.
// covers: MAMBA-BWD-CUDA MAMBA-INDEX-64
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "backward_test_support.hpp"
#include "cuda_backward_support.hpp"
#include "cuda/device.hpp"
#include "cuda/mamba.hpp"
#include "touchstone/core/random.hpp"

namespace touchstone::mamba::testing {
namespace {

bool gpu_present() {
  const std::string why = touchstone::cuda::unavailable_reason();
  if (!why.empty()) std::fprintf(stderr, "skipping: %s\n", why.c_str());
  return why.empty();
}

// covers: MAMBA-BWD-CUDA
TEST(CudaBackward, UnavailableBackendThrowsBackendUnavailable) {
  if (touchstone::cuda::unavailable_reason().empty()) GTEST_SKIP() << "a GPU is present";
  const auto q = make_problem(kSpecs[0]);
  EXPECT_THROW(mamba::cuda::selective_scan_backward(q), BackendUnavailable);
}

// covers: MAMBA-BWD-CUDA MAMBA-BWD-DETERMINISTIC
TEST(CudaBackward, BitwiseEqualToCpuF32) {
  if (!gpu_present()) GTEST_SKIP() << touchstone::cuda::unavailable_reason();
  for (const Spec& s : kSpecs) {
    const auto q = make_problem(s);
    const auto cpu_g = cpu::selective_scan_backward(q);
    const auto gpu_g = mamba::cuda::selective_scan_backward(q);
    EXPECT_EQ("", bitwise_difference(gpu_g, cpu_g)) << "seed " << s.seed;
  }
}

// covers: MAMBA-BWD-CUDA
// The same bits on a second run, and with waves of 1 and 2 slabs (the cross-channel sums then
// continue across waves: the row of variable dB/dC is carried in the output).
TEST(CudaBackward, DeterministicAcrossRunsAndWaves) {
  if (!gpu_present()) GTEST_SKIP() << touchstone::cuda::unavailable_reason();
  for (const Spec& s : {kSpecs[6], kSpecs[7], kSpecs[10]}) {
    const auto q = make_problem(s);
    const auto first = mamba::cuda::selective_scan_backward(q);
    EXPECT_EQ("", bitwise_difference(first, mamba::cuda::selective_scan_backward(q)))
        << "seed " << s.seed << ", second run";
    for (const long long wave : {1LL, 2LL, 3LL}) {
      mamba::cuda::BackwardLaunch launch;
      launch.max_slabs_per_wave = wave;
      EXPECT_EQ("", bitwise_difference(first, mamba::cuda::selective_scan_backward(q, launch)))
          << "seed " << s.seed << ", waves of " << wave;
    }
  }
}

// covers: MAMBA-BWD-CUDA MAMBA-BWD-BOUND-CPU
// Every gradient element within the cpu-f32 bound of the oracle (the bound of this order).
TEST(CudaBackward, WithinTheCpuF32Bound) {
  if (!gpu_present()) GTEST_SKIP() << touchstone::cuda::unavailable_reason();
  for (const Spec& s : {kSpecs[0], kSpecs[1], kSpecs[2], kSpecs[3], kSpecs[4]}) {
    const auto q32 = make_problem(s);
    const auto q = q32.cast<double>();
    const SelectiveScanGrads<mp_real> exact = [&] {
      const WorkingPrecision precision(256);
      return reference::selective_scan_vjp<mp_real>(q);
    }();
    const auto j = judge_grads(grads_as_double(mamba::cuda::selective_scan_backward(q32)), exact,
                               selective_scan_backward_bound(q, backward_arithmetic_cpu_f32()),
                               Format::float32);
    EXPECT_TRUE(j.pass()) << "seed " << s.seed << "\n" << j.describe();
  }
}

// covers: MAMBA-INDEX-64
// dim past 65535, the limit of a grid that puts channels in gridDim.y (the peer's #505): the
// channels run along gridDim.x, and the result is still the CPU's, bit for bit.
TEST(CudaBackward, DimBeyondGridYLimit) {
  if (!gpu_present()) GTEST_SKIP() << touchstone::cuda::unavailable_reason();
  for (const Spec& s : {Spec{21, 1, 70000, 2, 3, 1, 0, true, true, true, false, true, false},
                        Spec{22, 1, 70001, 1, 2, 0, 0, false, false, false, true, false, true}}) {
    const auto q = make_problem(s);
    EXPECT_EQ("", bitwise_difference(mamba::cuda::selective_scan_backward(q),
                                     cpu::selective_scan_backward(q)))
        << "seed " << s.seed;
  }
}

}  // namespace
}  // namespace touchstone::mamba::testing
