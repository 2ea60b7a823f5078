// mamba.selective_scan and mamba.selective_scan_backward in the registry: their names, default
// problems, file layouts, oracles, backends and bounds; the entries are declared by
// mamba_scan_entry.hpp, shared with the complex scan (mamba_complex.cpp).
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
  const SizeSpec& s = size == kBench.name ? kBench : size_row(kSizes, size);
  return default_problem<SelectiveScanProblem<double>>(s, "mamba.selective_scan", format, seed, real_A);
}

SelectiveScanBackwardProblem<double> default_selective_scan_backward_problem(const std::string& size,
                                                                             Format format,
                                                                             std::uint64_t seed) {
  auto p = default_selective_scan_problem(size, format, seed);
  std::optional<std::vector<Index>> dlast;
  // The small problem also has h0: exercise dlast_state and dh0.
  if (size == "small") dlast = std::vector<Index>{p.batch(), p.dim(), p.dstate()};
  return with_cotangents<SelectiveScanBackwardProblem<double>>(
      std::move(p), "mamba.selective_scan_backward", format, seed, std::move(dlast));
}

namespace {

// ---- mamba.selective_scan ([MAMBA-SCAN-DEF]) ----

struct RealScan {
  using Problem = SelectiveScanProblem<double>;
  static constexpr const char* kName = "mamba.selective_scan";
  static constexpr const char* kSpecRef = "spec/mamba.md [MAMBA-SCAN-DEF]";
  static constexpr const char* kSummary =
      "Mamba's selective scan (S6) forward, real A: mamba_ssm selective_scan_fn semantics, plus an initial "
      "state h0";
  // The forward inputs in the peer's names ([MAMBA-SCAN-SHAPES]); the backward entry adds its
  // cotangents.
  static std::vector<ArraySpec> inputs() {
    return scan_inputs(
        {"A", "(dim, dstate)", "real state matrix (diagonal per channel)", false},
        {"B", "(dim, dstate) | (batch, dstate, seqlen) | (batch, B_groups, dstate, seqlen)",
         "input matrix, constant or selective", false},
        {"C", "(dim, dstate) | (batch, dstate, seqlen) | (batch, C_groups, dstate, seqlen)",
         "output matrix, constant or selective", false},
        ArraySpec{"h0", "(batch, dim, dstate)", "initial state (touchstone extension)", true});
  }
  static std::vector<ArraySpec> outputs() {
    return {{"out", "(batch, dim, seqlen)", "output sequence", false},
            {"last_state", "(batch, dim, dstate)", "state after the last step", false}};
  }
  static std::vector<std::string> sizes() { return size_names(kSizes); }
  static std::vector<std::string> extra_sizes() { return {kBench.name}; }  // touchstone bench's
  static Problem generate(const std::string& size, Format format, std::uint64_t seed) {
    return default_selective_scan_problem(size, format, seed);
  }
  // The problem takes the peer's 3-d variable B or C as groups = 1.
  static Tensor<double> read_A(const InputReader& r) { return r.array("A"); }
  static Tensor<double> operand(const InputReader& r, const char* name) { return r.array(name); }
  static auto oracle(const Problem& p) { return reference::selective_scan<mp_real>(p); }
  static auto any_order_bound(const Problem& p, Format storage, double elementary_ulps) {
    return selective_scan_bound(p, arithmetic_any_order(storage, p.seqlen(), elementary_ulps));
  }
  // [MAMBA-SCAN-BOUND-PROBABILISTIC] for `diff`'s SUSPECT tier.
  static double thetas(const Problem& p) { return selective_scan_thetas(p); }
  // The probabilistic bound and the rigorous any-order bound, from one evaluation.
  static std::pair<SelectiveScanResult<double>, SelectiveScanResult<double>> probabilistic_bound(
      const Problem& p, Format compute, double elementary_ulps, double lambda) {
    ScanProbabilistic probabilistic{lambda, {}};
    auto rigorous = selective_scan_bound(p, arithmetic_any_order(compute, p.seqlen(), elementary_ulps), &probabilistic);
    return {std::move(probabilistic.bound), std::move(rigorous)};
  }
  static std::vector<EntryBackend<Problem>> backends() {
    const auto shape = cuda::selective_scan_kernel_shape();
    auto bound = [](ScanArithmetic m) { return [m](const Problem& p) { return selective_scan_bound(p, m); }; };
    auto run_cpu = [](const auto& p) { return cpu::selective_scan(p); };
    const std::string sequential = "sequential in t; per step fma(a,h,dt*u*B); y by fma over n; fma(D,u,y)*silu(z)";
    auto backends = cpu_backends<Problem>(sequential, run_cpu, bound, arithmetic_cpu_f32(), arithmetic_cpu_f64());
    backends.push_back(backend<Problem, true>(
            "cuda-f32",
            "chunks of " + std::to_string(shape.chunk) + ": per-thread sequential folds, block tree scan, "
            "sequential recompute; y and gate as cpu",
            [](const SelectiveScanProblem<float>& p) { return cuda::selective_scan(p); },
            bound(arithmetic_cuda_f32(shape.tree_depth, shape.chunk)), [] { return touchstone::cuda::unavailable_reason(); }));
    return backends;
  }
};

// ---- mamba.selective_scan_backward ([MAMBA-BWD-DEF]) ----

struct RealScanBackward {
  using Forward = RealScan;
  using Problem = SelectiveScanBackwardProblem<double>;
  static constexpr const char* kName = "mamba.selective_scan_backward";
  static constexpr const char* kSpecRef = "spec/mamba.md [MAMBA-BWD-DEF]";
  static constexpr const char* kSummary = "gradients (VJP) of mamba.selective_scan with respect to every input, real A";
  static ArraySpec dlast_spec() {
    return {"dlast_state", "(batch, dim, dstate)", "cotangent of last_state (the peer ignores it: absent = 0)", true};
  }
  static std::vector<ArraySpec> outputs() {
    return backward_outputs({"dA", "(dim, dstate)", "gradient of A", false}, {"dB", "B's shape", "gradient of B", false},
                            {"dC", "C's shape", "gradient of C", false},
                            ArraySpec{"dh0", "(batch, dim, dstate)", "gradient of h0 (when given)", true});
  }
  static Problem generate(const std::string& size, Format format, std::uint64_t seed) {
    return default_selective_scan_backward_problem(size, format, seed);
  }
  static auto oracle(const Problem& q) { return reference::selective_scan_vjp<mp_real>(q); }
  static auto any_order_bound(const Problem& q, Format storage, double elementary_ulps) {
    return selective_scan_backward_bound(q, backward_arithmetic_any_order(storage, elementary_ulps));
  }
  static std::vector<EntryBackend<Backward<Problem>>> backends() {
    using P = Backward<Problem>;
    auto bound = [](BackwardArithmetic m) {
      return [m](const Problem& q) { return selective_scan_backward_bound(q, m); };
    };
    auto run_cpu = [](const auto& q) { return cpu::selective_scan_backward(q); };
    const std::string order =
        "reverse in t from checkpointed blocks of 256; fma chains over n and t per channel; channel and batch "
        "sums in a fixed order";
    auto backends = cpu_backends<P>(order, run_cpu, bound, backward_arithmetic_cpu_f32(), backward_arithmetic_cpu_f64());
    // [MAMBA-BWD-CUDA]: the cpu-f32 order exactly (bitwise equal), so the cpu-f32 bound.
    backends.push_back(backend<P, true>(
        "cuda-f32", order + " (the cpu-f32 order: bitwise equal)",
        [](const SelectiveScanBackwardProblem<float>& q) { return cuda::selective_scan_backward(q); },
        bound(backward_arithmetic_cpu_f32()), [] { return touchstone::cuda::unavailable_reason(); }));
    return backends;
  }
};

}  // namespace
}  // namespace touchstone::mamba

namespace touchstone {
void register_mamba(Registry& registry) {
  registry.add(mamba::scan_entry::scan_entry<mamba::RealScan>());
  registry.add(mamba::scan_entry::backward_entry<mamba::RealScanBackward>());
}
}  // namespace touchstone
