// The declaration the four selective-scan entries share (core/entry.hpp, [CORE-ENTRY]):
// mamba.selective_scan{,_backward} in mamba.cpp, mamba.selective_scan_complex{,_backward} in
// mamba_complex.cpp. scan_entry<K>() and backward_entry<KB>() declare an entry once for both
// scans, from a kind that supplies what differs:
//   forward K:  using Problem; kName, kSpecRef, kSummary; inputs(), outputs(), sizes();
//               generate(size, format, seed); read_A(r) and operand(r, "B" | "C") (the file's
//               layouts); oracle(p); any_order_bound(p, storage, ulps); backends().
//   backward KB: using Forward = K, using Problem (the backward problem); kName, kSpecRef,
//               kSummary, dlast_spec(), outputs(), generate, oracle, any_order_bound, backends()
//               (of Backward<Problem>, the problem with its user's layouts).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "builtin.hpp"
#include "touchstone/core/entry.hpp"
#include "touchstone/reference/mamba_complex_problem.hpp"
#include "touchstone/reference/mamba_problem.hpp"

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

// The forward inputs in the peer's names ([MAMBA-SCAN-SHAPES], [MAMBA-CSCAN-SHAPES]): what the
// two scans declare alike around their own A, B, C and (the real scan's) h0.
inline std::vector<ArraySpec> scan_inputs(ArraySpec A, ArraySpec B, ArraySpec C,
                                          std::optional<ArraySpec> h0 = std::nullopt) {
  std::vector<ArraySpec> in{
      {"u", "(batch, dim, seqlen)", "input sequence", false},
      {"delta", "(batch, dim, seqlen)", "time step before bias and softplus", false},
      std::move(A),
      std::move(B),
      std::move(C),
      {"D", "(dim,)", "skip connection", true},
      {"z", "(batch, dim, seqlen)", "gate: out *= silu(z)", true},
      {"delta_bias", "(dim,)", "added to delta before softplus", true}};
  if (h0) in.push_back(std::move(*h0));
  in.push_back({"delta_softplus", "() | (1,)", "apply softplus to delta (also --option)", true});
  return in;
}

// The backward outputs, each the gradient of its input ([MAMBA-BWD-DEF], [MAMBA-CSCAN-BWD-DEF]),
// with the scan's own dA, dB, dC and (the real scan's) dh0.
inline std::vector<ArraySpec> backward_outputs(ArraySpec dA, ArraySpec dB, ArraySpec dC,
                                               std::optional<ArraySpec> dh0 = std::nullopt) {
  std::vector<ArraySpec> out{{"du", "(batch, dim, seqlen)", "gradient of u", false},
                             {"ddelta", "(batch, dim, seqlen)", "gradient of delta", false},
                             std::move(dA),
                             std::move(dB),
                             std::move(dC),
                             {"dD", "(dim,)", "gradient of D (when D is given)", true},
                             {"dz", "(batch, dim, seqlen)", "gradient of z (when z is given)", true},
                             {"ddelta_bias", "(dim,)", "gradient of delta_bias (when given)", true}};
  if (dh0) out.push_back(std::move(*dh0));
  return out;
}

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
// A is the kind's make_A(s, fill).
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

// A forward problem's inputs in the peer's layouts; for the complex scan, where a real array can
// carry them: A and a constant B or C as (dim, dstate, 2) (torch.view_as_complex gives the
// complex tensor), a variable B or C interleaved (batch, groups, dstate, 2 seqlen), what
// selective_scan_fn takes.
template <class P>
Arrays forward_arrays(const P& p) {
  const auto& in = p.in();
  auto operand = [&](const Tensor<double>& X, const GroupedOperand& g) {
    if (!P::kComplex || !g.variable) return X;
    return X.reshaped(Shape{X.extent(0), X.extent(1), X.extent(2), 2 * X.extent(3)});
  };
  Arrays a{{"u", in.u}, {"delta", in.delta}, {"A", in.A},
           {"B", operand(in.B, p.B_layout())}, {"C", operand(in.C, p.C_layout())}};
  if (in.D) a["D"] = *in.D;
  if (in.z) a["z"] = *in.z;
  if (in.delta_bias) a["delta_bias"] = *in.delta_bias;
  if constexpr (!P::kComplex)
    if (in.h0) a["h0"] = *in.h0;
  a["delta_softplus"] = Tensor<double>(Shape{}, in.delta_softplus ? 1.0 : 0.0);
  return a;
}

