// The orthogonal cuda-f32 bodies run on the host (tests/orthogonal/cuda_emulation.hpp) equal
// cpu-f32 bit for bit over every element (spec/orthogonal.md [ORTH-CUDA]): CWY, T-CWY, both VJPs and
// the matching step on several problems each, and on raw inputs with NaN, Inf, overflowing and
// underflowing vectors (which the problems reject) against the order header run with cpu-f32's
// arithmetic. That equality is what lets cuda-f32 take cpu-f32's bound.
// covers: ORTH-CUDA
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "common/native_arithmetic.hpp"
#include "cpu/orthogonal.hpp"
#include "cuda_emulation.hpp"
#include "test_inputs.hpp"
#include "touchstone/order/orthogonal_order.hpp"

using namespace touchstone;
using namespace touchstone::orthogonal;
using namespace touchstone::orthogonal::testing;

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// cpu-f32's arithmetic (optimized/cpu/orthogonal.cpp's NativeArithmetic<float>), for raw inputs the
// problems reject; SameAsCpuF32 checks that it gives cpu::cwy's, cpu::cwy_vjp's and
// cpu::matching_step's bits.
struct CpuF32 : cpu_common::NativeArithmetic<float> {
  static constexpr bool kRefinesSolves = false;
  static float sqrt(float a) { return std::sqrt(a); }
  static float twice(float a) { return a + a; }
  static float unit(float a) { return a; }
  static float sin(float a) { return static_cast<float>(std::sin(static_cast<double>(a))); }
  static float cos(float a) { return static_cast<float>(std::cos(static_cast<double>(a))); }
};

Floats floats(const Tensor<double>& t) {
  Floats f(static_cast<std::size_t>(t.count()));
  for (Index i = 0; i < t.count(); ++i) f[static_cast<std::size_t>(i)] = static_cast<float>(t[i]);
  return f;
}
Floats floats(const Tensor<float>& t) { return Floats(t.data(), t.data() + t.count()); }
Tensor<double> normal(Index rows, Index cols, std::uint64_t seed, const char* name) {
  return test_inputs::normal("orthogonal_cuda_emulation", rows, cols, seed, name);
}
auto reader(const Floats& a, Index cols) {
  return [&a, cols](Index i, Index k) { return static_cast<double>(a[static_cast<std::size_t>(i * cols + k)]); };
}

// Every element: the same bits, or both NaN. Returns the number of differing elements.
int differing(const Floats& got, const Floats& want, const std::string& what) {
  EXPECT_EQ(got.size(), want.size()) << what;
  int bad = 0;
  for (std::size_t i = 0; i < got.size() && i < want.size(); ++i) {
    const bool same = (std::isnan(got[i]) && std::isnan(want[i])) ||
                      std::bit_cast<std::uint32_t>(got[i]) == std::bit_cast<std::uint32_t>(want[i]);
    if (!same && bad++ < 5) ADD_FAILURE() << what << " element " << i << ": " << got[i] << " vs cpu-f32 " << want[i];
  }
  return bad;
}

std::size_t nonfinite(const Floats& a) {
  std::size_t n = 0;
  for (const float x : a) n += std::isfinite(x) ? 0 : 1;
  return n;
}

Floats order_cwy(const Floats& v, Index L, Index N, Index C) {
  Floats q(static_cast<std::size_t>(N * C));
  CpuF32 ar;
  order::cwy_columns(ar, reader(v, N), L, N, C, [&](Index r, Index c, float x) { q[static_cast<std::size_t>(r * C + c)] = x; });
  return q;
}
Floats order_vjp(const Floats& v, const Floats& g, Index L, Index N, Index C) {
  Floats dv(static_cast<std::size_t>(L * N));
  CpuF32 ar;
  order::cwy_vjp(ar, reader(v, N), reader(g, C), L, N, C, [&](Index i, Index k, float x) { dv[static_cast<std::size_t>(i * N + k)] = x; });
  return dv;
}
Floats order_matching(const Floats& x, const Floats& g, Index N, Index M, float eta, Index round) {
  Floats y(static_cast<std::size_t>(N * M));
  CpuF32 ar;
  order::matching_step(ar, reader(x, M), reader(g, M), N, M, static_cast<double>(eta), round,
                       [&](Index i, Index k, float v) { y[static_cast<std::size_t>(i * M + k)] = v; });
  return y;
}

struct Size {
  Index L, N;
};

