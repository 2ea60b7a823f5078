// The cuda-f32 causal convolution's kernel bodies (optimized/cuda/s4_conv_kernels.cuh) run on the
// host in the .cu's orchestration, with FFTW standing in for cuFFT: they must give the cpu-f32
// backend's bits (the same arithmetic), including the direct sum of non-finite rows.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <cstring>
#include <limits>
#include <vector>

#include "cpu/fft.hpp"
#include "cpu/s4_conv.hpp"
#include "cuda/s4_conv_kernels.cuh"
#include "touchstone/core/random.hpp"

using namespace touchstone;
using namespace touchstone::s4;

namespace {

Tensor<float> emulate(const ConvProblem<float>& p) {
  namespace k = cuda::kernels;
  const auto& in = p.in();
  const Index batch = p.batch(), H = p.channels(), L = p.length(), Lk = p.kernel_length();
  const Index taps = p.taps(), n = p.fft_length(), rows = batch * H;
  const float inv_n = 1.0f / static_cast<float>(n);
  std::vector<float> khat(2 * H * n), uhat(2 * rows * n), tmp(2 * n);
  auto dft = [&](float* data, fft::Direction d) {
    std::memcpy(tmp.data(), data, sizeof(float) * 2 * n);
    fft::dft(reinterpret_cast<const std::complex<float>*>(tmp.data()),
             reinterpret_cast<std::complex<float>*>(data), n, d);
  };
  for (Index h = 0; h < H; ++h) {
    for (Index j = 0; j < n; ++j) k::pad_element(in.k.data() + h * Lk, taps, j, khat.data() + 2 * h * n);
    dft(khat.data() + 2 * h * n, fft::Direction::forward);
  }
  for (Index r = 0; r < rows; ++r) {
    for (Index j = 0; j < n; ++j) k::pad_element(in.u.data() + r * L, L, j, uhat.data() + 2 * r * n);
    dft(uhat.data() + 2 * r * n, fft::Direction::forward);
    for (Index j = 0; j < n; ++j) k::product_element(uhat.data() + 2 * r * n, khat.data() + 2 * (r % H) * n, j);
    dft(uhat.data() + 2 * r * n, fft::Direction::inverse);
  }
  Tensor<float> y(Shape{batch, H, L});
  for (Index r = 0; r < rows; ++r) {
    const Index h = r % H;
    const bool has_D = in.D.has_value();
    const float D = has_D ? (*in.D)[h] : 0.0f;
    bool finite = !has_D || std::isfinite(D);
    for (Index s = 0; s < taps; ++s) finite = finite && std::isfinite(in.k(h, s));
    for (Index t = 0; t < L; ++t) finite = finite && std::isfinite(in.u[r * L + t]);
    for (Index t = 0; t < L; ++t)
      y[r * L + t] = finite ? k::finish_element(uhat.data() + 2 * r * n, t, inv_n, has_D, D, in.u[r * L + t])
                            : k::direct_element(in.u.data() + r * L, in.k.data() + h * Lk, taps, t, has_D, D);
  }
  return y;
}

ConvProblem<float> problem(Index batch, Index H, Index L, Index Lk, bool D, std::uint64_t seed) {
  PhiloxStream rng(seed, "conv_emulation");
  ConvInputs<float> in{Tensor<float>(Shape{batch, H, L}), Tensor<float>(Shape{H, Lk}), std::nullopt};
  for (Index i = 0; i < in.u.count(); ++i) in.u[i] = static_cast<float>(rng.next_uniform(-1, 1));
  for (Index i = 0; i < in.k.count(); ++i) in.k[i] = static_cast<float>(rng.next_uniform(-1, 1));
  if (D) {
    in.D = Tensor<float>(Shape{H});
    for (Index i = 0; i < H; ++i) (*in.D)[i] = static_cast<float>(rng.next_uniform(-1, 1));
  }
  return ConvProblem<float>(std::move(in));
}

}  // namespace

// covers: S4CONV-CONV-CUDA
TEST(ConvCudaEmulation, KernelBodiesGiveTheCpuBits) {
  for (const bool D : {false, true})
    for (const Index L : {1, 5, 33, 100}) {
      ConvProblem<float> p = problem(2, 3, L, L / 2 + 1, D, static_cast<std::uint64_t>(L));
      const Tensor<float> cpu = cpu::causal_conv(p), emu = emulate(p);
      for (Index i = 0; i < cpu.count(); ++i)
        ASSERT_EQ(std::memcmp(&cpu[i], &emu[i], sizeof(float)), 0)
            << "L=" << L << " D=" << D << " element " << i << ": " << cpu[i] << " vs " << emu[i];
    }
  // A NaN row goes through the direct-sum body.
  ConvInputs<float> in = problem(1, 2, 9, 4, true, 3).in();
  in.u(0, 1, 2) = std::numeric_limits<float>::quiet_NaN();
  const ConvProblem<float> p(in);
  const Tensor<float> cpu = cpu::causal_conv(p), emu = emulate(p);
  for (Index i = 0; i < cpu.count(); ++i) {
    if (std::isnan(cpu[i])) {
      EXPECT_TRUE(std::isnan(emu[i]));
    } else {
      EXPECT_EQ(cpu[i], emu[i]);
    }
  }
}
