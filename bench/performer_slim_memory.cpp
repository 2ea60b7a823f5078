// Peak memory and time of SLiM's layer backward (spec/performer.md [PERF-SLIM-MEMORY]) against the
// slice size C and the sequence length L: one causal Performer layer, float32, d_model = d_head =
// 64, 64 random features with elu1 + 1e-3, Philox inputs (x, dy standard normal, weights
// N(0, 1/64)), one thread. SLICE 0: full backprop (every prefix state kept, every row's
// intermediates held); SLICE C > 0: SLiM (one slice's rows and the final state).
// Run it under a tool that reports the process's peak resident memory:
//   /usr/bin/time -f %M ./build/bench/performer_slim_memory L SLICE
// It prints the seconds the backward pass took (steady clock) and a checksum of dx.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "cpu/performer_slim.hpp"
#include "touchstone/core/random.hpp"

using namespace touchstone;
using namespace touchstone::performer;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s L SLICE\n", argv[0]);
    return 2;
  }
  const Index L = std::atoll(argv[1]), C = std::atoll(argv[2]), D = 64, Dh = 64, M = 64;
  auto fill = [](Tensor<float>& t, const char* stream, double scale) {
    PhiloxStream r(0, stream);
    for (Index i = 0; i < t.count(); ++i) t[i] = static_cast<float>(scale * r.next_normal());
  };
  Tensor<float> x(Shape{L, D}), wq(Shape{D, Dh}), wk(Shape{D, Dh}), wv(Shape{D, Dh}), w(Shape{M, Dh}), wo(Shape{Dh, D}),
      dy(Shape{L, D});
  fill(x, "slim/x", 1);
  fill(dy, "slim/dy", 1);
  fill(wq, "slim/w_q", 0.125);
  fill(wk, "slim/w_k", 0.125);
  fill(wv, "slim/w_v", 0.125);
  fill(w, "slim/w", 1);
  fill(wo, "slim/w_o", 0.125);
  const SlimLayerProblem<float> p({std::move(x), std::move(wq), std::move(wk), std::move(wv), std::move(w),
                                   std::move(wo), std::move(dy), Kernel::elu1, 1e-3, C, C > 0});
  const auto t0 = std::chrono::steady_clock::now();
  const SlimLayerGrads<float> g = cpu::slim_layer_vjp(p);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double s = 0;
  for (Index i = 0; i < g.dx.count(); ++i) s += g.dx[i];
  std::printf("L %lld slice %lld: %.3f s, sum dx %.6e\n", static_cast<long long>(L), static_cast<long long>(C), seconds, s);
  return 0;
}
