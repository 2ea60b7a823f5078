// Peak memory of the causal linear-attention backward with every prefix state stored, against
// SLiM's slices (spec/performer.md [PERF-SLICES]): one head, float32, M = 256 features, dim_v = 64,
// one thread, positive features and standard normal v and dout from Philox. Run it under a tool
// that reports the process's peak resident memory (for example /usr/bin/time -v):
//   ./build/bench/performer_slices_memory L SLICE    (SLICE 0: every state stored)
// It runs the order header's sequence as written (cpu::generic), whose memory is what the slices
// change; the backend's fast path ([PERF-FAST-CPU]) keeps no prefix state in either case.
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "cpu/performer.hpp"
#include "touchstone/core/random.hpp"

using namespace touchstone;
using namespace touchstone::performer;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s L SLICE\n", argv[0]);
    return 2;
  }
  const Index L = std::atoll(argv[1]), C = std::atoll(argv[2]), M = 256, E = 64;
  PhiloxStream r(0, "performer_slices_memory");
  Tensor<float> q(Shape{1, 1, L, M}), k(Shape{1, 1, L, M}), v(Shape{1, 1, L, E}), g(Shape{1, 1, L, E});
  for (Index i = 0; i < q.count(); ++i) q[i] = static_cast<float>(std::exp(r.next_uniform(-2, 0)) / 16);
  for (Index i = 0; i < k.count(); ++i) k[i] = static_cast<float>(std::exp(r.next_uniform(-2, 0)) / 16);
  for (Index i = 0; i < v.count(); ++i) v[i] = static_cast<float>(r.next_normal());
  for (Index i = 0; i < g.count(); ++i) g[i] = static_cast<float>(r.next_normal());
  const LinearBackwardProblem<float> p({{q, k, v, true, Guard::lr, 1e-6f}, g, false, C});
  const AttentionGrads<float> grads = cpu::generic::linear_attention_vjp(p, 1);
  double s = 0;
  for (Index i = 0; i < grads.dq.count(); ++i) s += grads.dq[i];
  std::printf("L %lld slice %lld: sum dq %.6e\n", static_cast<long long>(L), static_cast<long long>(C), s);
  return 0;
}
