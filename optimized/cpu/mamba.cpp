// Selective scan on the CPU: every lane runs the steps of order/mamba_order.hpp (the order
// documented in mamba.hpp, [MAMBA-SCAN-CPU]).
#include "mamba.hpp"

#include <algorithm>
#include <vector>

#include "touchstone/core/parallel.hpp"
#include "mamba_lanes.hpp"

namespace touchstone::mamba::cpu {
namespace {

using namespace lanes;

template <class T, bool kVarB, bool kVarC>
void scan_tile(const SelectiveScanProblem<T>& p, const Tile& tile, SelectiveScanResult<T>& r,
               SelectiveScanCheckpoints<T>* checkpoints) {
  using M = LaneMath<T>;
  constexpr int W = M::W;
  M ar;  // the order's arithmetic (order/mamba_order.hpp) on one lane
  const auto& in = p.in();
  const Index L = p.seqlen(), N = p.dstate(), b = tile.b, d0 = tile.d0;
  const int nl = tile.lanes;
  const bool has_bias = in.delta_bias.has_value(), has_D = in.D.has_value(),
             has_z = in.z.has_value();

  // Per-lane constants, [n * W + lane]; padding lanes hold zeros (finite values, dropped).
  const std::vector<T> A = lane_rows<W>(in.A, tile, N);
  const std::vector<T> Bc = kVarB ? std::vector<T>() : lane_rows<W>(in.B, tile, N);
  const std::vector<T> Cc = kVarC ? std::vector<T>() : lane_rows<W>(in.C, tile, N);
  std::vector<T> h(static_cast<std::size_t>(N * W), T(0));
  alignas(64) T bias[W] = {}, Dl[W] = {};
  for (int l = 0; l < nl; ++l) {
    const Index d = d0 + l;
    if (in.h0)
      for (Index n = 0; n < N; ++n) h[n * W + l] = (*in.h0)(b, d, n);
    if (has_bias) bias[l] = (*in.delta_bias)[d];
    if (has_D) Dl[l] = (*in.D)[d];
  }
  // Variable B and C rows for this tile's group: element (n, t) at Bv[n * L + t].
  const T* Bv = kVarB ? &in.B(b, p.B_layout().group_of(d0), Index{0}, Index{0}) : nullptr;
  const T* Cv = kVarC ? &in.C(b, p.C_layout().group_of(d0), Index{0}, Index{0}) : nullptr;

  // Transposed time blocks: element (t, lane) at [t * W + lane].
  const std::size_t block = static_cast<std::size_t>(kTimeBlock * W);
  std::vector<T> dt(block), u(block), s(block), out(block);
  for (Index t0 = 0; t0 < L; t0 += kTimeBlock) {
    const Index tb = std::min(kTimeBlock, L - t0);
    if (checkpoints)  // [MAMBA-BWD-CPU] the state entering this block
      for (int l = 0; l < nl; ++l)
        for (Index n = 0; n < N; ++n)
          checkpoints->states(b, d0 + l, t0 / kTimeBlock, n) = h[n * W + l];
    load_time_block<M>(in, tile, t0, tb, bias, dt, u, s);

    for (Index t = 0; t < tb; ++t) {
      const T* dl = &dt[t * W];
      const T* ul = &u[t * W];
      alignas(64) T du[W], y[W];
      for (int l = 0; l < W; ++l) {
        du[l] = order::scaled_input(ar, dl[l], ul[l]);
        y[l] = T(0);
      }
      for (Index n = 0; n < N; ++n) {
        T* hn = &h[n * W];
        const T* An = &A[n * W];
        if constexpr (kVarB && kVarC) {
          const T bv = Bv[n * L + t0 + t], cv = Cv[n * L + t0 + t];
          for (int l = 0; l < W; ++l) order::state_step(ar, dl[l], du[l], An[l], bv, cv, hn[l], y[l]);
        } else {
          for (int l = 0; l < W; ++l) {
            const T bv = kVarB ? Bv[n * L + t0 + t] : Bc[n * W + l];
            const T cv = kVarC ? Cv[n * L + t0 + t] : Cc[n * W + l];
            order::state_step(ar, dl[l], du[l], An[l], bv, cv, hn[l], y[l]);
          }
        }
      }
      T* o = &out[t * W];
      for (int l = 0; l < W; ++l)
        o[l] = order::gated(ar, order::skip(ar, y[l], ul[l], Dl[l], has_D), s[t * W + l], has_z);
    }
    store_time_block<W>(out, tile, t0, tb, r.out);
  }
  for (int l = 0; l < nl; ++l)
    for (Index n = 0; n < N; ++n) r.last_state(b, d0 + l, n) = h[n * W + l];
}

template <class T>
SelectiveScanResult<T> run(const SelectiveScanProblem<T>& p, int threads,
                           SelectiveScanCheckpoints<T>* checkpoints) {
  SelectiveScanResult<T> r{Tensor<T>(Shape{p.batch(), p.dim(), p.seqlen()}),
                           Tensor<T>(Shape{p.batch(), p.dim(), p.dstate()})};
  if (checkpoints) {
    checkpoints->block = kTimeBlock;
    checkpoints->states = Tensor<T>(
        Shape{p.batch(), p.dim(), (p.seqlen() + kTimeBlock - 1) / kTimeBlock, p.dstate()});
  }
  const auto tiles = make_tiles(p.batch(), p.dim(), p.B_layout(), p.C_layout(), LaneMath<T>::W);
  for_each_tile(tiles, p.B_layout(), p.C_layout(), threads, [&]<bool kVarB, bool kVarC>(const Tile& tile) {
    scan_tile<T, kVarB, kVarC>(p, tile, r, checkpoints);
  });
  return r;
}

}  // namespace

SelectiveScanResult<float> selective_scan(const SelectiveScanProblem<float>& p, int threads,
                                          SelectiveScanCheckpoints<float>* checkpoints) {
  return run(p, threads, checkpoints);
}
SelectiveScanResult<double> selective_scan(const SelectiveScanProblem<double>& p, int threads,
                                           SelectiveScanCheckpoints<double>* checkpoints) {
  return run(p, threads, checkpoints);
}

}  // namespace touchstone::mamba::cpu
