// Selective scan on CUDA, float32 (spec/mamba.md [MAMBA-SCAN-CUDA]). The association order is
// documented in mamba.cuh, with the launch shape and the tree depth of the block scan;
// [MAMBA-SCAN-BOUND-CUDA-F32] is the error bound of exactly this order.
//
// One thread block per (batch, channel). The sequence is cut into chunks of kChunk steps; thread
// `tid` owns the kItems consecutive steps chunk_start + tid * kItems + [0, kItems). For each chunk:
//   - dt and du of the thread's steps are computed once, in registers;
//   - for n = 0 .. dstate-1, in increasing order:
//       1. a_i = exp(dt_i A[d,n]) and bu_i = du_i B[n,t_i] (kept in registers), and the
//          thread's summary (A_loc, B_loc): its steps folded sequentially with the scan
//          operator, h -> A_loc h + B_loc;
//       2. a block-wide exclusive scan of the summaries (block_exclusive_prefix);
//       3. h_start = fma(A_prefix, h_carry[n], B_prefix), then the thread's steps sequentially,
//          h = fma(a_i, h, bu_i), y_i = fma(h, C[n,t_i], y_i), exactly as the CPU backend;
//       4. the thread holding the chunk's last valid step stores its h as the next h_carry[n];
//   - out = (D ? fma(D, u, y) : y) * silu(z) (the product only with z), as the CPU backend.
// Every per-element operation (x = delta + bias, softplus threshold, dt*u, dt*A, exp, du*B, the
// state fma, the output fma over n, the skip fma, silu, the gate product) is the CPU backend's
// (optimized/cpu/mamba.hpp), with the same elementary functions (optimized/common/elementary.hpp)
// and no contraction (-fmad=false): only the association order of the recurrence differs.
// Deterministic: no atomics, and every reduction has a fixed order.
#include "cuda/mamba.cuh"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include "common/elementary.hpp"
#include "cuda/device.cuh"
#include "cuda/mamba_index.hpp"
#include "touchstone/core/errors.hpp"