TEST(OrthogonalCudaEmulation, CwyAndTcwyEqualCpuF32Bitwise) {
  // CWY: the registry's sizes (one, small, square, long) and two larger ones (L < N, L > N).
  for (const Size s : {Size{1, 4}, Size{4, 6}, Size{8, 8}, Size{12, 6}, Size{33, 40}, Size{70, 20}}) {
    const ReflectorProblem<float> p = ReflectorProblem<double>(normal(s.L, s.N, 1, "V")).cast<float>();
    const std::string what = "cwy L=" + std::to_string(s.L) + " N=" + std::to_string(s.N);
    EXPECT_EQ(differing(emulate_cwy_columns(floats(p.v()), s.L, s.N, s.N), floats(cpu::cwy(p)), what), 0);
  }
  // T-CWY (M <= N vectors, the first M columns).
  for (const Size s : {Size{2, 5}, Size{4, 10}, Size{6, 6}, Size{16, 48}}) {
    const StiefelProblem<float> p = StiefelProblem<double>(ReflectorProblem<double>(normal(s.L, s.N, 2, "V"))).cast<float>();
    const std::string what = "tcwy M=" + std::to_string(s.L) + " N=" + std::to_string(s.N);
    EXPECT_EQ(differing(emulate_cwy_columns(floats(p.v()), s.L, s.N, s.L), floats(cpu::tcwy(p)), what), 0);
  }
}

TEST(OrthogonalCudaEmulation, VjpsEqualCpuF32Bitwise) {
  for (const bool stiefel : {false, true})
    for (const Size s : stiefel ? std::vector<Size>{{2, 5}, {4, 8}, {5, 5}, {12, 40}}
                                : std::vector<Size>{{1, 4}, {4, 6}, {6, 6}, {8, 5}, {20, 30}}) {
      const Index C = stiefel ? s.L : s.N;
      const CwyBackwardProblem<float> p =
          CwyBackwardProblem<double>(ReflectorProblem<double>(normal(s.L, s.N, 3, "V")), normal(s.N, C, 3, "G"), stiefel)
              .cast<float>();
      const std::string what = std::string(stiefel ? "tcwy" : "cwy") + " vjp L=" + std::to_string(s.L) +
                               " N=" + std::to_string(s.N);
      EXPECT_EQ(differing(emulate_cwy_vjp(floats(p.v()), floats(p.g()), s.L, s.N, C), floats(cpu::cwy_vjp(p)), what), 0);
    }
}

struct MatchingCase {
  Index N, M;
  float eta;
  Index round;
};

TEST(OrthogonalCudaEmulation, MatchingStepEqualsCpuF32Bitwise) {
  // The registry's sizes (d = 2, even, odd, Stiefel), a larger odd Stiefel one, and M = 1 (no pair).
  for (const MatchingCase c : {MatchingCase{2, 2, 0.3f, 0}, MatchingCase{6, 6, 0.05f, 2}, MatchingCase{5, 5, 0.05f, 3},
                               MatchingCase{7, 4, 0.1f, 1}, MatchingCase{40, 33, 0.01f, 5}, MatchingCase{9, 1, 0.1f, 0}}) {
    const MatchingStepProblem<float> p =
        MatchingStepProblem<double>(
            RiemannianProblem<double>(test_inputs::stiefel_point("orthogonal_cuda_emulation", c.N, c.M, 4),
                                      normal(c.N, c.M, 4, "G")),
            c.eta, c.round)
            .cast<float>();
    const std::string what = "matching N=" + std::to_string(c.N) + " M=" + std::to_string(c.M);
    EXPECT_EQ(differing(emulate_matching_step(floats(p.x()), floats(p.g()), c.N, c.M, p.eta(), c.round),
                        floats(cpu::matching_step(p)), what),
              0);
  }
}

// The raw-input reference (the order header with CpuF32) is cpu-f32 itself on valid problems.
TEST(OrthogonalCudaEmulation, RawReferenceIsCpuF32) {
  const ReflectorProblem<float> p = ReflectorProblem<double>(normal(5, 7, 5, "V")).cast<float>();
  EXPECT_EQ(differing(order_cwy(floats(p.v()), 5, 7, 7), floats(cpu::cwy(p)), "cwy"), 0);
  const CwyBackwardProblem<float> b =
      CwyBackwardProblem<double>(ReflectorProblem<double>(normal(5, 7, 5, "V")), normal(7, 7, 5, "G"), false).cast<float>();
  EXPECT_EQ(differing(order_vjp(floats(b.v()), floats(b.g()), 5, 7, 7), floats(cpu::cwy_vjp(b)), "vjp"), 0);
  const MatchingStepProblem<float> m =
      MatchingStepProblem<double>(
          RiemannianProblem<double>(test_inputs::stiefel_point("orthogonal_cuda_emulation", 6, 6, 5), normal(6, 6, 5, "G")),
          0.05, 1)
          .cast<float>();
  EXPECT_EQ(differing(order_matching(floats(m.x()), floats(m.g()), 6, 6, m.eta(), 1), floats(cpu::matching_step(m)),
                      "matching"),
            0);
}

