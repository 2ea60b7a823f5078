// The cuda-f32 backward's kernels and orchestration (optimized/cuda/mamba_backward_kernels.cuh), the
// very code the GPU runs, executed on the host under an emulation of the CUDA execution model,
// and compared bit for bit with the cpu-f32 backward: so the order, the offsets, the slabs, the
// shared-memory rounds, the barriers and the waves are checked on machines without a GPU.
//
// The emulation: a block's threads are fibers (std::threads under the sanitizers; blocks one
// after another), __syncthreads a barrier of the block's threads, __shared__ arrays statics
// that those threads share, threadIdx/blockIdx thread-local, __fmaf_rn std::fma. Device memory is host memory filled with
// 0xff bytes (NaN floats) on allocation, so a read before a write shows up as a NaN in the
// gradients. What it cannot check: the device's own arithmetic (the kernels call only IEEE
// operations and the elementary functions of optimized/common/elementary.hpp, which the forward
// backend's GPU tests hold bitwise to the CPU) and CUDA runtime errors; cuda_backward_test.cpp
// checks those on a GPU.
// covers: MAMBA-BWD-CUDA
#include <gtest/gtest.h>

#include <ucontext.h>

#include <cmath>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "cpu/mamba.hpp"
#include "cuda_backward_support.hpp"

namespace touchstone_cuda_emulation {
struct Dim3 {
  unsigned x = 0, y = 0, z = 0;
};
inline thread_local Dim3 thread_idx, block_idx;
inline Dim3 block_dim{1, 1, 1}, grid_dim{1, 1, 1};

// The threads of one block. Normally fibers (ucontext) on the calling thread, run in turn: a
// fiber runs until it reaches __syncthreads (or returns), and once every fiber has, the next
// round resumes them all past the barrier; cheap and polite on a small shared machine. Under
// AddressSanitizer or ThreadSanitizer, which do not follow stack switches reliably, one
// std::thread per CUDA thread and a barrier that sleeps instead.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TOUCHSTONE_EMULATE_WITH_THREADS 1
#endif

#ifdef TOUCHSTONE_EMULATE_WITH_THREADS
class SleepingBarrier {
 public:
  explicit SleepingBarrier(unsigned count) : count_(count) {}
  void arrive_and_wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    const unsigned long long generation = generation_;
    if (++arrived_ == count_) {
      arrived_ = 0;
      ++generation_;
      cv_.notify_all();
      return;
    }
    cv_.wait(lock, [&] { return generation_ != generation; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  const unsigned count_;
  unsigned arrived_ = 0;
  unsigned long long generation_ = 0;
};
inline SleepingBarrier* block_barrier = nullptr;
inline void sync_block() { block_barrier->arrive_and_wait(); }

inline void run_block(unsigned threads, const std::function<void(unsigned)>& body) {
  SleepingBarrier barrier(threads);
  block_barrier = &barrier;
  std::vector<std::thread> pool;
  for (unsigned tx = 0; tx < threads; ++tx) pool.emplace_back([&, tx] { body(tx); });
  for (auto& t : pool) t.join();
  block_barrier = nullptr;
}
#else
struct FiberBlock {
  ucontext_t scheduler;
  std::vector<ucontext_t> fibers;
  std::vector<bool> done;
  unsigned current = 0;
  const std::function<void(unsigned)>* body = nullptr;
};
inline FiberBlock* fiber_block = nullptr;

inline void sync_block() {
  FiberBlock& f = *fiber_block;
  swapcontext(&f.fibers[f.current], &f.scheduler);
}

inline void fiber_entry() {
  FiberBlock& f = *fiber_block;
  (*f.body)(f.current);
  f.done[f.current] = true;  // then uc_link: back to the scheduler
}

inline void run_block(unsigned threads, const std::function<void(unsigned)>& body) {
  constexpr std::size_t kStack = 128 * 1024;
  FiberBlock f;
  f.fibers.resize(threads);
  f.done.assign(threads, false);
  f.body = &body;
  std::vector<std::unique_ptr<unsigned char[]>> stacks(threads);
  for (unsigned tx = 0; tx < threads; ++tx) {
    stacks[tx].reset(new unsigned char[kStack]);
    getcontext(&f.fibers[tx]);
    f.fibers[tx].uc_stack.ss_sp = stacks[tx].get();
    f.fibers[tx].uc_stack.ss_size = kStack;
    f.fibers[tx].uc_link = &f.scheduler;
    makecontext(&f.fibers[tx], fiber_entry, 0);
  }
  fiber_block = &f;
  for (bool any = true; any;) {  // one round: every live fiber runs to its next barrier
    any = false;
    for (unsigned tx = 0; tx < threads; ++tx) {
      if (f.done[tx]) continue;
      any = true;
      f.current = tx;
      swapcontext(&f.scheduler, &f.fibers[tx]);
    }
  }
  fiber_block = nullptr;
}
#endif
}  // namespace touchstone_cuda_emulation

#define threadIdx touchstone_cuda_emulation::thread_idx
#define blockIdx touchstone_cuda_emulation::block_idx
#define blockDim touchstone_cuda_emulation::block_dim
#define gridDim touchstone_cuda_emulation::grid_dim
#define __global__
#define __launch_bounds__(...)
#define __shared__ static
#define __syncthreads() touchstone_cuda_emulation::sync_block()
#define __fmaf_rn(a, b, c) std::fma(static_cast<float>(a), static_cast<float>(b), static_cast<float>(c))

#include "cuda/mamba_backward_kernels.cuh"

namespace touchstone::mamba::testing {
namespace {

namespace emu = touchstone_cuda_emulation;

// backward_detail::run's device policy on the host.
struct EmulatedDevice {
  template <class T>
  class Buffer {
   public:
    explicit Buffer(std::int64_t count) : bytes_(static_cast<std::size_t>(count) * sizeof(T), 0xff) {}
    T* get() const {
      return bytes_.empty() ? nullptr : reinterpret_cast<T*>(const_cast<unsigned char*>(bytes_.data()));
    }

