// The registry glue the four selective-scan entries share (mamba.selective_scan{,_backward} in
// mamba.cpp, mamba.selective_scan_complex{,_backward} in mamba_complex.cpp): the problem handles,
// the entries, and the readers of a user's arrays, written once and instantiated on a kind `K`
// that supplies what differs (names, declared arrays, sizes, oracle, backends, bounds).
//
// A kind K provides:
//   using Problem = <forward problem on double>;
//   static constexpr bool kComplex;                   // complex state (trailing (re, im) axes)
//   kName, summary(), spec_ref(), inputs(), outputs(), sizes()
//   static Problem generate(size, format, seed);       // the default problems
//   static Problem read(arrays, options, algorithm, specs);  // a user's forward arrays
//   static auto oracle(const Problem&);                // the MPFR result, at the working precision
//   static Arrays any_order_bound(const Problem&, Format, double ulps) (as a result struct)
//   static std::vector<BackendSpec> backends();
// and a backward kind KB: `using Forward = K`, `using Problem = <backward problem>`, kName,
// summary(), spec_ref(), dlast_spec(), outputs(), generate, oracle (the VJP), any_order_bound,
// backends().
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "builtin.hpp"
#include "touchstone/core/random.hpp"
#include "touchstone/reference/mamba_complex_problem.hpp"
#include "touchstone/reference/mamba_problem.hpp"

namespace touchstone::mamba::scan_entry {

inline bool parse_flag(const std::string& name, const std::string& value) {
  if (value == "1" || value == "true" || value == "True") return true;
  if (value == "0" || value == "false" || value == "False") return false;
  throw InvalidInput(name, "expected 0/1/true/false, got '" + value + "'");
}

inline std::vector<OptionSpec> option_specs() {
  return {{"delta_softplus", "apply softplus (threshold 20) to delta + delta_bias", "0"}};
}

// InvalidInput for an option other than delta_softplus, or an array outside `specs`.
inline void reject_unknown(const NpyMap& arrays, const OptionMap& options,
                           const std::string& algorithm, const std::vector<ArraySpec>& specs) {
  for (const auto& [name, value] : options)
    if (name != "delta_softplus")
      throw InvalidInput(name, "unknown option for " + algorithm + " (known: delta_softplus)");
  std::string known;
  for (const auto& s : specs) known += (known.empty() ? "" : ", ") + s.name;
  for (const auto& [name, a] : arrays) {
    bool ok = false;
    for (const auto& s : specs) ok = ok || s.name == name;
    if (!ok) throw InvalidInput(name, "not an input of " + algorithm + " (inputs: " + known + ")");
  }
}

// delta_softplus from the file's 0-d array and/or --option (they must agree); false if neither.
inline bool read_softplus(const NpyMap& arrays, const OptionMap& options) {
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
  return softplus.value_or(false);
}

// Draws an array uniform on [lo, hi), rounded to `format`, from the Philox stream
// "<prefix><array>" under `seed`.
struct Filler {
  std::uint64_t seed;
  std::string prefix;
  Format format;
  Tensor<double> operator()(const char* array, std::vector<Index> shape, double lo,
                            double hi) const {
    PhiloxStream rng(seed, prefix + array);
    Tensor<double> t{Shape(std::move(shape))};
    for (Index i = 0; i < t.count(); ++i) t[i] = round_to_format(rng.next_uniform(lo, hi), format);
    return t;
  }
};

// A variable B or C, (batch, G, N, L, 2), in the peer's interleaved layout (batch, G, N, 2L):
// the same values, reshaped.
inline Tensor<double> interleaved(const Tensor<double>& X) {
  return X.reshaped(Shape{X.extent(0), X.extent(1), X.extent(2), 2 * X.extent(3)});
}

// Every array of a forward problem's inputs, for the narrowest format that holds them.
template <class P>
std::vector<std::span<const double>> value_spans(const P& p) {
  const auto& in = p.in();
  std::vector<std::span<const double>> arrays = {in.u.values(), in.delta.values(), in.A.values(),
                                                 in.B.values(), in.C.values()};
  for (const auto* t : {&in.D, &in.z, &in.delta_bias})
    if (*t) arrays.push_back((*t)->values());
  if constexpr (requires { in.h0; })
    if (in.h0) arrays.push_back(in.h0->values());
  return arrays;
}

template <class R>
Arrays result_arrays(const R& r) {
  return {{"out", r.out.template cast<double>()},
          {"last_state", r.last_state.template cast<double>()}};
}

// The forward problem of one handle, with its float32 copy made once (so that timed runs time
// the backend, not the conversion; InvalidInput when a value is not a float32).
template <class P>
class ScanHandle final : public ProblemHandle {
 public:
  static constexpr bool kComplex = P::kComplex;
  using Problem32 = decltype(std::declval<const P&>().template cast<float>());

