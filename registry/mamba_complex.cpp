// mamba.selective_scan_complex in the registry: its names and file layouts, default problems,
// oracle, backends and bounds (spec/mamba_complex.md).
#include <optional>

#include "builtin.hpp"
#include "cpu/mamba_complex.hpp"
#include "touchstone/core/random.hpp"
#include "touchstone/reference/mamba_complex.hpp"
#include "touchstone/reference/mamba_complex_backward.hpp"
#include "touchstone/reference/mamba_complex_backward_bound.hpp"
#include "touchstone/reference/mamba_complex_bound.hpp"

namespace touchstone::mamba {
namespace {

constexpr const char* kName = "mamba.selective_scan_complex";

struct ComplexSizeSpec {
  const char* name;
  Index batch, dim, dstate, seqlen;
  Index B_groups;  // 0: constant B
  Index C_groups;  // 0: constant C
  bool D, z, delta_bias, softplus, s4d_lin_A;
};

// [MAMBA-CSCAN-DEFAULTS] Between them: L = 1, a ragged L, groups, both variable layouts, constant
// operands, every option, and S4D-Lin A.
constexpr ComplexSizeSpec kComplexSizes[] = {
    {"tiny", 1, 3, 2, 1, 0, 0, false, false, false, false, true},
    {"small", 2, 4, 8, 33, 2, 1, true, true, true, true, false},
    {"medium", 1, 16, 16, 256, 0, 1, true, true, false, false, true},
};

const ComplexSizeSpec& complex_size_spec(const std::string& name) {
  for (const auto& s : kComplexSizes)
    if (name == s.name) return s;
  throw InvalidInput("size", "unknown size '" + name + "' for " + kName + " (tiny, small, medium)");
}

ComplexScanProblem<double> default_complex_problem(const ComplexSizeSpec& s, Format format,
                                                   std::uint64_t seed) {
  auto fill = [&](const char* array, std::vector<Index> shape, double lo, double hi) {
    PhiloxStream rng(seed, std::string(kName) + "/" + array);
    Tensor<double> t{Shape(std::move(shape))};
    for (Index i = 0; i < t.count(); ++i) t[i] = round_to_format(rng.next_uniform(lo, hi), format);
    return t;
  };
  ComplexScanInputs<double> in;
  in.u = fill("u", {s.batch, s.dim, s.seqlen}, -1, 1);
  in.delta = fill("delta", {s.batch, s.dim, s.seqlen}, 0, 0.5);
  if (s.s4d_lin_A) {
    // S4D-Lin ([P] 3.6): A_n = -1/2 + i pi n, the imaginary part rounded to the format.
    in.A = Tensor<double>(Shape{s.dim, s.dstate, 2});
    for (Index d = 0; d < s.dim; ++d)
      for (Index n = 0; n < s.dstate; ++n) {
        in.A(d, n, Index{0}) = -0.5;
        in.A(d, n, Index{1}) = round_to_format(3.14159265358979323846 * static_cast<double>(n), format);
      }
  } else {
    // Re A on [-0.5, 0) (decay, as the peer's test draws real A), Im A on [-4, 4).
    const Tensor<double> re = fill("A.re", {s.dim, s.dstate}, -0.5, 0),
                         im = fill("A.im", {s.dim, s.dstate}, -4, 4);
    in.A = Tensor<double>(Shape{s.dim, s.dstate, 2});
    for (Index i = 0; i < re.count(); ++i) {
      in.A[2 * i] = re[i];
      in.A[2 * i + 1] = im[i];
    }
  }
  auto operand = [&](const char* name, Index groups) {
    return groups ? fill(name, {s.batch, groups, s.dstate, s.seqlen, 2}, -1, 1)
                  : fill(name, {s.dim, s.dstate, 2}, -1, 1);
  };
  in.B = operand("B", s.B_groups);
  in.C = operand("C", s.C_groups);
  if (s.D) in.D = fill("D", {s.dim}, -1, 1);
  if (s.z) in.z = fill("z", {s.batch, s.dim, s.seqlen}, -2, 2);
  if (s.delta_bias) in.delta_bias = fill("delta_bias", {s.dim}, 0, 0.5);
  in.delta_softplus = s.softplus;
  return ComplexScanProblem<double>(std::move(in));
}

// A variable B or C, (batch, G, N, L, 2), in the peer's interleaved layout (batch, G, N, 2L):
// the same values, reshaped.
Tensor<double> interleaved(const Tensor<double>& X) {
  return X.reshaped(Shape{X.extent(0), X.extent(1), X.extent(2), 2 * X.extent(3)});
}

class ComplexScanHandle final : public ProblemHandle {
 public:
  explicit ComplexScanHandle(ComplexScanProblem<double> p) : p_(std::move(p)) {}
  const ComplexScanProblem<double>& problem() const { return p_; }

