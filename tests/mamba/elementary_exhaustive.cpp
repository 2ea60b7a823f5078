// Exhaustive measurement of the float32 elementary functions over every float32 input
// (spec/mamba.md [MAMBA-SCAN-ELEMENTARY]): prints the maximum error in ulps and where, and fails
// if it exceeds the constants the bounds use (bounds/.../mamba_bound.hpp).
// Usage: elementary_exhaustive [stride]   (stride 1 = exhaustive; the `slow` ctest)
#include <cstdio>
#include <cstdlib>

#include "elementary_sweep.hpp"
#include "touchstone/bounds/mamba_backward_bound.hpp"
#include "touchstone/bounds/mamba_bound.hpp"

int main(int argc, char** argv) {
  using namespace touchstone::mamba;
  using namespace touchstone::mamba::testing;
  const std::uint64_t stride = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1;
  if (stride == 0) return 2;
  struct Row {
    const char* name;
    SweepResult r;
    double claimed;
  } rows[] = {{"exp_f32", sweep_exp(stride), kExpF32Ulps},
              {"softplus_f32 (x <= 20)", sweep_softplus(stride), kSoftplusF32Ulps},
              {"silu_f32", sweep_silu(stride), kSiluF32Ulps},
              {"sigmoid_f32", sweep_sigmoid(stride), kSigmoidF32Ulps}};
  int rc = 0;
  for (const auto& row : rows) {
    std::printf("%-24s max %.9f ulp at %a (%llu inputs); spec bound %.5f: %s\n", row.name,
                row.r.max_ulps, static_cast<double>(row.r.worst_input),
                static_cast<unsigned long long>(row.r.count), row.claimed,
                row.r.max_ulps + std::ldexp(1.0, -20) <= row.claimed ? "ok" : "EXCEEDED");
    if (!(row.r.max_ulps + std::ldexp(1.0, -20) <= row.claimed)) rc = 1;
  }
  return rc;
}
