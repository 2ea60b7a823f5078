// Selective scan on CUDA, float32 (spec/mamba.md [MAMBA-SCAN-CUDA]). The association order is
// documented in mamba.hpp, with the launch shape and the tree depth of the block scan;
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
//
// The arithmetic of every step above is the __host__ __device__ bodies of mamba_kernels.cuh; this
// file adds only the data movement (shuffles, shared memory, barriers) and the launch. The host
// emulation (tests/mamba/cuda_scan_emulation.hpp) runs the same bodies in the same order.
#include "cuda/mamba.hpp"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include "cuda/device.hpp"
#include "cuda/mamba_kernels.cuh"
#include "touchstone/core/errors.hpp"

namespace touchstone::mamba::cuda {
namespace {

using namespace scan_detail;
constexpr unsigned kFullMask = 0xffffffffu;

// The exclusive prefix of `summary` over the threads of the block (thread 0's is empty, and
// `empty` is set for it): Kogge-Stone inclusive scan with shuffles inside each warp, the warp
// totals through shared memory, each warp's prefix a left fold of the totals of the warps
// before it (computed redundantly, in the same order, by every thread of the warp), and the
// thread's prefix = (warp prefix) o (exclusive prefix inside the warp). The combines are
// mamba_kernels.cuh's (warp_scan_level, exclusive_prefix); this function moves the values. The
// combine depth of this tree is scan_tree_depth(kWarps) (derivation in mamba.hpp). Hand-written
// rather than cub::BlockScan so that the tree, and thus the bound, does not depend on CCCL's
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
    inclusive = warp_scan_level(below, inclusive, lane, offset);
  }
  Affine in_warp;  // exclusive prefix inside the warp; meaningless on lane 0
  in_warp.a = __shfl_up_sync(kFullMask, inclusive.a, 1);
  in_warp.b = __shfl_up_sync(kFullMask, inclusive.b, 1);

  if (lane == kWarpSize - 1) totals[warp] = inclusive;
  __syncthreads();

  return exclusive_prefix(totals, in_warp, warp, lane, empty);
}

// One block per (b, d) = first_block + blockIdx.x (b * dim + d); kThreads threads. A thread
// holds about 5 * kItems live floats (dt, du, y, a, bu): the launch bound asks for 2 resident
// blocks per SM, which lets ptxas use up to 255 registers; with its default choice (128) it
// spilled a few registers. The arithmetic is mamba_kernels.cuh's; the host emulation
// (tests/mamba/cuda_scan_emulation.hpp) runs the same calls between the same barriers.
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

  const int tid = static_cast<int>(threadIdx.x);
  const std::int64_t bd = first_block + static_cast<std::int64_t>(blockIdx.x);
  const ScanRow row = scan_row<kVariableB, kVariableC>(p, bd);
  const std::int64_t N = row.N, L = row.L;

  for (std::int64_t n = tid; n < N; n += kThreads) carry[0][n] = initial_state(p, bd, n);
  __syncthreads();

  int totals_buffer = 0;
  const std::int64_t n_chunks = offsets::ceil_div(L, kChunk);
  for (std::int64_t c = 0; c < n_chunks; ++c) {
    const int cur = static_cast<int>(c & 1), next = cur ^ 1;
    const ThreadSteps steps = thread_steps(L, c, tid);
    const int owner = last_owner(L, c);

    float dt[kItems], du[kItems], y[kItems];
    load_steps(row, steps, dt, du, y);

    for (std::int64_t n = 0; n < N; ++n) {
      // 1. a_i, bu_i and the thread's sequential fold.
      float a[kItems], bu[kItems];
      const Affine summary = fold_steps<kVariableB>(row, n, steps, dt, du, a, bu);

      // 2. the block's exclusive prefix of the summaries.
      bool empty = false;
      const Affine prefix = block_exclusive_prefix(summary, warp_totals[totals_buffer], empty);
      totals_buffer ^= 1;

      // 3. the state at the start of the thread's steps, then its steps sequentially.
      const float h = run_steps<kVariableC>(row, n, steps, a, bu, prefix, empty, carry[cur][n], y);

      // 4. the state after the chunk's last valid step: the next chunk's h_carry[n].
      if (tid == owner) carry[next][n] = h;
    }

    // Skip connection and gate, as the CPU backend.
    store_steps(row, steps, y);
  }

  // The last chunk (n_chunks - 1) wrote carry[n_chunks & 1]; wait for its writers.
  __syncthreads();
  const int final_buffer = static_cast<int>(n_chunks & 1);
  for (std::int64_t n = tid; n < N; n += kThreads)
    p.last_state[offsets::state(bd, N, n)] = carry[final_buffer][n];
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
