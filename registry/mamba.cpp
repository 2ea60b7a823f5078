// mamba.selective_scan and mamba.selective_scan_backward in the registry: their names, default
// problems, oracles, backends and bounds; what they share with the complex scan
// (mamba_complex.cpp) is mamba_scan_entry.hpp's.
#include "mamba.hpp"

#include "cpu/mamba.hpp"
#include "cuda/device.hpp"
#include "cuda/mamba.hpp"
#include "mamba_scan_entry.hpp"
#include "touchstone/reference/mamba.hpp"
#include "touchstone/reference/mamba_backward.hpp"
#include "touchstone/bounds/mamba_backward_bound.hpp"
#include "touchstone/bounds/mamba_bound.hpp"

namespace touchstone::mamba {
namespace {

using namespace scan_entry;

// The default problems of `touchstone check` ([MAMBA-SCAN-DEFAULTS]): between them they use
// every option and layout, L = 1, a ragged L, groups, and the peer's test configuration.
constexpr SizeSpec kSizes[] = {
    {"tiny", 1, 3, 2, 1, 0, 0, false, false, false, false, false, false},
    {"small", 2, 4, 8, 33, 2, 2, true, true, true, true, true, false},
    {"medium", 1, 16, 16, 256, 0, 1, true, true, false, false, false, true},
    {"long", 1, 8, 16, 2048, 1, 1, true, true, true, false, true, false},
};
// Not in `check`: the benchmark shape of the issue (batch 1, dim 1024, N 16, L 4096).
constexpr SizeSpec kBench = {"bench", 1, 1024, 16, 4096, 1, 1, true, true, true, false, true, false};

// A in (-0.5, 0] or the S4D-Real A[n] = -(n+1).
Tensor<double> real_A(const SizeSpec& s, const Filler& fill) {
  if (!s.structured_A) return fill("A", {s.dim, s.dstate}, -0.5, 0);
  Tensor<double> A(Shape{s.dim, s.dstate});
  for (Index d = 0; d < s.dim; ++d)
    for (Index n = 0; n < s.dstate; ++n) A(d, n) = -static_cast<double>(n + 1);
  return A;
}

}  // namespace

SelectiveScanProblem<double> default_selective_scan_problem(const std::string& size, Format format,
                                                            std::uint64_t seed) {
  const SizeSpec& s = size_row(kSizes, kBench, size);
  return default_problem<SelectiveScanProblem<double>>(s, "mamba.selective_scan", format, seed, real_A);
}

SelectiveScanBackwardProblem<double> default_selective_scan_backward_problem(const std::string& size,
                                                                             Format format,
                                                                             std::uint64_t seed) {
  // The small problem also has h0: exercise dlast_state and dh0.
  return with_cotangents(default_selective_scan_problem(size, format, seed), "mamba.selective_scan_backward",
                         format, seed, size == "small");
}

namespace {

// ---- mamba.selective_scan ([MAMBA-SCAN-DEF]) ----
Entry<SelectiveScanProblem<double>> scan() {
  using P = SelectiveScanProblem<double>;
  auto e = forward_entry<RealState>(
      {"A", "(dim, dstate)", "real state matrix (diagonal per channel)", false},
      {"B", "(dim, dstate) | (batch, dstate, seqlen) | (batch, B_groups, dstate, seqlen)",
       "input matrix, constant or selective", false},
      {"C", "(dim, dstate) | (batch, dstate, seqlen) | (batch, C_groups, dstate, seqlen)",
       "output matrix, constant or selective", false},
      ArraySpec{"h0", "(batch, dim, dstate)", "initial state (touchstone extension)", true});
  e.name = "mamba.selective_scan";
  e.spec_ref = "spec/mamba.md [MAMBA-SCAN-DEF]";
  e.summary = "Mamba's selective scan (S6) forward, real A: mamba_ssm selective_scan_fn semantics, plus an initial "
              "state h0";
  e.outputs = {{"out", "(batch, dim, seqlen)", "output sequence", false},
               {"last_state", "(batch, dim, dstate)", "state after the last step", false}};
  e.sizes = size_names(kSizes);
  e.extra_sizes = {kBench.name};  // touchstone bench's
  e.generate = default_selective_scan_problem;
  e.oracle = [](const P& p) { return result_arrays(reference::selective_scan<mp_real>(p)); };
  auto bound = [](const P& p, const ScanArithmetic& m) { return result_arrays(selective_scan_bound(p, m)); };
  cpu_backends_and_any_order(
      e, "sequential in t; per step fma(a,h,dt*u*B); y by fma over n; fma(D,u,y)*silu(z)",
      [](const auto& p) { return result_arrays(cpu::selective_scan(p)); }, bound, arithmetic_cpu_f32(),
      arithmetic_cpu_f64(), [](const P& p, Format s, double ulps) { return arithmetic_any_order(s, p.seqlen(), ulps); });
  const auto shape = cuda::selective_scan_kernel_shape();
  e.backends.push_back(
      {"cuda-f32", Format::float32,
       "chunks of " + std::to_string(shape.chunk) + ": per-thread sequential folds, block tree scan, "
       "sequential recompute; y and gate as cpu",
       [](const EntryProblem<P>& h) { return result_arrays(cuda::selective_scan(h.f32())); },
       [bound, m = arithmetic_cuda_f32(shape.tree_depth, shape.chunk)](const P& p) { return bound(p, m); },
       [] { return touchstone::cuda::unavailable_reason(); }});
  // [MAMBA-SCAN-BOUND-PROBABILISTIC] for `diff`'s SUSPECT tier ([CORE-DIFF-PROBABILISTIC]): lambda
  // from the count of theta's; the probabilistic and the rigorous any-order bound from one evaluation.
  e.probabilistic_bound = [](const P& p, Format compute, double ulps, double alpha) {
    ProbabilisticBound out;
    out.alpha = alpha, out.thetas = selective_scan_thetas(p);
    out.lambda = hm_lambda(out.thetas, alpha, format_info(compute).u);
    ScanProbabilistic probabilistic{out.lambda, {}};
    auto rigorous = selective_scan_bound(p, arithmetic_any_order(compute, p.seqlen(), ulps), &probabilistic);
    out.bound = result_arrays(std::move(probabilistic.bound));
    out.rigorous = result_arrays(std::move(rigorous));
    return out;
  };
  return e;
}

// ---- mamba.selective_scan_backward ([MAMBA-BWD-DEF]) ----
std::unique_ptr<Algorithm> scan_backward(const Entry<SelectiveScanProblem<double>>& forward) {
  using P = ScanBackwardAsGiven<SelectiveScanBackwardProblem<double>>;
  auto e = backward_entry(
      forward,
      {"dlast_state", "(batch, dim, dstate)", "cotangent of last_state (the peer ignores it: absent = 0)", true},
      {"dA", "(dim, dstate)", "gradient of A", false}, {"dB", "B's shape", "gradient of B", false},
      {"dC", "C's shape", "gradient of C", false},
      ArraySpec{"dh0", "(batch, dim, dstate)", "gradient of h0 (when given)", true});
  e.name = "mamba.selective_scan_backward";
  e.spec_ref = "spec/mamba.md [MAMBA-BWD-DEF]";
  e.summary = "gradients (VJP) of mamba.selective_scan with respect to every input, real A";
  e.generate = [](const std::string& size, Format format, std::uint64_t seed) {
    return as_written(default_selective_scan_backward_problem(size, format, seed));
  };
  e.oracle = [](const P& b) { return b.gradients(reference::selective_scan_vjp<mp_real>(b.q)); };
  auto bound = [](const P& b, const BackwardArithmetic& m) { return b.gradients(selective_scan_backward_bound(b.q, m)); };
  const std::string order =
      "reverse in t from checkpointed blocks of 256; fma chains over n and t per channel; channel and batch "
      "sums in a fixed order";
  cpu_backends_and_any_order(
      e, order, [](const auto& b) { return b.gradients(cpu::selective_scan_backward(b.q)); }, bound,
      backward_arithmetic_cpu_f32(), backward_arithmetic_cpu_f64(),
      [](const P&, Format s, double ulps) { return backward_arithmetic_any_order(s, ulps); });
  // [MAMBA-BWD-CUDA]: the cpu-f32 order exactly (bitwise equal), so the cpu-f32 bound.
  e.backends.push_back({"cuda-f32", Format::float32, order + " (the cpu-f32 order: bitwise equal)",
                        [](const EntryProblem<P>& h) { return h.f32().gradients(cuda::selective_scan_backward(h.f32().q)); },
                        [bound](const P& b) { return bound(b, backward_arithmetic_cpu_f32()); },
                        [] { return touchstone::cuda::unavailable_reason(); }});
  return make_entry(std::move(e));
}

}  // namespace
}  // namespace touchstone::mamba

namespace touchstone {
void register_mamba(Registry& registry) {
  auto forward = mamba::scan();
  auto backward = mamba::scan_backward(forward);
  registry.add(make_entry(std::move(forward)));
  registry.add(std::move(backward));
}
}  // namespace touchstone
