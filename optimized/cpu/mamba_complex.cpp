// The complex selective scan on the CPU: every lane runs the complex steps of
// order/mamba_order.hpp (the order documented in mamba_complex.hpp, [MAMBA-CSCAN-CPU]).
#include "mamba_complex.hpp"

#include <algorithm>
#include <vector>

#include "touchstone/core/parallel.hpp"
#include "mamba_lanes.hpp"

namespace touchstone::mamba::cpu {
namespace {

using namespace lanes;


template <class T, bool kVarB, bool kVarC>
void scan_tile(const ComplexScanProblem<T>& p, const Tile& tile, ComplexScanResult<T>& r) {
  using M = LaneMath<T>;
  constexpr int W = M::W;
  M ar;  // the order's arithmetic (order/mamba_order.hpp) on one lane
  const auto& in = p.in();
  const Index L = p.seqlen(), N = p.dstate(), b = tile.b, d0 = tile.d0;
  const int nl = tile.lanes;
  const bool has_bias = in.delta_bias.has_value(), has_D = in.D.has_value(),
             has_z = in.z.has_value();
  const std::size_t NW = static_cast<std::size_t>(N * W);

  // Per-lane constants, [n * W + lane]; padding lanes hold zeros (finite values, dropped).
  const std::vector<T> Are = lane_rows<W>(in.A, tile, N, Index{0}),
                       Aim = lane_rows<W>(in.A, tile, N, Index{1});
  const std::vector<T> Bre = kVarB ? std::vector<T>() : lane_rows<W>(in.B, tile, N, Index{0}),
                       Bim = kVarB ? std::vector<T>() : lane_rows<W>(in.B, tile, N, Index{1});
  const std::vector<T> Cre = kVarC ? std::vector<T>() : lane_rows<W>(in.C, tile, N, Index{0}),
                       Cim = kVarC ? std::vector<T>() : lane_rows<W>(in.C, tile, N, Index{1});
  std::vector<T> hre(NW, T(0)), him(NW, T(0));
  alignas(64) T bias[W] = {}, Dl[W] = {};
  for (int l = 0; l < nl; ++l) {
    const Index d = d0 + l;
    if (has_bias) bias[l] = (*in.delta_bias)[d];
    if (has_D) Dl[l] = (*in.D)[d];
  }
  // Variable B and C of this tile's group: (re, im) of element (n, t) at [2 (n L + t) + part].
  const T* Bv = kVarB ? &in.B(b, p.B_layout().group_of(d0), Index{0}, Index{0}, Index{0}) : nullptr;
  const T* Cv = kVarC ? &in.C(b, p.C_layout().group_of(d0), Index{0}, Index{0}, Index{0}) : nullptr;

  // Transposed time blocks: element (t, lane) at [t * W + lane].
  const std::size_t block = static_cast<std::size_t>(kTimeBlock * W);
  std::vector<T> dt(block), u(block), s(block), out(block);
  // cos and sin of dt Im A for one time step (cos_sin_rows).
  std::vector<T> cosv(NW), sinv(NW);
  for (Index t0 = 0; t0 < L; t0 += kTimeBlock) {
    const Index tb = std::min(kTimeBlock, L - t0);
    load_time_block<M>(in, tile, t0, tb, bias, dt, u, s);

    for (Index t = 0; t < tb; ++t) {
      const T* dl = &dt[t * W];
      const T* ul = &u[t * W];
      cos_sin_rows<M>(dl, Aim.data(), N, cosv.data(), sinv.data());
      alignas(64) T du[W], y[W];
      for (int l = 0; l < W; ++l) {
        du[l] = order::scaled_input(ar, dl[l], ul[l]);
        y[l] = T(0);
      }
      const Index tt = t0 + t;
      for (Index n = 0; n < N; ++n) {
        T* hr = &hre[n * W];
        T* hi = &him[n * W];
        const T* Are_n = &Are[n * W];
        const T* cs = &cosv[n * W];
        const T* sn = &sinv[n * W];
        for (int l = 0; l < W; ++l) {
          const T br = kVarB ? Bv[2 * (n * L + tt)] : Bre[n * W + l];
          const T bi = kVarB ? Bv[2 * (n * L + tt) + 1] : Bim[n * W + l];
          const T cr = kVarC ? Cv[2 * (n * L + tt)] : Cre[n * W + l];
          const T ci = kVarC ? Cv[2 * (n * L + tt) + 1] : Cim[n * W + l];
          order::complex_state_step(ar, dl[l], du[l], Are_n[l], cs[l], sn[l], br, bi, cr, ci, hr[l],
                                    hi[l], y[l]);
        }
      }
      T* o = &out[t * W];
      for (int l = 0; l < W; ++l)
        o[l] = order::gated(ar, order::complex_skip(ar, y[l], ul[l], Dl[l], has_D), s[t * W + l],
                            has_z);
    }
    store_time_block<W>(out, tile, t0, tb, r.out);
  }
  for (int l = 0; l < nl; ++l)
    for (Index n = 0; n < N; ++n) {
      r.last_state(b, d0 + l, n, Index{0}) = hre[n * W + l];
      r.last_state(b, d0 + l, n, Index{1}) = him[n * W + l];
    }
}

template <class T>
ComplexScanResult<T> run(const ComplexScanProblem<T>& p, int threads) {
  ComplexScanResult<T> r{Tensor<T>(Shape{p.batch(), p.dim(), p.seqlen()}),
                         Tensor<T>(Shape{p.batch(), p.dim(), p.dstate(), 2})};
  const auto tiles = make_tiles(p.batch(), p.dim(), p.B_layout(), p.C_layout(),
                                LaneMath<T>::W);
  for_each_tile(tiles, p.B_layout(), p.C_layout(), threads, [&]<bool kVarB, bool kVarC>(const Tile& tile) {
    scan_tile<T, kVarB, kVarC>(p, tile, r);
  });
  return r;
}

}  // namespace

ComplexScanResult<float> selective_scan_complex(const ComplexScanProblem<float>& p, int threads) {
  return run(p, threads);
}
ComplexScanResult<double> selective_scan_complex(const ComplexScanProblem<double>& p, int threads) {
  return run(p, threads);
}

}  // namespace touchstone::mamba::cpu
