// mamba.selective_scan_complex and mamba.selective_scan_complex_backward in the registry: their
// names, default problems, oracles, backends and bounds (spec/mamba_complex.md); what they share
// with the real scan (mamba.cpp) is mamba_scan_entry.hpp's.
#include "cpu/mamba_complex.hpp"
#include "mamba_scan_entry.hpp"
#include "touchstone/reference/mamba_complex.hpp"
#include "touchstone/reference/mamba_complex_backward.hpp"
#include "touchstone/bounds/mamba_complex_backward_bound.hpp"
#include "touchstone/bounds/mamba_complex_bound.hpp"

namespace touchstone::mamba {
namespace {

using namespace scan_entry;

// [MAMBA-CSCAN-DEFAULTS] Between them: L = 1, a ragged L, groups, both variable layouts, constant
// operands, every option, and S4D-Lin A.
constexpr SizeSpec kSizes[] = {
    {"tiny", 1, 3, 2, 1, 0, 0, false, false, false, false, false, true},
    {"small", 2, 4, 8, 33, 2, 1, true, true, true, false, true, false},
    {"medium", 1, 16, 16, 256, 0, 1, true, true, false, false, false, true},
};
// [MAMBA-CSCAN-BWD-DEFAULTS] The forward's tiny and small problems (the same inputs), and a
// medium one that crosses a checkpoint block (L = 300 > 256); small and medium with dlast_state.
constexpr SizeSpec kBackwardSizes[] = {
    kSizes[0],
    kSizes[1],
    {"medium", 1, 8, 8, 300, 1, 0, true, true, true, false, true, true},
};
// `touchstone bench` only (not a `check` size; [MAMBA-CSCAN-DEFAULTS], [MAMBA-CSCAN-BWD-DEFAULTS]):
// the real scan's bench layout (mamba.cpp: variable B and C in one group, D, z, delta_bias,
// softplus; L 4096, N 16) with S4D-Lin A, but dim 64 (forward) and 32 (backward), not 1024: the
// MPFR oracle's complex steps (about 30 and 45 us each) must finish within ~300 CPU seconds.
constexpr SizeSpec kBench = {"bench", 1, 64, 16, 4096, 1, 1, true, true, true, false, true, true};
constexpr SizeSpec kBackwardBench = {"bench", 1, 32, 16, 4096, 1, 1, true, true, true, false, true, true};

// S4D-Lin ([P] 3.6): A_n = -1/2 + i pi n, the imaginary part rounded to the format; else Re A on
// [-0.5, 0) (decay, as the peer's test draws real A), Im A on [-4, 4).
Tensor<double> complex_A(const SizeSpec& s, const Filler& fill) {
  Tensor<double> A(Shape{s.dim, s.dstate, 2});
  if (s.structured_A) {
    for (Index d = 0; d < s.dim; ++d)
      for (Index n = 0; n < s.dstate; ++n) {
        A(d, n, Index{0}) = -0.5;
        A(d, n, Index{1}) = round_to_format(3.14159265358979323846 * static_cast<double>(n), fill.format);
      }
    return A;
  }
  const Tensor<double> re = fill("A.re", {s.dim, s.dstate}, -0.5, 0), im = fill("A.im", {s.dim, s.dstate}, -4, 4);
  for (Index i = 0; i < re.count(); ++i) {
    A[2 * i] = re[i];
    A[2 * i + 1] = im[i];
  }
  return A;
}

ComplexScanProblem<double> default_complex_problem(const SizeSpec& s, Format format, std::uint64_t seed) {
  return default_problem<ComplexScanProblem<double>>(s, "mamba.selective_scan_complex", format, seed, complex_A);
}

// ---- mamba.selective_scan_complex ([MAMBA-CSCAN-DEF]) ----
Entry<ComplexScanProblem<double>> scan() {
  using P = ComplexScanProblem<double>;
  auto e = forward_entry<ComplexState>(
      {"A", "(dim, dstate, 2) | complex (dim, dstate) | (dim, dstate)",
       "complex state matrix: (re, im) pairs, complex, or real (imaginary parts 0)", false},
      {"B", "complex (dim, dstate) | (batch, dstate, 2 seqlen) | (batch, B_groups, dstate, 2 seqlen)",
       "input matrix: constant complex, or variable with interleaved (re, im)", false},
      {"C", "complex (dim, dstate) | (batch, dstate, 2 seqlen) | (batch, C_groups, dstate, 2 seqlen)",
       "output matrix: constant complex, or variable with interleaved (re, im)", false});
  e.name = "mamba.selective_scan_complex";
  e.spec_ref = "spec/mamba_complex.md [MAMBA-CSCAN-DEF]";
  e.summary = "Mamba's selective scan (S6) forward, complex A (S4D-Lin style): mamba_ssm selective_scan_ref "
              "semantics, out = 2 Re(sum_n h_n C_n)";
  e.outputs = {{"out", "(batch, dim, seqlen)", "output sequence, 2 Re(sum_n h_n C_n) + D u, gated", false},
               {"last_state", "complex (batch, dim, dstate) as (batch, dim, dstate, 2)", "state after the last step",
                false}};
  e.sizes = size_names(kSizes);
  e.extra_sizes = {kBench.name};  // touchstone bench's
  e.generate = [](const std::string& size, Format format, std::uint64_t seed) {
    return default_complex_problem(size_row(kSizes, kBench, size), format, seed);
  };
  e.oracle = [](const P& p) { return result_arrays(reference::selective_scan_complex<mp_real, mp_complex>(p)); };
  auto bound = [](const P& p, const ComplexScanArithmetic& m) { return result_arrays(selective_scan_complex_bound(p, m)); };
  cpu_backends_and_any_order(
      e,
      "sequential in t; per step h = fma(a.re,h,fma(-+a.im,h',dt*u*B)) per part; y by fma over (n, part); "
      "fma(D,u,2y)*silu(z)",
      [](const auto& p) { return result_arrays(cpu::selective_scan_complex(p)); }, bound,
      complex_arithmetic_cpu_f32(), complex_arithmetic_cpu_f64(),
      [](const P&, Format s, double ulps) { return complex_arithmetic_any_order(s, ulps); });
  return e;
}

// ---- mamba.selective_scan_complex_backward ([MAMBA-CSCAN-BWD-DEF]) ----
std::unique_ptr<Algorithm> scan_backward(const Entry<ComplexScanProblem<double>>& forward) {
  using Q = ComplexScanBackwardProblem<double>;
  using P = ScanBackwardAsGiven<Q>;
  auto e = backward_entry(forward,
                          {"dlast_state", "complex (batch, dim, dstate) | (batch, dim, dstate, 2)",
                           "cotangent of last_state, PyTorch's grad_output convention (absent = 0)", true},
                          {"dA", "A's layout", "gradient of A, (dL/dRe, dL/dIm) pairs", false},
                          {"dB", "B's layout", "gradient of B (interleaved when B is)", false},
                          {"dC", "C's layout", "gradient of C (interleaved when C is)", false});
  e.name = "mamba.selective_scan_complex_backward";
  e.spec_ref = "spec/mamba_complex.md [MAMBA-CSCAN-BWD-DEF]";
  e.summary = "gradients (VJP) of mamba.selective_scan_complex with respect to every input; complex gradients as "
              "(dL/dRe, dL/dIm), PyTorch's .grad convention";
  e.generate = [name = e.name](const std::string& size, Format format, std::uint64_t seed) {
    auto p = default_complex_problem(
        size_row(kBackwardSizes, kBackwardBench, size), format, seed);
    return as_written(with_cotangents(std::move(p), name, format, seed, size != "tiny"));
  };
  e.oracle = [](const P& b) { return b.gradients(reference::selective_scan_complex_vjp<mp_real, mp_complex>(b.q)); };
  auto bound = [](const P& b, const ComplexBackwardArithmetic& m) {
    return b.gradients(selective_scan_complex_backward_bound(b.q, m));
  };
  cpu_backends_and_any_order(
      e,
      "reverse in t from per-tile checkpoints every 256 steps; complex products by two fmas per part; fma "
      "chains over n and t per channel; channel and batch sums in a fixed order",
      [](const auto& b) { return b.gradients(cpu::selective_scan_complex_backward(b.q)); }, bound,
      complex_backward_arithmetic_cpu_f32(), complex_backward_arithmetic_cpu_f64(),
      [](const P&, Format s, double ulps) { return complex_backward_arithmetic_any_order(s, ulps); });
  return make_entry(std::move(e));
}

}  // namespace
}  // namespace touchstone::mamba

namespace touchstone {
void register_mamba_complex(Registry& registry) {
  auto forward = mamba::scan();
  auto backward = mamba::scan_backward(forward);
  registry.add(make_entry(std::move(forward)));
  registry.add(std::move(backward));
}
}  // namespace touchstone