  const ComplexScanProblem<float>& as_float32() const { return f32_.get(*this, p_); }

  std::string describe() const override {
    const auto& in = p_.in();
    auto layout = [](const GroupedOperand& g) {
      return g.variable ? "variable(G=" + std::to_string(g.groups) + ")" : std::string("constant");
    };
    std::string s = "batch=" + std::to_string(p_.batch()) + " dim=" + std::to_string(p_.dim()) +
                    " dstate=" + std::to_string(p_.dstate()) + " seqlen=" +
                    std::to_string(p_.seqlen()) + " complex A, B=" + layout(p_.B_layout()) +
                    " C=" + layout(p_.C_layout());
    if (in.D) s += " D";
    if (in.z) s += " z";
    if (in.delta_bias) s += " delta_bias";
    if (in.delta_softplus) s += " softplus";
    return s;
  }

  Format input_format() const override {
    if (!format_) {
      const auto& in = p_.in();
      std::vector<std::span<const double>> arrays = {in.u.values(), in.delta.values(), in.A.values(),
                                                     in.B.values(), in.C.values()};
      for (const auto* t : {&in.D, &in.z, &in.delta_bias})
        if (*t) arrays.push_back((*t)->values());
      format_ = narrowest_format(arrays);
    }
    return *format_;
  }

  // In the peer's layouts where a real array can carry them: A and a constant B or C as
  // (dim, dstate, 2) (torch.view_as_complex gives the complex tensor), a variable B or C
  // interleaved (batch, groups, dstate, 2 seqlen), exactly what selective_scan_fn takes.
  Arrays inputs() const override {
    const auto& in = p_.in();
    Arrays a{{"u", in.u}, {"delta", in.delta}, {"A", in.A},
             {"B", p_.B_layout().variable ? interleaved(in.B) : in.B},
             {"C", p_.C_layout().variable ? interleaved(in.C) : in.C}};
    if (in.D) a["D"] = *in.D;
    if (in.z) a["z"] = *in.z;
    if (in.delta_bias) a["delta_bias"] = *in.delta_bias;
    a["delta_softplus"] = Tensor<double>(Shape{}, in.delta_softplus ? 1.0 : 0.0);
    return a;
  }

