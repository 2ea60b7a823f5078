// The cuda-f32 selective scan backward ([MAMBA-BWD-CUDA]): its kernels and their host-side
// orchestration, written against a device policy so that the same code runs on a GPU
// (mamba_backward.cu, policy CudaDevice) and, for tests on machines without one, under a host
// emulation of the CUDA execution model (tests/mamba/cuda_backward_emulation_test.cpp: one
// std::thread per CUDA thread, __syncthreads as a barrier, __shared__ as statics shared by the
// threads of the one block that runs at a time). The association order, the memory and the
// determinism argument are documented in mamba_backward.cu.
//
// Include only from nvcc, or after the emulation's definitions of __global__, __shared__,
// __launch_bounds__, __syncthreads, __fmaf_rn, threadIdx, blockIdx, blockDim and gridDim. No
// CUDA header is included here.
//
// The device policy `Dev` provides:
//   template <class T> class Buffer           device memory, .get(); movable, freed on scope exit
//   template <class T> Buffer<T> alloc(i64)   uninitialized memory for count elements (count 0: null)
//   template <class T> void to_device(const Buffer<T>&, const T*, i64 count)
//   template <class T> void to_host(T*, const Buffer<T>&, i64 count)
//   template <class... A, class... B>
//   void launch(void (*kernel)(A...), unsigned grid, unsigned block, B&&... args)
//   unsigned stride_grid(i64 work), unsigned stride_block()   the shape of the grid-stride kernels
//   std::size_t free_bytes()                  device memory available for scratch
//   void synchronize()                        wait for every launch, report their errors
// Launches run in order (a stream): a kernel sees the writes of every earlier one.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "common/elementary.hpp"
#include "cuda/mamba.hpp"
#include "cuda/mamba_index.hpp"
#include "touchstone/core/errors.hpp"

