// The MAML sinusoid class's block bodies on CUDA ([BILEVEL-CUDA]; the host API is bilevel.hpp):
// __host__ __device__ functions that the kernels (bilevel.cu) run with one thread block per task,
// and that the host emulation (tests/bilevel/maml_cuda_emulation_test.cpp) runs on the CPU with
// HostBlock, which calls each parallel phase for every thread index in turn. Plain C++ when not
// compiled by nvcc; raw pointers and dimensions only.
//
// The operation sequence is order::Mlp's (order/bilevel_order.hpp) on float, operation for
// operation: the same products, the same sums started from 0 and added in the same order, the same
// relu mask ([a > 0], an exact 0 or 1) and masking, and the same steps phi - fl(alpha g),
// v - fl(alpha H v). The parallel phases only split independent work between threads:
//   per support/query point, in point order:
//     A  thread o (< h):  a1_o, m1_o, z1_o (and rz1_o for H v)
//     B  thread o (< h):  a2_o = sum_i W2_oi z1_i + b2_o in i order, m2_o, z2_o (and rz2_o)
//     D  thread i (< h):  out and e (and re), each thread the same sum in the same order (thread 0
//                         stores them); da2_i (and rda2_i)
//     E  thread i (< h):  da1_i = sum_o W2_oi da2_o in o order (and rda1_i)
//     F  thread t:        for each parameter element k = t, t + T, ...: acc_k += this point's
//                         term(s) for k, in order::Mlp's order for k
// Every element's sum over the points is owned by one thread and added in point order, so the
// result does not depend on the number of threads T: the emulation is bit-identical to cpu-f32
// (which runs order::Mlp on float) for any T, and the device computes the same with IEEE +, -, *,
// / (nvcc -fmad=false, no fast math, no flush to zero).
#pragma once

#include <cstdint>

#include "common/elementary.hpp"