 private:
  ComplexScanProblem<double> p_;
  Float32Copy<ComplexScanProblem<float>> f32_;
  mutable std::optional<Format> format_;
};

const ComplexScanProblem<double>& complex_problem_of(const ProblemHandle& h) {
  return dynamic_cast<const ComplexScanHandle&>(h).problem();
}

template <class T>
Arrays complex_arrays_of(const ComplexScanResult<T>& r) {
  return {{"out", r.out.template cast<double>()},
          {"last_state", r.last_state.template cast<double>()}};
}

// [MAMBA-CSCAN-LAYOUT-INTERLEAVED] A file's B or C as the problem's (re, im) layout. A complex
// array is read with a trailing (re, im) axis: (dim, N) -> constant, (batch, N, L) or
// (batch, G, N, L) -> variable. A real array follows the peer's rule `is_variable = B.dim() >= 3`:
// rank 3 or 4 is the interleaved (batch, [G,] N, 2L); rank 2 is a real constant (zero imaginary
// parts). A real rank-3 array of shape (dim, N, 2), the view_as_real of a constant (what
// `touchstone generate` writes), is read as that when it cannot be the interleaved layout.
Tensor<double> operand_from_file(const NpyArray& a, const std::string& name, Index batch, Index dim,
                                 Index seqlen) {
  const Tensor<double>& X = a.values;
  if (a.complex) {
    if (X.rank() == 3) return X;  // constant (dim, N, 2); the problem checks the extents
    if (X.rank() == 4) return X.reshaped(Shape{X.extent(0), 1, X.extent(1), X.extent(2), 2}, name);
    if (X.rank() == 5) return X;
    throw InvalidInput(name, "expected complex (dim, dstate), (batch, dstate, seqlen) or (batch, "
                             "groups, dstate, seqlen), got " + a.dtype_name() + " of shape " +
                                 X.shape().str() + " with its (re, im) axis");
  }
  if (X.rank() == 2) return complex_from_real(X);
  if (X.rank() == 3) {
    const bool interleaved_fits = X.extent(0) == batch && X.extent(2) == 2 * seqlen;
    const bool view_fits = X.extent(0) == dim && X.extent(2) == 2;
    if (interleaved_fits && view_fits)
      throw InvalidInput(name, "shape " + X.shape().str() + " is ambiguous: both the interleaved "
                               "(batch, dstate, 2 seqlen) and a constant (dim, dstate, 2) as "
                               "(re, im); save a constant as a complex array");
    if (view_fits) return X;
  }
  return complex_from_interleaved(X, name);
}

bool parse_flag(const std::string& name, const std::string& value) {
  if (value == "1" || value == "true" || value == "True") return true;
  if (value == "0" || value == "false" || value == "False") return false;
  throw InvalidInput(name, "expected 0/1/true/false, got '" + value + "'");
}

class ComplexScanEntry final : public Algorithm {
 public:
  ComplexScanEntry() {
    auto bound_with = [](ComplexScanArithmetic m) {
      return [m](const ProblemHandle& h) {
        return complex_arrays_of(selective_scan_complex_bound(complex_problem_of(h), m));
      };
    };
    const std::string sequential =
        "sequential in t; per step h = fma(a.re,h,fma(-+a.im,h',dt*u*B)) per part; y by fma over "
        "(n, part); fma(D,u,2y)*silu(z)";
    backends_ = {
        {"cpu-f32", Format::float32, sequential, [] { return std::string(); },
         [](const ProblemHandle& h) {
           return complex_arrays_of(cpu::selective_scan_complex(
               dynamic_cast<const ComplexScanHandle&>(h).as_float32()));
         },
         bound_with(complex_arithmetic_cpu_f32())},
        {"cpu-f64", Format::float64, sequential, [] { return std::string(); },
         [](const ProblemHandle& h) {
           return complex_arrays_of(cpu::selective_scan_complex(complex_problem_of(h)));
         },
         bound_with(complex_arithmetic_cpu_f64())},
    };
  }

  std::string name() const override { return kName; }
  std::string summary() const override {
    return "Mamba's selective scan (S6) forward, complex A (S4D-Lin style): mamba_ssm "
           "selective_scan_ref semantics, out = 2 Re(sum_n h_n C_n)";
  }
  std::string spec_ref() const override { return "spec/mamba_complex.md [MAMBA-CSCAN-DEF]"; }

  std::vector<ArraySpec> inputs() const override {
    return {
        {"u", "(batch, dim, seqlen)", "input sequence", false},
        {"delta", "(batch, dim, seqlen)", "time step before bias and softplus", false},
        {"A", "complex (dim, dstate) | (dim, dstate, 2)", "complex state matrix (re, im)", false},
        {"B", "complex (dim, dstate) | (batch, dstate, 2 seqlen) | (batch, groups, dstate, 2 seqlen)",
         "input matrix: constant complex, or variable with interleaved (re, im)", false},
        {"C", "complex (dim, dstate) | (batch, dstate, 2 seqlen) | (batch, groups, dstate, 2 seqlen)",
         "output matrix: constant complex, or variable with interleaved (re, im)", false},
        {"D", "(dim,)", "skip connection", true},
        {"z", "(batch, dim, seqlen)", "gate: out *= silu(z)", true},
        {"delta_bias", "(dim,)", "added to delta before softplus", true},
        {"delta_softplus", "() | (1,)", "apply softplus to delta (also --option)", true},
    };
  }
  std::vector<ArraySpec> outputs() const override {
    return {{"out", "(batch, dim, seqlen)", "output sequence, 2 Re(sum_n h_n C_n) + D u, gated", false},
            {"last_state", "complex (batch, dim, dstate) as (batch, dim, dstate, 2)",
             "state after the last step", false}};
  }
  std::vector<OptionSpec> options() const override {
    return {{"delta_softplus", "apply softplus (threshold 20) to delta + delta_bias", "0"}};
  }
  std::vector<std::string> sizes() const override {
    std::vector<std::string> v;
    for (const auto& s : kComplexSizes) v.push_back(s.name);
    return v;
  }

