// The orthogonal cuda-f32 backends on a device (label cuda): CWY, T-CWY, both VJPs and the matching
// step bitwise equal to cpu-f32 (hence within its bound) and to the host emulation. Skips, saying
// why, where no device can run them.
// covers: ORTH-CUDA
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <string>

#include "cpu/orthogonal.hpp"
#include "cuda/device.hpp"
#include "cuda/orthogonal.hpp"
#include "test_inputs.hpp"

using namespace touchstone;
using namespace touchstone::orthogonal;

namespace {

Tensor<double> normal(Index rows, Index cols, std::uint64_t seed, const char* name) {
  return test_inputs::normal("orthogonal_cuda", rows, cols, seed, name);
}

void expect_bitwise(const Tensor<float>& gpu, const Tensor<float>& cpu, const std::string& what) {
  ASSERT_EQ(gpu.shape(), cpu.shape()) << what;
  int bad = 0;
  for (Index i = 0; i < gpu.count(); ++i) {
    if (std::isnan(cpu[i]) && std::isnan(gpu[i])) continue;
    if (std::bit_cast<std::uint32_t>(gpu[i]) != std::bit_cast<std::uint32_t>(cpu[i]) && bad++ < 5)
      ADD_FAILURE() << what << " element " << i << ": " << gpu[i] << " vs cpu-f32 " << cpu[i];
  }
  EXPECT_EQ(bad, 0) << what;
}

#define SKIP_WITHOUT_DEVICE()                                              \
  do {                                                                     \
    const std::string reason = touchstone::cuda::unavailable_reason();    \
    if (!reason.empty()) GTEST_SKIP() << reason;                           \
  } while (0)

TEST(OrthogonalCuda, CwyAndTcwyEqualCpuF32Bitwise) {
  SKIP_WITHOUT_DEVICE();
  for (const auto& [L, N] : {std::pair<Index, Index>{1, 4}, {8, 8}, {12, 6}, {70, 20}, {256, 256}, {300, 1000}}) {
    const ReflectorProblem<float> p = ReflectorProblem<double>(normal(L, N, 1, "V")).cast<float>();
    expect_bitwise(orthogonal::cuda::cwy(p), cpu::cwy(p), "cwy L=" + std::to_string(L) + " N=" + std::to_string(N));
  }
  for (const auto& [M, N] : {std::pair<Index, Index>{2, 5}, {6, 6}, {64, 512}, {256, 1024}}) {
    const StiefelProblem<float> p = StiefelProblem<double>(ReflectorProblem<double>(normal(M, N, 2, "V"))).cast<float>();
    expect_bitwise(orthogonal::cuda::tcwy(p), cpu::tcwy(p), "tcwy M=" + std::to_string(M) + " N=" + std::to_string(N));
  }
}

TEST(OrthogonalCuda, VjpsEqualCpuF32Bitwise) {
  SKIP_WITHOUT_DEVICE();
  for (const bool stiefel : {false, true})
    for (const auto& [L, N] : {std::pair<Index, Index>{1, 4}, {5, 5}, {8, 5}, {40, 128}, {200, 300}}) {
      if (stiefel && L > N) continue;
      const Index C = stiefel ? L : N;
      const CwyBackwardProblem<float> p =
          CwyBackwardProblem<double>(ReflectorProblem<double>(normal(L, N, 3, "V")), normal(N, C, 3, "G"), stiefel)
              .cast<float>();
      expect_bitwise(orthogonal::cuda::cwy_vjp(p), cpu::cwy_vjp(p),
                     std::string(stiefel ? "tcwy" : "cwy") + " vjp L=" + std::to_string(L) + " N=" + std::to_string(N));
    }
}

TEST(OrthogonalCuda, MatchingStepEqualsCpuF32Bitwise) {
  SKIP_WITHOUT_DEVICE();
  struct Case {
    Index N, M;
    double eta;
    Index round;
  };
  for (const Case c : {Case{2, 2, 0.3, 0}, Case{5, 5, 0.05, 3}, Case{7, 4, 0.1, 1}, Case{9, 1, 0.1, 0},
                       Case{256, 256, 0.01, 17}, Case{1024, 1023, 0.01, 500}}) {
    const MatchingStepProblem<float> p =
        MatchingStepProblem<double>(RiemannianProblem<double>(test_inputs::stiefel_point("orthogonal_cuda", c.N, c.M, 4),
                                                              normal(c.N, c.M, 4, "G")),
                                    c.eta, c.round)
            .cast<float>();
    expect_bitwise(orthogonal::cuda::matching_step(p), cpu::matching_step(p),
                   "matching N=" + std::to_string(c.N) + " M=" + std::to_string(c.M));
  }
}

}  // namespace
