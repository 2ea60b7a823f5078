// The cuda-f32 causal convolution: cuFFT C2C (batched) on device buffers, the kernels of
// s4_conv_kernels.cuh around them (spec/s4_conv.md [S4CONV-CONV-CUDA]).
#include <cufft.h>

#include <cmath>
#include <string>
#include <vector>

#include "cuda/device.hpp"
#include "cuda/runtime_memory.cuh"
#include "cuda/s4_conv.hpp"
#include "cuda/s4_conv_kernels.cuh"
#include "touchstone/core/errors.hpp"

namespace touchstone::s4::cuda {
namespace {

using Memory = touchstone::mamba::cuda::RuntimeMemory;
constexpr const char* kBackend = "s4.causal_conv cuda-f32";

void cufft_check(cufftResult r, const char* what) {
  if (r != CUFFT_SUCCESS)
    throw std::runtime_error(std::string(kBackend) + ": " + what + " failed (cufftResult " +
                             std::to_string(static_cast<int>(r)) + ")");
}

// One cuFFT plan, destroyed on scope exit.
struct Plan {
  cufftHandle handle = 0;
  Plan(std::int64_t n, std::int64_t batch) {
    long long len = n;
    size_t work = 0;
    cufft_check(cufftCreate(&handle), "cufftCreate");
    cufft_check(cufftMakePlanMany64(handle, 1, &len, nullptr, 1, len, nullptr, 1, len, CUFFT_C2C,
                                    batch, &work),
                "cufftMakePlanMany64");
  }
  ~Plan() { cufftDestroy(handle); }
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;
};

__global__ void pad_rows(const float* x, std::int64_t rows, std::int64_t row_stride, std::int64_t len,
                         std::int64_t n, float* out) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= rows * n) return;
  const std::int64_t r = i / n, j = i % n;
  kernels::pad_element(x + r * row_stride, len, j, out + 2 * r * n);
}

__global__ void products(float* a, const float* khat, std::int64_t rows, std::int64_t H, std::int64_t n) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= rows * n) return;
  const std::int64_t r = i / n, j = i % n, h = r % H;
  kernels::product_element(a + 2 * r * n, khat + 2 * h * n, j);
}

__global__ void finish(const float* c, const float* u, const float* k, const float* D,
                       const unsigned char* row_finite, std::int64_t rows, std::int64_t H,
                       std::int64_t L, std::int64_t Lk, std::int64_t taps, std::int64_t n,
                       float inv_n, float* y) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= rows * L) return;
  const std::int64_t r = i / L, t = i % L, h = r % H;
  const bool has_D = D != nullptr;
  const float d = has_D ? D[h] : 0.0f;
  y[i] = row_finite[r] ? kernels::finish_element(c + 2 * r * n, t, inv_n, has_D, d, u[r * L + t])
                       : kernels::direct_element(u + r * L, k + h * Lk, taps, t, has_D, d);
}

unsigned grid(std::int64_t count) { return static_cast<unsigned>((count + 255) / 256); }

}  // namespace

Tensor<float> causal_conv(const ConvProblem<float>& p) {
  const std::string reason = touchstone::cuda::unavailable_reason();
  if (!reason.empty()) throw BackendUnavailable(reason);
  const auto& in = p.in();
  const std::int64_t batch = p.batch(), H = p.channels(), L = p.length(), Lk = p.kernel_length();
  const std::int64_t taps = p.taps(), n = p.fft_length(), rows = batch * H;
  const float inv_n = 1.0f / static_cast<float>(n);
  // [S4CONV-CONV-NONFINITE] Rows with a non-finite input take the direct sum (decided on the host).
  std::vector<unsigned char> finite(static_cast<std::size_t>(rows), 1);
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int64_t h = r % H;
    bool ok = !in.D || std::isfinite((*in.D)[h]);
    for (std::int64_t s = 0; s < taps && ok; ++s) ok = std::isfinite(in.k(h, s));
    for (std::int64_t t = 0; t < L && ok; ++t) ok = std::isfinite(in.u[r * L + t]);
    finite[r] = ok;
  }
  Memory mem(kBackend);
  auto du = mem.alloc<float>(rows * L);
  auto dk = mem.alloc<float>(H * Lk);
  auto dD = mem.alloc<float>(in.D ? H : 0);
  auto dfinite = mem.alloc<unsigned char>(rows);
  auto dy = mem.alloc<float>(rows * L);
  auto ukhat = mem.alloc<float>(2 * rows * n);
  auto khat = mem.alloc<float>(2 * H * n);
  mem.to_device(du, in.u.data(), rows * L);
  mem.to_device(dk, in.k.data(), H * Lk);
  if (in.D) mem.to_device(dD, in.D->data(), H);
  mem.to_device(dfinite, finite.data(), rows);
  pad_rows<<<grid(H * n), 256>>>(dk.get(), H, Lk, taps, n, khat.get());
  pad_rows<<<grid(rows * n), 256>>>(du.get(), rows, L, L, n, ukhat.get());
  {
    Plan kplan(n, H), uplan(n, rows);
    cufft_check(cufftExecC2C(kplan.handle, reinterpret_cast<cufftComplex*>(khat.get()),
                             reinterpret_cast<cufftComplex*>(khat.get()), CUFFT_FORWARD),
                "cufftExecC2C (kernel)");
    cufft_check(cufftExecC2C(uplan.handle, reinterpret_cast<cufftComplex*>(ukhat.get()),
                             reinterpret_cast<cufftComplex*>(ukhat.get()), CUFFT_FORWARD),
                "cufftExecC2C (u)");
    products<<<grid(rows * n), 256>>>(ukhat.get(), khat.get(), rows, H, n);
    cufft_check(cufftExecC2C(uplan.handle, reinterpret_cast<cufftComplex*>(ukhat.get()),
                             reinterpret_cast<cufftComplex*>(ukhat.get()), CUFFT_INVERSE),
                "cufftExecC2C (inverse)");
    finish<<<grid(rows * L), 256>>>(ukhat.get(), du.get(), dk.get(), in.D ? dD.get() : nullptr,
                                    dfinite.get(), rows, H, L, Lk, taps, n, inv_n, dy.get());
    mem.synchronize();
  }
  Tensor<float> y(Shape{batch, H, L});
  mem.to_host(y.data(), dy, rows * L);
  return y;
}

}  // namespace touchstone::s4::cuda
