// The cuda-f32 S4D backend on a device (label cuda): bitwise equal to cpu-f32, hence within its
// bound. Skips, saying why, where no device can run it.
// covers: S4D-CUDA
#include <gtest/gtest.h>

#include <bit>

#include "cpu/s4d.hpp"
#include "cuda/device.hpp"
#include "cuda/s4d.hpp"
#include "s4d_support.hpp"

using namespace touchstone;
using namespace touchstone::s4;
using namespace touchstone::s4::testing;

TEST(S4DCuda, EqualsCpuF32Bitwise) {
  const std::string reason = touchstone::cuda::unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  for (Index L : {1, 64, 1000, 16384}) {
    auto in = random_inputs(50 + L, 3, 32, L, L % 2 ? Discretization::bilinear : Discretization::zoh,
                            Conj::halves, true, 50);
    in.C(1, 3, Index{0}) = std::numeric_limits<double>::quiet_NaN();
    const S4DProblem<float> p = S4DProblem<double>(in).cast<float>();
    const Tensor<float> gpu = touchstone::s4::cuda::s4d_product(cpu::s4d_setup(p));
    const Tensor<float> cpu = cpu::s4d_kernel(p);
    ASSERT_EQ(gpu.shape(), cpu.shape());
    for (Index i = 0; i < gpu.count(); ++i) {
      if (std::isnan(cpu[i])) {
        EXPECT_TRUE(std::isnan(gpu[i])) << i;
        continue;
      }
      EXPECT_EQ(std::bit_cast<std::uint32_t>(gpu[i]), std::bit_cast<std::uint32_t>(cpu[i])) << L << " " << i;
    }
  }
}
