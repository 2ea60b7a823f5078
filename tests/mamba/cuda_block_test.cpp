// The cuda-f32 Mamba block on a GPU ([MAMBA-BLOCK-CUDA]): bitwise cpu-f32 on every case (forward
// with its cache, backward, prefill and steps), so within the cpu-f32 bound of the oracle (checked
// directly on the smaller cases), and the same bits run after run. Skips, saying why, without a
// GPU; without one the backend must throw BackendUnavailable, and the registry must say why.
// covers: MAMBA-BLOCK-CUDA
#include <gtest/gtest.h>

#include "cuda/device.hpp"
#include "cuda/mamba_block.hpp"
#include "cuda_block_support.hpp"
#include "builtin.hpp"
#include "touchstone/core/metrics.hpp"
#include "touchstone/core/registry.hpp"
#include "touchstone/reference/mamba_block.hpp"
#include "touchstone/bounds/mamba_block_bound.hpp"

using namespace touchstone;
using namespace touchstone::mamba;
using namespace touchstone::mamba::testing;

namespace {

struct OnDevice {
  Tensor<float> forward(const MambaBlockWeights<float>& w, const Tensor<float>& h, mamba::cuda::MambaBlockCache* c) {
    return mamba::cuda::mamba_block_forward(w, h, c);
  }
  MambaBlockGrads<float> backward(const MambaBlockWeights<float>& w, const mamba::cuda::MambaBlockCache& c,
                                  const Tensor<float>& dout) {
    return mamba::cuda::mamba_block_backward(w, c, dout);
  }
  Tensor<float> prefill(const MambaBlockWeights<float>& w, const Tensor<float>& h, MambaBlockState<float>& s) {
    return mamba::cuda::mamba_block_prefill(w, h, s);
  }
  Tensor<float> step(const MambaBlockWeights<float>& w, const Tensor<float>& h, MambaBlockState<float>& s) {
    return mamba::cuda::mamba_block_step(w, h, s);
  }
};

}  // namespace

TEST(CudaBlock, UnavailableBackendThrowsAndSaysWhy) {
  const std::string why = touchstone::cuda::unavailable_reason();
  if (why.empty()) GTEST_SKIP() << "a GPU is present";
  const BlockCase c = block_cases()[0];
  const MambaBlockWeights<float> w = block_weights(c);
  MambaBlockState<float> s = block_state(c);
  mamba::cuda::MambaBlockCache cache;
  EXPECT_THROW(mamba::cuda::mamba_block_forward(w, block_hidden(c, c.seqlen)), BackendUnavailable);
  EXPECT_THROW(mamba::cuda::mamba_block_backward(w, cache, block_dout(c)), BackendUnavailable);
  EXPECT_THROW(mamba::cuda::mamba_block_prefill(w, block_hidden(c, c.seqlen), s), BackendUnavailable);
  EXPECT_THROW(mamba::cuda::mamba_block_step(w, block_hidden(c, 1), s), BackendUnavailable);
  for (const char* name : {"mamba.block", "mamba.block_backward", "mamba.block_step"}) {
    const Algorithm& a = builtin_registry().get(name);
    bool found = false;
    for (const BackendSpec& b : a.backends())
      if (b.name == "cuda-f32") {
        found = true;
        EXPECT_EQ(b.unavailable_reason(), why) << name;
      }
    EXPECT_TRUE(found) << name << " has no cuda-f32 backend";
  }
}

TEST(CudaBlock, BitwiseEqualToCpuF32) {
  const std::string why = touchstone::cuda::unavailable_reason();
  if (!why.empty()) GTEST_SKIP() << why;
  OnDevice d;
  for (const BlockCase& c : block_cases()) expect_bitwise_cpu_f32(d, c);
}

TEST(CudaBlock, SameBitsRunAfterRun) {
  const std::string why = touchstone::cuda::unavailable_reason();
  if (!why.empty()) GTEST_SKIP() << why;
  for (const BlockCase& c : block_cases()) {
    const MambaBlockWeights<float> w = block_weights(c);
    const Tensor<float> h = block_hidden(c, c.seqlen), dout = block_dout(c);
    mamba::cuda::MambaBlockCache c1, c2;
    const Tensor<float> o1 = mamba::cuda::mamba_block_forward(w, h, &c1), o2 = mamba::cuda::mamba_block_forward(w, h, &c2);
    EXPECT_EQ(bit_difference("out", o1, o2), "");
    EXPECT_EQ(grads_difference(mamba::cuda::mamba_block_backward(w, c1, dout), mamba::cuda::mamba_block_backward(w, c2, dout)), "");
  }
}

// Within the cpu-f32 bound of the MPFR oracle (the bound of this order), forward and step.
TEST(CudaBlock, WithinTheCpuF32BoundOfTheOracle) {
  const std::string why = touchstone::cuda::unavailable_reason();
  if (!why.empty()) GTEST_SKIP() << why;
  for (std::size_t k = 0; k < 4; ++k) {
    const BlockCase& c = block_cases()[k];
    const MambaBlockWeights<float> w = block_weights(c);
    const MambaBlockProblem<double> p(w.cast<double>(), block_hidden(c, c.seqlen).cast<double>());
    reference::MambaBlockResult<mp_real> exact;
    {
      const WorkingPrecision precision(256);
      exact = reference::mamba_block_forward<mp_real>(p);
    }
    const Tensor<double> out = mamba::cuda::mamba_block_forward(w, p.hidden().cast<float>()).cast<double>();
    const MambaBlockBound b = mamba_block_forward_bound(p, block_arithmetic_cpu_f32());
    const ErrorSummary e = compare("out", out, exact.out, &b.out, Format::float32);
    EXPECT_TRUE(e.pass()) << "max err/bound " << e.max_ratio;
  }
}
