// [ORTH-CWY-FAST] The blocked, vectorized, threaded cpu-f32/cpu-f64 CWY, T-CWY and CWY apply are
// bit identical to the order header's run element by element (cpu::generic), which is what their
// bound runs: every element of many shapes (below, at and past the tile, vector and panel sizes),
// edge inputs (signed zeros, a zero vector, Inf, NaN, overflow), every thread count; and the
// comparison fails on a wrong answer (one ulp, a NaN, -0 for +0, a scaled output, another order).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>

#include "bit_identity.hpp"
#include "cpu/orthogonal.hpp"
#include "touchstone/core/random.hpp"

using namespace touchstone;
using namespace touchstone::orthogonal;

namespace {

using touchstone::testing_bits::first_bit_difference;

template <class T>
Tensor<T> normal(Index rows, Index cols, const std::string& name) {
  PhiloxStream r(7, "cwy_fast_test/" + name);
  Tensor<T> t(Shape{rows, cols});
  for (Index i = 0; i < t.count(); ++i) t[i] = static_cast<T>(r.next_normal());
  return t;
}

// (L, N): one vector; fewer, equal and more vectors than dimensions; L and N below, at and past a
// row tile (6), a vector tile (16 floats, 8 doubles), the solve's 4 vectors and a panel (64).
struct Shape2 {
  Index L, N;
};
constexpr Shape2 kShapes[] = {{1, 1},  {1, 4},   {2, 3},   {5, 7},   {6, 16},  {8, 8},  {12, 6},
                              {7, 33}, {17, 17}, {37, 53}, {64, 64}, {70, 131}, {130, 70}};

// The problem takes finite vectors with a nonzero entry. Signed zeros in every row (N > 1), then
// (rows permitting) a vector of subnormals whose squares underflow to a zero norm (u = +-Inf, NaN
// downstream), one whose square overflows (norm Inf, u = 0) and one of mixed scales.
template <class T>
Tensor<T> edge_vectors(Index L, Index N) {
  Tensor<T> v = normal<T>(L, N, "edge/" + std::to_string(L) + "x" + std::to_string(N));
  if (N > 1)
    for (Index i = 0; i < L; ++i) v[i * N + (i % N)] = -T(0);
  if (L > 2)
    for (Index k = 0; k < N; ++k) v[1 * N + k] = (k % 2 ? -1 : 1) * std::numeric_limits<T>::denorm_min();
  if (L > 3) v[2 * N] = std::numeric_limits<T>::max() / 2;
  if (L > 4)
    for (Index k = 0; k < N; ++k) v[3 * N + k] *= std::ldexp(T(1), static_cast<int>(k % 7) * 20 - 60);
  return v;
}

template <class T>
void cwy_equals_the_order(const Tensor<T>& v, const std::string& what) {
  SCOPED_TRACE(what);
  const Index L = v.shape()[0], N = v.shape()[1];
  const ReflectorProblem<T> p(v);
  EXPECT_EQ(first_bit_difference(cpu::cwy(p), cpu::generic::cwy(p)), -1);
  if (L <= N) {
    const StiefelProblem<T> sp(p);
    EXPECT_EQ(first_bit_difference(cpu::tcwy(sp), cpu::generic::tcwy(sp)), -1);
  }
  for (const Index B : {1, 3, 17, 70})
    for (const bool transpose : {false, true}) {
      const ApplyProblem<T> ap(p, normal<T>(B, N, what + "/h" + std::to_string(B)), transpose);
      EXPECT_EQ(first_bit_difference(cpu::cwy_apply(ap), cpu::generic::cwy_apply(ap)), -1) << "B " << B << " T " << transpose;
    }
}

template <class T>
void all_shapes() {
  for (const Shape2& s : kShapes) {
    const std::string tag = std::to_string(s.L) + "x" + std::to_string(s.N);
    cwy_equals_the_order(normal<T>(s.L, s.N, tag), "normal " + tag);
    cwy_equals_the_order(edge_vectors<T>(s.L, s.N), "edge " + tag);
  }
}

// covers: ORTH-CWY-FAST
TEST(CwyFast, EqualsTheOrderBitForBitFloat) { all_shapes<float>(); }
TEST(CwyFast, EqualsTheOrderBitForBitDouble) { all_shapes<double>(); }

// The thread count changes nothing: one thread and three threads give the same bits.
TEST(CwyFast, ThreadCountChangesNothing) {
  const Tensor<float> v = normal<float>(70, 131, "threads");
  const ReflectorProblem<float> p(v);
  const ApplyProblem<float> ap(p, normal<float>(70, 131, "threads/h"), false);
  const char* old = std::getenv("TOUCHSTONE_THREADS");
  const std::string saved = old ? old : "";
  setenv("TOUCHSTONE_THREADS", "1", 1);
  const Tensor<float> q1 = cpu::cwy(p), y1 = cpu::cwy_apply(ap);
  setenv("TOUCHSTONE_THREADS", "3", 1);
  const Tensor<float> q3 = cpu::cwy(p), y3 = cpu::cwy_apply(ap);
  if (old) setenv("TOUCHSTONE_THREADS", saved.c_str(), 1);
  else unsetenv("TOUCHSTONE_THREADS");
  EXPECT_EQ(first_bit_difference(q1, q3), -1);
  EXPECT_EQ(first_bit_difference(y1, y3), -1);
}

// The comparison above fails on a wrong answer: one element one ulp off, a NaN, -0 for +0, a
// scaled output, another shape, and the same matrix in another order (Eigen's GEMM and TRSM).
TEST(CwyFast, BitComparisonFailsOnAWrongAnswer) {
  const ReflectorProblem<float> p(normal<float>(37, 53, "wrong"));
  const Tensor<float> right = cpu::cwy(p);
  ASSERT_EQ(first_bit_difference(right, cpu::generic::cwy(p)), -1);
  touchstone::testing_bits::expect_comparison_catches_wrong_answers(right);
  EXPECT_NE(first_bit_difference(cpu::cwy_eigen(p), right), -1);
}

}  // namespace
