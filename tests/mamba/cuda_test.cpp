// The CUDA backend on a GPU: within its bound of the oracle, and bit for bit equal to its host
// emulation (cuda_scan_emulation.hpp: the kernel's own bodies, mamba_kernels.cuh, run on the
// host). Skips, saying why, without a GPU.
// covers: MAMBA-SCAN-CUDA
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "cuda_scan_emulation.hpp"
#include "scan_generators.hpp"
#include "scan_test_support.hpp"
#include "touchstone/core/random.hpp"

using namespace touchstone;
using namespace touchstone::mamba;
using namespace touchstone::mamba::testing;

namespace {
bool gpu_or_skip() {
  const std::string why = touchstone::cuda::unavailable_reason();
  if (!why.empty()) {
    std::fprintf(stderr, "skipping: %s\n", why.c_str());
    return false;
  }
  return true;
}
// Deterministic float32 problem with every option, B variable and C constant, length L.
SelectiveScanProblem<float> long_problem(Index L) {
  PhiloxStream rng(static_cast<std::uint64_t>(L), "cuda-long");
  auto fill = [&](Shape s, double lo, double hi) {
    Tensor<float> t(std::move(s));
    for (Index i = 0; i < t.count(); ++i) t[i] = static_cast<float>(rng.next_uniform(lo, hi));
    return t;
  };
  SelectiveScanInputs<float> in;
  in.u = fill(Shape{2, 3, L}, -1, 1);
  in.delta = fill(Shape{2, 3, L}, -2, 0.5);
  in.A = fill(Shape{3, 4}, -1, 0);
  in.B = fill(Shape{2, 1, 4, L}, -1, 1);
  in.C = fill(Shape{3, 4}, -1, 1);
  in.D = fill(Shape{3}, -1, 1);
  in.z = fill(Shape{2, 3, L}, -2, 2);
  in.delta_bias = fill(Shape{3}, 0, 0.5);
  in.h0 = fill(Shape{2, 3, 4}, -1, 1);
  in.delta_softplus = true;
  return SelectiveScanProblem<float>(std::move(in));
}
}  // namespace

TEST(Cuda, UnavailableBackendThrowsBackendUnavailable) {
  if (touchstone::cuda::unavailable_reason().empty()) GTEST_SKIP() << "a GPU is present";
  SelectiveScanInputs<float> in;
  in.u = in.delta = Tensor<float>(Shape{1, 1, 1}, 1.f);
  in.A = Tensor<float>(Shape{1, 1}, -1.f);
  in.B = in.C = Tensor<float>(Shape{1, 1}, 1.f);
  const SelectiveScanProblem<float> p(std::move(in));
  EXPECT_THROW(mamba::cuda::selective_scan(p), BackendUnavailable);
}

TEST(Cuda, MatchesTheHostModelBitwiseAndStaysWithinBound) {
  if (!gpu_or_skip()) GTEST_SKIP() << touchstone::cuda::unavailable_reason();
  const auto shape = mamba::cuda::selective_scan_kernel_shape();
  const bool ok = rc::check("cuda-f32 == host model, within bound", [&] {
    const auto p = draw_problem(Format::float32);
    const auto p32 = p.cast<float>();
    const auto gpu = as_double(mamba::cuda::selective_scan(p32));
    const auto model = as_double(cuda_scan_emulation(p32));
    RC_ASSERT(same_bits(gpu.out, model.out));
    RC_ASSERT(same_bits(gpu.last_state, model.last_state));
    const WorkingPrecision precision(256);
    const Judged j = judge(gpu, reference::selective_scan<mp_real>(p),
                           selective_scan_bound(p, arithmetic_cuda_f32(shape.tree_depth, shape.chunk)),
                           Format::float32);
    if (!j.pass()) RC_FAIL(j.describe(p));
  });
  EXPECT_TRUE(ok);
}

TEST(Cuda, LongSequencesAcrossChunksMatchTheModel) {
  if (!gpu_or_skip()) GTEST_SKIP() << touchstone::cuda::unavailable_reason();
  for (Index L : {2047, 2048, 2049, 4096, 5000, 6143}) {
    const auto p = long_problem(L);
    const auto gpu = as_double(mamba::cuda::selective_scan(p));
    const auto model = as_double(cuda_scan_emulation(p));
    EXPECT_TRUE(same_bits(gpu.out, model.out)) << L;
    EXPECT_TRUE(same_bits(gpu.last_state, model.last_state)) << L;
  }
}

TEST(Cuda, RejectsDstateAbove256) {
  if (!gpu_or_skip()) GTEST_SKIP() << touchstone::cuda::unavailable_reason();
  SelectiveScanInputs<float> in;
  in.u = in.delta = Tensor<float>(Shape{1, 1, 2}, 1.f);
  in.A = Tensor<float>(Shape{1, 257}, -1.f);
  in.B = in.C = Tensor<float>(Shape{1, 257}, 1.f);
  const SelectiveScanProblem<float> p(std::move(in));
  EXPECT_THROW(mamba::cuda::selective_scan(p), InvalidInput);
}