template <class P>
std::string describe_forward(const P& p) {
  const auto& in = p.in();
  auto layout = [](const GroupedOperand& g) {
    return g.variable ? "variable(G=" + std::to_string(g.groups) + ")" : std::string("constant");
  };
  std::string s = "batch=" + std::to_string(p.batch()) + " dim=" + std::to_string(p.dim()) + " dstate=" +
                  std::to_string(p.dstate()) + " seqlen=" + std::to_string(p.seqlen()) +
                  (P::kComplex ? " complex A," : "") + " B=" + layout(p.B_layout()) + " C=" + layout(p.C_layout());
  if (in.D) s += " D";
  if (in.z) s += " z";
  if (in.delta_bias) s += " delta_bias";
  if constexpr (!P::kComplex)
    if (in.h0) s += " h0";
  return s + (in.delta_softplus ? " softplus" : "");
}

// How the user gave an input with a gradient (A, B, C), so that the gradient comes back in the
// same layout: the array's shape as read (a complex one with its (re, im) axis), e.g. the real
// scan's 3-d variable B or the complex scan's interleaved (batch, [G,] N, 2L); or, for the
// complex scan, a real (dim, N) array standing for a complex one with zero imaginary parts, whose
// gradient is then the real part's alone (what PyTorch returns for a real tensor).
struct UserLayout {
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

// A backward problem with the layouts of A, B and C its gradients come back in: the user's, or
// for a generated problem what forward_arrays writes.
template <class Q>
struct Backward {
  Q q;
  UserLayout A, B, C;
  Backward(Q q_, UserLayout A_, UserLayout B_, UserLayout C_)
      : q(std::move(q_)), A(std::move(A_)), B(std::move(B_)), C(std::move(C_)) {}
  explicit Backward(Q q_) : q(std::move(q_)) {
    const Arrays in = forward_arrays(q.forward());
    A.shape = in.at("A").shape().extents(), B.shape = in.at("B").shape().extents();
    C.shape = in.at("C").shape().extents();
  }
  template <class U>
  auto cast() const { return q.template cast<U>(); }
};

template <class P>
const P& problem_of(const P& p) { return p; }
template <class Q>
const Q& problem_of(const Backward<Q>& b) { return b.q; }

// A result's arrays by name: a forward one's out and last_state; a backward one's gradients in
// the user's layouts.
template <class R, class P>
auto named(R r, const P&) {
  return std::map<std::string, decltype(r.out)>{{"out", std::move(r.out)}, {"last_state", std::move(r.last_state)}};
}
template <class G, class Q>
auto named(G g, const Backward<Q>& b) {
  std::map<std::string, decltype(g.du)> a{{"du", std::move(g.du)}, {"ddelta", std::move(g.ddelta)},
                                          {"dA", b.A.of(g.dA, "dA")}, {"dB", b.B.of(g.dB, "dB")},
                                          {"dC", b.C.of(g.dC, "dC")}};
  if (g.dD) a["dD"] = std::move(*g.dD);
  if (g.dz) a["dz"] = std::move(*g.dz);
  if (g.ddelta_bias) a["ddelta_bias"] = std::move(*g.ddelta_bias);
  if constexpr (requires { g.dh0; })
    if (g.dh0) a["dh0"] = std::move(*g.dh0);
  return a;
}
template <class R, class P>
Arrays as_arrays(R r, const P& p) {
  Arrays out;
  for (auto& [name, t] : named(std::move(r), p)) out[name] = as_double(t);
  return out;
}

// A backend of an entry on P: `run` on the float32 (kFloat32) or float64 problem, `bound` on the
// float64 one, both returned as named() arrays.
template <class P, bool kFloat32, class Run, class Bound>
EntryBackend<P> backend(std::string name, std::string order, Run run, Bound bound,
                        std::function<std::string()> unavailable_reason = [] { return std::string(); }) {
  return {std::move(name), kFloat32 ? Format::float32 : Format::float64, std::move(order),
          [run](const EntryProblem<P>& h) {
            if constexpr (kFloat32) return as_arrays(run(h.f32()), h.f64());
            else return as_arrays(run(problem_of(h.f64())), h.f64());
          },
          [bound](const P& p) { return as_arrays(bound(problem_of(p)), p); }, std::move(unavailable_reason)};
}

// The cpu-f32 and cpu-f64 backends of an entry on P: `run` on either problem, the bounds of the
// two arithmetics.
template <class P, class Run, class Arithmetic, class Bound>
std::vector<EntryBackend<P>> cpu_backends(const std::string& order, Run run, Bound bound, Arithmetic f32,
                                          Arithmetic f64) {
  return {backend<P, true>("cpu-f32", order, run, bound(std::move(f32))),
          backend<P, false>("cpu-f64", order, run, bound(std::move(f64)))};
}

// What the four entries declare alike: names, the delta_softplus option, oracle, backends, bound.
template <class T, class P>
std::unique_ptr<Algorithm> declare(Entry<P> e) {
  e.name = T::kName;
  e.spec_ref = T::kSpecRef;
  e.summary = T::kSummary;
  e.outputs = T::outputs();
  e.options = {{"delta_softplus", "apply softplus (threshold 20) to delta + delta_bias", "0"}};
  e.oracle = [](const P& p) { return named(T::oracle(problem_of(p)), p); };
  e.backends = T::backends();
  e.any_order_bound = [](const P& p, Format storage, double ulps) {
    return as_arrays(T::any_order_bound(problem_of(p), storage, ulps), p);
  };
  if constexpr (requires { &T::probabilistic_bound; }) {
    // [CORE-DIFF-PROBABILISTIC]: lambda from the entry's count of theta's.
    e.probabilistic_bound = [](const P& p, Format compute, double ulps, double alpha) {
      ProbabilisticBound out;
      out.alpha = alpha;
      out.thetas = T::thetas(problem_of(p));
      out.lambda = hm_lambda(out.thetas, alpha, format_info(compute).u);
      auto [probable, rigorous] = T::probabilistic_bound(problem_of(p), compute, ulps, out.lambda);
      out.bound = as_arrays(std::move(probable), p);
      out.rigorous = as_arrays(std::move(rigorous), p);
      return out;
    };
  }
  return make_entry(std::move(e));
}

// The forward problem from a user's arrays ([MAMBA-SCAN-SHAPES], [MAMBA-CSCAN-SHAPES]).
template <class K>
typename K::Problem read_forward(const InputReader& r) {
  typename K::Problem::Inputs in;
  in.u = r.array("u");
  in.delta = r.array("delta");
  in.A = K::read_A(r);
  in.B = K::operand(r, "B");
  in.C = K::operand(r, "C");
  in.D = r.optional_array("D");
  in.z = r.optional_array("z");
  in.delta_bias = r.optional_array("delta_bias");
  if constexpr (!K::Problem::kComplex) in.h0 = r.optional_array("h0");
  in.delta_softplus = r.flag("delta_softplus", false);
  return typename K::Problem(std::move(in));
}

// The forward entry of kind K ([MAMBA-SCAN-DEF], [MAMBA-CSCAN-DEF]).
template <class K>
std::unique_ptr<Algorithm> scan_entry() {
  using P = typename K::Problem;
  Entry<P> e;
  e.inputs = K::inputs();
  e.sizes = K::sizes();
  e.extra_sizes = K::extra_sizes();
  e.generate = K::generate;
  e.read = read_forward<K>;
  e.arrays = forward_arrays<P>;
  e.describe = describe_forward<P>;
  e.independent_axes = {"batch", "dim"};  // [CORE-SLICES]: one channel of one sequence
  return declare<K>(std::move(e));
}

// The backward entry of kind KB ([MAMBA-BWD-DEF], [MAMBA-CSCAN-BWD-DEF]).
template <class KB>
std::unique_ptr<Algorithm> backward_entry() {
  using K = typename KB::Forward;
  using Q = typename KB::Problem;
  using P = Backward<Q>;
  Entry<P> e;
  e.inputs = K::inputs();
  e.inputs.push_back({"dout", "(batch, dim, seqlen)", "cotangent of out", false});
  e.inputs.push_back(KB::dlast_spec());
  e.sizes = {"tiny", "small", "medium"};
  e.extra_sizes = K::extra_sizes();
  e.generate = [](const std::string& size, Format format, std::uint64_t seed) {
    return P(KB::generate(size, format, seed));
  };
  e.read = [](const InputReader& r) {
    auto layout = [&r](const char* name) {
      const Tensor<double>& a = r.array(name);
      return UserLayout{a.shape().extents(), K::Problem::kComplex && a.rank() == 2};
    };
    return P(Q(read_forward<K>(r), r.array("dout"), r.optional_array("dlast_state")), layout("A"), layout("B"),
             layout("C"));
  };
  e.arrays = [](const P& p) {
    Arrays a = forward_arrays(p.q.forward());
    a["dout"] = p.q.dout();
    if (p.q.dlast_state()) a["dlast_state"] = *p.q.dlast_state();
    return a;
  };
  e.describe = [](const P& p) { return describe_forward(p.q.forward()) + (p.q.dlast_state() ? " dlast_state" : ""); };
  return declare<KB>(std::move(e));
}

// The cotangents of a default backward problem ([MAMBA-BWD-DEFAULTS],
// [MAMBA-CSCAN-BWD-DEFAULTS]): dout uniform on [-1, 1) from the stream "<name>/dout" and, with
// `dlast_shape`, dlast_state from "<name>/dlast_state", rounded to `format`.
template <class Q, class P>
Q with_cotangents(P p, const std::string& name, Format format, std::uint64_t seed,
                  std::optional<std::vector<Index>> dlast_shape) {
  const Filler fill{seed, name + "/", format};
  Tensor<double> dout = fill("dout", {p.batch(), p.dim(), p.seqlen()}, -1, 1);
  std::optional<Tensor<double>> dlast;
  if (dlast_shape) dlast = fill("dlast_state", *dlast_shape, -1, 1);
  return Q(std::move(p), std::move(dout), std::move(dlast));
}

}  // namespace touchstone::mamba::scan_entry
