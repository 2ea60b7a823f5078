// Issue 10's CPU pipeline, timed in-process exactly as bench/peers/performer_causal.py times
// performer-pytorch (bench/RESULTS.md, "Performer, CPU"): the FAVOR+ features of q (query) and k
// (key), the causal linear attention with the lr guard, its VJP (stored form) against a cotangent,
// and the features' VJPs of both, for batch x heads 8, L 4096, d 64, m 256, dim_v 64, float32,
// standard normal inputs and projection from Philox (eps 1e-4, guard_eps 1e-6: performer-pytorch's).
// Input generation is outside the timed region, as in the peer script.
//   ./build/bench/performer_pipeline [REPEATS] [THREADS]   prints each run and the median seconds
// THREADS 0: TOUCHSTONE_THREADS, else all cores. The backends are cpu-f32's (cpu::...), or with
// the third argument `generic`, the order header run element by element (cpu::generic::...).
// With `compare` instead: one run of each stage both ways on the same inputs, and whether their
// outputs are equal bit for bit ([PERF-FAST-CPU] at the bench size); exit status 1 if not.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cpu/performer.hpp"
#include "touchstone/core/random.hpp"

using namespace touchstone;
using namespace touchstone::performer;

namespace {

Tensor<float> normal(Shape s, const char* name) {
  PhiloxStream r(0, std::string("performer_pipeline/") + name);
  Tensor<float> t(std::move(s));
  for (Index i = 0; i < t.count(); ++i) t[i] = static_cast<float>(r.next_normal());
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  const int repeats = argc > 1 ? std::atoi(argv[1]) : 3;
  const int threads = argc > 2 ? std::atoi(argv[2]) : 0;
  const bool generic = argc > 3 && std::strcmp(argv[3], "generic") == 0;
  const Index B = 1, H = 8, L = 4096, D = 64, M = 256;
  const Tensor<float> w = normal(Shape{M, D}, "w"), q = normal(Shape{B, H, L, D}, "q"), k = normal(Shape{B, H, L, D}, "k"),
                      v = normal(Shape{B, H, L, D}, "v"), dout = normal(Shape{B, H, L, D}, "dout");
  if (argc > 3 && std::strcmp(argv[3], "compare") == 0) {
    int differ = 0;
    auto report = [&](const char* what, const Tensor<float>& a, const Tensor<float>& b) {
      Index first = a.shape() == b.shape() ? -1 : 0;
      for (Index i = 0; first < 0 && i < a.count(); ++i)
        if (std::memcmp(&a.data()[i], &b.data()[i], sizeof(float)) != 0) first = i;
      std::printf("%-34s %lld elements: %s\n", what, static_cast<long long>(a.count()),
                  first < 0 ? "bit identical" : ("differ from element " + std::to_string(first)).c_str());
      differ += first >= 0;
    };
    const FeatureProblem<float> fq({q, w, true, 1e-4}), fk({k, w, false, 1e-4});
    const Tensor<float> qf = cpu::favor_plus_features(fq, threads), kf = cpu::favor_plus_features(fk, threads);
    report("favor_plus_features (query)", qf, cpu::generic::favor_plus_features(fq, threads));
    report("favor_plus_features (key)", kf, cpu::generic::favor_plus_features(fk, threads));
    const LinearInputs<float> li{qf, kf, v, true, Guard::lr, 1e-6};
    report("linear_attention", cpu::linear_attention(LinearProblem<float>(li), threads),
           cpu::generic::linear_attention(LinearProblem<float>(li), threads));
    const LinearBackwardProblem<float> lb({li, dout, false, 0});
    const AttentionGrads<float> g = cpu::linear_attention_vjp(lb, threads), h = cpu::generic::linear_attention_vjp(lb, threads);
    report("linear_attention_vjp dq", g.dq, h.dq);
    report("linear_attention_vjp dk", g.dk, h.dk);
    report("linear_attention_vjp dv", g.dv, h.dv);
    const FeatureBackwardProblem<float> bq({fq.in(), g.dq}), bk({fk.in(), g.dk});
    report("favor_plus_features_vjp (query)", cpu::favor_plus_features_vjp(bq, threads),
           cpu::generic::favor_plus_features_vjp(bq, threads));
    report("favor_plus_features_vjp (key)", cpu::favor_plus_features_vjp(bk, threads),
           cpu::generic::favor_plus_features_vjp(bk, threads));
    return differ > 0 ? 1 : 0;
  }
  std::vector<double> times;
  double check = 0;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    const FeatureProblem<float> fq({q, w, true, 1e-4}), fk({k, w, false, 1e-4});
    const Tensor<float> qf = generic ? cpu::generic::favor_plus_features(fq, threads) : cpu::favor_plus_features(fq, threads);
    const Tensor<float> kf = generic ? cpu::generic::favor_plus_features(fk, threads) : cpu::favor_plus_features(fk, threads);
    const LinearInputs<float> li{qf, kf, v, true, Guard::lr, 1e-6};
    const Tensor<float> out = generic ? cpu::generic::linear_attention(LinearProblem<float>(li), threads)
                                      : cpu::linear_attention(LinearProblem<float>(li), threads);
    const LinearBackwardProblem<float> lb({li, dout, false, 0});
    const AttentionGrads<float> g =
        generic ? cpu::generic::linear_attention_vjp(lb, threads) : cpu::linear_attention_vjp(lb, threads);
    const FeatureBackwardProblem<float> bq({fq.in(), g.dq}), bk({fk.in(), g.dk});
    const Tensor<float> dq = generic ? cpu::generic::favor_plus_features_vjp(bq, threads) : cpu::favor_plus_features_vjp(bq, threads);
    const Tensor<float> dk = generic ? cpu::generic::favor_plus_features_vjp(bk, threads) : cpu::favor_plus_features_vjp(bk, threads);
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    check = static_cast<double>(out[0]) + dq[0] + dk[0] + g.dv[0];
    std::printf("run %d: %.3f s\n", r, times.back());
  }
  std::vector<double> sorted = times;
  std::sort(sorted.begin(), sorted.end());
  std::printf("touchstone %s causal FAVOR+ fwd+bwd: median %.3f s over %d (min %.3f) [check %.6e]\n",
              generic ? "cpu-f32 (generic order loops)" : "cpu-f32", sorted[sorted.size() / 2], repeats, sorted.front(),
              check);
  return 0;
}