  std::unique_ptr<ProblemHandle> generate(const std::string& size, Format format,
                                          std::uint64_t seed) const override {
    return std::make_unique<ComplexScanHandle>(
        default_complex_problem(complex_size_spec(size), format, seed));
  }

  std::unique_ptr<ProblemHandle> problem_from_arrays(const NpyMap& arrays,
                                             const OptionMap& options) const override {
    for (const auto& [name, value] : options)
      if (name != "delta_softplus")
        throw InvalidInput(name, std::string("unknown option for ") + kName + " (known: delta_softplus)");
    std::string known;
    for (const auto& s : inputs()) known += (known.empty() ? "" : ", ") + s.name;
    for (const auto& [name, a] : arrays) {
      bool ok = false;
      for (const auto& s : inputs()) ok = ok || s.name == name;
      if (!ok) throw InvalidInput(name, std::string("not an input of ") + kName + " (inputs: " + known + ")");
    }
    auto find = [&](const std::string& name) -> const NpyArray* {
      auto it = arrays.find(name);
      if (it == arrays.end()) return nullptr;
      if (it->second.kind != NpyKind::floating)
        throw InvalidInput(name, "expected a float or complex array, got " + it->second.dtype_name());
      return &it->second;
    };
    auto required = [&](const std::string& name) -> const NpyArray& {
      const NpyArray* a = find(name);
      if (!a) throw InvalidInput(name, std::string("missing (required input of ") + kName + ")");
      return *a;
    };
    auto real = [&](const std::string& name) -> std::optional<Tensor<double>> {
      const NpyArray* a = find(name);
      if (!a) return std::nullopt;
      if (a->complex) throw InvalidInput(name, "expected a real array, got " + a->dtype_name());
      return a->values;
    };
    ComplexScanInputs<double> in;
    auto required_real = [&](const std::string& name) {
      required(name);
      return *real(name);
    };
    in.u = required_real("u");
    in.delta = required_real("delta");
    if (in.u.rank() != 3)
      throw InvalidInput("u", "expected shape (batch, dim, seqlen), got " + in.u.shape().str());
    const Index batch = in.u.extent(0), dim = in.u.extent(1), seqlen = in.u.extent(2);
    const NpyArray& A = required("A");
    in.A = (A.complex || A.values.rank() == 3) ? A.values : complex_from_real(A.values);
    in.B = operand_from_file(required("B"), "B", batch, dim, seqlen);
    in.C = operand_from_file(required("C"), "C", batch, dim, seqlen);
    in.D = real("D");
    in.z = real("z");
    in.delta_bias = real("delta_bias");
    std::optional<bool> softplus;
    if (auto it = arrays.find("delta_softplus"); it != arrays.end()) {
      const Tensor<double>& v = it->second.values;
      if (it->second.complex || v.count() != 1 || !(v[0] == 0 || v[0] == 1))
        throw InvalidInput("delta_softplus", "expected one value, 0 or 1 (a 0-d array)");
      softplus = v[0] == 1;
    }
    if (auto it = options.find("delta_softplus"); it != options.end()) {
      const bool o = parse_flag("delta_softplus", it->second);
      if (softplus && *softplus != o)
        throw InvalidInput("delta_softplus", "the .npz array and --option disagree");
      softplus = o;
    }
    in.delta_softplus = softplus.value_or(false);
    return std::make_unique<ComplexScanHandle>(ComplexScanProblem<double>(std::move(in)));
  }

  ExactArrays oracle(const ProblemHandle& h, unsigned bits) const override {
    const WorkingPrecision precision(bits);
    auto r = reference::selective_scan_complex<mp_real, mp_complex>(complex_problem_of(h));
    return {{"out", std::move(r.out)}, {"last_state", std::move(r.last_state)}};
  }

