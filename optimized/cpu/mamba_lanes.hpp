// Lanes across channels, shared by the selective scan's forward and backward passes on the CPU
// (internal to optimized/cpu; the association order is documented in mamba.hpp).
#pragma once

#include <algorithm>
#include <vector>

#include "../common/elementary.hpp"
#include "mamba_complex.hpp"
#include "touchstone/core/parallel.hpp"
#include "touchstone/order/mamba_order.hpp"
#include "touchstone/reference/mamba_problem.hpp"

namespace touchstone::mamba::cpu::lanes {

// Per-format lane width and elementary functions ([MAMBA-SCAN-ELEMENTARY]; cos and sin for the
// complex scans, [MAMBA-CSCAN-ELEMENTARY]), and the arithmetic policy of the scan's order
// (order/mamba_order.hpp) on one lane: every operation one IEEE rounding. always_inline:
// the loops over lanes and time blocks only vectorize when these bodies are inlined, and gcc's
// size heuristic declines softplus and silu (about 60% of the run time when it does).
#define TOUCHSTONE_LANE static inline __attribute__((always_inline))
template <class T>
struct LaneMath;

template <>
struct LaneMath<float> {
  static constexpr int W = 16;
  using V = float;
  TOUCHSTONE_LANE float input(float x) { return x; }
  TOUCHSTONE_LANE float add(float a, float b) { return a + b; }
  TOUCHSTONE_LANE float mul(float a, float b) { return a * b; }
  TOUCHSTONE_LANE float neg(float a) { return -a; }
  TOUCHSTONE_LANE float twice(float a) { return float(2) * a; }
  TOUCHSTONE_LANE float exp(float x) { return elementary::exp_f32(x); }
  TOUCHSTONE_LANE float softplus(float x) { return elementary::softplus_f32(x); }
  // [MAMBA-SCAN-SOFTPLUS]; softplus is evaluated on both branches, so a loop of it is a select.
  TOUCHSTONE_LANE float softplus_thresholded(float x) {
    const float sp = softplus(x);
    return x > float(20) ? x : sp;
  }
  TOUCHSTONE_LANE float silu(float x) { return elementary::silu_f32(x); }
  TOUCHSTONE_LANE float sigmoid(float x) { return elementary::sigmoid_f32(x); }
  TOUCHSTONE_LANE float fma(float a, float b, float c) { return __builtin_fmaf(a, b, c); }
  TOUCHSTONE_LANE float cos(float x) { return cos_f32(x); }
  TOUCHSTONE_LANE float sin(float x) { return sin_f32(x); }
};

template <>
struct LaneMath<double> {
  static constexpr int W = 8;
  using V = double;
  TOUCHSTONE_LANE double input(double x) { return x; }
  TOUCHSTONE_LANE double add(double a, double b) { return a + b; }
  TOUCHSTONE_LANE double mul(double a, double b) { return a * b; }
  TOUCHSTONE_LANE double neg(double a) { return -a; }
  TOUCHSTONE_LANE double twice(double a) { return double(2) * a; }
  TOUCHSTONE_LANE double exp(double x) { return elementary::exp_f64(x); }
  TOUCHSTONE_LANE double softplus(double x) { return elementary::softplus_f64(x); }
  // [MAMBA-SCAN-SOFTPLUS]; softplus is evaluated on both branches, so a loop of it is a select.
  TOUCHSTONE_LANE double softplus_thresholded(double x) {
    const double sp = softplus(x);
    return x > double(20) ? x : sp;
  }
  TOUCHSTONE_LANE double silu(double x) { return elementary::silu_f64(x); }
  TOUCHSTONE_LANE double sigmoid(double x) { return elementary::sigmoid_f64(x); }
  TOUCHSTONE_LANE double fma(double a, double b, double c) { return __builtin_fma(a, b, c); }
  TOUCHSTONE_LANE double cos(double x) { return std::cos(x); }
  TOUCHSTONE_LANE double sin(double x) { return std::sin(x); }
};

// Time steps per block: the transposed block of inputs and outputs stays in L1/L2.
constexpr Index kTimeBlock = 256;

struct Tile {
  Index b, d0;
  int lanes;
};

// Channel tiles: up to W consecutive channels that share their B group and their C group, so a
// variable B[n,t] or C[n,t] is one value broadcast to every lane.
inline std::vector<Tile> make_tiles(Index batch, Index dim, const GroupedOperand& Bl,
                             const GroupedOperand& Cl, int W) {
  std::vector<Tile> tiles;
  for (Index b = 0; b < batch; ++b) {
    for (Index d = 0; d < dim;) {
      Index end = std::min(dim, d + W);
      if (Bl.variable) end = std::min(end, (d / Bl.channels_per_group + 1) * Bl.channels_per_group);
      if (Cl.variable) end = std::min(end, (d / Cl.channels_per_group + 1) * Cl.channels_per_group);
      tiles.push_back({b, d, static_cast<int>(end - d)});
      d = end;
    }
  }
  return tiles;
}


// A tile's per-lane constants of a (dim, dstate[, 2]) array X (part `part...` of its trailing
// (re, im) axis): element (n, lane) at [n * W + lane]; padding lanes hold zeros, which produce
// finite values that are dropped.
template <int W, class T, class... Part>
std::vector<T> lane_rows(const Tensor<T>& X, const Tile& tile, Index N, Part... part) {
  std::vector<T> v(static_cast<std::size_t>(N * W), T(0));
  for (int l = 0; l < tile.lanes; ++l)
    for (Index n = 0; n < N; ++n) v[n * W + l] = X(tile.d0 + l, n, part...);
  return v;
}

// The forward scans' per-step inputs of time block [t0, t0 + tb), transposed (element (t, lane)
// at [t * W + lane], padding lanes zero), and the order's lines that do not depend on the state
// (order/mamba_order.hpp), vectorized over the block ([MAMBA-SCAN-CPU], [MAMBA-CSCAN-CPU]):
// dt = delta + bias (with delta_bias), dt = x > 20 ? x : softplus(x) (with delta_softplus); u;
// s = silu(z) (with z).
template <class M, class In, class T>
TOUCHSTONE_LANE void load_time_block(const In& in, const Tile& tile, Index t0, Index tb,
                                     const T* bias, std::vector<T>& dt, std::vector<T>& u,
                                     std::vector<T>& s) {
  constexpr int W = M::W;
  const Index b = tile.b, d0 = tile.d0;
  const bool has_z = in.z.has_value();
  std::fill(dt.begin(), dt.end(), T(0));
  std::fill(u.begin(), u.end(), T(0));
  std::fill(s.begin(), s.end(), T(0));
  for (int l = 0; l < tile.lanes; ++l) {
    const T* del = &in.delta(b, d0 + l, t0);
    const T* uu = &in.u(b, d0 + l, t0);
    for (Index t = 0; t < tb; ++t) {
      dt[t * W + l] = del[t];
      u[t * W + l] = uu[t];
    }
    if (has_z) {
      const T* zz = &(*in.z)(b, d0 + l, t0);
      for (Index t = 0; t < tb; ++t) s[t * W + l] = zz[t];
    }
  }
  const Index span = tb * W;
  M ar;
  if (in.delta_bias)
    for (Index i = 0; i < span; ++i) dt[i] = order::biased_delta(ar, dt[i], bias[i % W]);
  if (in.delta_softplus)
    for (Index i = 0; i < span; ++i) dt[i] = order::activated_delta(ar, dt[i]);
  if (has_z)
    for (Index i = 0; i < span; ++i) s[i] = order::gate(ar, s[i]);
}

// The complex scans' cos and sin of dt Im A for one time step ([MAMBA-CSCAN-CPU]): dt's lanes
// `dl`, Im A's rows `Aim` ([n * W + lane]), into cosv and sinv ([n * W + lane]). glibc calls,
// which do not vectorize: they get a loop of their own, so the state update stays a vector loop.
template <class M, class T>
TOUCHSTONE_LANE void cos_sin_rows(const T* dl, const T* Aim, Index N, T* cosv, T* sinv) {
  constexpr int W = M::W;
  M ar;
  for (Index n = 0; n < N; ++n)
    for (int l = 0; l < W; ++l) order::rotation(ar, dl[l], Aim[n * W + l], cosv[n * W + l], sinv[n * W + l]);
}

// The block's outputs, transposed back: out(b, d0 + lane, t0 + t) = block[t * W + lane].
template <int W, class T>
void store_time_block(const std::vector<T>& block, const Tile& tile, Index t0, Index tb,
                      Tensor<T>& out) {
  for (int l = 0; l < tile.lanes; ++l) {
    T* dst = &out(tile.b, tile.d0 + l, t0);
    for (Index t = 0; t < tb; ++t) dst[t] = block[t * W + l];
  }
}

// Runs f.template operator()<kVarB, kVarC>(tile) for every tile on `threads` threads, with the
// layouts of B and C as template arguments (the inner loops specialize on them).
template <class F>
void for_each_tile(const std::vector<Tile>& tiles, const GroupedOperand& Bl,
                   const GroupedOperand& Cl, int threads, F&& f) {
  const bool vb = Bl.variable, vc = Cl.variable;
  parallel_for(static_cast<std::int64_t>(tiles.size()), threads, [&](std::int64_t i) {
    const Tile& tile = tiles[static_cast<std::size_t>(i)];
    if (vb && vc) f.template operator()<true, true>(tile);
    else if (vb) f.template operator()<true, false>(tile);
    else if (vc) f.template operator()<false, true>(tile);
    else f.template operator()<false, false>(tile);
  });
}

// Slabs of the backward passes ([MAMBA-BWD-CPU]): up to kSlabTiles consecutive tiles of one
// (batch, B group, C group), whose variable dB/dC contributions one work item sums. Fixed, so the
// order of the cross-channel sums never depends on the threads.
constexpr std::size_t kSlabTiles = 8;

struct Slab {
  std::size_t first, count;  // tiles [first, first + count)
};

inline std::vector<Slab> make_slabs(const std::vector<Tile>& tiles, const GroupedOperand& Bl,
                                    const GroupedOperand& Cl) {
  std::vector<Slab> slabs;
  auto same_group = [&](const Tile& x, const Tile& y) {
    return x.b == y.b && Bl.group_of(x.d0) == Bl.group_of(y.d0) &&
           Cl.group_of(x.d0) == Cl.group_of(y.d0);
  };
  for (std::size_t i = 0; i < tiles.size(); ++i) {
    if (slabs.empty() || slabs.back().count == kSlabTiles ||
        !same_group(tiles[slabs.back().first], tiles[i]))
      slabs.push_back({i, 0});
    ++slabs.back().count;
  }
  return slabs;
}

// Variable dB or dC of a backward pass: out row (b, group), `row` values each, is the sum of the
// partials of that row's slabs (`row` values per slab in `slab_parts`), in slab order.
template <class T>
void sum_slabs(const std::vector<Tile>& tiles, const std::vector<Slab>& slabs,
               const std::vector<T>& slab_parts, std::size_t row, const GroupedOperand& layout,
               Tensor<T>& out) {
  std::vector<bool> seen(static_cast<std::size_t>(out.count()) / row, false);
  for (std::size_t s = 0; s < slabs.size(); ++s) {
    const Tile& first = tiles[slabs[s].first];
    const auto r = static_cast<std::size_t>(first.b * layout.groups + layout.group_of(first.d0));
    T* dst = &out[static_cast<Index>(r * row)];
    const T* src = &slab_parts[s * row];
    if (!seen[r]) {
      std::copy(src, src + row, dst);
      seen[r] = true;
    } else {
      for (std::size_t i = 0; i < row; ++i) dst[i] = dst[i] + src[i];
    }
  }
}

// out[...] = sum over b, in increasing b, of part[b, ...] (per-(b, d) partials of a backward pass).
template <class T>
void sum_over_batch(const Tensor<T>& part, Tensor<T>& out) {
  const Index batch = part.extent(0), per = out.count();
  for (Index i = 0; i < per; ++i) out[i] = part[i];
  for (Index b = 1; b < batch; ++b)
    for (Index i = 0; i < per; ++i) out[i] = out[i] + part[b * per + i];
}

}  // namespace touchstone::mamba::cpu::lanes
