// [MAMBA-BLOCK-PRODUCT-ROWS] The Mamba block bound's projections formed a row of reductions at a
// time in arrays (bounds/include/touchstone/bounds/mamba_block_engine.hpp, product_reductions)
// against the scalar loop they replace (a Reduction per element, Reduction::fma in increasing l):
// for tracked values with every sign, signed and exact zeros, subnormals, values past float32's
// range and infinities, every reduction must end in the same state and with the same value, bit
// for bit, and the engine's overflow flag the same, in the CPU order (float32, float64) and in
// any order (float32 and float64 compute), either operand on the left, from a zero or a started
// reduction, in whole tiles of columns (vector registers) and the columns after them, in whole
// and partial blocks of rows.
// The engine's vector helpers are always inlined (mamba_block_engine.hpp): no V8 crosses a call,
// whatever gcc's -Wpsabi says about builds for CPUs without 512-bit registers. gcc reports it where
// the templates are evaluated (the end of the file), so it is off for the whole file.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <vector>

#include "touchstone/bounds/mamba_block_engine.hpp"
#include "touchstone/core/random.hpp"

namespace touchstone::mamba::block_engine {
namespace {

// The same bits, or both NaN (which NaN an operation returns depends on its operands' order).
bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0 || (std::isnan(a) && std::isnan(b)); }
bool same(const Tracked& a, const Tracked& b) {
  return same_bits(a.lo, b.lo) && same_bits(a.hi, b.hi) && same_bits(a.err, b.err);
}
bool same(const AnySum& a, const AnySum& b) {
  return same_bits(a.lo, b.lo) && same_bits(a.hi, b.hi) && same_bits(a.prop, b.prop) &&
         same_bits(a.mags, b.mags) && a.count == b.count;
}

// Tracked values of every kind: ordinary, exact zeros of both signs, zero ranges with an error,
// subnormal, past float32's range, infinite, with errors from 0 to large. `wild` = false: ordinary
// and exact zeros only (no overflow anywhere). `exact`: every value exact (err 0, lo = hi), as the
// weights and inputs are (the arrays' shorter forms for exact factors).
std::vector<Tracked> values(PhiloxStream& rng, std::size_t n, bool wild, bool exact = false) {
  std::vector<Tracked> v;
  for (std::size_t k = 0; k < n; ++k) {
    const double kind = rng.next_uniform(0, 1);
    double lo = rng.next_uniform(-3, 3), w = rng.next_uniform(0, 0.5);
    double err = rng.next_uniform(0, 1) < 0.3 ? 0.0 : rng.next_uniform(0, 1e-3);
    if (kind < 0.08) lo = 0.0, w = 0, err = 0;
    else if (kind < 0.12) lo = -0.0, w = 0, err = 0;
    else if (wild && kind < 0.15) lo = 0.0, w = 0;
    else if (wild && kind < 0.20) lo = 1e-310 * lo, w *= 1e-310;
    else if (wild && kind < 0.24) lo = 1e37 * lo, w *= 1e37, err *= 1e40;
    else if (wild && kind < 0.25) lo = std::numeric_limits<double>::infinity();
    if (exact) v.push_back(Tracked::exact(lo));
    else v.push_back({lo, lo + w, err});
  }
  return v;
}

// The variants of the array path that the negative controls run: the real one, one whose
// operand does not mark exact zeros (any order then counts terms the scalar loop leaves out), and
// one that takes the steps l in decreasing order.
enum class Variant { real, zeros_not_skipped, steps_reversed };

struct Case {
  BlockArithmetic m;
  Index rows, cols, inner;
  bool x_left, started, wild;
  std::uint64_t seed;
  bool exact_x = false, exact_y = false;
};

// How many reductions differ between the scalar loop and the array path (state, value); the
// overflow flags' disagreement counts one more. With an exact factor the arrays' shorter forms
// may leave other values where the other factor is infinite or NaN, and only there: then the
// scalar loop's reduction itself overflows (an infinite or NaN term) and both engines have
// overflowed (every bound +inf either way); such reductions are counted in `excused` instead.
int mismatches(const Case& c, Variant variant = Variant::real, bool* overflowed = nullptr, int* excused = nullptr) {
  PhiloxStream rng(c.seed, "mamba-block-products-test");
  const std::vector<Tracked> x = values(rng, static_cast<std::size_t>(c.rows * c.inner), c.wild, c.exact_x),
                             y = values(rng, static_cast<std::size_t>(c.inner * c.cols), c.wild, c.exact_y),
                             i0 = values(rng, static_cast<std::size_t>(c.rows * c.cols), c.wild),
                             i1 = values(rng, static_cast<std::size_t>(c.rows * c.cols), c.wild),
                             i2 = values(rng, static_cast<std::size_t>(c.rows * c.cols), c.wild);
  auto xf = [&](Index i, Index l) { return x[static_cast<std::size_t>(i * c.inner + l)]; };
  auto yf = [&](Index l, Index j) { return y[static_cast<std::size_t>(l * c.cols + j)]; };
  // A started reduction (as the block backward's du): an initial term, then one fma.
  auto init = [&](Engine& e, Index i, Index j) {
    const std::size_t k = static_cast<std::size_t>(i * c.cols + j);
    if (!c.started) return Reduction(e);
    Reduction r(e, i0[k]);
    r.fma(i1[k], i2[k]);
    return r;
  };
  const Index n = c.rows * c.cols;
  Engine es(c.m), ea(c.m);
  std::vector<Reduction> scalar, arrays(static_cast<std::size_t>(n), Reduction(ea));
  for (Index i = 0; i < c.rows; ++i)
    for (Index j = 0; j < c.cols; ++j) {
      Reduction r = init(es, i, j);
      for (Index l = 0; l < c.inner; ++l) c.x_left ? r.fma(xf(i, l), yf(l, j)) : r.fma(yf(l, j), xf(i, l));
      scalar.push_back(r);
    }
  auto sink = [&](Index i, Index j, const Reduction& r) { arrays[static_cast<std::size_t>(i * c.cols + j)] = r; };
  if (variant == Variant::real) {
    product_reductions(ea, c.rows, c.cols, c.inner, c.x_left, [&](Index i, Index j) { return init(ea, i, j); }, xf, yf,
                       sink);
  } else {
    // rows_detail::product_rows (the arrays' path of product_reductions) with the variant's change:
    // y's exact zeros not marked, or x's and y's steps taken from the last.
    const bool rev = variant == Variant::steps_reversed;
    auto xv = [&](Index i, Index l) { return xf(i, rev ? c.inner - 1 - l : l); };
    auto yv = [&](Index l, Index j) { return yf(rev ? c.inner - 1 - l : l, j); };
    rows_detail::Operand yy(c.inner, c.cols, yv);
    if (variant == Variant::zeros_not_skipped) std::fill(yy.skip.begin(), yy.skip.end(), 0.0);
    rows_detail::product_rows(ea, c.rows, c.cols, c.inner, c.x_left, [&](Index i, Index j) { return init(ea, i, j); },
                              xv, yy, sink);
  }
  int bad = 0;
  for (Index k = 0; k < n; ++k) {
    const Reduction &s = scalar[static_cast<std::size_t>(k)], &a = arrays[static_cast<std::size_t>(k)];
    const bool state = c.m.any_order ? same(s.any_sum(), a.any_sum()) : same(s.sequential(), a.sequential());
    const Tracked sv = s.value(), av = a.value();
    if (!(state && same(sv, av)) && std::getenv("BLOCK_PRODUCTS_DEBUG"))
      std::printf("%ld: %a %a %a | %a %a %a\n", static_cast<long>(k), sv.lo, sv.hi, sv.err, av.lo, av.hi, av.err);
    const bool equal = state && same(sv, av);
    if (!equal && (c.exact_x || c.exact_y) && es.overflow() && ea.overflow() && sv.overflows(es.rounding())) {
      if (excused) ++*excused;
      continue;
    }
    bad += !equal;
  }
  if (es.overflow() != ea.overflow()) ++bad;
  if (overflowed) *overflowed = es.overflow();
  return bad;
}

std::vector<BlockArithmetic> arithmetics() {
  return {block_arithmetic_cpu_f32(), block_arithmetic_cpu_f64(), block_arithmetic_any_order(Format::float32, 4),
          block_arithmetic_any_order(Format::float16, 4), block_arithmetic_any_order(Format::float64, 4)};
}

// covers: MAMBA-BLOCK-PRODUCT-ROWS
TEST(MambaBlockProducts, RowsOfReductionsAreTheScalarLoopBitForBit) {
  std::uint64_t seed = 1;
  int cases = 0, overflowed = 0, in_range = 0, excused = 0;
  // (rows, cols): 11 x 21 (a block of 8 rows and a partial one; two tiles of 8 columns and 5
  // more, step by step), 37 x 8 (the fewest columns in arrays, one tile), 2 x 9, 1 x 32, and
  // 20 x 1 (below kMinArrayColumns: the scalar loops themselves), 3 x 45 (four tiles at once, one,
  // then 5 columns).
  const Index shapes[][2] = {{11, 21}, {37, kMinArrayColumns}, {2, 9}, {1, 32}, {20, 1}, {3, 45}};
  for (const BlockArithmetic& m : arithmetics())
    for (const auto& shape : shapes)
      for (Index inner : {0, 1, 5, 33})
        for (bool x_left : {true, false})
          for (bool started : {false, true})
            for (bool wild : {false, true})
              for (int exact = 0; exact < 4; ++exact) {  // which factors are all exact: none, x, y, both
                bool o = false;
                const Case c{m, shape[0], shape[1], inner, x_left, started, wild, seed++, (exact & 1) != 0,
                             (exact & 2) != 0};
                EXPECT_EQ(mismatches(c, Variant::real, &o, &excused), 0)
                    << m.name << " compute u " << m.compute.u << " rows " << c.rows << " cols " << c.cols
                    << " inner " << inner << " x_left " << x_left << " started " << started << " wild " << wild
                    << " exact " << exact;
                (o ? overflowed : in_range)++;
                ++cases;
              }
  EXPECT_EQ(cases, 5 * 6 * 4 * 2 * 2 * 2 * 4);
  std::printf("%d cases, %d overflowed, %d reductions excused (overflowed, an exact factor's short form)\n", cases,
              overflowed, excused);
  // Both outcomes of the overflow check were compared.
  EXPECT_GT(overflowed, 20);
  EXPECT_GT(in_range, 200);
}

// The comparison above can fail: an array path that adds the exact-zero terms the scalar loop
// leaves out (any order), or that takes the steps in another order (the CPU chain, and the any
// order sums' running values), leaves reductions that differ.
TEST(MambaBlockProducts, ComparisonDetectsAWrongVariant) {
  const Case any{block_arithmetic_any_order(Format::float32, 4), 11, 21, 33, true, false, false, 77};
  EXPECT_EQ(mismatches(any), 0);
  EXPECT_GT(mismatches(any, Variant::zeros_not_skipped), 0);
  EXPECT_GT(mismatches(any, Variant::steps_reversed), 0);
  const Case cpu{block_arithmetic_cpu_f64(), 37, 9, 33, false, true, false, 78};
  EXPECT_EQ(mismatches(cpu), 0);
  EXPECT_GT(mismatches(cpu, Variant::steps_reversed), 0);
}

}  // namespace
}  // namespace touchstone::mamba::block_engine