   private:
    std::vector<unsigned char> bytes_;
  };
  template <class T>
  Buffer<T> alloc(std::int64_t count) {
    return Buffer<T>(count);
  }
  template <class T>
  void to_device(const Buffer<T>& dst, const T* src, std::int64_t count) {
    if (count > 0) std::memcpy(dst.get(), src, static_cast<std::size_t>(count) * sizeof(T));
  }
  template <class T>
  void to_host(T* dst, const Buffer<T>& src, std::int64_t count) {
    if (count > 0) std::memcpy(dst, src.get(), static_cast<std::size_t>(count) * sizeof(T));
  }
  template <class... A, class... B>
  void launch(void (*kernel)(A...), unsigned grid, unsigned block, B&&... args) {
    ++launches;
    emu::grid_dim = {grid, 1, 1};
    emu::block_dim = {block, 1, 1};
    for (unsigned bx = 0; bx < grid; ++bx) {
      if (block == 1) {
        emu::block_idx = {bx, 0, 0};
        emu::thread_idx = {0, 0, 0};
        kernel(args...);
        continue;
      }
      emu::run_block(block, [&](unsigned tx) {
        emu::block_idx = {bx, 0, 0};
        emu::thread_idx = {tx, 0, 0};
        kernel(args...);
      });
    }
  }
  unsigned stride_grid(std::int64_t) { return 1; }
  unsigned stride_block() { return 1; }
  std::size_t free_bytes() { return std::size_t{1} << 30; }
  void synchronize() {}

  int launches = 0;
};

SelectiveScanGrads<float> emulated_backward(const SelectiveScanBackwardProblem<float>& q,
                                            long long wave, int* launches = nullptr) {
  EmulatedDevice dev;
  mamba::cuda::BackwardLaunch launch;
  launch.max_slabs_per_wave = wave;
  auto g = mamba::cuda::backward_detail::run(q, launch, dev);
  if (launches) *launches = dev.launches;
  return g;
}

// covers: MAMBA-BWD-CUDA MAMBA-BWD-DETERMINISTIC
// Every problem (groups with ragged tiles and several slabs per row, constant B and/or C, each
// option on and off, dlast_state, h0, L = 1, 300, 513, dstate past one shared-memory round),
// in one wave sized by memory: the cpu-f32 gradients, bit for bit.
TEST(CudaBackwardEmulated, BitwiseEqualToCpuF32) {
  for (const Spec& s : kSpecs) {
#ifdef TOUCHSTONE_EMULATE_WITH_THREADS
    // With one OS thread per CUDA thread (sanitizer builds) the largest problems take tens of
    // seconds; the fiber emulation of the ordinary build runs them all.
    if (s.batch * s.dim * s.L > 30000) continue;
#endif
    const auto q = make_problem(s);
    EXPECT_EQ("", bitwise_difference(emulated_backward(q, 0), cpu::selective_scan_backward(q)))
        << "seed " << s.seed;
  }
}

// A problem with several slabs per row of variable dB and dC (batch 2, dim 200, B in 5
// groups of 40 channels, C in 2 of 100), short so that the emulation is quick.
constexpr Spec kManySlabs{31, 2, 200, 3, 7, 5, 2, true, true, true, true, true, true};

// covers: MAMBA-BWD-CUDA
// Waves of 1, 2 and 3 slabs: the cross-channel sums continue across waves (a row's partial sum
// is carried in the output), and the bits stay the cpu-f32's.
TEST(CudaBackwardEmulated, AnyWaveSizeGivesTheSameBits) {
  for (const Spec& s : {kManySlabs, kSpecs[10]}) {
    const auto q = make_problem(s);
    const auto cpu_g = cpu::selective_scan_backward(q);
    for (const long long wave : {1LL, 2LL, 3LL})
      EXPECT_EQ("", bitwise_difference(emulated_backward(q, wave), cpu_g))
          << "seed " << s.seed << ", waves of " << wave;
  }
}

// The wave loop does split the work: with waves of one slab, one backward launch per slab.
TEST(CudaBackwardEmulated, WavesOfOneSlabLaunchOncePerSlab) {
  const Spec& s = kManySlabs;
  const auto q = make_problem(s);
  const auto& p = q.forward();
  const auto slabs = mamba::cuda::backward_detail::make_slabs(p.batch(), p.dim(), p.B_layout(),
                                                                p.C_layout());
  EXPECT_GT(slabs.size(), 10u);
  std::int64_t channels = 0;
  for (const auto& sl : slabs) {
    EXPECT_GE(sl.channels, 1);
    EXPECT_LE(sl.channels, 128);
    channels += sl.channels;
  }
  EXPECT_EQ(channels, p.batch() * p.dim());
  int one = 0, all = 0;
  (void)emulated_backward(q, 1, &one);
  (void)emulated_backward(q, 0, &all);
  // Per wave: the backward kernel and the two slab reductions; then 5 batch sums.
  EXPECT_EQ(one, static_cast<int>(slabs.size()) * 3 + 3);
  EXPECT_EQ(all, 3 + 3);
}

}  // namespace
}  // namespace touchstone::mamba::testing