namespace touchstone::mamba::cuda {
namespace {

constexpr int kThreads = kSelectiveScanShape.threads;
constexpr int kItems = kSelectiveScanShape.items;
constexpr int kChunk = kSelectiveScanShape.chunk;
constexpr int kMaxDstate = kSelectiveScanShape.max_dstate;
constexpr int kWarpSize = 32;
constexpr int kWarps = kThreads / kWarpSize;
constexpr unsigned kFullMask = 0xffffffffu;

// Combines on the path of one thread summary to any exclusive prefix in block_exclusive_prefix:
// log2(32) Kogge-Stone levels in the warp, (warps - 2) in the left fold of the warp totals (the
// last warp's prefix folds warps - 1 totals), 1 to join the warp's prefix and the lane's.
constexpr int scan_tree_depth(int warps) { return warps == 1 ? 5 : 5 + (warps - 2) + 1; }

static_assert(kChunk == kThreads * kItems, "chunk = threads * items");
static_assert(kThreads % kWarpSize == 0 && kWarps >= 1, "whole warps only");
static_assert(kSelectiveScanShape.tree_depth == scan_tree_depth(kWarps),
              "mamba.cuh's tree_depth must be the depth of block_exclusive_prefix");

// An affine map h -> a h + b: a thread's summary of consecutive steps, or a prefix of them.
struct Affine {
  float a, b;
};

// `first` then `second`: (a1, b1) o (a2, b2) = (a2 a1, fma(a2, b1, b2)), each rounded once.
__device__ __forceinline__ Affine combine(Affine first, Affine second) {
  return {second.a * first.a, __fmaf_rn(second.a, first.b, second.b)};
}

struct ScanParams {
  const float* u;           // (batch, dim, L)
  const float* delta;       // (batch, dim, L)
  const float* A;           // (dim, N)
  const float* B;           // (dim, N) constant, or (batch, groups, N, L) variable
  const float* C;           // idem
  const float* D;           // (dim,) or nullptr
  const float* z;           // (batch, dim, L) or nullptr
  const float* delta_bias;  // (dim,) or nullptr
  const float* h0;          // (batch, dim, N) or nullptr
  float* out;               // (batch, dim, L)
  float* last_state;        // (batch, dim, N)
  std::int64_t dim, dstate, seqlen;
  std::int64_t B_groups, B_channels_per_group;  // variable B only
  std::int64_t C_groups, C_channels_per_group;  // variable C only
  bool delta_softplus;
};

// The exclusive prefix of `summary` over the threads of the block (thread 0's is empty, and
// `empty` is set for it): Kogge-Stone inclusive scan with shuffles inside each warp, the warp
// totals through shared memory, each warp's prefix a left fold of the totals of the warps
// before it (computed redundantly, in the same order, by every thread of the warp), and the
// thread's prefix = (warp prefix) o (exclusive prefix inside the warp). The combine depth of
// this tree is scan_tree_depth(kWarps) (derivation in mamba.cuh). Hand-written rather
// than cub::BlockScan so that the tree, and thus the bound, does not depend on CCCL's
// implementation choices.
//
// Contains one __syncthreads; every thread of the block must call it. `totals` is the shared
// buffer of the warp totals; callers alternate between two of them, so that a warp writing the
// totals of the next call cannot overwrite those that a slower warp is still reading: a warp
// writes buffer k again only after the __syncthreads of the call in between, which every warp
// reaches only after its reads of buffer k.
__device__ __forceinline__ Affine block_exclusive_prefix(Affine summary, Affine* totals,
                                                         bool& empty) {
  const int lane = static_cast<int>(threadIdx.x) % kWarpSize;
  const int warp = static_cast<int>(threadIdx.x) / kWarpSize;

  Affine inclusive = summary;
#pragma unroll
  for (int offset = 1; offset < kWarpSize; offset *= 2) {
    Affine below;
    below.a = __shfl_up_sync(kFullMask, inclusive.a, offset);
    below.b = __shfl_up_sync(kFullMask, inclusive.b, offset);
    if (lane >= offset) inclusive = combine(below, inclusive);
  }
  Affine in_warp;  // exclusive prefix inside the warp; meaningless on lane 0
  in_warp.a = __shfl_up_sync(kFullMask, inclusive.a, 1);
  in_warp.b = __shfl_up_sync(kFullMask, inclusive.b, 1);

  if (lane == kWarpSize - 1) totals[warp] = inclusive;
  __syncthreads();

  empty = warp == 0 && lane == 0;
  if (warp == 0) return in_warp;
  Affine of_warp = totals[0];
#pragma unroll
  for (int w = 1; w < kWarps - 1; ++w)
    if (w < warp) of_warp = combine(of_warp, totals[w]);
  return lane == 0 ? of_warp : combine(of_warp, in_warp);
}

// One block per (b, d) = first_block + blockIdx.x (b * dim + d); kThreads threads. A thread
// holds about 5 * kItems live floats (dt, du, y, a, bu): the launch bound asks for 2 resident
// blocks per SM, which lets ptxas use up to 255 registers; with its default choice (128) it
// spilled a few registers.
template <bool kVariableB, bool kVariableC>
__global__ void __launch_bounds__(kThreads, 2)
    selective_scan_kernel(const ScanParams p, const std::int64_t first_block) {
  // h_carry, double-buffered by chunk parity: chunk c reads carry[c & 1] and writes
  // carry[(c + 1) & 1]. The read of carry[c & 1][n] in chunk c follows the __syncthreads of
  // (c, n), which the writer (chunk c - 1, step n) reaches after its write; the write of
  // carry[(c + 1) & 1][n] in chunk c follows the __syncthreads of (c, n), which every thread
  // reaches only after its read of the same location in chunk c - 1.
  __shared__ float carry[2][kMaxDstate];
  __shared__ Affine warp_totals[2][kWarps];

  using elementary::exp_f32;
  using elementary::silu_f32;
  using elementary::softplus_f32;

  const int tid = static_cast<int>(threadIdx.x);
  // All offsets in 64 bits ([MAMBA-INDEX-64]): (b * dim + d) * L and the like overflow int32 on
  // large problems. Every offset is one of mamba_index.hpp's functions, tested on the host.
  namespace ix = offsets;
  const std::int64_t bd = first_block + static_cast<std::int64_t>(blockIdx.x);
  const std::int64_t b = bd / p.dim, d = bd % p.dim;
  const std::int64_t N = p.dstate, L = p.seqlen;

  const float* __restrict__ u = p.u + ix::sequence(bd, L, 0);
  const float* __restrict__ delta = p.delta + ix::sequence(bd, L, 0);
  const float* __restrict__ z = p.z ? p.z + ix::sequence(bd, L, 0) : nullptr;
  float* __restrict__ out = p.out + ix::sequence(bd, L, 0);
  const float* __restrict__ A = p.A + ix::weight(d, N, 0);
  // Variable B/C: the (N, L) slab of group d / channels_per_group, element (n, t) at n L + t.
  // Constant B/C: the row d, element n.
  const float* __restrict__ Bp =
      kVariableB ? p.B + ix::grouped(ix::grouped_row(b, p.B_groups,
                                                     ix::group_of(d, p.B_channels_per_group)),
                                     N, L, 0, 0)
                 : p.B + ix::weight(d, N, 0);
  const float* __restrict__ Cp =
      kVariableC ? p.C + ix::grouped(ix::grouped_row(b, p.C_groups,
                                                     ix::group_of(d, p.C_channels_per_group)),
                                     N, L, 0, 0)
                 : p.C + ix::weight(d, N, 0);
  const bool has_bias = p.delta_bias != nullptr, has_D = p.D != nullptr, has_z = z != nullptr;
  const float bias = has_bias ? __ldg(p.delta_bias + d) : 0.0f;
  const float Dd = has_D ? __ldg(p.D + d) : 0.0f;

  for (std::int64_t n = tid; n < N; n += kThreads)
    carry[0][n] = p.h0 ? __ldg(p.h0 + ix::state(bd, N, n)) : 0.0f;
  __syncthreads();

  int totals_buffer = 0;
  const std::int64_t n_chunks = ix::ceil_div(L, kChunk);
  for (std::int64_t c = 0; c < n_chunks; ++c) {
    const int cur = static_cast<int>(c & 1), next = cur ^ 1;
    const std::int64_t chunk_start = ix::chunk_step(c, kChunk, 0, kItems);
    const std::int64_t t0 = ix::chunk_step(c, kChunk, tid, kItems);
    // Valid steps of this thread: t0 .. t0 + valid - 1 (fewer than kItems, or none, only in
    // the ragged last chunk). Steps past L are skipped: they read nothing, write nothing, and
    // leave the summary as it is (the identity for a thread without valid steps).
    const int valid = static_cast<int>(std::min<std::int64_t>(
        std::max<std::int64_t>(L - t0, 0), kItems));
    // The thread whose steps include the chunk's last valid step.
    const int last_owner =
        static_cast<int>((std::min<std::int64_t>(L - chunk_start, kChunk) - 1) / kItems);

    // dt and du: once per chunk, the CPU backend's operations in its order.
    float dt[kItems], du[kItems], y[kItems];
#pragma unroll
    for (int i = 0; i < kItems; ++i) {
      dt[i] = 0.0f;
      du[i] = 0.0f;
      y[i] = 0.0f;  // +0, as the CPU backend's y
      if (i < valid) {
        float x = __ldg(delta + t0 + i);
        if (has_bias) x = x + bias;
        if (p.delta_softplus) x = x > 20.0f ? x : softplus_f32(x);
        dt[i] = x;
        du[i] = x * __ldg(u + t0 + i);
      }
    }

    for (std::int64_t n = 0; n < N; ++n) {
      const float An = __ldg(A + n);
      const float Bn = kVariableB ? 0.0f : __ldg(Bp + n);
      const float Cn = kVariableC ? 0.0f : __ldg(Cp + n);
      const float* __restrict__ Brow = kVariableB ? Bp + ix::grouped(0, N, L, n, 0) : Bp;  // row n
      const float* __restrict__ Crow = kVariableC ? Cp + ix::grouped(0, N, L, n, 0) : Cp;  // of B, C

      // 1. a_i, bu_i (identity (1, 0) past L) and the thread's sequential fold. The fold starts
      // from the first step itself rather than fma'ing it into (1, 0): the same value, without
      // an operation that would turn a -0 into +0.
      float a[kItems], bu[kItems];
#pragma unroll
      for (int i = 0; i < kItems; ++i) {
        a[i] = 1.0f;
        bu[i] = 0.0f;
        if (i < valid) {
          a[i] = exp_f32(dt[i] * An);
          bu[i] = du[i] * (kVariableB ? __ldg(Brow + t0 + i) : Bn);
        }
      }
      Affine summary{a[0], bu[0]};
#pragma unroll
      for (int i = 1; i < kItems; ++i)
        if (i < valid) summary = combine(summary, Affine{a[i], bu[i]});

      // 2. the block's exclusive prefix of the summaries.
      bool empty = false;
      const Affine prefix = block_exclusive_prefix(summary, warp_totals[totals_buffer], empty);
      totals_buffer ^= 1;

      // 3. the state at the start of the thread's steps, then its steps sequentially. Thread 0's
      // prefix is empty: it continues from the carried state itself, as the CPU backend does.
      const float h_carry = carry[cur][n];
      float h = empty ? h_carry : __fmaf_rn(prefix.a, h_carry, prefix.b);
#pragma unroll
      for (int i = 0; i < kItems; ++i) {
        if (i < valid) {
          h = __fmaf_rn(a[i], h, bu[i]);
          y[i] = __fmaf_rn(h, kVariableC ? __ldg(Crow + t0 + i) : Cn, y[i]);
        }
      }

      // 4. the state after the chunk's last valid step: the next chunk's h_carry[n].
      if (tid == last_owner) carry[next][n] = h;
    }

    // Skip connection and gate, as the CPU backend.
#pragma unroll
    for (int i = 0; i < kItems; ++i) {
      if (i < valid) {
        float v = y[i];
        if (has_D) v = __fmaf_rn(Dd, __ldg(u + t0 + i), v);
        if (has_z) v = v * silu_f32(__ldg(z + t0 + i));
        out[t0 + i] = v;
      }
    }
  }

  // The last chunk (n_chunks - 1) wrote carry[n_chunks & 1]; wait for its writers.
  __syncthreads();
  const int final_buffer = static_cast<int>(n_chunks & 1);
  for (std::int64_t n = tid; n < N; n += kThreads)
    p.last_state[ix::state(bd, N, n)] = carry[final_buffer][n];
}

// CUDA failures become std::runtime_error with CUDA's message.
void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess)
    throw std::runtime_error(std::string("cuda-f32 selective scan: ") + what + ": " +
                             cudaGetErrorString(e));
}

