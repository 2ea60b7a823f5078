// What the four selective-scan entries declare alike (core/entry.hpp, [CORE-ENTRY]):
// mamba.selective_scan{,_backward} in mamba.cpp, mamba.selective_scan_complex{,_backward} in
// mamba_complex.cpp. The problems as files are the reference's (mamba_scan_arrays.hpp).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "builtin.hpp"
#include "touchstone/core/entry.hpp"
#include "touchstone/reference/mamba_scan_arrays.hpp"

namespace touchstone::mamba::scan_entry {

// Draws an array uniform on [lo, hi), rounded to `format`, from the Philox stream
// "<prefix><array>" under `seed`.
struct Filler {
  std::uint64_t seed;
  std::string prefix;
  Format format;
  Tensor<double> operator()(const char* array, std::vector<Index> shape, double lo, double hi) const {
    return uniform_array(seed, prefix + array, Shape(std::move(shape)), lo, hi, format);
  }
};

// A default problem ([MAMBA-SCAN-DEFAULTS], [MAMBA-CSCAN-DEFAULTS]).
struct SizeSpec {
  const char* name;
  Index batch, dim, dstate, seqlen;
  Index B_groups, C_groups;  // 0: a constant B or C
  bool D, z, delta_bias, h0, softplus;
  bool structured_A;  // S4D-Real A (real scan) or S4D-Lin A (complex scan), else drawn
};

// The problem of `s` with values from the streams "<name>/<array>" under `seed`, rounded to
// `format`, in the peer's test's ranges (u, B, C, D, z centred; delta and delta_bias in [0, 0.5));
// A is make_A(s, fill).
template <class P>
P default_problem(const SizeSpec& s, const std::string& name, Format format, std::uint64_t seed,
                  Tensor<double> (*make_A)(const SizeSpec&, const Filler&)) {
  const Filler fill{seed, name + "/", format};
  typename P::Inputs in;
  in.u = fill("u", {s.batch, s.dim, s.seqlen}, -1, 1);
  in.delta = fill("delta", {s.batch, s.dim, s.seqlen}, 0, 0.5);
  in.A = make_A(s, fill);
  auto operand = [&](const char* array, Index groups) {
    std::vector<Index> e = groups ? std::vector<Index>{s.batch, groups, s.dstate, s.seqlen}
                                  : std::vector<Index>{s.dim, s.dstate};
    if (P::kComplex) e.push_back(2);
    return fill(array, std::move(e), -1, 1);
  };
  in.B = operand("B", s.B_groups);
  in.C = operand("C", s.C_groups);
  if (s.D) in.D = fill("D", {s.dim}, -1, 1);
  if (s.z) in.z = fill("z", {s.batch, s.dim, s.seqlen}, -2, 2);
  if (s.delta_bias) in.delta_bias = fill("delta_bias", {s.dim}, 0, 0.5);
  if constexpr (!P::kComplex)
    if (s.h0) in.h0 = fill("h0", {s.batch, s.dim, s.dstate}, -1, 1);
  in.delta_softplus = s.softplus;
  return P(std::move(in));
}

// The backward problem of a default problem `p` ([MAMBA-BWD-DEFAULTS],
// [MAMBA-CSCAN-BWD-DEFAULTS]): dout uniform on [-1, 1) from the stream "<name>/dout" and, with
// `dlast`, dlast_state from "<name>/dlast_state", rounded to `format`.
template <class S>
ScanBackwardProblem<double, S> with_cotangents(ScanProblem<double, S> p, const std::string& name, Format format,
                                               std::uint64_t seed, bool dlast) {
  const Filler fill{seed, name + "/", format};
  Tensor<double> dout = fill("dout", {p.batch(), p.dim(), p.seqlen()}, -1, 1);
  std::vector<Index> state{p.batch(), p.dim(), p.dstate()};
  if (S::kComplex) state.push_back(2);  // (re, im)
  std::optional<Tensor<double>> dlast_state;
  if (dlast) dlast_state = fill("dlast_state", std::move(state), -1, 1);
  return {std::move(p), std::move(dout), std::move(dlast_state)};
}

// A forward entry with the inputs in the peer's names ([MAMBA-SCAN-SHAPES],
// [MAMBA-CSCAN-SHAPES]) around the scan's own A, B, C and (the real scan's) h0, and what follows
// from them.
template <class S>
Entry<ScanProblem<double, S>> forward_entry(ArraySpec A, ArraySpec B, ArraySpec C,
                                            std::optional<ArraySpec> h0 = std::nullopt) {
  Entry<ScanProblem<double, S>> e;
  e.inputs = {{"u", "(batch, dim, seqlen)", "input sequence", false},
              {"delta", "(batch, dim, seqlen)", "time step before bias and softplus", false},
              std::move(A),
              std::move(B),
              std::move(C),
              {"D", "(dim,)", "skip connection", true},
              {"z", "(batch, dim, seqlen)", "gate: out *= silu(z)", true},
              {"delta_bias", "(dim,)", "added to delta before softplus", true}};
  if (h0) e.inputs.push_back(std::move(*h0));
  e.inputs.push_back({"delta_softplus", "() | (1,)", "apply softplus to delta (also --option)", true});
  e.options = {{"delta_softplus", "apply softplus (threshold 20) to delta + delta_bias", "0"}};
  e.read = read_scan_problem<S>;
  e.arrays = scan_arrays<S>;
  e.describe = describe_scan<S>;
  e.independent_axes = {"batch", "dim"};  // [CORE-SLICES]: one channel of one sequence
  return e;
}

// The backward entry of a forward one ([MAMBA-BWD-DEF], [MAMBA-CSCAN-BWD-DEF]): its inputs and
// the cotangents dout and `dlast`; the gradients, each of its input ([MAMBA-BWD-SHAPES],
// [MAMBA-CSCAN-BWD-SHAPES]), with the scan's own dA, dB, dC and (the real scan's) dh0.
template <class S>
Entry<ScanBackwardAsGiven<ScanBackwardProblem<double, S>>> backward_entry(
    const Entry<ScanProblem<double, S>>& forward, ArraySpec dlast, ArraySpec dA, ArraySpec dB, ArraySpec dC,
    std::optional<ArraySpec> dh0 = std::nullopt) {
  using P = ScanBackwardAsGiven<ScanBackwardProblem<double, S>>;
  Entry<P> e;
  e.inputs = forward.inputs;
  e.inputs.push_back({"dout", "(batch, dim, seqlen)", "cotangent of out", false});
  e.inputs.push_back(std::move(dlast));
  e.outputs = {{"du", "(batch, dim, seqlen)", "gradient of u", false},
               {"ddelta", "(batch, dim, seqlen)", "gradient of delta", false},
               std::move(dA),
               std::move(dB),
               std::move(dC),
               {"dD", "(dim,)", "gradient of D (when D is given)", true},
               {"dz", "(batch, dim, seqlen)", "gradient of z (when z is given)", true},
               {"ddelta_bias", "(dim,)", "gradient of delta_bias (when given)", true}};
  if (dh0) e.outputs.push_back(std::move(*dh0));
  e.options = forward.options;
  e.sizes = {"tiny", "small", "medium"};
  e.extra_sizes = forward.extra_sizes;
  e.read = read_scan_backward<S>;
  e.arrays = [](const P& p) { return p.arrays(); };
  e.describe = [](const P& p) { return p.describe(); };
  return e;
}

}  // namespace touchstone::mamba::scan_entry
