// mamba.selective_scan in the registry: its names, default problems, oracle, backends and bounds.
#include "mamba.hpp"

#include "builtin.hpp"
#include "cpu/mamba.hpp"
#include "cuda/device.cuh"
#include "cuda/mamba.cuh"
#include "touchstone/core/random.hpp"
#include "touchstone/reference/mamba.hpp"
#include "touchstone/reference/mamba_backward.hpp"
#include "touchstone/reference/mamba_backward_bound.hpp"
#include "touchstone/reference/mamba_bound.hpp"

namespace touchstone::mamba {
namespace {

struct SizeSpec {
  const char* name;
  Index batch, dim, dstate, seqlen;
  Index B_groups;  // 0: constant B
  Index C_groups;  // 0: constant C
  bool D, z, delta_bias, h0, softplus, s4d_real_A;
};

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

const SizeSpec& size_spec(const std::string& name) {
  for (const auto& s : kSizes)
    if (name == s.name) return s;
  if (name == kBench.name) return kBench;
  throw InvalidInput("size", "unknown size '" + name + "' (tiny, small, medium, long, bench)");
}

double to_format(double x, Format f) { return round_to_format(x, f); }

}  // namespace

SelectiveScanProblem<double> default_selective_scan_problem(const std::string& size, Format format,
                                                            std::uint64_t seed) {
  const SizeSpec& s = size_spec(size);
  auto fill = [&](const char* array, std::vector<Index> shape, double lo, double hi) {
    PhiloxStream rng(seed, std::string("mamba.selective_scan/") + array);
    Tensor<double> t{Shape(std::move(shape))};
    for (Index i = 0; i < t.count(); ++i) t[i] = to_format(rng.next_uniform(lo, hi), format);
    return t;
  };
  // Ranges as in the peer's test (u, B, C, D, z centred; delta and delta_bias in [0, 0.5);
  // A in (-0.5, 0] or the S4D-real A[n] = -(n+1)).
  SelectiveScanInputs<double> in;
  in.u = fill("u", {s.batch, s.dim, s.seqlen}, -1, 1);
  in.delta = fill("delta", {s.batch, s.dim, s.seqlen}, 0, 0.5);
  if (s.s4d_real_A) {
    in.A = Tensor<double>(Shape{s.dim, s.dstate});
    for (Index d = 0; d < s.dim; ++d)
      for (Index n = 0; n < s.dstate; ++n) in.A(d, n) = -static_cast<double>(n + 1);
  } else {
    in.A = fill("A", {s.dim, s.dstate}, -0.5, 0);
  }
  in.B = s.B_groups ? fill("B", {s.batch, s.B_groups, s.dstate, s.seqlen}, -1, 1)
                    : fill("B", {s.dim, s.dstate}, -1, 1);
  in.C = s.C_groups ? fill("C", {s.batch, s.C_groups, s.dstate, s.seqlen}, -1, 1)
                    : fill("C", {s.dim, s.dstate}, -1, 1);
  if (s.D) in.D = fill("D", {s.dim}, -1, 1);
  if (s.z) in.z = fill("z", {s.batch, s.dim, s.seqlen}, -2, 2);
  if (s.delta_bias) in.delta_bias = fill("delta_bias", {s.dim}, 0, 0.5);
  if (s.h0) in.h0 = fill("h0", {s.batch, s.dim, s.dstate}, -1, 1);
  in.delta_softplus = s.softplus;
  return SelectiveScanProblem<double>(std::move(in));
}

namespace {

class ScanHandle final : public ProblemHandle {
 public:
  explicit ScanHandle(SelectiveScanProblem<double> p) : p_(std::move(p)) {}
  const SelectiveScanProblem<double>& problem() const { return p_; }

  // The float32 problem of a float32 backend, made once (so that timed runs time the backend,
  // not the conversion); InvalidInput when a value is not a float32.
  const SelectiveScanProblem<float>& as_float32() const { return f32_.get(*this, p_); }