  explicit ScanHandle(P p) : p_(std::move(p)) {}
  const P& problem() const { return p_; }
  const Problem32& as_float32() const { return f32_.get(*this, p_); }
  template <class R>
  Arrays arrays_of(const R& r) const { return result_arrays(r); }

  std::string describe() const override {
    const auto& in = p_.in();
    auto layout = [](const GroupedOperand& g) {
      return g.variable ? "variable(G=" + std::to_string(g.groups) + ")" : std::string("constant");
    };
    std::string s = "batch=" + std::to_string(p_.batch()) + " dim=" + std::to_string(p_.dim()) +
                    " dstate=" + std::to_string(p_.dstate()) + " seqlen=" +
                    std::to_string(p_.seqlen()) + (kComplex ? " complex A," : "") + " B=" +
                    layout(p_.B_layout()) + " C=" + layout(p_.C_layout());
    if (in.D) s += " D";
    if (in.z) s += " z";
    if (in.delta_bias) s += " delta_bias";
    if constexpr (requires { in.h0; })
      if (in.h0) s += " h0";
    if (in.delta_softplus) s += " softplus";
    return s;
  }

  Format input_format() const override {
    if (!format_) format_ = narrowest_format(value_spans(p_));
    return *format_;
  }

  // In the peer's layouts; for the complex scan, where a real array can carry them: A and a
  // constant B or C as (dim, dstate, 2) (torch.view_as_complex gives the complex tensor), a
  // variable B or C interleaved (batch, groups, dstate, 2 seqlen), what selective_scan_fn takes.
  Arrays inputs() const override {
    const auto& in = p_.in();
    auto operand = [&](const Tensor<double>& X, const GroupedOperand& g) {
      return kComplex && g.variable ? interleaved(X) : X;
    };
    Arrays a{{"u", in.u}, {"delta", in.delta}, {"A", in.A},
             {"B", operand(in.B, p_.B_layout())}, {"C", operand(in.C, p_.C_layout())}};
    if (in.D) a["D"] = *in.D;
    if (in.z) a["z"] = *in.z;
    if (in.delta_bias) a["delta_bias"] = *in.delta_bias;
    if constexpr (requires { in.h0; })
      if (in.h0) a["h0"] = *in.h0;
    a["delta_softplus"] = Tensor<double>(Shape{}, in.delta_softplus ? 1.0 : 0.0);
    return a;
  }

 private:
  P p_;
  // Caches; a handle is used from one thread at a time.
  Float32Copy<Problem32> f32_;
  mutable std::optional<Format> format_;
};

// How the user gave an input with a gradient (A, B, C), so that the gradient comes back in the
// same layout: the array's shape as read (a complex one with its (re, im) axis), e.g. the real
// scan's 3-d variable B or the complex scan's interleaved (batch, [G,] N, 2L); or, for the
// complex scan, a real array standing for a complex one with zero imaginary parts, whose
// gradient is then the real part's alone (what PyTorch returns for a real tensor).
struct UserLayout {
  std::vector<Index> shape;
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

template <class Q>
class BackwardHandle final : public ProblemHandle {
 public:
  using Forward = std::remove_cvref_t<decltype(std::declval<const Q&>().forward())>;
  using Problem32 = decltype(std::declval<const Q&>().template cast<float>());

