// Issue 11's CPU bench (bench/RESULTS.md, "Orthogonal, CPU: forming Q by CWY"): Q = H(v_1) ...
// H(v_L) at N = L = 1024 formed by cpu-f32's CWY, by cpu-f32's sequential reflections, by the
// Eigen CWY (cpu-eigen-f32) or by the order header's CWY run element by element (generic), and CWY
// applied to 256 vectors without forming Q, timed in-process like bench/peers/orthogonal_cwy.py
// times torch. The inputs are those of `touchstone generate orthogonal.cwy --size bench` (seed 0,
// Philox stream "orthogonal.cwy/V", float32) and, for apply, `touchstone generate
// orthogonal.cwy_apply --size bench` ("orthogonal.cwy_apply/V" and "/h"); generation is untimed.
//   ./build/bench/orthogonal_cwy WHAT [REPEATS]   WHAT: cwy, householder, eigen, generic, apply
// prints each run and the median seconds. Threads: TOUCHSTONE_THREADS, else all cores (cwy, apply).
//   ./build/bench/orthogonal_cwy compare   cpu-f32's CWY and apply against the order header's
// element-by-element run (cpu::generic) at the bench size: bit identical or not (exit status 1).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cpu/orthogonal.hpp"
#include "touchstone/core/random.hpp"

using namespace touchstone;
using namespace touchstone::orthogonal;

namespace {

Tensor<float> normal(Index rows, Index cols, const std::string& stream) {
  PhiloxStream r(0, stream);
  Tensor<float> t(Shape{rows, cols});
  for (Index i = 0; i < t.count(); ++i) t[i] = static_cast<float>(r.next_normal());
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string what = argc > 1 ? argv[1] : "cwy";
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 3;
  const Index N = 1024, L = 1024, B = 256;
  const bool apply = what == "apply";
  const ReflectorProblem<float> p(normal(L, N, apply ? "orthogonal.cwy_apply/V" : "orthogonal.cwy/V"));
  const ApplyProblem<float> ap(p, apply ? normal(B, N, "orthogonal.cwy_apply/h") : Tensor<float>(Shape{1, N}, 1.0f), false);
  if (what == "compare") {
    auto same = [](const Tensor<float>& a, const Tensor<float>& b) {
      return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<std::size_t>(a.count())) == 0;
    };
    const ReflectorProblem<float> pa(normal(L, N, "orthogonal.cwy_apply/V"));
    const ApplyProblem<float> apply_problem(pa, normal(B, N, "orthogonal.cwy_apply/h"), false);
    const bool q = same(cpu::cwy(p), cpu::generic::cwy(p));
    const bool y = same(cpu::cwy_apply(apply_problem), cpu::generic::cwy_apply(apply_problem));
    std::printf("cwy N=L=1024: %s\ncwy_apply N=L=1024 B=256: %s\n", q ? "bit identical" : "DIFFER",
                y ? "bit identical" : "DIFFER");
    return q && y ? 0 : 1;
  }
  std::vector<double> times;
  double check = 0;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    Tensor<float> out;
    if (what == "cwy") out = cpu::cwy(p);
    else if (what == "householder") out = cpu::householder_product(p);
    else if (what == "eigen") out = cpu::cwy_eigen(p);
    else if (what == "generic") out = cpu::generic::cwy(p);
    else if (apply) out = cpu::cwy_apply(ap);
    else {
      std::fprintf(stderr, "WHAT: cwy, householder, eigen, generic or apply\n");
      return 2;
    }
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    check = 0;
    for (Index i = 0; i < out.count(); ++i) check += out[i];
    std::printf("run %d: %.4f s\n", r, times.back());
  }
  std::vector<double> sorted = times;
  std::sort(sorted.begin(), sorted.end());
  std::printf("touchstone %s N=L=%lld%s: median %.4f s over %d (min %.4f) [sum %.6e, v[0] %.9g]\n", what.c_str(),
              static_cast<long long>(N), apply ? " B=256" : "", sorted[sorted.size() / 2], repeats, sorted.front(), check,
              static_cast<double>(p.v()[0]));
  return 0;
}