  std::string describe() const override {
    const auto& in = p_.in();
    auto layout = [](const GroupedOperand& g) {
      return g.variable ? "variable(G=" + std::to_string(g.groups) + ")" : std::string("constant");
    };
    std::string s = "batch=" + std::to_string(p_.batch()) + " dim=" + std::to_string(p_.dim()) +
                    " dstate=" + std::to_string(p_.dstate()) + " seqlen=" +
                    std::to_string(p_.seqlen()) + " B=" + layout(p_.B_layout()) + " C=" +
                    layout(p_.C_layout());
    if (in.D) s += " D";
    if (in.z) s += " z";
    if (in.delta_bias) s += " delta_bias";
    if (in.h0) s += " h0";
    if (in.delta_softplus) s += " softplus";
    return s;
  }

  Format input_format() const override {
    if (!format_) {
      const auto& in = p_.in();
      std::vector<std::span<const double>> arrays = {in.u.values(), in.delta.values(), in.A.values(),
                                                     in.B.values(), in.C.values()};
      for (const auto* t : {&in.D, &in.z, &in.delta_bias, &in.h0})
        if (*t) arrays.push_back((*t)->values());
      format_ = narrowest_format(arrays);
    }
    return *format_;
  }

  Arrays inputs() const override {
    const auto& in = p_.in();
    Arrays a{{"u", in.u}, {"delta", in.delta}, {"A", in.A}, {"B", in.B}, {"C", in.C}};
    if (in.D) a["D"] = *in.D;
    if (in.z) a["z"] = *in.z;
    if (in.delta_bias) a["delta_bias"] = *in.delta_bias;
    if (in.h0) a["h0"] = *in.h0;
    a["delta_softplus"] = Tensor<double>(Shape{}, in.delta_softplus ? 1.0 : 0.0);
    return a;
  }

