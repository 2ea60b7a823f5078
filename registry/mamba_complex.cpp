// mamba.selective_scan_complex and mamba.selective_scan_complex_backward in the registry: their
// names and file layouts, default problems, oracles, backends and bounds
// (spec/mamba_complex.md); the entries are declared by mamba_scan_entry.hpp, shared with the
// real scan (mamba.cpp).
#include <optional>

#include "cpu/mamba_complex.hpp"
#include "mamba_scan_entry.hpp"
#include "touchstone/reference/mamba_complex.hpp"
#include "touchstone/reference/mamba_complex_backward.hpp"
#include "touchstone/bounds/mamba_complex_backward_bound.hpp"
#include "touchstone/bounds/mamba_complex_bound.hpp"

namespace touchstone::mamba {
namespace {

using namespace scan_entry;

constexpr const char* kName = "mamba.selective_scan_complex";

// [MAMBA-CSCAN-DEFAULTS] Between them: L = 1, a ragged L, groups, both variable layouts, constant
// operands, every option, and S4D-Lin A.
constexpr SizeSpec kComplexSizes[] = {
    {"tiny", 1, 3, 2, 1, 0, 0, false, false, false, false, false, true},
    {"small", 2, 4, 8, 33, 2, 1, true, true, true, false, true, false},
    {"medium", 1, 16, 16, 256, 0, 1, true, true, false, false, false, true},
};

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
  return default_problem<ComplexScanProblem<double>>(s, kName, format, seed, complex_A);
}

// ---- mamba.selective_scan_complex ([MAMBA-CSCAN-DEF]) ----

struct ComplexScan {
  using Problem = ComplexScanProblem<double>;
  static constexpr const char* kName = mamba::kName;
  static constexpr const char* kSpecRef = "spec/mamba_complex.md [MAMBA-CSCAN-DEF]";
  static constexpr const char* kSummary =
      "Mamba's selective scan (S6) forward, complex A (S4D-Lin style): mamba_ssm selective_scan_ref semantics, "
      "out = 2 Re(sum_n h_n C_n)";
  static std::vector<ArraySpec> inputs() {
    return scan_inputs(
        {"A", "(dim, dstate, 2) | complex (dim, dstate) | (dim, dstate)", "complex state matrix: (re, im) pairs, complex, or real (imaginary parts 0)", false},
        {"B", "complex (dim, dstate) | (batch, dstate, 2 seqlen) | (batch, B_groups, dstate, 2 seqlen)",
         "input matrix: constant complex, or variable with interleaved (re, im)", false},
        {"C", "complex (dim, dstate) | (batch, dstate, 2 seqlen) | (batch, C_groups, dstate, 2 seqlen)",
         "output matrix: constant complex, or variable with interleaved (re, im)", false});
  }
  static std::vector<ArraySpec> outputs() {
    return {{"out", "(batch, dim, seqlen)", "output sequence, 2 Re(sum_n h_n C_n) + D u, gated", false},
            {"last_state", "complex (batch, dim, dstate) as (batch, dim, dstate, 2)", "state after the last step", false}};
  }
  static std::vector<std::string> sizes() { return size_names(kComplexSizes); }
  static std::vector<std::string> extra_sizes() { return {}; }
  static Problem generate(const std::string& size, Format format, std::uint64_t seed) {
    return default_complex_problem(size_row(kComplexSizes, size), format, seed);
  }
  // A as (dim, dstate, 2) (a complex array's values, or its real view), or real (dim, dstate).
  static Tensor<double> read_A(const InputReader& r) {
    const Tensor<double>& A = r.array("A");
    return A.rank() == 2 ? complex_from_real(A) : A;
  }
  // [MAMBA-CSCAN-LAYOUT-INTERLEAVED] B or C as the problem's (re, im) layout. A complex array is
  // a constant (dim, N). A real array follows the peer's rule `is_variable = B.dim() >= 3`: the
  // interleaved (batch, [G,] N, 2L); a real (dim, N, 2), the view_as_real of a constant (what
  // `touchstone generate` writes), is read as that when it cannot be the interleaved layout.
  static Tensor<double> operand(const InputReader& r, const std::string& name) {
    const Tensor<double>& X = r.array(name);
    if (X.rank() == 3) {
      const bool interleaved_fits = X.extent(0) == r.dim("batch") && X.extent(2) == 2 * r.dim("seqlen");
      const bool view_fits = X.extent(0) == r.dim("dim") && X.extent(2) == 2;
      if (interleaved_fits && view_fits && !r.stored_complex(name))
        throw InvalidInput(name, "shape " + X.shape().str() + " is ambiguous: both the interleaved (batch, "
                                 "dstate, 2 seqlen) and a constant (dim, dstate, 2) as (re, im); save a "
                                 "constant as a complex array");
      if (view_fits) return X;
    }
    return complex_from_interleaved(X, name);
  }
  static auto oracle(const Problem& p) { return reference::selective_scan_complex<mp_real, mp_complex>(p); }
  static auto any_order_bound(const Problem& p, Format storage, double elementary_ulps) {
    return selective_scan_complex_bound(p, complex_arithmetic_any_order(storage, elementary_ulps));
  }
  static std::vector<EntryBackend<Problem>> backends() {
    auto bound = [](ComplexScanArithmetic m) {
      return [m](const Problem& p) { return selective_scan_complex_bound(p, m); };
    };
    auto run_cpu = [](const auto& p) { return cpu::selective_scan_complex(p); };
    const std::string sequential =
        "sequential in t; per step h = fma(a.re,h,fma(-+a.im,h',dt*u*B)) per part; y by fma over (n, part); "
        "fma(D,u,2y)*silu(z)";
    return cpu_backends<Problem>(sequential, run_cpu, bound, complex_arithmetic_cpu_f32(), complex_arithmetic_cpu_f64());
  }
};

// ---- mamba.selective_scan_complex_backward ([MAMBA-CSCAN-BWD-DEF]) ----

constexpr const char* kBackwardName = "mamba.selective_scan_complex_backward";

// [MAMBA-CSCAN-BWD-DEFAULTS] The forward's tiny and small problems (the same inputs), and a
// medium one that crosses a checkpoint block (L = 300 > 256); small and medium with dlast_state.
constexpr SizeSpec kComplexBackwardSizes[] = {
    kComplexSizes[0],
    kComplexSizes[1],
    {"medium", 1, 8, 8, 300, 1, 0, true, true, true, false, true, true},
};

struct ComplexScanBackward {
  using Forward = ComplexScan;
  using Problem = ComplexScanBackwardProblem<double>;
  static constexpr const char* kName = kBackwardName;
  static constexpr const char* kSpecRef = "spec/mamba_complex.md [MAMBA-CSCAN-BWD-DEF]";
  static constexpr const char* kSummary =
      "gradients (VJP) of mamba.selective_scan_complex with respect to every input; complex gradients as "
      "(dL/dRe, dL/dIm), PyTorch's .grad convention";
  static ArraySpec dlast_spec() {
    return {"dlast_state", "complex (batch, dim, dstate) | (batch, dim, dstate, 2)",
            "cotangent of last_state, PyTorch's grad_output convention (absent = 0)", true};
  }
  static std::vector<ArraySpec> outputs() {
    return backward_outputs({"dA", "A's layout", "gradient of A, (dL/dRe, dL/dIm) pairs", false},
                            {"dB", "B's layout", "gradient of B (interleaved when B is)", false},
                            {"dC", "C's layout", "gradient of C (interleaved when C is)", false});
  }
  static Problem generate(const std::string& size, Format format, std::uint64_t seed) {
    auto p = default_complex_problem(size_row(kComplexBackwardSizes, size), format, seed);
    std::optional<std::vector<Index>> dlast;
    if (size != "tiny") dlast = std::vector<Index>{p.batch(), p.dim(), p.dstate(), 2};
    return with_cotangents<Problem>(std::move(p), kBackwardName, format, seed, std::move(dlast));
  }
  static auto oracle(const Problem& q) {
    return reference::selective_scan_complex_vjp<mp_real, mp_complex>(q);
  }
  static auto any_order_bound(const Problem& q, Format storage, double elementary_ulps) {
    return selective_scan_complex_backward_bound(
        q, complex_backward_arithmetic_any_order(storage, elementary_ulps));
  }

  static std::vector<EntryBackend<Backward<Problem>>> backends() {
    using P = Backward<Problem>;
    auto bound = [](ComplexBackwardArithmetic m) {
      return [m](const Problem& q) { return selective_scan_complex_backward_bound(q, m); };
    };
    auto run_cpu = [](const auto& q) { return cpu::selective_scan_complex_backward(q); };
    const std::string order =
        "reverse in t from per-tile checkpoints every 256 steps; complex products by two fmas per part; fma "
        "chains over n and t per channel; channel and batch sums in a fixed order";
    return cpu_backends<P>(order, run_cpu, bound, complex_backward_arithmetic_cpu_f32(),
                           complex_backward_arithmetic_cpu_f64());
  }
};

}  // namespace
}  // namespace touchstone::mamba

namespace touchstone {
void register_mamba_complex(Registry& registry) {
  registry.add(mamba::scan_entry::scan_entry<mamba::ComplexScan>());
  registry.add(mamba::scan_entry::backward_entry<mamba::ComplexScanBackward>());
}
}  // namespace touchstone