// Inputs the problems reject, fed to the bodies directly: a NaN, an Inf, a vector whose square sum
// overflows (norm Inf), one whose square sum underflows to 0 (norm 0: u = Inf), the zero vector
// (0 / 0); every element, NaN where cpu-f32 has NaN.
TEST(OrthogonalCudaEmulation, NaNAndInfInputsEqualCpuF32) {
  const Index L = 7, N = 6;
  Floats v = floats(normal(L, N, 6, "V"));
  v[0 * N + 2] = kNaN;
  v[1 * N + 4] = kInf;
  for (Index k = 0; k < N; ++k) v[static_cast<std::size_t>(2 * N + k)] = 3e30f;
  for (Index k = 0; k < N; ++k) v[static_cast<std::size_t>(3 * N + k)] = 1e-30f;
  for (Index k = 0; k < N; ++k) v[static_cast<std::size_t>(4 * N + k)] = 0.0f;
  // One bad vector at a time (each poisons everything after it), then all together.
  for (Index bad = 0; bad <= 5; ++bad) {
    Floats w = v;
    if (bad < 5) {
      w = floats(normal(L, N, 7, "V"));
      for (Index k = 0; k < N; ++k) w[static_cast<std::size_t>(bad * N + k)] = v[static_cast<std::size_t>(bad * N + k)];
    }
    const std::string what = "bad vector " + std::to_string(bad);
    const Floats g = floats(normal(N, N, 8, "G"));
    const Floats q = emulate_cwy_columns(w, L, N, N), dv = emulate_cwy_vjp(w, g, L, N, N);
    EXPECT_EQ(differing(q, order_cwy(w, L, N, N), "cwy " + what), 0);
    EXPECT_EQ(differing(emulate_cwy_columns(w, 4, N, 4), order_cwy(w, 4, N, 4), "tcwy " + what), 0);
    EXPECT_EQ(differing(dv, order_vjp(w, g, L, N, N), "vjp " + what), 0);
    // The cases are what they claim: each bad vector makes non-finite outputs, but the overflowing
    // one (norm Inf, so u_2 = 0: its reflection silently drops out, every output finite).
    if (bad == 2) EXPECT_EQ(nonfinite(q) + nonfinite(dv), 0u) << what;
    else EXPECT_GT(nonfinite(q) + nonfinite(dv), 0u) << what;
  }
  // A NaN and an Inf in the cotangent.
  const Floats w = floats(normal(L, N, 9, "V"));
  Floats g = floats(normal(N, 4, 9, "G"));
  g[5] = kNaN;
  g[10] = -kInf;
  EXPECT_EQ(differing(emulate_cwy_vjp(w, g, 4, N, 4), order_vjp(w, g, 4, N, 4), "tcwy vjp, NaN in G"), 0);
  // The matching step: a NaN in G (one pair's angle), an Inf in X (one row of one pair), a huge G
  // (theta overflows to Inf: cos, sin NaN).
  const Index d = 8;
  Floats x = floats(test_inputs::stiefel_point("orthogonal_cuda_emulation", d, d, 10));
  Floats gm = floats(normal(d, d, 10, "G"));
  gm[3 * d + 1] = kNaN;
  x[2 * d + 5] = kInf;
  for (Index k = 0; k < d; ++k) gm[static_cast<std::size_t>(k * d + 6)] = 3e38f;
  for (Index round = 0; round < matching_rounds(d); ++round) {
    const Floats y = emulate_matching_step(x, gm, d, d, 0.05f, round);
    EXPECT_GT(nonfinite(y), 0u) << round;
    EXPECT_EQ(differing(emulate_matching_step(x, gm, d, d, 0.05f, round), order_matching(x, gm, d, d, 0.05f, round),
                        "matching round " + std::to_string(round)),
              0);
  }
}

}  // namespace