// Device memory of `count` floats, freed on scope exit (also when an exception unwinds).
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(Index count) {
    if (count > 0)
      check(cudaMalloc(reinterpret_cast<void**>(&ptr_), bytes(count)), "cudaMalloc");
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(o.ptr_) { o.ptr_ = nullptr; }
  DeviceBuffer& operator=(DeviceBuffer&&) = delete;
  ~DeviceBuffer() {
    if (ptr_) (void)cudaFree(ptr_);
  }
  float* get() const { return ptr_; }

  static std::size_t bytes(Index count) { return static_cast<std::size_t>(count) * sizeof(float); }

 private:
  float* ptr_ = nullptr;
};

DeviceBuffer upload(const Tensor<float>& t) {
  DeviceBuffer buf(t.count());
  check(cudaMemcpy(buf.get(), t.data(), DeviceBuffer::bytes(t.count()), cudaMemcpyHostToDevice),
        "cudaMemcpy to device");
  return buf;
}

// An absent optional input: no buffer, a null pointer for the kernel.
DeviceBuffer upload(const std::optional<Tensor<float>>& t) {
  return t ? upload(*t) : DeviceBuffer();
}

void download(Tensor<float>& t, const DeviceBuffer& buf) {
  check(cudaMemcpy(t.data(), buf.get(), DeviceBuffer::bytes(t.count()), cudaMemcpyDeviceToHost),
        "cudaMemcpy to host");
}