  BackwardHandle(Q q, UserLayout A, UserLayout B, UserLayout C)
      : q_(std::move(q)), forward_(q_.forward()), A_(std::move(A)), B_(std::move(B)),
        C_(std::move(C)) {}
  // The layouts of generated problems: what ScanHandle::inputs() writes.
  explicit BackwardHandle(Q q) : BackwardHandle(std::move(q), {}, {}, {}) {
    const Arrays in = forward_.inputs();
    A_.shape = in.at("A").shape().extents();
    B_.shape = in.at("B").shape().extents();
    C_.shape = in.at("C").shape().extents();
  }
  const Q& problem() const { return q_; }
  const Problem32& as_float32() const { return f32_.get(*this, q_); }
  std::string describe() const override {
    return forward_.describe() + (q_.dlast_state() ? " dlast_state" : "");
  }
  Format input_format() const override {
    if (!format_) {
      auto arrays = value_spans(q_.forward());
      arrays.push_back(q_.dout().values());
      if (q_.dlast_state()) arrays.push_back(q_.dlast_state()->values());
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
  // The gradients in the user's layouts.
  template <class G>
  auto user_arrays(G g) const {
    using T = typename decltype(g.du)::value_type;
    std::map<std::string, Tensor<T>> a{{"du", std::move(g.du)}, {"ddelta", std::move(g.ddelta)},
                                       {"dA", to_user(g.dA, A_, "dA")},
                                       {"dB", to_user(g.dB, B_, "dB")},
                                       {"dC", to_user(g.dC, C_, "dC")}};
    if (g.dD) a["dD"] = std::move(*g.dD);
    if (g.dz) a["dz"] = std::move(*g.dz);
    if (g.ddelta_bias) a["ddelta_bias"] = std::move(*g.ddelta_bias);
    if constexpr (requires { g.dh0; })
      if (g.dh0) a["dh0"] = std::move(*g.dh0);
    return a;
  }
  template <class G>
  Arrays arrays_of(const G& g) const {
    Arrays out;
    for (auto& [name, t] : user_arrays(g)) out[name] = t.template cast<double>();
    return out;
  }

 private:
  Q q_;
  ScanHandle<Forward> forward_;
  UserLayout A_, B_, C_;
  Float32Copy<Problem32> f32_;
  mutable std::optional<Format> format_;
};

// A backend of an entry whose handle is `Handle`: `run` on the float32 (kFloat32) or float64
// problem, `bound` on the float64 one, both returned in the handle's output arrays.
template <class Handle, bool kFloat32, class Run, class Bound>
BackendSpec backend(std::string name, std::string order,
                    std::function<std::string()> unavailable_reason, Run run, Bound bound) {
  return {std::move(name), kFloat32 ? Format::float32 : Format::float64, std::move(order),
          std::move(unavailable_reason),
          [run](const ProblemHandle& h) {
            const auto& x = dynamic_cast<const Handle&>(h);
            if constexpr (kFloat32) return x.arrays_of(run(x.as_float32()));
            else return x.arrays_of(run(x.problem()));
          },
          [bound](const ProblemHandle& h) {
            const auto& x = dynamic_cast<const Handle&>(h);
            return x.arrays_of(bound(x.problem()));
          }};
}
inline std::function<std::string()> available() {
  return [] { return std::string(); };
}

// The forward entry of kind K.
template <class K>
class ScanEntry final : public Algorithm {
 public:
  using Handle = ScanHandle<typename K::Problem>;
  ScanEntry() : backends_(K::backends()) {}

  std::string name() const override { return K::kName; }
  std::string summary() const override { return K::summary(); }
  std::string spec_ref() const override { return K::spec_ref(); }
  std::vector<ArraySpec> inputs() const override { return K::inputs(); }
  std::vector<ArraySpec> outputs() const override { return K::outputs(); }
  std::vector<OptionSpec> options() const override { return option_specs(); }
  std::vector<std::string> sizes() const override { return K::sizes(); }

  std::unique_ptr<ProblemHandle> generate(const std::string& size, Format format,
                                          std::uint64_t seed) const override {
    return std::make_unique<Handle>(K::generate(size, format, seed));
  }
  std::unique_ptr<ProblemHandle> problem_from_arrays(const NpyMap& arrays,
                                                     const OptionMap& options) const override {
    return std::make_unique<Handle>(K::read(arrays, options, name(), inputs()));
  }
  ExactArrays oracle(const ProblemHandle& h, unsigned bits) const override {
    const WorkingPrecision precision(bits);
    auto r = K::oracle(dynamic_cast<const Handle&>(h).problem());
    return {{"out", std::move(r.out)}, {"last_state", std::move(r.last_state)}};
  }
  const std::vector<BackendSpec>& backends() const override { return backends_; }
  Arrays any_order_bound(const ProblemHandle& h, Format storage,
                         double elementary_ulps) const override {
    return result_arrays(
        K::any_order_bound(dynamic_cast<const Handle&>(h).problem(), storage, elementary_ulps));
  }

 private:
  std::vector<BackendSpec> backends_;
};

// The backward entry of kind KB ([MAMBA-BWD-DEF], [MAMBA-CSCAN-BWD-DEF]).
template <class KB>
class BackwardEntry final : public Algorithm {
 public:
  using K = typename KB::Forward;
  using Handle = BackwardHandle<typename KB::Problem>;
  BackwardEntry() : backends_(KB::backends()) {}

  std::string name() const override { return KB::kName; }
  std::string summary() const override { return KB::summary(); }
  std::string spec_ref() const override { return KB::spec_ref(); }
  std::vector<ArraySpec> inputs() const override {
    auto v = K::inputs();
    v.push_back({"dout", "(batch, dim, seqlen)", "cotangent of out", false});
    v.push_back(KB::dlast_spec());
    return v;
  }
  std::vector<ArraySpec> outputs() const override { return KB::outputs(); }
  std::vector<OptionSpec> options() const override { return option_specs(); }
  std::vector<std::string> sizes() const override { return {"tiny", "small", "medium"}; }

  std::unique_ptr<ProblemHandle> generate(const std::string& size, Format format,
                                          std::uint64_t seed) const override {
    return std::make_unique<Handle>(KB::generate(size, format, seed));
  }

  // The forward reader reads the forward arrays and rejects names outside inputs(), which
  // include dout and dlast_state; then the cotangents.
  std::unique_ptr<ProblemHandle> problem_from_arrays(const NpyMap& arrays,
                                                     const OptionMap& options) const override {
    auto p = K::read(arrays, options, name(), inputs());
    auto layout = [&](const char* n) {
      const NpyArray& a = arrays.at(n);
      UserLayout l{a.values.shape().extents(), false};
      // A real array read as a complex one with zero imaginary parts (A (dim, N), a constant B
      // or C (dim, N)): the gradient of the real parameter is the real part's.
      l.real_part_only = K::kComplex && !a.complex && a.values.rank() == 2;
      return l;
    };
    auto dout = arrays.find("dout");
    if (dout == arrays.end())
      throw InvalidInput("dout", "missing (required input of " + name() + ")");
    if (dout->second.kind != NpyKind::floating || (K::kComplex && dout->second.complex))
      throw InvalidInput("dout", std::string(K::kComplex ? "expected a real float array, got "
                                                         : "expected a float array, got ") +
                                     dout->second.dtype_name());
    std::optional<Tensor<double>> dlast;
    if (auto it = arrays.find("dlast_state"); it != arrays.end()) {
      if (it->second.kind != NpyKind::floating)
        throw InvalidInput("dlast_state", std::string(K::kComplex
                                                          ? "expected a float or complex array, got "
                                                          : "expected a float array, got ") +
                                              it->second.dtype_name());
      // Complex: a real (batch, dim, dstate) cotangent has zero imaginary parts; a complex one,
      // or its real (batch, dim, dstate, 2) view, is taken as is.
      dlast = K::kComplex && !it->second.complex && it->second.values.rank() == 3
                  ? complex_from_real(it->second.values)
                  : it->second.values;
    }
    return std::make_unique<Handle>(
        typename KB::Problem(std::move(p), dout->second.values, std::move(dlast)), layout("A"),
        layout("B"), layout("C"));
  }

  ExactArrays oracle(const ProblemHandle& h, unsigned bits) const override {
    const WorkingPrecision precision(bits);
    const auto& b = dynamic_cast<const Handle&>(h);
    return b.user_arrays(KB::oracle(b.problem()));
  }
  const std::vector<BackendSpec>& backends() const override { return backends_; }
  Arrays any_order_bound(const ProblemHandle& h, Format storage,
                         double elementary_ulps) const override {
    const auto& b = dynamic_cast<const Handle&>(h);
    return b.arrays_of(KB::any_order_bound(b.problem(), storage, elementary_ulps));
  }

 private:
  std::vector<BackendSpec> backends_;
};

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