 private:
  SelectiveScanProblem<double> p_;
  // Caches; a handle is used from one thread at a time.
  Float32Copy<SelectiveScanProblem<float>> f32_;
  mutable std::optional<Format> format_;
};

const SelectiveScanProblem<double>& problem_of(const ProblemHandle& h) {
  return dynamic_cast<const ScanHandle&>(h).problem();
}

template <class T>
Arrays arrays_of(const SelectiveScanResult<T>& r) {
  return {{"out", r.out.template cast<double>()}, {"last_state", r.last_state.template cast<double>()}};
}

const SelectiveScanProblem<float>& float32_problem_of(const ProblemHandle& h) {
  return dynamic_cast<const ScanHandle&>(h).as_float32();
}

bool parse_flag(const std::string& name, const std::string& value) {
  if (value == "1" || value == "true" || value == "True") return true;
  if (value == "0" || value == "false" || value == "False") return false;
  throw InvalidInput(name, "expected 0/1/true/false, got '" + value + "'");
}

// The forward inputs in the peer's names ([MAMBA-SCAN-SHAPES]); the backward entry adds its
// cotangents.
std::vector<ArraySpec> scan_input_specs() {
  return {
      {"u", "(batch, dim, seqlen)", "input sequence", false},
      {"delta", "(batch, dim, seqlen)", "time step before bias and softplus", false},
      {"A", "(dim, dstate)", "real state matrix (diagonal per channel)", false},
      {"B", "(dim, dstate) | (batch, dstate, seqlen) | (batch, groups, dstate, seqlen)",
       "input matrix, constant or selective", false},
      {"C", "(dim, dstate) | (batch, dstate, seqlen) | (batch, groups, dstate, seqlen)",
       "output matrix, constant or selective", false},
      {"D", "(dim,)", "skip connection", true},
      {"z", "(batch, dim, seqlen)", "gate: out *= silu(z)", true},
      {"delta_bias", "(dim,)", "added to delta before softplus", true},
      {"h0", "(batch, dim, dstate)", "initial state (touchstone extension)", true},
      {"delta_softplus", "() | (1,)", "apply softplus to delta (also --option)", true},
  };
}
std::vector<OptionSpec> scan_option_specs() {
  return {{"delta_softplus", "apply softplus (threshold 20) to delta + delta_bias", "0"}};
}

// The forward problem from a user's arrays and options ([MAMBA-SCAN-SHAPES]); `known` lists
// every array the algorithm accepts (the backward entry adds its cotangents).
SelectiveScanProblem<double> scan_problem_from_arrays(const NpyMap& arrays, const OptionMap& options,
                                                   const std::string& algorithm,
                                                   const std::vector<ArraySpec>& specs) {
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
  auto floats = [&](const std::string& name) -> std::optional<Tensor<double>> {
    auto it = arrays.find(name);
    if (it == arrays.end()) return std::nullopt;
    if (it->second.kind != NpyKind::floating)
      throw InvalidInput(name, "expected a float array, got " + it->second.dtype_name());
    return it->second.values;
  };
  auto required = [&](const std::string& name) {
    auto t = floats(name);
    if (!t) throw InvalidInput(name, "missing (required input of " + algorithm + ")");
    return std::move(*t);
  };
  SelectiveScanInputs<double> in;
  in.u = required("u");
  in.delta = required("delta");
  in.A = required("A");
  in.B = required("B");
  in.C = required("C");
  in.D = floats("D");
  in.z = floats("z");
  in.delta_bias = floats("delta_bias");
  in.h0 = floats("h0");
  std::optional<bool> softplus;
  if (auto it = arrays.find("delta_softplus"); it != arrays.end()) {
    const Tensor<double>& v = it->second.values;
    if (v.count() != 1 || !(v[0] == 0 || v[0] == 1))
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
  return SelectiveScanProblem<double>(std::move(in));
}


class SelectiveScanEntry final : public Algorithm {
 public:
  SelectiveScanEntry() {
    const ScanArithmetic f32 = arithmetic_cpu_f32(), f64 = arithmetic_cpu_f64();
    const auto shape = cuda::selective_scan_kernel_shape();
    const ScanArithmetic c32 = arithmetic_cuda_f32(shape.tree_depth, shape.chunk);
    auto bound_with = [](ScanArithmetic m) {
      return [m](const ProblemHandle& h) { return arrays_of(selective_scan_bound(problem_of(h), m)); };
    };
    const std::string sequential =
        "sequential in t; per step fma(a,h,dt*u*B); y by fma over n; fma(D,u,y)*silu(z)";
    backends_ = {
        {"cpu-f32", Format::float32, sequential, [] { return std::string(); },
         [](const ProblemHandle& h) { return arrays_of(cpu::selective_scan(float32_problem_of(h))); },
         bound_with(f32)},
        {"cpu-f64", Format::float64, sequential, [] { return std::string(); },
         [](const ProblemHandle& h) { return arrays_of(cpu::selective_scan(problem_of(h))); },
         bound_with(f64)},
        {"cuda-f32", Format::float32,
         "chunks of " + std::to_string(shape.chunk) + ": per-thread sequential folds, block tree "
         "scan, sequential recompute; y and gate as cpu",
         [] { return touchstone::cuda::unavailable_reason(); },
         [](const ProblemHandle& h) { return arrays_of(cuda::selective_scan(float32_problem_of(h))); },
         bound_with(c32)},
    };
  }

  std::string name() const override { return "mamba.selective_scan"; }
  std::string summary() const override {
    return "Mamba's selective scan (S6) forward, real A: mamba_ssm selective_scan_fn semantics, "
           "plus an initial state h0";
  }
  std::string spec_ref() const override { return "spec/mamba.md [MAMBA-SCAN-DEF]"; }

  std::vector<ArraySpec> inputs() const override { return scan_input_specs(); }
  std::vector<ArraySpec> outputs() const override {
    return {{"out", "(batch, dim, seqlen)", "output sequence", false},
            {"last_state", "(batch, dim, dstate)", "state after the last step", false}};
  }
  std::vector<OptionSpec> options() const override { return scan_option_specs(); }
  std::vector<std::string> sizes() const override {
    std::vector<std::string> v;
    for (const auto& s : kSizes) v.push_back(s.name);
    return v;
  }

  std::unique_ptr<ProblemHandle> generate(const std::string& size, Format format,
                                          std::uint64_t seed) const override {
    return std::make_unique<ScanHandle>(default_selective_scan_problem(size, format, seed));
  }

  std::unique_ptr<ProblemHandle> problem_from_arrays(const NpyMap& arrays,
                                             const OptionMap& options) const override {
    return std::make_unique<ScanHandle>(scan_problem_from_arrays(arrays, options, name(), inputs()));
  }

  ExactArrays oracle(const ProblemHandle& h, unsigned bits) const override {
    const WorkingPrecision precision(bits);
    auto r = reference::selective_scan<mp_real>(problem_of(h));
    return {{"out", std::move(r.out)}, {"last_state", std::move(r.last_state)}};
  }

  const std::vector<BackendSpec>& backends() const override { return backends_; }

  Arrays any_order_bound(const ProblemHandle& h, Format storage,
                         double elementary_ulps) const override {
    const auto& p = problem_of(h);
    return arrays_of(selective_scan_bound(p, arithmetic_any_order(storage, p.seqlen(), elementary_ulps)));
  }

 private:
  std::vector<BackendSpec> backends_;
};

// ---- mamba.selective_scan_backward ([MAMBA-BWD-DEF]) ----

}  // namespace

SelectiveScanBackwardProblem<double> default_selective_scan_backward_problem(const std::string& size,
                                                                             Format format,
                                                                             std::uint64_t seed) {
  auto p = default_selective_scan_problem(size, format, seed);
  PhiloxStream rng(seed, "mamba.selective_scan_backward/dout");
  Tensor<double> dout(Shape{p.batch(), p.dim(), p.seqlen()});
  for (Index i = 0; i < dout.count(); ++i) dout[i] = round_to_format(rng.next_uniform(-1, 1), format);
  std::optional<Tensor<double>> dlast;
  if (size == "small") {  // the small problem also has h0: exercise dlast_state and dh0
    PhiloxStream r2(seed, "mamba.selective_scan_backward/dlast_state");
    dlast = Tensor<double>(Shape{p.batch(), p.dim(), p.dstate()});
    for (Index i = 0; i < dlast->count(); ++i) (*dlast)[i] = round_to_format(r2.next_uniform(-1, 1), format);
  }
  return SelectiveScanBackwardProblem<double>(std::move(p), std::move(dout), std::move(dlast));
}

namespace {

class BackwardHandle final : public ProblemHandle {
 public:
  BackwardHandle(SelectiveScanBackwardProblem<double> q, bool B_3d, bool C_3d)
      : q_(std::move(q)), forward_(q_.forward()), B_3d_(B_3d), C_3d_(C_3d) {}
  const SelectiveScanBackwardProblem<double>& problem() const { return q_; }
  const SelectiveScanBackwardProblem<float>& as_float32() const { return f32_.get(*this, q_); }
  std::string describe() const override {
    return forward_.describe() + (q_.dlast_state() ? " dlast_state" : "");
  }
  Format input_format() const override {
    if (!format_) {
      const auto& in = q_.forward().in();
      std::vector<std::span<const double>> arrays = {in.u.values(), in.delta.values(),
                                                     in.A.values(), in.B.values(), in.C.values(),
                                                     q_.dout().values()};
      for (const auto* t : {&in.D, &in.z, &in.delta_bias, &in.h0, &q_.dlast_state()})
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
  // The gradients in the user's layouts: a B or C given 3-d gets its gradient 3-d.
  template <class T>
  Arrays arrays_of(const SelectiveScanGrads<T>& g) const {
    const auto& p = q_.forward();
    auto as_user = [&](const Tensor<T>& t, bool three_d, const char* name) {
      Tensor<double> d = t.template cast<double>();
      return three_d ? d.reshaped(Shape{p.batch(), p.dstate(), p.seqlen()}, name) : d;
    };
    Arrays a{{"du", g.du.template cast<double>()}, {"ddelta", g.ddelta.template cast<double>()},
             {"dA", g.dA.template cast<double>()}, {"dB", as_user(g.dB, B_3d_, "dB")},
             {"dC", as_user(g.dC, C_3d_, "dC")}};
    if (g.dD) a["dD"] = g.dD->template cast<double>();
    if (g.dz) a["dz"] = g.dz->template cast<double>();
    if (g.ddelta_bias) a["ddelta_bias"] = g.ddelta_bias->template cast<double>();
    if (g.dh0) a["dh0"] = g.dh0->template cast<double>();
    return a;
  }
  ExactArrays exact_arrays_of(SelectiveScanGrads<mp_real> g) const {
    const auto& p = q_.forward();
    auto as_user = [&](Tensor<mp_real>& t, bool three_d, const char* name) {
      return three_d ? t.reshaped(Shape{p.batch(), p.dstate(), p.seqlen()}, name) : std::move(t);
    };
    ExactArrays a{{"du", std::move(g.du)}, {"ddelta", std::move(g.ddelta)}, {"dA", std::move(g.dA)},
                  {"dB", as_user(g.dB, B_3d_, "dB")}, {"dC", as_user(g.dC, C_3d_, "dC")}};
    if (g.dD) a["dD"] = std::move(*g.dD);
    if (g.dz) a["dz"] = std::move(*g.dz);
    if (g.ddelta_bias) a["ddelta_bias"] = std::move(*g.ddelta_bias);
    if (g.dh0) a["dh0"] = std::move(*g.dh0);
    return a;
  }

 private:
  SelectiveScanBackwardProblem<double> q_;
  ScanHandle forward_;
  bool B_3d_, C_3d_;
  Float32Copy<SelectiveScanBackwardProblem<float>> f32_;
  mutable std::optional<Format> format_;
};

const BackwardHandle& backward_of(const ProblemHandle& h) {
  return dynamic_cast<const BackwardHandle&>(h);
}

class SelectiveScanBackwardEntry final : public Algorithm {
 public:
  SelectiveScanBackwardEntry() {
    auto bound_with = [](BackwardArithmetic m) {
      return [m](const ProblemHandle& h) {
        const auto& b = backward_of(h);
        return b.arrays_of(selective_scan_backward_bound(b.problem(), m));
      };
    };
    const std::string order =
        "reverse in t from checkpointed blocks of 256; fma chains over n and t per channel; "
        "channel and batch sums in a fixed order";
    backends_ = {
        {"cpu-f32", Format::float32, order, [] { return std::string(); },
         [](const ProblemHandle& h) {
           const auto& b = backward_of(h);
           return b.arrays_of(cpu::selective_scan_backward(b.as_float32()));
         },
         bound_with(backward_arithmetic_cpu_f32())},
        {"cpu-f64", Format::float64, order, [] { return std::string(); },
         [](const ProblemHandle& h) {
           const auto& b = backward_of(h);
           return b.arrays_of(cpu::selective_scan_backward(b.problem()));
         },
         bound_with(backward_arithmetic_cpu_f64())},
        // [MAMBA-BWD-CUDA]: the cpu-f32 order exactly (bitwise equal), so the cpu-f32 bound.
        {"cuda-f32", Format::float32, order + " (the cpu-f32 order: bitwise equal)",
         [] { return touchstone::cuda::unavailable_reason(); },
         [](const ProblemHandle& h) {
           const auto& b = backward_of(h);
           return b.arrays_of(cuda::selective_scan_backward(b.as_float32()));
         },
         bound_with(backward_arithmetic_cpu_f32())},
    };
  }

  std::string name() const override { return "mamba.selective_scan_backward"; }
  std::string summary() const override {
    return "gradients (VJP) of mamba.selective_scan with respect to every input, real A";
  }
  std::string spec_ref() const override { return "spec/mamba.md [MAMBA-BWD-DEF]"; }
  std::vector<ArraySpec> inputs() const override {
    auto v = scan_input_specs();
    v.push_back({"dout", "(batch, dim, seqlen)", "cotangent of out", false});
    v.push_back({"dlast_state", "(batch, dim, dstate)",
                 "cotangent of last_state (the peer ignores it: absent = 0)", true});
    return v;
  }
  std::vector<ArraySpec> outputs() const override {
    return {{"du", "(batch, dim, seqlen)", "gradient of u", false},
            {"ddelta", "(batch, dim, seqlen)", "gradient of delta", false},
            {"dA", "(dim, dstate)", "gradient of A", false},
            {"dB", "B's shape", "gradient of B", false},
            {"dC", "C's shape", "gradient of C", false},
            {"dD", "(dim,)", "gradient of D (when D is given)", true},
            {"dz", "(batch, dim, seqlen)", "gradient of z (when z is given)", true},
            {"ddelta_bias", "(dim,)", "gradient of delta_bias (when given)", true},
            {"dh0", "(batch, dim, dstate)", "gradient of h0 (when given)", true}};
  }
  std::vector<OptionSpec> options() const override { return scan_option_specs(); }
  std::vector<std::string> sizes() const override { return {"tiny", "small", "medium"}; }

  std::unique_ptr<ProblemHandle> generate(const std::string& size, Format format,
                                          std::uint64_t seed) const override {
    return std::make_unique<BackwardHandle>(
        default_selective_scan_backward_problem(size, format, seed), false, false);
  }

  std::unique_ptr<ProblemHandle> problem_from_arrays(const NpyMap& arrays,
                                             const OptionMap& options) const override {
    const bool B_3d = arrays.count("B") && arrays.at("B").values.rank() == 3;
    const bool C_3d = arrays.count("C") && arrays.at("C").values.rank() == 3;
    // The forward parser reads the forward arrays and rejects names outside inputs(), which
    // include dout and dlast_state.
    auto p = scan_problem_from_arrays(arrays, options, name(), inputs());
    auto cotangent = [&](const char* n) -> std::optional<Tensor<double>> {
      auto it = arrays.find(n);
      if (it == arrays.end()) return std::nullopt;
      if (it->second.kind != NpyKind::floating)
        throw InvalidInput(n, "expected a float array, got " + it->second.dtype_name());
      return it->second.values;
    };
    auto dout = cotangent("dout");
    if (!dout) throw InvalidInput("dout", "missing (required input of " + name() + ")");
    return std::make_unique<BackwardHandle>(
        SelectiveScanBackwardProblem<double>(std::move(p), std::move(*dout), cotangent("dlast_state")),
        B_3d, C_3d);
  }

  ExactArrays oracle(const ProblemHandle& h, unsigned bits) const override {
    const WorkingPrecision precision(bits);
    const auto& b = backward_of(h);
    return b.exact_arrays_of(reference::selective_scan_vjp<mp_real>(b.problem()));
  }
  const std::vector<BackendSpec>& backends() const override { return backends_; }
  Arrays any_order_bound(const ProblemHandle& h, Format storage,
                         double elementary_ulps) const override {
    const auto& b = backward_of(h);
    return b.arrays_of(selective_scan_backward_bound(
        b.problem(), backward_arithmetic_any_order(storage, elementary_ulps)));
  }

 private:
  std::vector<BackendSpec> backends_;
};

}  // namespace
}  // namespace touchstone::mamba

namespace touchstone {
void register_mamba(Registry& registry) {
  registry.add(std::make_unique<mamba::SelectiveScanEntry>());
  registry.add(std::make_unique<mamba::SelectiveScanBackwardEntry>());
}
}  // namespace touchstone