  const std::vector<BackendSpec>& backends() const override { return backends_; }

  Arrays any_order_bound(const ProblemHandle& h, Format storage,
                         double elementary_ulps) const override {
    return complex_arrays_of(selective_scan_complex_bound(
        complex_problem_of(h), complex_arithmetic_any_order(storage, elementary_ulps)));
  }

 private:
  std::vector<BackendSpec> backends_;
};

// ---- mamba.selective_scan_complex_backward ([MAMBA-CSCAN-BWD-DEF]) ----

constexpr const char* kBackwardName = "mamba.selective_scan_complex_backward";

// [MAMBA-CSCAN-BWD-DEFAULTS] The forward's tiny and small problems (the same inputs), and a
// medium one that crosses a checkpoint block (L = 300 > 256); small and medium with dlast_state.
constexpr ComplexSizeSpec kComplexBackwardSizes[] = {
    kComplexSizes[0],
    kComplexSizes[1],
    {"medium", 1, 8, 8, 300, 1, 0, true, true, true, true, true},
};

ComplexScanBackwardProblem<double> default_complex_backward_problem(const std::string& size,
                                                                    Format format,
                                                                    std::uint64_t seed) {
  const ComplexSizeSpec* spec = nullptr;
  for (const auto& s : kComplexBackwardSizes)
    if (size == s.name) spec = &s;
  if (!spec)
    throw InvalidInput("size", "unknown size '" + size + "' for " + kBackwardName +
                                   " (tiny, small, medium)");
  auto p = default_complex_problem(*spec, format, seed);
  auto fill = [&](const char* array, std::vector<Index> shape) {
    PhiloxStream rng(seed, std::string(kBackwardName) + "/" + array);
    Tensor<double> t{Shape(std::move(shape))};
    for (Index i = 0; i < t.count(); ++i) t[i] = round_to_format(rng.next_uniform(-1, 1), format);
    return t;
  };
  Tensor<double> dout = fill("dout", {p.batch(), p.dim(), p.seqlen()});
  std::optional<Tensor<double>> dlast;
  if (size != "tiny") dlast = fill("dlast_state", {p.batch(), p.dim(), p.dstate(), 2});
  return ComplexScanBackwardProblem<double>(std::move(p), std::move(dout), std::move(dlast));
}

// How the user gave a complex input, so that its gradient comes back in the same layout: the
// peer's interleaved real (batch, [G,] N, 2L), a complex array of any rank (its (re, im) view),
// or a real array standing for a complex one with zero imaginary parts, whose gradient is then
// the real part's alone (what PyTorch returns for a real tensor).
struct UserLayout {
  std::vector<Index> shape;  // the array as read (a complex one with its (re, im) axis)
  bool real_part_only = false;
};

template <class T>
Tensor<T> to_user(const Tensor<T>& g, const UserLayout& layout, const std::string& name) {
  if (layout.real_part_only) {
    Tensor<T> re{Shape(layout.shape)};
    for (Index i = 0; i < re.count(); ++i) re[i] = g[2 * i];
    return re;
  }
  return g.reshaped(Shape(layout.shape), name);
}

class ComplexBackwardHandle final : public ProblemHandle {
 public:
  ComplexBackwardHandle(ComplexScanBackwardProblem<double> q, UserLayout A, UserLayout B, UserLayout C)
      : q_(std::move(q)), forward_(q_.forward()), A_(std::move(A)), B_(std::move(B)), C_(std::move(C)) {}
  // The layouts of generated problems: what ComplexScanHandle::inputs() writes.
  explicit ComplexBackwardHandle(ComplexScanBackwardProblem<double> q)
      : ComplexBackwardHandle(std::move(q), {}, {}, {}) {
    const auto& in = q_.forward().in();
    A_.shape = in.A.shape().extents();
    B_.shape = forward_.inputs().at("B").shape().extents();
    C_.shape = forward_.inputs().at("C").shape().extents();
  }
  const ComplexScanBackwardProblem<double>& problem() const { return q_; }
  const ComplexScanBackwardProblem<float>& as_float32() const { return f32_.get(*this, q_); }
  std::string describe() const override {
    return forward_.describe() + (q_.dlast_state() ? " dlast_state" : "");
  }
  Format input_format() const override {
    if (!format_) {
      const auto& in = q_.forward().in();
      std::vector<std::span<const double>> arrays = {in.u.values(), in.delta.values(), in.A.values(),
                                                     in.B.values(), in.C.values(), q_.dout().values()};
      for (const auto* t : {&in.D, &in.z, &in.delta_bias, &q_.dlast_state()})
        if (*t) arrays.push_back((*t)->values());
      format_ = narrowest_format(arrays);
    }
    return *format_;
  }
  Arrays inputs() const override {
    Arrays a = forward_.inputs();
    a["dout"] = q_.dout();
    if (q_.dlast_state()) a["dlast_state"] = *q_.dlast_state();
    return a;
  }
  template <class T>
  std::map<std::string, Tensor<T>> user_arrays(ComplexScanGrads<T> g) const {
    std::map<std::string, Tensor<T>> a{{"du", std::move(g.du)}, {"ddelta", std::move(g.ddelta)},
                                       {"dA", to_user(g.dA, A_, "dA")}, {"dB", to_user(g.dB, B_, "dB")},
                                       {"dC", to_user(g.dC, C_, "dC")}};
    if (g.dD) a["dD"] = std::move(*g.dD);
    if (g.dz) a["dz"] = std::move(*g.dz);
    if (g.ddelta_bias) a["ddelta_bias"] = std::move(*g.ddelta_bias);
    return a;
  }
  template <class T>
  Arrays arrays_of(const ComplexScanGrads<T>& g) const {
    Arrays out;
    for (auto& [name, t] : user_arrays(g)) out[name] = t.template cast<double>();
    return out;
  }

