// The selective scans' problems as a user's named arrays, in mamba_ssm's names and layouts
// (spec/mamba.md [MAMBA-SCAN-SHAPES], [MAMBA-BWD-SHAPES]; spec/mamba_complex.md
// [MAMBA-CSCAN-SHAPES], [MAMBA-CSCAN-LAYOUT-INTERLEAVED], [MAMBA-CSCAN-BWD-SHAPES]): read from a
// file that core's check_inputs has passed, written back as `touchstone generate` writes them,
// described in one line; results and gradients as named arrays, each gradient in the layout its
// input was given in. The registry's four scan entries (registry/mamba*.cpp) declare these.
#pragma once

#include <map>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "touchstone/core/entry.hpp"
#include "touchstone/reference/mamba_complex_problem.hpp"
#include "touchstone/reference/mamba_scan_problem.hpp"

namespace touchstone::mamba {

// The forward problem from a user's arrays. The real scan's problem takes the peer's 3-d variable
// B or C as groups = 1. The complex scan's A is (dim, dstate, 2) (a complex array's values, or its
// real view) or real (dim, dstate).
template <class S>
ScanProblem<double, S> read_scan_problem(const InputReader& r) {
  // [MAMBA-CSCAN-LAYOUT-INTERLEAVED] The complex scan's B or C as the problem's (re, im) layout. A
  // complex array is a constant (dim, N). A real array follows the peer's rule `is_variable =
  // B.dim() >= 3`: the interleaved (batch, [G,] N, 2L); a real (dim, N, 2), the view_as_real of a
  // constant (what `touchstone generate` writes), is read as that when it cannot be the
  // interleaved layout.
  auto operand = [&r](const std::string& name) {
    const Tensor<double>& X = r.array(name);
    if (!S::kComplex) return X;
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
  };
  typename ScanProblem<double, S>::Inputs in;
  in.u = r.array("u");
  in.delta = r.array("delta");
  in.A = r.array("A");
  if (S::kComplex && in.A.rank() == 2) in.A = complex_from_real(in.A);
  in.B = operand("B");
  in.C = operand("C");
  in.D = r.optional_array("D");
  in.z = r.optional_array("z");
  in.delta_bias = r.optional_array("delta_bias");
  if constexpr (!S::kComplex) in.h0 = r.optional_array("h0");
  in.delta_softplus = r.flag("delta_softplus", false);
  return ScanProblem<double, S>(std::move(in));
}

// A forward problem's inputs in the peer's layouts; for the complex scan, where a real array can
// carry them: A and a constant B or C as (dim, dstate, 2) (torch.view_as_complex gives the
// complex tensor), a variable B or C interleaved (batch, groups, dstate, 2 seqlen), what
// selective_scan_fn takes.
template <class S>
Arrays scan_arrays(const ScanProblem<double, S>& p) {
  const auto& in = p.in();
  auto operand = [](const Tensor<double>& X, const GroupedOperand& g) {
    if (!S::kComplex || !g.variable) return X;
    return X.reshaped(Shape{X.extent(0), X.extent(1), X.extent(2), 2 * X.extent(3)});
  };
  Arrays a{{"u", in.u}, {"delta", in.delta}, {"A", in.A},
           {"B", operand(in.B, p.B_layout())}, {"C", operand(in.C, p.C_layout())}};
  if (in.D) a["D"] = *in.D;
  if (in.z) a["z"] = *in.z;
  if (in.delta_bias) a["delta_bias"] = *in.delta_bias;
  if constexpr (!S::kComplex)
    if (in.h0) a["h0"] = *in.h0;
  a["delta_softplus"] = scalar_array(in.delta_softplus ? 1.0 : 0.0);
  return a;
}

// "batch=2 dim=4 dstate=8 seqlen=33 B=variable(G=2) C=constant D z softplus".
template <class S>
std::string describe_scan(const ScanProblem<double, S>& p) {
  const auto& in = p.in();
  auto layout = [](const GroupedOperand& g) {
    return g.variable ? "variable(G=" + std::to_string(g.groups) + ")" : std::string("constant");
  };
  std::string s = "batch=" + std::to_string(p.batch()) + " dim=" + std::to_string(p.dim()) + " dstate=" +
                  std::to_string(p.dstate()) + " seqlen=" + std::to_string(p.seqlen()) +
                  (S::kComplex ? " complex A," : "") + " B=" + layout(p.B_layout()) + " C=" + layout(p.C_layout());
  if (in.D) s += " D";
  if (in.z) s += " z";
  if (in.delta_bias) s += " delta_bias";
  if constexpr (!S::kComplex)
    if (in.h0) s += " h0";
  return s + (in.delta_softplus ? " softplus" : "");
}

// Named arrays of a result's value type T: exact (ExactArrays) for the oracle's mp_real, else
// double (Arrays).
template <class T>
using ArraysOf = std::map<std::string, Tensor<std::conditional_t<std::is_same_v<T, mp_real>, mp_real, double>>>;
template <class T>
auto as_array_value(Tensor<T> t) {
  if constexpr (std::is_same_v<T, mp_real> || std::is_same_v<T, double>) return t;
  else return t.template cast<double>();
}

// A forward result (SelectiveScanResult, ComplexScanResult) as named arrays.
template <class R>
auto result_arrays(R r) {
  return ArraysOf<typename decltype(r.out)::value_type>{{"out", as_array_value(std::move(r.out))},
                                                       {"last_state", as_array_value(std::move(r.last_state))}};
}

// How the user gave an input with a gradient (A, B, C), so that the gradient comes back in the
// same layout: the array's shape as read (a complex one with its (re, im) axis), e.g. the real
// scan's 3-d variable B or the complex scan's interleaved (batch, [G,] N, 2L); or, for the
// complex scan, a real (dim, N) array standing for a complex one with zero imaginary parts, whose
// gradient is then the real part's alone (what PyTorch returns for a real tensor).
struct GivenLayout {
  std::vector<Index> shape;
  bool real_part_only = false;
  template <class T>
  Tensor<T> of(const Tensor<T>& g, const std::string& name) const {
    if (!real_part_only) return g.reshaped(Shape(shape), name);
    Tensor<T> re{Shape(shape)};
    for (Index i = 0; i < re.count(); ++i) re[i] = g[2 * i];
    return re;
  }
};

// A backward problem (ScanBackwardProblem) with the layouts of A, B and C its gradients come back
// in: the user's (read_scan_backward), or for a generated problem what scan_arrays writes
// (as_written). Casting keeps the layouts.
template <class Q>
struct ScanBackwardAsGiven {
  Q q;
  GivenLayout A, B, C;
  template <class U>
  auto cast() const {
    return ScanBackwardAsGiven<decltype(q.template cast<U>())>{q.template cast<U>(), A, B, C};
  }
  // Gradients (SelectiveScanGrads, ComplexScanGrads) as named arrays in the user's layouts.
  template <class G>
  auto gradients(G g) const {
    ArraysOf<typename decltype(g.du)::value_type> a{
        {"du", as_array_value(std::move(g.du))}, {"ddelta", as_array_value(std::move(g.ddelta))},
        {"dA", as_array_value(A.of(g.dA, "dA"))}, {"dB", as_array_value(B.of(g.dB, "dB"))},
        {"dC", as_array_value(C.of(g.dC, "dC"))}};
    if (g.dD) a["dD"] = as_array_value(std::move(*g.dD));
    if (g.dz) a["dz"] = as_array_value(std::move(*g.dz));
    if (g.ddelta_bias) a["ddelta_bias"] = as_array_value(std::move(*g.ddelta_bias));
    if constexpr (requires { g.dh0; })
      if (g.dh0) a["dh0"] = as_array_value(std::move(*g.dh0));
    return a;
  }
  // The inputs as arrays: the forward problem's and the cotangents.
  Arrays arrays() const {
    Arrays a = scan_arrays(q.forward());
    a["dout"] = q.dout();
    if (q.dlast_state()) a["dlast_state"] = *q.dlast_state();
    return a;
  }
  std::string describe() const { return describe_scan(q.forward()) + (q.dlast_state() ? " dlast_state" : ""); }
};

template <class S>
ScanBackwardAsGiven<ScanBackwardProblem<double, S>> as_written(ScanBackwardProblem<double, S> q) {
  const Arrays in = scan_arrays(q.forward());
  auto written = [&in](const char* name) { return GivenLayout{in.at(name).shape().extents()}; };
  return {std::move(q), written("A"), written("B"), written("C")};
}

template <class S>
ScanBackwardAsGiven<ScanBackwardProblem<double, S>> read_scan_backward(const InputReader& r) {
  auto given = [&r](const char* name) {
    const Tensor<double>& a = r.array(name);
    return GivenLayout{a.shape().extents(), S::kComplex && a.rank() == 2};
  };
  return {ScanBackwardProblem<double, S>(read_scan_problem<S>(r), r.array("dout"), r.optional_array("dlast_state")),
          given("A"), given("B"), given("C")};
}

}  // namespace touchstone::mamba