namespace touchstone::bilevel::cuda {

// One task of the MAML class: theta (P = h^2 + 4h + 1, laid out W1, b1, W2, b2, W3, b3), the
// support points (K) and the query points (Kq), alpha and r.
struct MlpTask {
  const float* theta;
  const float* x_support;
  const float* y_support;
  const float* x_query;
  const float* y_query;
  std::int64_t h, k_support, k_query, r;
  float alpha;
};

// The task's working memory: phi, lambda and g, P floats each (global memory on the device), and
// the per-point values of the pass, mlp_shared_floats(h) floats (shared memory on the device).
struct MlpWork {
  float* phi;
  float* lambda;
  float* g;
  float* shared;
};

// What a body called (order::Counts' three numbers).
struct MlpCounts {
  std::int64_t inner_steps = 0, outer_gradients = 0, hvps = 0;
};

TOUCHSTONE_HD std::int64_t mlp_parameters(std::int64_t h) { return h * h + 4 * h + 1; }
// m1, z1, rz1, m2, z2, rz2, da2, rda2, da1, rda1 (h each), then e and re.
TOUCHSTONE_HD std::int64_t mlp_shared_floats(std::int64_t h) { return 10 * h + 2; }

// order::Mlp's policy functions on float (optimized/cpu/bilevel.cpp's LogisticArithmetic<float>).
TOUCHSTONE_HD float mlp_relu_mask(float a) { return a > 0.0f ? 1.0f : 0.0f; }
TOUCHSTONE_HD float mlp_masked(float m, float a) { return m != 0.0f ? a : 0.0f; }

// The emulation's block: each parallel phase runs thread 0, 1, ..., threads - 1 in turn, or in
// reverse (the device's block, in bilevel.cu, runs them at once and then synchronizes). A phase
// that read what another thread writes in the same phase would differ between the two orders.
struct HostBlock {
  std::int64_t threads;
  bool reverse = false;
  template <class F>
  void parallel(const F& f) const {
    for (std::int64_t i = 0; i < threads; ++i) f(reverse ? threads - 1 - i : i, threads);
  }
};

// order::Mlp::pass: the gradient of the points' mean squared error at phi (v null) or H(phi) v,
// into acc (P).
template <class Block>
TOUCHSTONE_HD void mlp_pass(const Block& block, std::int64_t h, const float* phi, const float* v, const float* xs,
                            const float* ys, std::int64_t K, float* acc, float* sh) {
  const std::int64_t P = mlp_parameters(h);
  const std::int64_t w1 = 0, b1 = h, w2 = 2 * h, b2 = 2 * h + h * h, w3 = 3 * h + h * h, b3 = 4 * h + h * h;
  float* m1 = sh;
  float* z1 = sh + h;
  float* rz1 = sh + 2 * h;
  float* m2 = sh + 3 * h;
  float* z2 = sh + 4 * h;
  float* rz2 = sh + 5 * h;
  float* da2 = sh + 6 * h;
  float* rda2 = sh + 7 * h;
  float* da1 = sh + 8 * h;
  float* rda1 = sh + 9 * h;
  float* scalars = sh + 10 * h;  // e, re
  const float count = static_cast<float>(static_cast<double>(K));
  const float two = 2.0f;
  block.parallel([&](std::int64_t t, std::int64_t T) {
    for (std::int64_t k = t; k < P; k += T) acc[k] = 0.0f;
  });
  for (std::int64_t n = 0; n < K; ++n) {
    const float x = xs[n], y = ys[n];
    // A
    block.parallel([&](std::int64_t t, std::int64_t T) {
      for (std::int64_t o = t; o < h; o += T) {
        const float a1 = phi[w1 + o] * x + phi[b1 + o];
        m1[o] = mlp_relu_mask(a1);
        z1[o] = mlp_masked(m1[o], a1);
        if (v) rz1[o] = mlp_masked(m1[o], v[w1 + o] * x + v[b1 + o]);
      }
    });
    // B
    block.parallel([&](std::int64_t t, std::int64_t T) {
      for (std::int64_t o = t; o < h; o += T) {
        float s = 0.0f;
        for (std::int64_t i = 0; i < h; ++i) s = s + phi[w2 + o * h + i] * z1[i];
        s = s + phi[b2 + o];
        m2[o] = mlp_relu_mask(s);
        z2[o] = mlp_masked(m2[o], s);
        if (!v) continue;
        float r = 0.0f;
        for (std::int64_t i = 0; i < h; ++i) {
          r = r + v[w2 + o * h + i] * z1[i];
          r = r + phi[w2 + o * h + i] * rz1[i];
        }
        r = r + v[b2 + o];
        rz2[o] = mlp_masked(m2[o], r);
      }
    });
    // D (out, e and re by every working thread, the same sums in the same order)
    block.parallel([&](std::int64_t t, std::int64_t T) {
      if (t >= h) return;
      float so = 0.0f;
      for (std::int64_t i = 0; i < h; ++i) so = so + phi[w3 + i] * z2[i];
      so = so + phi[b3];
      const float e = (two * (so - y)) / count;
      float re = 0.0f;
      if (v) {
        float sr = 0.0f;
        for (std::int64_t i = 0; i < h; ++i) {
          sr = sr + v[w3 + i] * z2[i];
          sr = sr + phi[w3 + i] * rz2[i];
        }
        sr = sr + v[b3];
        re = (two * sr) / count;
      }
      if (t == 0) {
        scalars[0] = e;
        scalars[1] = re;
      }
      for (std::int64_t i = t; i < h; i += T) {
        da2[i] = mlp_masked(m2[i], phi[w3 + i] * e);
        if (!v) continue;
        float s = 0.0f;
        s = s + v[w3 + i] * e;
        s = s + phi[w3 + i] * re;
        rda2[i] = mlp_masked(m2[i], s);
      }
    });
    // E
    block.parallel([&](std::int64_t t, std::int64_t T) {
      for (std::int64_t i = t; i < h; i += T) {
        float s = 0.0f;
        for (std::int64_t o = 0; o < h; ++o) s = s + phi[w2 + o * h + i] * da2[o];
        da1[i] = mlp_masked(m1[i], s);
        if (!v) continue;
        float r = 0.0f;
        for (std::int64_t o = 0; o < h; ++o) {
          r = r + v[w2 + o * h + i] * da2[o];
          r = r + phi[w2 + o * h + i] * rda2[o];
        }
        rda1[i] = mlp_masked(m1[i], r);
      }
    });
    // F
    block.parallel([&](std::int64_t t, std::int64_t T) {
      const float e = scalars[0], re = scalars[1];
      for (std::int64_t k = t; k < P; k += T) {
        float a = acc[k];
        if (k < b1) {
          a = a + (v ? rda1[k - w1] : da1[k - w1]) * x;
        } else if (k < w2) {
          a = a + (v ? rda1[k - b1] : da1[k - b1]);
        } else if (k < b2) {
          const std::int64_t o = (k - w2) / h, i = (k - w2) - o * h;
          if (v) {
            a = a + rda2[o] * z1[i];
            a = a + da2[o] * rz1[i];
          } else {
            a = a + da2[o] * z1[i];
          }
        } else if (k < w3) {
          a = a + (v ? rda2[k - b2] : da2[k - b2]);
        } else if (k < b3) {
          const std::int64_t i = k - w3;
          if (v) {
            a = a + re * z2[i];
            a = a + e * rz2[i];
          } else {
            a = a + e * z2[i];
          }
        } else {
          a = a + (v ? re : e);
        }
        acc[k] = a;
      }
    });
  }
}

// x_k = x_k - fl(alpha g_k) for every k: the inner step (x = phi) and the reverse step (x = lambda).
template <class Block>
TOUCHSTONE_HD void mlp_descend(const Block& block, std::int64_t P, float alpha, float* x, const float* g) {
  block.parallel([&](std::int64_t t, std::int64_t T) {
    for (std::int64_t k = t; k < P; k += T) x[k] = x[k] - alpha * g[k];
  });
}

// phi = theta, then j inner steps on the support points (order::unroll).
template <class Block>
TOUCHSTONE_HD void mlp_unroll(const Block& block, const MlpTask& task, const MlpWork& w, std::int64_t j,
                              MlpCounts& counts) {
  const std::int64_t P = mlp_parameters(task.h);
  block.parallel([&](std::int64_t t, std::int64_t T) {
    for (std::int64_t k = t; k < P; k += T) w.phi[k] = task.theta[k];
  });
  for (std::int64_t s = 0; s < j; ++s) {
    mlp_pass(block, task.h, w.phi, nullptr, task.x_support, task.y_support, task.k_support, w.g, w.shared);
    mlp_descend(block, P, task.alpha, w.phi, w.g);
    ++counts.inner_steps;
  }
}

// [BILEVEL-CUDA] order::fom: F = grad L_query(phi_r) into out (P; it may be w.lambda).
template <class Block>
TOUCHSTONE_HD MlpCounts mlp_fom(const Block& block, const MlpTask& task, const MlpWork& w, float* out) {
  MlpCounts counts;
  mlp_unroll(block, task, w, task.r, counts);
  mlp_pass(block, task.h, w.phi, nullptr, task.x_query, task.y_query, task.k_query, out, w.shared);
  ++counts.outer_gradients;
  return counts;
}

// [BILEVEL-CUDA] order::exact_recompute: lambda = grad L_query(phi_r); for j = r-1 .. 0: phi_j
// recomputed from theta (j inner steps), lambda = lambda - fl(alpha H(phi_j) lambda). The result
// is in w.lambda; P floats of each buffer whatever r.
template <class Block>
TOUCHSTONE_HD MlpCounts mlp_exact_recompute(const Block& block, const MlpTask& task, const MlpWork& w) {
  MlpCounts counts = mlp_fom(block, task, w, w.lambda);
  const std::int64_t P = mlp_parameters(task.h);
  for (std::int64_t j = task.r - 1; j >= 0; --j) {
    mlp_unroll(block, task, w, j, counts);
    mlp_pass(block, task.h, w.phi, w.lambda, task.x_support, task.y_support, task.k_support, w.g, w.shared);
    mlp_descend(block, P, task.alpha, w.lambda, w.g);
    ++counts.hvps;
  }
  return counts;
}

}  // namespace touchstone::bilevel::cuda