 private:
  ComplexScanBackwardProblem<double> q_;
  ComplexScanHandle forward_;
  UserLayout A_, B_, C_;
  Float32Copy<ComplexScanBackwardProblem<float>> f32_;
  mutable std::optional<Format> format_;
};

const ComplexBackwardHandle& complex_backward_of(const ProblemHandle& h) {
  return dynamic_cast<const ComplexBackwardHandle&>(h);
}

class ComplexBackwardEntry final : public Algorithm {
 public:
  ComplexBackwardEntry() {
    auto bound_with = [](ComplexBackwardArithmetic m) {
      return [m](const ProblemHandle& h) {
        const auto& b = complex_backward_of(h);
        return b.arrays_of(selective_scan_complex_backward_bound(b.problem(), m));
      };
    };
    const std::string order =
        "reverse in t from per-tile checkpoints every 256 steps; complex products by two fmas per "
        "part; fma chains over n and t per channel; channel and batch sums in a fixed order";
    backends_ = {
        {"cpu-f32", Format::float32, order, [] { return std::string(); },
         [](const ProblemHandle& h) {
           const auto& b = complex_backward_of(h);
           return b.arrays_of(cpu::selective_scan_complex_backward(b.as_float32()));
         },
         bound_with(complex_backward_arithmetic_cpu_f32())},
        {"cpu-f64", Format::float64, order, [] { return std::string(); },
         [](const ProblemHandle& h) {
           const auto& b = complex_backward_of(h);
           return b.arrays_of(cpu::selective_scan_complex_backward(b.problem()));
         },
         bound_with(complex_backward_arithmetic_cpu_f64())},
    };
  }

  std::string name() const override { return kBackwardName; }
  std::string summary() const override {
    return "gradients (VJP) of mamba.selective_scan_complex with respect to every input; complex "
           "gradients as (dL/dRe, dL/dIm), PyTorch's .grad convention";
  }
  std::string spec_ref() const override { return "spec/mamba_complex.md [MAMBA-CSCAN-BWD-DEF]"; }
  std::vector<ArraySpec> inputs() const override {
    auto v = ComplexScanEntry().inputs();
    v.push_back({"dout", "(batch, dim, seqlen)", "cotangent of out", false});
    v.push_back({"dlast_state", "complex (batch, dim, dstate) | (batch, dim, dstate, 2)",
                 "cotangent of last_state, PyTorch's grad_output convention (absent = 0)", true});
    return v;
  }
  std::vector<ArraySpec> outputs() const override {
    return {{"du", "(batch, dim, seqlen)", "gradient of u", false},
            {"ddelta", "(batch, dim, seqlen)", "gradient of delta", false},
            {"dA", "A's layout", "gradient of A, (dL/dRe, dL/dIm) pairs", false},
            {"dB", "B's layout", "gradient of B (interleaved when B is)", false},
            {"dC", "C's layout", "gradient of C (interleaved when C is)", false},
            {"dD", "(dim,)", "gradient of D (when D is given)", true},
            {"dz", "(batch, dim, seqlen)", "gradient of z (when z is given)", true},
            {"ddelta_bias", "(dim,)", "gradient of delta_bias (when given)", true}};
  }
  std::vector<OptionSpec> options() const override { return ComplexScanEntry().options(); }
  std::vector<std::string> sizes() const override { return {"tiny", "small", "medium"}; }

