// The cuda-f32 Performer backends on a device (label cuda): bitwise equal to cpu-f32, hence within
// its bound. Skips, saying why, where no device can run them.
// covers: PERF-CUDA
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>

#include "cpu/performer.hpp"
#include "cuda/device.hpp"
#include "cuda/performer.hpp"
#include "touchstone/core/random.hpp"

using namespace touchstone;
using namespace touchstone::performer;

namespace {

Tensor<float> drawn(Shape s, const std::string& name, double scale, bool positive) {
  PhiloxStream r(20261207, "performer_cuda_test/" + name);
  Tensor<float> t(std::move(s));
  for (Index i = 0; i < t.count(); ++i) {
    const double z = scale * r.next_normal();
    t[i] = static_cast<float>(positive ? std::exp(z) : z);
  }
  return t;
}

Index first_bit_difference(const Tensor<float>& a, const Tensor<float>& b) {
  if (a.shape() != b.shape()) return 0;
  for (Index i = 0; i < a.count(); ++i)
    if (std::memcmp(&a.data()[i], &b.data()[i], sizeof(float)) != 0) return i;
  return -1;
}

struct Shape5 {
  Index B, H, L, M, E;
};
// L up to 1000 (many chunks of the backward pass), m and dim_v above the block's 256 threads.
constexpr Shape5 kShapes[] = {{1, 1, 1, 2, 1}, {2, 3, 37, 12, 5}, {1, 2, 300, 64, 16}, {1, 1, 1000, 300, 260}};

LinearInputs<float> inputs(const Shape5& s, bool causal, Guard guard, const std::string& tag) {
  LinearInputs<float> in{drawn(Shape{s.B, s.H, s.L, s.M}, tag + "/q", 0.7, true),
                         drawn(Shape{s.B, s.H, s.L, s.M}, tag + "/k", 0.7, true),
                         drawn(Shape{s.B, s.H, s.L, s.E}, tag + "/v", 1.0, false), causal, guard, 1e-6};
  for (Index f = 0; f < s.M; ++f) in.q(0, 0, s.L - 1, f) = 0;  // R = 0: the gr guard's edge
  return in;
}

}  // namespace

TEST(PerformerCuda, LinearAttentionEqualsCpuF32Bitwise) {
  const std::string reason = touchstone::cuda::unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  for (const Shape5& s : kShapes)
    for (const bool causal : {false, true})
      for (const Guard guard : {Guard::none, Guard::gr, Guard::lr}) {
        const std::string tag = std::to_string(s.L) + "/" + std::to_string(causal) + "/" + guard_name(guard);
        SCOPED_TRACE(tag);
        const LinearProblem<float> p(inputs(s, causal, guard, tag));
        EXPECT_EQ(first_bit_difference(performer::cuda::linear_attention(p), cpu::linear_attention(p)), -1);
      }
}

TEST(PerformerCuda, LinearAttentionVjpEqualsCpuF32Bitwise) {
  const std::string reason = touchstone::cuda::unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  for (const Shape5& s : kShapes)
    for (const bool causal : {false, true})
      for (const Guard guard : {Guard::none, Guard::gr, Guard::lr})
        for (const bool subtraction : {false, true}) {
          if (subtraction && !causal) continue;
          const std::string tag = "vjp/" + std::to_string(s.L) + "/" + std::to_string(causal) + "/" + guard_name(guard) +
                                  "/" + std::to_string(subtraction);
          SCOPED_TRACE(tag);
          const LinearBackwardProblem<float> bp(
              {inputs(s, causal, guard, tag), drawn(Shape{s.B, s.H, s.L, s.E}, tag + "/g", 1.0, false), subtraction, 0});
          const AttentionGrads<float> gpu = performer::cuda::linear_attention_vjp(bp), cpu = cpu::linear_attention_vjp(bp);
          EXPECT_EQ(first_bit_difference(gpu.dq, cpu.dq), -1);
          EXPECT_EQ(first_bit_difference(gpu.dk, cpu.dk), -1);
          EXPECT_EQ(first_bit_difference(gpu.dv, cpu.dv), -1);
        }
}
