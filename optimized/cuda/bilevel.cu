// The MAML sinusoid class on CUDA, float32 ([BILEVEL-CUDA]; the order is documented in
// bilevel_kernels.cuh): the kernels run the block bodies with one block per task.
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "cuda/bilevel.hpp"
#include "cuda/bilevel_kernels.cuh"
#include "cuda/device.hpp"
#include "cuda/runtime_memory.cuh"
#include "touchstone/core/errors.hpp"

namespace touchstone::bilevel::cuda {
namespace {

// The device's block: every thread runs its share of a phase, then the block synchronizes.
struct DeviceBlock {
  template <class F>
  __device__ void parallel(const F& f) const {
    f(static_cast<std::int64_t>(threadIdx.x), static_cast<std::int64_t>(blockDim.x));
    __syncthreads();
  }
};

// One block per task (the host API launches one task). work: phi, lambda, g (P floats each);
// the per-point values in dynamic shared memory; out (P); counts (3) written by thread 0.
__global__ void maml_kernel(MlpTask task, float* work, float* out, std::int64_t* counts, bool exact) {
  extern __shared__ float shared[];
  const std::int64_t P = mlp_parameters(task.h);
  const MlpWork w{work, work + P, work + 2 * P, shared};
  const DeviceBlock block;
  const MlpCounts c = exact ? mlp_exact_recompute(block, task, w) : mlp_fom(block, task, w, w.lambda);
  block.parallel([&](std::int64_t t, std::int64_t T) {
    for (std::int64_t k = t; k < P; k += T) out[k] = w.lambda[k];
  });
  if (threadIdx.x == 0) {
    counts[0] = c.inner_steps;
    counts[1] = c.outer_gradients;
    counts[2] = c.hvps;
  }
}

Tensor<float> run(const MamlProblem<float>& p, order::Counts* counts, bool exact) {
  const std::string reason = touchstone::cuda::unavailable_reason();
  if (!reason.empty()) throw BackendUnavailable(reason);
  const char* backend = "bilevel.maml cuda-f32";
  mamba::cuda::RuntimeMemory mem(backend);
  const auto& in = p.in();
  const std::int64_t h = p.hidden(), P = p.dim(), K = in.x_support.count(), Kq = in.x_query.count();
  auto theta = mem.alloc<float>(P);
  auto xs = mem.alloc<float>(K);
  auto ys = mem.alloc<float>(K);
  auto xq = mem.alloc<float>(Kq);
  auto yq = mem.alloc<float>(Kq);
  auto work = mem.alloc<float>(3 * P);
  auto out = mem.alloc<float>(P);
  auto c = mem.alloc<std::int64_t>(3);
  mem.to_device(theta, in.theta.data(), P);
  mem.to_device(xs, in.x_support.data(), K);
  mem.to_device(ys, in.y_support.data(), K);
  mem.to_device(xq, in.x_query.data(), Kq);
  mem.to_device(yq, in.y_query.data(), Kq);
  const MlpTask task{theta.get(), xs.get(), ys.get(), xq.get(), yq.get(), h, K, Kq, p.steps(), in.alpha};
  // h <= 256 (kMaxHidden): the hidden phases have a thread per unit; the shared memory is
  // (10 h + 2) floats, at most 10 KiB.
  constexpr int threads = 256;
  const std::size_t shared_bytes = static_cast<std::size_t>(mlp_shared_floats(h)) * sizeof(float);
  maml_kernel<<<1, threads, shared_bytes>>>(task, work.get(), out.get(), c.get(), exact);
  mamba::cuda::runtime_check(cudaGetLastError(), backend, "kernel launch");
  mem.synchronize();
  Tensor<float> result(Shape{P});
  mem.to_host(result.data(), out, P);
  if (counts) {
    std::int64_t host[3];
    mem.to_host(host, c, 3);
    counts->inner_steps = host[0];
    counts->outer_gradients = host[1];
    counts->hvps = host[2];
  }
  return result;
}

}  // namespace

Tensor<float> maml_fom(const MamlProblem<float>& p, order::Counts* counts) { return run(p, counts, false); }
Tensor<float> maml_exact_recompute(const MamlProblem<float>& p, order::Counts* counts) { return run(p, counts, true); }

}  // namespace touchstone::bilevel::cuda
