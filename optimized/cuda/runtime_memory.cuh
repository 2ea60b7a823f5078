// Device memory on the CUDA runtime, shared by the device policies of the kernels' host logic
// (mamba_backward.cu, mamba_block.cu): owning buffers, copies on the legacy default stream (which
// orders every launch and copy), and errors as std::runtime_error naming the backend.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "touchstone/core/tensor.hpp"

namespace touchstone::mamba::cuda {

inline void runtime_check(cudaError_t e, const char* backend, const char* what) {
  if (e != cudaSuccess)
    throw std::runtime_error(std::string(backend) + ": " + what + ": " + cudaGetErrorString(e));
}

// A device policy's memory half; `backend` names it in error messages.
class RuntimeMemory {
 public:
  explicit RuntimeMemory(const char* backend) : backend_(backend) {}

  template <class T>
  class Buffer {
   public:
    Buffer(std::int64_t count, const char* backend) {
      if (count > 0)
        runtime_check(cudaMalloc(reinterpret_cast<void**>(&ptr_),
                                 static_cast<std::size_t>(count) * sizeof(T)),
                      backend, "cudaMalloc");
    }
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    Buffer(Buffer&& o) noexcept : ptr_(o.ptr_) { o.ptr_ = nullptr; }
    Buffer& operator=(Buffer&&) = delete;
    ~Buffer() {
      if (ptr_) (void)cudaFree(ptr_);
    }
    T* get() const { return ptr_; }

   private:
    T* ptr_ = nullptr;
  };

  template <class T>
  Buffer<T> alloc(std::int64_t count) {
    return Buffer<T>(count, backend_);
  }
  template <class T>
  void to_device(const Buffer<T>& dst, const T* src, std::int64_t count) {
    if (count > 0)
      check(cudaMemcpy(dst.get(), src, static_cast<std::size_t>(count) * sizeof(T),
                       cudaMemcpyHostToDevice),
            "cudaMemcpy to device");
  }
  // A device copy of a host tensor (anything with data() and count()): alloc, then to_device.
  template <class Host>
  auto copy_of(const Host& host) {
    using T = std::remove_cv_t<std::remove_pointer_t<decltype(host.data())>>;
    Buffer<T> b = alloc<T>(host.count());
    to_device(b, host.data(), host.count());
    return b;
  }
  // The first shape.count() values of a device buffer as a host Tensor of that shape.
  template <class T>
  Tensor<T> tensor_of(const Buffer<T>& src, Shape shape) {
    Tensor<T> t(std::move(shape));
    to_host(t.data(), src, t.count());
    return t;
  }
  template <class T>
  void to_host(T* dst, const Buffer<T>& src, std::int64_t count) {
    if (count > 0)
      check(cudaMemcpy(dst, src.get(), static_cast<std::size_t>(count) * sizeof(T),
                       cudaMemcpyDeviceToHost),
            "cudaMemcpy to host");
  }
  void synchronize() { check(cudaDeviceSynchronize(), "kernel execution"); }

 protected:
  void check(cudaError_t e, const char* what) const { runtime_check(e, backend_, what); }

 private:
  const char* backend_;
};

}  // namespace touchstone::mamba::cuda