// Everything in an unnamed namespace: the one translation unit that includes this header (the
// CUDA backend, or the emulation test) gets its own copies, so the host-compiled emulation and
// the nvcc-compiled kernels of the same names never meet at link time.
namespace touchstone::mamba::cuda::backward_detail {
namespace {

namespace ix = offsets;
using i64 = std::int64_t;

constexpr int kThreads = static_cast<int>(ix::kSlabLanes);  // one block = one slab
constexpr i64 kK = ix::kTimeBlock;
// n values per round of the shared-memory slab sums: termB/termC hold kTermRows x 128 terms;
// threads [0, kTermRows) add dB's, [kTermRows, 2 kTermRows) dC's. The +1 column avoids bank
// conflicts when a thread walks a row.
constexpr int kTermRows = 32;
static_assert(2 * kTermRows <= kThreads, "one adding thread per n and operand");

// Per-lane N-vectors in scratch.
constexpr int kVecLam = 0, kVecDA = 1, kVecDB = 2, kVecDC = 3, kVectors = 4;

struct Slab {
  i64 b, d0;       // batch, first channel
  i64 channels;    // 1 .. 128 consecutive channels
};

// A run of consecutive slabs of one wave that add into the same row (b, group) of variable
// dB or dC; `fresh` when the run starts with the row's first slab (which is copied).
struct RowSpan {
  i64 row, first, last;  // wave-local slabs [first, last)
  int fresh;
};

struct BwdParams {
  const float *u, *delta, *A, *B, *C, *D, *z, *delta_bias, *h0, *dout, *dlast;
  float *du, *ddelta, *dz, *dh0;
  float *part_dA, *part_dB, *part_dC, *part_dD, *part_dbias;  // (batch, dim[, N])
  float *slab_dB, *slab_dC;                                    // wave: (slabs, L, N)
  float *ck, *H, *V, *vec;                                     // wave scratch
  const Slab* slabs;                                           // every slab
  i64 first_slab;
  i64 dim, N, L, n_blocks;
  i64 B_groups, B_cpg, C_groups, C_cpg;  // variable B / C only
  bool softplus;
};

// One block per slab first_slab + blockIdx.x; thread `lane` is channel d0 + lane. Threads past
// the slab's channels (a ragged slab) run channel d0's sequence too, so that every thread meets
// every __syncthreads, but write nothing but their own scratch.
template <bool kVarB, bool kVarC>
__global__ void __launch_bounds__(kThreads) backward_kernel(const BwdParams p) {
  constexpr bool kSlabSums = kVarB || kVarC;
  __shared__ float termB[kVarB ? kTermRows : 1][kThreads + 1];
  __shared__ float termC[kVarC ? kTermRows : 1][kThreads + 1];

  using elementary::exp_f32;
  using elementary::sigmoid_f32;
  using elementary::silu_f32;
  using elementary::softplus_f32;

  const i64 sl = static_cast<i64>(blockIdx.x);  // wave-local slab
  const Slab slab = p.slabs[p.first_slab + sl];
  const int lane = static_cast<int>(threadIdx.x);
  const bool active = lane < slab.channels;
  const i64 b = slab.b, d = slab.d0 + (active ? lane : 0);
  const i64 bd = ix::channel(b, d, p.dim);
  const i64 N = p.N, L = p.L;
  const bool has_bias = p.delta_bias != nullptr, has_D = p.D != nullptr, has_z = p.z != nullptr;
  const float bias = has_bias ? p.delta_bias[d] : 0.0f;
  const float Dd = has_D ? p.D[d] : 0.0f;
  const i64 rowB = kVarB ? ix::grouped_row(b, p.B_groups, ix::group_of(d, p.B_cpg)) : 0;
  const i64 rowC = kVarC ? ix::grouped_row(b, p.C_groups, ix::group_of(d, p.C_cpg)) : 0;

  auto Bv = [&](i64 n, i64 t) {
    return kVarB ? p.B[ix::grouped(rowB, N, L, n, t)] : p.B[ix::weight(d, N, n)];
  };
  auto Cv = [&](i64 n, i64 t) {
    return kVarC ? p.C[ix::grouped(rowC, N, L, n, t)] : p.C[ix::weight(d, N, n)];
  };
  auto An = [&](i64 n) { return p.A[ix::weight(d, N, n)]; };
  auto H = [&](i64 t, i64 n) -> float& { return p.H[ix::block_state(sl, t, N, n, lane)]; };
  auto vec = [&](int v, i64 n) -> float& {
    return p.vec[ix::lane_vector(sl, kVectors, v, N, n, lane)];
  };
  // x = delta + delta_bias and dt, as the CPU forward and backward compute them.
  auto x_at = [&](i64 t) {
    float x = p.delta[ix::sequence(bd, L, t)];
    if (has_bias) x = x + bias;
    return x;
  };
  auto dt_of = [&](float x) { return p.softplus ? (x > 20.0f ? x : softplus_f32(x)) : x; };

  // 1. Checkpoints: the forward recurrence, sequential, the running state in H row 0.
  for (i64 n = 0; n < N; ++n) H(0, n) = p.h0 ? p.h0[ix::state(bd, N, n)] : 0.0f;
  for (i64 k = 0; k < p.n_blocks; ++k) {
    for (i64 n = 0; n < N; ++n) p.ck[ix::checkpoint(sl, p.n_blocks, k, N, n, lane)] = H(0, n);
    if (k == p.n_blocks - 1) break;  // the last block is recomputed from its checkpoint below
    for (i64 t = k * kK; t < (k + 1) * kK; ++t) {
      const float dt = dt_of(x_at(t));
      const float du = dt * p.u[ix::sequence(bd, L, t)];
      for (i64 n = 0; n < N; ++n) {
        const float a = exp_f32(dt * An(n));
        H(0, n) = __fmaf_rn(a, H(0, n), du * Bv(n, t));
      }
    }
  }

  // 2. The adjoint. lam enters as dlast_state (or 0); the accumulators start at +0.
  for (i64 n = 0; n < N; ++n) {
    vec(kVecLam, n) = p.dlast ? p.dlast[ix::state(bd, N, n)] : 0.0f;
    vec(kVecDA, n) = 0.0f;
    if (!kVarB) vec(kVecDB, n) = 0.0f;
    if (!kVarC) vec(kVecDC, n) = 0.0f;
  }
  float acc_dD = 0.0f, acc_dbias = 0.0f;

  for (i64 k = p.n_blocks - 1; k >= 0; --k) {
    const i64 t0 = k * kK, tb = (L - t0 < kK) ? L - t0 : kK;

    // Recompute the block's states (row t + 1 = h after step t0 + t) and v, as the forward.
    for (i64 n = 0; n < N; ++n) H(0, n) = p.ck[ix::checkpoint(sl, p.n_blocks, k, N, n, lane)];
    for (i64 t = 0; t < tb; ++t) {
      const i64 T = t0 + t;
      const float dt = dt_of(x_at(T));
      const float uu = p.u[ix::sequence(bd, L, T)];
      const float du = dt * uu;
      float y = 0.0f;
      for (i64 n = 0; n < N; ++n) {
        const float a = exp_f32(dt * An(n));
        const float h = __fmaf_rn(a, H(t, n), du * Bv(n, T));
        H(t + 1, n) = h;
        if (has_z) y = __fmaf_rn(h, Cv(n, T), y);
      }
      if (has_z) p.V[ix::block_value(sl, t, lane)] = has_D ? __fmaf_rn(Dd, uu, y) : y;
    }

    // Backwards through the block.
    for (i64 t = tb - 1; t >= 0; --t) {
      const i64 T = t0 + t, o = ix::sequence(bd, L, T);
      const float x = x_at(T);
      const float dt = dt_of(x);
      const float uu = p.u[o];
      const float du = dt * uu;
      const float go = p.dout[o];
      float gl = go;
      if (has_z) {
        const float zz = p.z[o];
        gl = go * silu_f32(zz);
        const float s = sigmoid_f32(zz);
        const float slope = s * __fmaf_rn(zz, 1.0f - s, 1.0f);
        const float dz = (go * p.V[ix::block_value(sl, t, lane)]) * slope;
        if (active) p.dz[o] = dz;
      }
      if (has_D) acc_dD = __fmaf_rn(gl, uu, acc_dD);
      float o_du = has_D ? gl * Dd : 0.0f;
      float d_du = 0.0f, d_dt = 0.0f;

      for (i64 n = 0; n < N; ++n) {
        const float cv = Cv(n, T), bv = Bv(n, T), A_n = An(n);
        const float a = exp_f32(dt * A_n);
        const float hn = H(t + 1, n), hp = H(t, n);
        float lam = __fmaf_rn(gl, cv, vec(kVecLam, n));
        if (!kVarC) vec(kVecDC, n) = __fmaf_rn(gl, hn, vec(kVecDC, n));
        d_du = __fmaf_rn(lam, bv, d_du);
        const float e = (lam * hp) * a;
        vec(kVecDA, n) = __fmaf_rn(e, dt, vec(kVecDA, n));
        d_dt = __fmaf_rn(e, A_n, d_dt);
        if (!kVarB) vec(kVecDB, n) = __fmaf_rn(lam, du, vec(kVecDB, n));
        vec(kVecLam, n) = lam * a;

        if constexpr (kSlabSums) {
          // The slab's sums over its channels at (n, T): kTermRows values of n per round.
          const int row = static_cast<int>(n % kTermRows);
          if (kVarB) termB[row][lane] = lam * du;
          if (kVarC) termC[row][lane] = gl * hn;
          if (row == kTermRows - 1 || n == N - 1) {
            __syncthreads();
            const i64 n0 = n - row;
            const int j = lane % kTermRows;
            const bool forB = lane < kTermRows, forC = !forB && lane < 2 * kTermRows;
            if (j <= row && ((forB && kVarB) || (forC && kVarC))) {
              float(*terms)[kThreads + 1] = forB ? termB : termC;
              float s = 0.0f;  // +0, then the channels in order, as the CPU's slab buffer
              for (int l = 0; l < static_cast<int>(slab.channels); ++l) s = s + terms[j][l];
              float* dst = forB ? p.slab_dB : p.slab_dC;
              dst[ix::slab_partial(sl, L, T, N, n0 + j)] = s;
            }
            __syncthreads();
          }
        }
      }

      const float ddt = __fmaf_rn(d_du, uu, d_dt);
      o_du = __fmaf_rn(d_du, dt, o_du);
      const float sig = sigmoid_f32(x);
      const float d_arg = p.softplus && !(x > 20.0f) ? ddt * sig : ddt;
      acc_dbias = acc_dbias + d_arg;
      if (active) {
        p.du[o] = o_du;
        p.ddelta[o] = d_arg;
      }
    }
  }

  if (!active) return;
  for (i64 n = 0; n < N; ++n) {
    const i64 s = ix::state(bd, N, n);
    if (p.dh0) p.dh0[s] = vec(kVecLam, n);
    p.part_dA[s] = vec(kVecDA, n);
    if (!kVarB) p.part_dB[s] = vec(kVecDB, n);
    if (!kVarC) p.part_dC[s] = vec(kVecDC, n);
  }
  if (p.part_dD) p.part_dD[bd] = acc_dD;
  if (p.part_dbias) p.part_dbias[bd] = acc_dbias;
}

// Variable dB or dC: out row `row`, element (n, t) = its slabs' partials added in slab order,
// the row's first slab copied (the CPU's reduce_slabs). One thread per (span, n, t).
__global__ void reduce_slabs_kernel(const float* __restrict__ slab_part,
                                    const RowSpan* __restrict__ spans, i64 n_spans, i64 N, i64 L,
                                    float* __restrict__ out) {
  const i64 NL = N * L, total = n_spans * NL;
  const i64 stride = static_cast<i64>(gridDim.x) * blockDim.x;
  for (i64 g = static_cast<i64>(blockIdx.x) * blockDim.x + threadIdx.x; g < total; g += stride) {
    const i64 r = g / NL, i = g % NL, n = i / L, t = i % L;
    const RowSpan sp = spans[r];
    float* dst = out + ix::grouped(sp.row, N, L, n, t);
    float s = sp.fresh ? slab_part[ix::slab_partial(sp.first, L, t, N, n)]
                       : *dst + slab_part[ix::slab_partial(sp.first, L, t, N, n)];
    for (i64 k = sp.first + 1; k < sp.last; ++k) s = s + slab_part[ix::slab_partial(k, L, t, N, n)];
    *dst = s;
  }
}

// out[i] = part[0, i], then + part[b, i] for b = 1, 2, ... in order (the CPU's sum_over_batch).
__global__ void sum_over_batch_kernel(const float* __restrict__ part, i64 batch, i64 per,
                                      float* __restrict__ out) {
  const i64 stride = static_cast<i64>(gridDim.x) * blockDim.x;
  for (i64 i = static_cast<i64>(blockIdx.x) * blockDim.x + threadIdx.x; i < per; i += stride) {
    float s = part[ix::batch_partial(0, per, i)];
    for (i64 b = 1; b < batch; ++b) s = s + part[ix::batch_partial(b, per, i)];
    out[i] = s;
  }
}

// The CPU backward's tiles and slabs (optimized/cpu/mamba_lanes.hpp make_tiles,
// mamba_backward.cpp make_slabs), rule for rule: tiles of up to 16 consecutive channels that
// share their B and C groups; slabs of up to 8 consecutive tiles of one (b, B group, C group).
inline std::vector<Slab> make_slabs(i64 batch, i64 dim, const GroupedOperand& Bl, const GroupedOperand& Cl) {
  std::vector<Slab> slabs;
  i64 tiles_in_last = 0;
  for (i64 b = 0; b < batch; ++b) {
    for (i64 d = 0; d < dim;) {
      i64 end = std::min(dim, d + ix::kTileLanes);
      if (Bl.variable) end = std::min(end, (d / Bl.channels_per_group + 1) * Bl.channels_per_group);
      if (Cl.variable) end = std::min(end, (d / Cl.channels_per_group + 1) * Cl.channels_per_group);
      const bool same = !slabs.empty() && slabs.back().b == b &&
                        Bl.group_of(slabs.back().d0) == Bl.group_of(d) &&
                        Cl.group_of(slabs.back().d0) == Cl.group_of(d);
      if (!same || tiles_in_last == ix::kSlabTiles) {
        slabs.push_back({b, d, 0});
        tiles_in_last = 0;
      }
      slabs.back().channels += end - d;
      ++tiles_in_last;
      d = end;
    }
  }
  return slabs;
}

// a * b for non-negative counts, or an InvalidInput naming what would not fit.
inline i64 checked_mul(i64 a, i64 b, const char* what) {
  i64 r = 0;
  if (__builtin_mul_overflow(a, b, &r))
    throw InvalidInput("problem", std::string("the cuda-f32 backward's ") + what +
                                      " does not fit in 64 bits");
  return r;
}

// The spans of rows of variable dB or dC among a wave's slabs [first, first + count): runs of
// consecutive slabs with the same row (a row's slabs are consecutive), each `fresh` when it
// starts with the row's first slab.
template <class RowOf>
std::vector<RowSpan> row_spans(const std::vector<Slab>& slabs, i64 first, i64 count, RowOf row_of) {
  std::vector<RowSpan> spans;
  for (i64 s = first; s < first + count; ++s) {
    const i64 row = row_of(slabs[static_cast<std::size_t>(s)]);
    if (spans.empty() || spans.back().row != row) {
      const bool fresh = s == 0 || row_of(slabs[static_cast<std::size_t>(s - 1)]) != row;
      spans.push_back({row, s - first, s - first, fresh ? 1 : 0});
    }
    spans.back().last = s - first + 1;
  }
  return spans;
}

template <bool kVarB, bool kVarC>
constexpr void (*kernel_instance())(BwdParams) {
  return backward_kernel<kVarB, kVarC>;
}

// The whole backward pass on device `dev` (mamba_backward.cu documents it).
template <class Dev>
SelectiveScanGrads<float> run(const SelectiveScanBackwardProblem<float>& q,
                              const BackwardLaunch& launch, Dev& dev) {
  if (launch.max_slabs_per_wave < 0)
    throw InvalidInput("max_slabs_per_wave", "expected >= 0 (0: sized to free device memory)");

  const SelectiveScanProblem<float>& p = q.forward();
  const auto& in = p.in();
  const i64 batch = p.batch(), dim = p.dim(), N = p.dstate(), L = p.seqlen();
  const GroupedOperand &Bl = p.B_layout(), &Cl = p.C_layout();
  const i64 n_blocks = ix::ceil_div(L, ix::kTimeBlock);

  SelectiveScanGrads<float> g{Tensor<float>(in.u.shape()), Tensor<float>(in.delta.shape()),
                              Tensor<float>(in.A.shape()), Tensor<float>(in.B.shape()),
                              Tensor<float>(in.C.shape()), {}, {}, {}, {}};
  if (in.D) g.dD = Tensor<float>(in.D->shape());
  if (in.z) g.dz = Tensor<float>(in.z->shape());
  if (in.delta_bias) g.ddelta_bias = Tensor<float>(in.delta_bias->shape());
  if (in.h0) g.dh0 = Tensor<float>(in.h0->shape());

  const std::vector<Slab> slabs = make_slabs(batch, dim, Bl, Cl);
  const i64 n_slabs = static_cast<i64>(slabs.size());

  // Scratch floats per slab (mamba_backward.cu), and the wave size.
  const i64 lanes = ix::kSlabLanes;
  const i64 per_ck = checked_mul(checked_mul(n_blocks, N, "checkpoint buffer"), lanes,
                                 "checkpoint buffer");
  const i64 per_H = checked_mul((ix::kTimeBlock + 1) * lanes, N, "state block");
  const i64 per_V = in.z ? ix::kTimeBlock * lanes : 0;
  const i64 per_vec = checked_mul(kVectors * lanes, N, "lane vectors");
  const i64 NL = checked_mul(N, L, "slab partial");
  const i64 per_slab = per_ck + per_H + per_V + per_vec + (Bl.variable ? NL : 0) +
                       (Cl.variable ? NL : 0);
  i64 wave = launch.max_slabs_per_wave;
  if (wave == 0) {
    // Half the free memory, at most 8 GiB; the bits do not depend on it.
    const double budget = std::min(static_cast<double>(dev.free_bytes()) / 2, 8.0 * (1ull << 30));
    wave = static_cast<i64>(budget / (static_cast<double>(per_slab) * sizeof(float)));
  }
  wave = std::max<i64>(1, std::min<i64>({wave, n_slabs, i64{std::numeric_limits<int>::max()}}));

  using FBuf = typename Dev::template Buffer<float>;
  auto upload = [&](const Tensor<float>& t) {
    FBuf b = dev.template alloc<float>(t.count());
    dev.to_device(b, t.data(), t.count());
    return b;
  };
  auto upload_opt = [&](const std::optional<Tensor<float>>& t) {
    return t ? upload(*t) : dev.template alloc<float>(0);
  };
  auto zeros_or = [&](bool present, i64 count) { return dev.template alloc<float>(present ? count : 0); };
  const FBuf u = upload(in.u), delta = upload(in.delta), A = upload(in.A), B = upload(in.B),
             C = upload(in.C), D = upload_opt(in.D), z = upload_opt(in.z),
             bias = upload_opt(in.delta_bias), h0 = upload_opt(in.h0), dout = upload(q.dout()),
             dlast = upload_opt(q.dlast_state());
  const FBuf du = dev.template alloc<float>(g.du.count()),
             ddelta = dev.template alloc<float>(g.ddelta.count()),
             dA = dev.template alloc<float>(g.dA.count()), dB = dev.template alloc<float>(g.dB.count()),
             dC = dev.template alloc<float>(g.dC.count()),
             dD = zeros_or(g.dD.has_value(), dim), dz = zeros_or(g.dz.has_value(), g.du.count()),
             dbias = zeros_or(g.ddelta_bias.has_value(), dim),
             dh0 = zeros_or(g.dh0.has_value(), batch * dim * N);
  const i64 BDN = batch * dim * N;  // the size of h0 and last_state: fits
  const FBuf part_dA = dev.template alloc<float>(BDN), part_dB = zeros_or(!Bl.variable, BDN),
             part_dC = zeros_or(!Cl.variable, BDN), part_dD = zeros_or(in.D.has_value(), batch * dim),
             part_dbias = zeros_or(in.delta_bias.has_value(), batch * dim);
  const FBuf ck = dev.template alloc<float>(checked_mul(wave, per_ck, "checkpoint buffer")),
             H = dev.template alloc<float>(checked_mul(wave, per_H, "state block")),
             V = dev.template alloc<float>(wave * per_V),
             vec = dev.template alloc<float>(checked_mul(wave, per_vec, "lane vectors")),
             slab_dB = zeros_or(Bl.variable, checked_mul(wave, NL, "slab partial")),
             slab_dC = zeros_or(Cl.variable, checked_mul(wave, NL, "slab partial"));
  const auto slabs_d = dev.template alloc<Slab>(n_slabs);
  dev.to_device(slabs_d, slabs.data(), n_slabs);
  const auto spans_d = dev.template alloc<RowSpan>(wave);

  BwdParams prm{};
  prm.u = u.get();
  prm.delta = delta.get();
  prm.A = A.get();
  prm.B = B.get();
  prm.C = C.get();
  prm.D = D.get();
  prm.z = z.get();
  prm.delta_bias = bias.get();
  prm.h0 = h0.get();
  prm.dout = dout.get();
  prm.dlast = dlast.get();
  prm.du = du.get();
  prm.ddelta = ddelta.get();
  prm.dz = dz.get();
  prm.dh0 = dh0.get();
  prm.part_dA = part_dA.get();
  prm.part_dB = part_dB.get();
  prm.part_dC = part_dC.get();
  prm.part_dD = part_dD.get();
  prm.part_dbias = part_dbias.get();
  prm.slab_dB = slab_dB.get();
  prm.slab_dC = slab_dC.get();
  prm.ck = ck.get();
  prm.H = H.get();
  prm.V = V.get();
  prm.vec = vec.get();
  prm.slabs = slabs_d.get();
  prm.dim = dim;
  prm.N = N;
  prm.L = L;
  prm.n_blocks = n_blocks;
  prm.B_groups = Bl.groups;
  prm.B_cpg = Bl.channels_per_group;
  prm.C_groups = Cl.groups;
  prm.C_cpg = Cl.channels_per_group;
  prm.softplus = in.delta_softplus;

  auto reduce_wave = [&](i64 first, i64 count, const GroupedOperand& layout, float* slab_part,
                         float* out) {
    const auto spans = row_spans(slabs, first, count, [&](const Slab& s) {
      return ix::grouped_row(s.b, layout.groups, layout.group_of(s.d0));
    });
    const i64 n_spans = static_cast<i64>(spans.size());
    dev.to_device(spans_d, spans.data(), n_spans);
    dev.launch(reduce_slabs_kernel, dev.stride_grid(n_spans * NL), dev.stride_block(),
               static_cast<const float*>(slab_part), static_cast<const RowSpan*>(spans_d.get()),
               n_spans, N, L, out);
  };

  void (*const kernel)(BwdParams) =
      Bl.variable ? (Cl.variable ? kernel_instance<true, true>() : kernel_instance<true, false>())
                  : (Cl.variable ? kernel_instance<false, true>() : kernel_instance<false, false>());
  for (i64 first = 0; first < n_slabs; first += wave) {
    const i64 count = std::min(wave, n_slabs - first);
    prm.first_slab = first;
    dev.launch(kernel, static_cast<unsigned>(count), static_cast<unsigned>(kThreads), prm);
    // In launch order: the reductions read this wave's partials before the next wave writes them
    // (and the span upload waits for the previous reduction: to_device is ordered too).
    if (Bl.variable) reduce_wave(first, count, Bl, slab_dB.get(), dB.get());
    if (Cl.variable) reduce_wave(first, count, Cl, slab_dC.get(), dC.get());
  }

  auto sum_batch = [&](const FBuf& part, i64 per, const FBuf& out) {
    dev.launch(sum_over_batch_kernel, dev.stride_grid(per), dev.stride_block(),
               static_cast<const float*>(part.get()), batch, per, out.get());
  };
  sum_batch(part_dA, dim * N, dA);
  if (!Bl.variable) sum_batch(part_dB, dim * N, dB);
  if (!Cl.variable) sum_batch(part_dC, dim * N, dC);
  if (in.D) sum_batch(part_dD, dim, dD);
  if (in.delta_bias) sum_batch(part_dbias, dim, dbias);
  dev.synchronize();

  dev.to_host(g.du.data(), du, g.du.count());
  dev.to_host(g.ddelta.data(), ddelta, g.ddelta.count());
  dev.to_host(g.dA.data(), dA, g.dA.count());
  dev.to_host(g.dB.data(), dB, g.dB.count());
  dev.to_host(g.dC.data(), dC, g.dC.count());
  if (g.dD) dev.to_host(g.dD->data(), dD, g.dD->count());
  if (g.dz) dev.to_host(g.dz->data(), dz, g.dz->count());
  if (g.ddelta_bias) dev.to_host(g.ddelta_bias->data(), dbias, g.ddelta_bias->count());
  if (g.dh0) dev.to_host(g.dh0->data(), dh0, g.dh0->count());
  return g;
}

}  // namespace
}  // namespace touchstone::mamba::cuda::backward_detail