using Kernel = void (*)(ScanParams, std::int64_t);

Kernel kernel_for(bool variable_B, bool variable_C) {
  if (variable_B && variable_C) return selective_scan_kernel<true, true>;
  if (variable_B) return selective_scan_kernel<true, false>;
  if (variable_C) return selective_scan_kernel<false, true>;
  return selective_scan_kernel<false, false>;
}

}  // namespace

SelectiveScanResult<float> selective_scan(const SelectiveScanProblem<float>& p) {
  const std::string reason = touchstone::cuda::unavailable_reason();
  if (!reason.empty()) throw BackendUnavailable(reason);
  if (p.dstate() > kMaxDstate)
    throw InvalidInput("A", "the cuda-f32 backend supports dstate <= " +
                                std::to_string(kMaxDstate) + ", got " +
                                std::to_string(p.dstate()));

  const auto& in = p.in();
  const Index batch = p.batch(), dim = p.dim(), N = p.dstate(), L = p.seqlen();
  SelectiveScanResult<float> r{Tensor<float>(Shape{batch, dim, L}),
                               Tensor<float>(Shape{batch, dim, N})};

  (void)cudaGetLastError();  // an earlier, unrelated error must not be reported as ours
  const DeviceBuffer u = upload(in.u), delta = upload(in.delta), A = upload(in.A),
                     B = upload(in.B), C = upload(in.C), D = upload(in.D), z = upload(in.z),
                     bias = upload(in.delta_bias), h0 = upload(in.h0);
  const DeviceBuffer out(r.out.count()), last_state(r.last_state.count());

  ScanParams params{};
  params.u = u.get();
  params.delta = delta.get();
  params.A = A.get();
  params.B = B.get();
  params.C = C.get();
  params.D = D.get();
  params.z = z.get();
  params.delta_bias = bias.get();
  params.h0 = h0.get();
  params.out = out.get();
  params.last_state = last_state.get();
  params.dim = dim;
  params.dstate = N;
  params.seqlen = L;
  params.B_groups = p.B_layout().groups;
  params.B_channels_per_group = p.B_layout().channels_per_group;
  params.C_groups = p.C_layout().groups;
  params.C_channels_per_group = p.C_layout().channels_per_group;
  params.delta_softplus = in.delta_softplus;

  // One block per (b, d) along gridDim.x (up to 2^31 - 1 blocks, unlike gridDim.y's 65535);
  // larger problems take several launches, each told its first (b, d).
  const Kernel kernel = kernel_for(p.B_layout().variable, p.C_layout().variable);
  constexpr std::int64_t kMaxGridX = 2147483647;
  const std::int64_t blocks = batch * dim;
  for (std::int64_t first = 0; first < blocks; first += kMaxGridX) {
    const auto grid = static_cast<unsigned>(std::min(kMaxGridX, blocks - first));
    kernel<<<grid, kThreads>>>(params, first);
    check(cudaGetLastError(), "kernel launch");
  }
  check(cudaDeviceSynchronize(), "kernel execution");

  download(r.out, out);
  download(r.last_state, last_state);
  return r;
}

}  // namespace touchstone::mamba::cuda
