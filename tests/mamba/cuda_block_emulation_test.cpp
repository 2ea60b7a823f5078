// The cuda-f32 Mamba block's kernel bodies and orchestration (optimized/cuda/mamba_block_kernels.cuh),
// the very code the GPU runs, executed on the host: every kernel launch becomes a loop over its
// thread indices, and the results are compared bit for bit with cpu-f32. So the association
// order, the offsets and the data flow between kernels are checked on machines without a GPU.
//
// Why a loop is a faithful model here: no kernel of the block uses shared memory, barriers or
// atomics, and every thread writes only its own output elements from inputs that no thread of the
// same launch writes; so any schedule gives the same bits, which the test also checks by running
// every launch's threads in reverse order. Device memory is host memory filled with NaN bytes on
// allocation, so a read before a write shows up as a NaN. The scan backward is cpu-f32's
// (cuda::selective_scan_backward is held bitwise to it by cuda_backward_emulation_test.cpp).
// What this cannot check: the device's own arithmetic and the CUDA runtime (cuda_block_test.cpp
// on a GPU).
// covers: MAMBA-BLOCK-CUDA
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "cpu/mamba.hpp"
#include "cuda/mamba_block_kernels.cuh"
#include "cuda_block_support.hpp"

using namespace touchstone;
using namespace touchstone::mamba;
using namespace touchstone::mamba::testing;

namespace {

struct HostDevice {
  bool reverse = false;
  long long launches = 0;

  template <class T>
  class Buffer {
   public:
    explicit Buffer(std::int64_t count) : v_(static_cast<std::size_t>(count)) {
      if (count > 0) std::memset(static_cast<void*>(v_.data()), 0xff, v_.size() * sizeof(T));
    }
    T* get() const { return v_.empty() ? nullptr : const_cast<T*>(v_.data()); }

   private:
    std::vector<T> v_;
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
  template <class F>
  void each(std::int64_t n, const F& body) {
    ++launches;
    if (reverse)
      for (std::int64_t i = n - 1; i >= 0; --i) body(i);
    else
      for (std::int64_t i = 0; i < n; ++i) body(i);
  }
  SelectiveScanGrads<float> scan_backward(const SelectiveScanBackwardProblem<float>& q) {
    return cpu::selective_scan_backward(q, 1);
  }
  void synchronize() {}
};

struct Emulated {
  HostDevice dev;
  Tensor<float> forward(const MambaBlockWeights<float>& w, const Tensor<float>& h, cuda::MambaBlockCache* c) {
    return cuda::block_detail::Run<HostDevice>(dev).forward(w, h, c, nullptr);
  }
  MambaBlockGrads<float> backward(const MambaBlockWeights<float>& w, const cuda::MambaBlockCache& c,
                                  const Tensor<float>& dout) {
    return cuda::block_detail::Run<HostDevice>(dev).backward(w, c, dout);
  }
  Tensor<float> prefill(const MambaBlockWeights<float>& w, const Tensor<float>& h, MambaBlockState<float>& s) {
    return cuda::block_detail::Run<HostDevice>(dev).forward(w, h, nullptr, &s);
  }
  Tensor<float> step(const MambaBlockWeights<float>& w, const Tensor<float>& h, MambaBlockState<float>& s) {
    return cuda::block_detail::Run<HostDevice>(dev).step(w, h, s);
  }
};

}  // namespace

TEST(CudaBlockEmulation, KernelsGiveCpuF32BitsOnEveryCase) {
  for (const BlockCase& c : block_cases()) {
    Emulated e;
    expect_bitwise_cpu_f32(e, c);
    EXPECT_GT(e.dev.launches, 0);
  }
}

// Any schedule of a launch's threads gives the same bits: reversed thread order.
TEST(CudaBlockEmulation, BitsDoNotDependOnTheThreadSchedule) {
  for (const BlockCase& c : block_cases()) {
    Emulated e;
    e.dev.reverse = true;
    expect_bitwise_cpu_f32(e, c);
  }
}

// Invalid inputs and overflowed intermediates are reported as the CPU block reports them.
TEST(CudaBlockEmulation, InvalidInputsAsTheCpuBlock) {
  const BlockCase c = block_cases()[2];
  const MambaBlockWeights<float> w = block_weights(c);
  Emulated e;
  const Tensor<float> bad(Shape{c.batch, c.seqlen, c.d_model + 1});
  EXPECT_THROW(e.forward(w, bad, nullptr), InvalidInput);
  // A hidden state so large that in_proj overflows: z (and x) are not finite.
  Tensor<float> huge = block_hidden(c, c.seqlen);
  for (Index i = 0; i < huge.count(); ++i) huge[i] = huge[i] * 3e38f;
  std::string cpu_msg, emu_msg;
  try {
    cpu::mamba_block_forward(w, huge);
  } catch (const InvalidInput& x) {
    cpu_msg = x.what();
  }
  try {
    e.forward(w, huge, nullptr);
  } catch (const InvalidInput& x) {
    emu_msg = x.what();
  }
  EXPECT_FALSE(cpu_msg.empty());
  EXPECT_EQ(emu_msg, cpu_msg);
}