  std::unique_ptr<ProblemHandle> generate(const std::string& size, Format format,
                                          std::uint64_t seed) const override {
    return std::make_unique<ComplexBackwardHandle>(default_complex_backward_problem(size, format, seed));
  }

  std::unique_ptr<ProblemHandle> problem_from_arrays(const NpyMap& arrays,
                                             const OptionMap& options) const override {
    for (const auto& [k, v] : arrays) {
      bool ok = false;
      for (const auto& s : inputs()) ok = ok || s.name == k;
      if (!ok) throw InvalidInput(k, "not an input of " + name());
    }
    NpyMap forward;
    for (const auto& [k, v] : arrays)
      if (k != "dout" && k != "dlast_state") forward.emplace(k, v);
    const auto fwd = ComplexScanEntry().from_arrays(forward, options);
    const ComplexScanProblem<double>& p = complex_problem_of(*fwd);
    auto layout = [&](const char* n) {
      const NpyArray& a = arrays.at(n);
      UserLayout l{a.values.shape().extents(), false};
      // A real array read as a complex one with zero imaginary parts (A (dim, N), a constant B or
      // C (dim, N)): the gradient of the real parameter is the real part's.
      l.real_part_only = !a.complex && a.values.rank() == 2;
      return l;
    };
    auto dout_it = arrays.find("dout");
    if (dout_it == arrays.end()) throw InvalidInput("dout", "missing (required input of " + name() + ")");
    if (dout_it->second.kind != NpyKind::floating || dout_it->second.complex)
      throw InvalidInput("dout", "expected a real float array, got " + dout_it->second.dtype_name());
    std::optional<Tensor<double>> dlast;
    if (auto it = arrays.find("dlast_state"); it != arrays.end()) {
      if (it->second.kind != NpyKind::floating)
        throw InvalidInput("dlast_state", "expected a float or complex array, got " + it->second.dtype_name());
      // A real (batch, dim, dstate) cotangent has zero imaginary parts; a complex one, or its
      // real (batch, dim, dstate, 2) view, is taken as is.
      dlast = !it->second.complex && it->second.values.rank() == 3 ? complex_from_real(it->second.values)
                                                                  : it->second.values;
    }
    return std::make_unique<ComplexBackwardHandle>(
        ComplexScanBackwardProblem<double>(p, dout_it->second.values, std::move(dlast)),
        layout("A"), layout("B"), layout("C"));
  }

  ExactArrays oracle(const ProblemHandle& h, unsigned bits) const override {
    const WorkingPrecision precision(bits);
    const auto& b = complex_backward_of(h);
    return b.user_arrays(reference::selective_scan_complex_vjp<mp_real, mp_complex>(b.problem()));
  }
  const std::vector<BackendSpec>& backends() const override { return backends_; }
  Arrays any_order_bound(const ProblemHandle& h, Format storage,
                         double elementary_ulps) const override {
    const auto& b = complex_backward_of(h);
    return b.arrays_of(selective_scan_complex_backward_bound(
        b.problem(), complex_backward_arithmetic_any_order(storage, elementary_ulps)));
  }

 private:
  std::vector<BackendSpec> backends_;
};

}  // namespace
}  // namespace touchstone::mamba

namespace touchstone {
void register_mamba_complex(Registry& registry) {
  registry.add(std::make_unique<mamba::ComplexScanEntry>());
  registry.add(std::make_unique<mamba::ComplexBackwardEntry>());
}
}  // namespace touchstone
