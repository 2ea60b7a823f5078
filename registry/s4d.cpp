// s4d.kernel in the registry (spec/s4d.md [S4D-DEF]): names and file layouts, default problems
// from the S4D initializations, oracle, backends and bounds. The same entry class, renamed,
// is dss.kernel_exp (spec/dss.md [DSS-EXP-DEF]; registry/dss.cpp registers it).
#include <optional>

#include "builtin.hpp"
#include "s4_options.hpp"
#include "cpu/s4d.hpp"
#include "cuda/device.hpp"
#include "cuda/s4d.hpp"
#include "touchstone/core/random.hpp"
#include "touchstone/reference/s4d.hpp"
#include "touchstone/reference/s4d_bound.hpp"

namespace touchstone::s4 {

// How an entry names things: s4d.kernel (A, B, C, dt | log_dt; options disc, conj) or
// dss.kernel_exp (Lambda, W, log_dt; zoh, full, B = 1).
struct S4DFlavor {
  bool dss = false;
  const char* name() const { return dss ? "dss.kernel_exp" : "s4d.kernel"; }
  const char* A_name() const { return dss ? "Lambda" : "A"; }
  const char* C_name() const { return dss ? "W" : "C"; }
};

namespace {

struct SizeSpec {
  const char* name;
  Index H, N, L;  // N: stored modes N'
  S4DInit init;
  Discretization disc;
  Conj conj;
  bool B, log_dt;
};

// [S4D-DEFAULTS] Between them: L below, at and across the power block (64), both
// discretizations and conventions, B given and absent, dt and log_dt, the four inits.
constexpr SizeSpec kSizes[] = {
    {"tiny", 1, 2, 8, S4DInit::lin, Discretization::zoh, Conj::halves, false, false},
    {"small", 3, 8, 100, S4DInit::inv, Discretization::bilinear, Conj::halves, true, true},
    {"medium", 4, 32, 1024, S4DInit::lin, Discretization::zoh, Conj::halves, false, true},
    {"real", 2, 8, 200, S4DInit::real, Discretization::bilinear, Conj::full, false, false},
    {"legs", 2, 16, 256, S4DInit::legs, Discretization::zoh, Conj::halves, true, true},
};
// `touchstone bench` only (not a `check` size): H 256, N 64 as 32 halves, L 4096, ZOH, S4D-Lin,
// log_dt: the shape bench/compare_s4_kernels.sh times against state-spaces/s4's naive kernel.
constexpr SizeSpec kBenchSize = {"bench", 256, 32, 4096, S4DInit::lin, Discretization::zoh,
                                 Conj::halves, false, true};
// [DSS-EXP-DEFAULTS] dss.kernel_exp: full modes, Lambda from S4D-Lin halves and S4D-LegS.
constexpr SizeSpec kDssSizes[] = {
    {"tiny", 1, 2, 8, S4DInit::lin, Discretization::zoh, Conj::full, false, true},
    {"small", 3, 8, 100, S4DInit::legs, Discretization::zoh, Conj::full, false, true},
    {"medium", 4, 32, 1024, S4DInit::lin, Discretization::zoh, Conj::full, false, true},
};

S4DProblem<double> default_problem(const S4DFlavor& f, const SizeSpec& s, Format format,
                                   std::uint64_t seed) {
  auto rng = [&](const char* array) { return PhiloxStream(seed, std::string(f.name()) + "/" + array); };
  S4DInputs<double> in;
  in.L = s.L;
  in.disc = s.disc;
  in.conj = s.conj;
  in.log_dt = s.log_dt;
  // The init's modes, the same in every channel; B from the init when it has one (legs), else
  // Philox uniforms on [-1, 1) per part.
  const auto A0 = s4d_init_A(s.init, 2 * s.N);
  const auto B0 = s4d_init_B(s.init, 2 * s.N);
  in.A = Tensor<double>(Shape{s.H, s.N, 2});
  for (Index h = 0; h < s.H; ++h)
    for (Index n = 0; n < s.N; ++n) {
      in.A(h, n, Index{0}) = round_to_format(A0[n].real(), format);
      in.A(h, n, Index{1}) = round_to_format(A0[n].imag(), format);
    }
  auto uniform_complex = [&](const char* name) {
    PhiloxStream r = rng(name);
    Tensor<double> t(Shape{s.H, s.N, 2});
    for (Index i = 0; i < t.count(); ++i) t[i] = round_to_format(r.next_uniform(-1, 1), format);
    return t;
  };
  in.C = uniform_complex("C");
  if (s.B) {
    if (s.init == S4DInit::legs) {
      Tensor<double> B(Shape{s.H, s.N, 2});
      for (Index h = 0; h < s.H; ++h)
        for (Index n = 0; n < s.N; ++n) {
          B(h, n, Index{0}) = round_to_format(B0[n].real(), format);
          B(h, n, Index{1}) = round_to_format(B0[n].imag(), format);
        }
      in.B = B;
    } else {
      in.B = uniform_complex("B");
    }
  }
  // [S4D-DEFAULTS] log dt uniform on [log 1e-3, log 1e-1] (the peers' init).
  PhiloxStream r = rng("log_dt");
  in.dt = Tensor<double>(Shape{s.H});
  for (Index h = 0; h < s.H; ++h) {
    const double ld = r.next_uniform(std::log(1e-3), std::log(1e-1));
    in.dt[h] = round_to_format(s.log_dt ? ld : std::exp(ld), format);
  }
  return S4DProblem<double>(std::move(in));
}

class S4DHandle final : public ProblemHandle {
 public:
  S4DHandle(S4DFlavor f, S4DProblem<double> p) : f_(f), p_(std::move(p)) {}
  const S4DProblem<double>& problem() const { return p_; }
  const S4DProblem<float>& as_float32() const { return f32_.get(*this, p_); }
  std::string describe() const override {
    return "H=" + std::to_string(p_.H()) + " N'=" + std::to_string(p_.N()) + " L=" +
           std::to_string(p_.L()) + " disc=" + to_string(p_.in().disc) + " conj=" +
           conj_name(p_.in().conj) + (p_.in().B ? " B" : "") + (p_.in().log_dt ? " log_dt" : " dt");
  }
  Format input_format() const override {
    const auto& in = p_.in();
    std::vector<std::span<const double>> a = {in.A.values(), in.C.values(), in.dt.values()};
    if (in.B) a.push_back(in.B->values());
    return narrowest_format(a);
  }
  Arrays inputs() const override {
    const auto& in = p_.in();
    Arrays a{{f_.A_name(), in.A}, {f_.C_name(), in.C}, {in.log_dt ? "log_dt" : "dt", in.dt},
             {"L", Tensor<double>(Shape{}, static_cast<double>(in.L))}};
    if (in.B) a["B"] = *in.B;
    if (!f_.dss) {
      a["disc"] = Tensor<double>(Shape{}, in.disc == Discretization::bilinear ? 1.0 : 0.0);
      a["conj"] = conj_array(in.conj);
    }
    return a;
  }

 private:
  S4DFlavor f_;
  S4DProblem<double> p_;
  Float32Copy<S4DProblem<float>> f32_;
};

const S4DHandle& handle_of(const ProblemHandle& h) { return dynamic_cast<const S4DHandle&>(h); }

// A complex (H, N) array: complex in the file, or real (H, N, 2) as (re, im).
Tensor<double> complex_array(const NpyArray& a, const std::string& name) {
  if (a.kind != NpyKind::floating)
    throw InvalidInput(name, "expected a complex or float array, got " + a.dtype_name());
  if (a.values.rank() == 3 && a.values.extent(2) == 2) return a.values;
  throw InvalidInput(name, "expected complex (H, N) (or real (H, N, 2) as (re, im)), got " +
                               a.dtype_name() + " of shape " + a.values.shape().str());
}

// A 0-d integer-valued array or an option, which must agree when both are given.
std::optional<double> scalar_of(const NpyMap& arrays, const OptionMap& options, const std::string& name,
                                const std::function<double(const std::string&)>& parse) {
  std::optional<double> v;
  if (auto it = arrays.find(name); it != arrays.end()) {
    if (it->second.complex || it->second.values.count() != 1)
      throw InvalidInput(name, "expected one real value (a 0-d array)");
    v = it->second.values[0];
  }
  if (auto it = options.find(name); it != options.end()) {
    const double o = parse(it->second);
    if (v && *v != o) throw InvalidInput(name, "the .npz array and --option disagree");
    v = o;
  }
  return v;
}

}  // namespace

class S4DEntry final : public Algorithm {
 public:
  explicit S4DEntry(S4DFlavor f) : f_(f) {
    const std::string order =
        "per mode: A_bar, v = C B B_bar/B by textbook complex ops; A_bar^(jT+i) = (v P_j) t_i with "
        "t_i, P_j by repeated products (T = 64); per element 2 fmas per mode, modes in order";
    auto bound_with = [](S4DArithmetic m) {
      return [m](const ProblemHandle& h) {
        return Arrays{{"K", s4d_kernel_bound(handle_of(h).problem(), m)}};
      };
    };
    backends_ = {
        {"cpu-f32", Format::float32, order, [] { return std::string(); },
         [](const ProblemHandle& h) {
           return Arrays{{"K", cpu::s4d_kernel(handle_of(h).as_float32()).cast<double>()}};
         },
         bound_with(s4d_arithmetic_cpu_f32())},
        {"cpu-f64", Format::float64, order, [] { return std::string(); },
         [](const ProblemHandle& h) { return Arrays{{"K", cpu::s4d_kernel(handle_of(h).problem())}}; },
         bound_with(s4d_arithmetic_cpu_f64())},
    };
    if (!f_.dss)
      backends_.push_back({"cuda-f32", Format::float32,
                           order + " (setup on the host, the product on the device: cpu-f32's bits)",
                           [] { return touchstone::cuda::unavailable_reason(); },
                           [](const ProblemHandle& h) {
                             return Arrays{{"K", cuda::s4d_product(cpu::s4d_setup(handle_of(h).as_float32())).cast<double>()}};
                           },
                           bound_with(s4d_arithmetic_cpu_f32())});
  }

  std::string name() const override { return f_.name(); }
  std::string summary() const override {
    return f_.dss ? "DSS-exp kernel: K_l = Re sum_n W_n (e^(dt Lambda_n) - 1)/Lambda_n e^(l dt Lambda_n), "
                    "dt = exp(log_dt) (DSSR's 'exp' version)"
                  : "S4D Vandermonde kernel K_l = 2 Re sum_n C_n B_bar_n A_bar_n^l (halves) or Re sum "
                    "(full), ZOH or bilinear";
  }
  std::string spec_ref() const override { return f_.dss ? "spec/dss.md [DSS-EXP-DEF]" : "spec/s4d.md [S4D-DEF]"; }

  std::vector<ArraySpec> inputs() const override {
    if (f_.dss)
      return {{"Lambda", "complex (H, N) | (N,)", "diagonal state matrix (shared by channels when (N,))", false},
              {"W", "complex (H, N)", "output weights", false},
              {"log_dt", "(H,)", "log of the step: dt = exp(log_dt)", false},
              {"L", "()", "kernel length (also --option L)", true}};
    return {{"A", "complex (H, N')", "diagonal state matrix, one value per stored mode", false},
            {"B", "complex (H, N')", "input matrix (absent: 1)", true},
            {"C", "complex (H, N')", "output matrix", false},
            {"dt", "(H,)", "step (give dt or log_dt)", true},
            {"log_dt", "(H,)", "log of the step: dt = exp(log_dt)", true},
            {"L", "()", "kernel length (also --option L)", true},
            {"disc", "()", "0 zoh, 1 bilinear (also --option disc)", true},
            {"conj", "()", "0 halves, 1 full (also --option conj)", true}};
  }
  std::vector<ArraySpec> outputs() const override {
    return {{"K", "(H, L)", "the kernel", false}};
  }
  std::vector<OptionSpec> options() const override {
    if (f_.dss) return {{"L", "kernel length", "(required)"}};
    return {{"L", "kernel length", "(required)"},
            {"disc", "zoh | bilinear", "zoh"},
            {"conj", "halves (2 Re, state-spaces/s4) | full (Re, annotated-s4)", "halves"}};
  }
  std::vector<std::string> sizes() const override {
    std::vector<std::string> v;
    if (f_.dss)
      for (const auto& s : kDssSizes) v.push_back(s.name);
    else
      for (const auto& s : kSizes) v.push_back(s.name);
    return v;
  }

  std::unique_ptr<ProblemHandle> generate(const std::string& size, Format format,
                                          std::uint64_t seed) const override {
    auto pick = [&](const auto& table) -> const SizeSpec& {
      for (const auto& s : table)
        if (size == s.name) return s;
      throw InvalidInput("size", "unknown size '" + size + "' for " + name());
    };
    const SizeSpec& s = !f_.dss && size == kBenchSize.name ? kBenchSize
                        : f_.dss                          ? pick(kDssSizes)
                                                          : pick(kSizes);
    return std::make_unique<S4DHandle>(f_, default_problem(f_, s, format, seed));
  }

  std::unique_ptr<ProblemHandle> problem_from_arrays(const NpyMap& arrays, const OptionMap& options) const override {
    for (const auto& [k, v] : options) {
      const bool ok = k == "L" || (!f_.dss && (k == "disc" || k == "conj"));
      if (!ok) throw InvalidInput(k, "unknown option for " + name());
    }
    for (const auto& [k, v] : arrays) {
      bool ok = false;
      for (const auto& s : inputs()) ok = ok || s.name == k;
      if (!ok) throw InvalidInput(k, "not an input of " + name());
    }
    auto required = [&](const std::string& n) -> const NpyArray& {
      auto it = arrays.find(n);
      if (it == arrays.end()) throw InvalidInput(n, "missing (required input of " + name() + ")");
      return it->second;
    };
    S4DInputs<double> in;
    const NpyArray& A = required(f_.A_name());
    if (f_.dss && A.values.rank() == 2 && A.values.extent(1) == 2) {
      // (N,) shared by every channel: broadcast to (H, N) below, once W gives H.
      in.A = A.values;
    } else {
      in.A = complex_array(A, f_.A_name());
    }
    in.C = complex_array(required(f_.C_name()), f_.C_name());
    if (in.A.rank() == 2) {
      const Index H = in.C.extent(0), N = in.A.extent(0);
      Tensor<double> b(Shape{H, N, 2});
      for (Index h = 0; h < H; ++h)
        for (Index i = 0; i < 2 * N; ++i) b[h * 2 * N + i] = in.A[i];
      in.A = b;
    }
    if (!f_.dss)
      if (auto it = arrays.find("B"); it != arrays.end()) in.B = complex_array(it->second, "B");
    const bool has_dt = arrays.count("dt") > 0, has_log = arrays.count("log_dt") > 0;
    if (has_dt == has_log) throw InvalidInput(f_.dss ? "log_dt" : "dt", "give exactly one of dt and log_dt");
    const NpyArray& dt = required(has_dt ? "dt" : "log_dt");
    if (dt.complex || dt.kind != NpyKind::floating)
      throw InvalidInput(has_dt ? "dt" : "log_dt", "expected a real float array, got " + dt.dtype_name());
    in.dt = dt.values;
    in.log_dt = has_log;
    auto integer = [](const std::string& s) {
      try {
        std::size_t pos = 0;
        const long long v = std::stoll(s, &pos);
        if (pos != s.size()) throw InvalidInput("L", "expected an integer, got '" + s + "'");
        return static_cast<double>(v);
      } catch (const std::logic_error&) {
        throw InvalidInput("L", "expected an integer, got '" + s + "'");
      }
    };
    const auto L = scalar_of(arrays, options, "L", integer);
    if (!L) throw InvalidInput("L", "missing: give --option L=... or a 0-d array L");
    if (!(*L >= 1 && *L <= static_cast<double>(kS4DMaxL) && *L == std::floor(*L)))
      throw InvalidInput("L", "expected an integer 1 <= L <= 2^24");
    in.L = static_cast<Index>(*L);
    if (f_.dss) {
      in.disc = Discretization::zoh;
      in.conj = Conj::full;
    } else {
      const auto d = scalar_of(arrays, options, "disc", [](const std::string& s) {
        return parse_discretization(s) == Discretization::bilinear ? 1.0 : 0.0;
      });
      if (d && *d != 0 && *d != 1) throw InvalidInput("disc", "expected 0 (zoh) or 1 (bilinear)");
      in.disc = d.value_or(0) == 1 ? Discretization::bilinear : Discretization::zoh;
      in.conj = conj_of(arrays, options);
    }
    try {
      return std::make_unique<S4DHandle>(f_, S4DProblem<double>(std::move(in)));
    } catch (const InvalidInput& e) {
      // The problem names A and C; this entry's users know them by the peer's names.
      if (f_.dss && (e.argument() == "A" || e.argument() == "C"))
        throw InvalidInput(e.argument() == "A" ? "Lambda" : "W", e.what());
      throw;
    }
  }

  ExactArrays oracle(const ProblemHandle& h, unsigned bits) const override {
    const WorkingPrecision precision(bits);
    return {{"K", s4d_kernel<mp_real, mp_complex>(handle_of(h).problem())}};
  }
  const std::vector<BackendSpec>& backends() const override { return backends_; }
  Arrays any_order_bound(const ProblemHandle& h, Format storage, double elementary_ulps) const override {
    return {{"K", s4d_kernel_bound(handle_of(h).problem(), s4d_arithmetic_any_order(storage, elementary_ulps))}};
  }

 private:
  S4DFlavor f_;
  std::vector<BackendSpec> backends_;
};


// ---- s4d.kernel_backward ([S4D-BWD-DEF]) ----

namespace {

class BackwardHandle final : public ProblemHandle {
 public:
  BackwardHandle(S4DFlavor f, S4DBackwardProblem<double> q) : f_(f), q_(std::move(q)), fwd_(f, q_.forward()) {}
  const S4DBackwardProblem<double>& problem() const { return q_; }
  const S4DBackwardProblem<float>& as_float32() const { return f32_.get(*this, q_); }
  std::string describe() const override { return fwd_.describe() + " dK"; }
  Format input_format() const override {
    const auto& in = q_.forward().in();
    std::vector<std::span<const double>> a = {in.A.values(), in.C.values(), in.dt.values(), q_.dK().values()};
    if (in.B) a.push_back(in.B->values());
    return narrowest_format(a);
  }
  Arrays inputs() const override {
    Arrays a = fwd_.inputs();
    a["dK"] = q_.dK();
    return a;
  }
  template <class T>
  Arrays arrays_of(const S4DGrads<T>& g) const {
    Arrays a{{dA_name(), g.dA.template cast<double>()}, {dC_name(), g.dC.template cast<double>()},
             {q_.forward().in().log_dt ? "dlog_dt" : "ddt", g.ddt.template cast<double>()}};
    if (g.dB) a["dB"] = g.dB->template cast<double>();
    return a;
  }
  ExactArrays exact_of(S4DGrads<mp_real> g) const {
    ExactArrays a{{dA_name(), std::move(g.dA)}, {dC_name(), std::move(g.dC)},
                  {q_.forward().in().log_dt ? "dlog_dt" : "ddt", std::move(g.ddt)}};
    if (g.dB) a["dB"] = std::move(*g.dB);
    return a;
  }

 private:
  std::string dA_name() const { return f_.dss ? "dLambda" : "dA"; }
  std::string dC_name() const { return f_.dss ? "dW" : "dC"; }
  S4DFlavor f_;
  S4DBackwardProblem<double> q_;
  S4DHandle fwd_;
  Float32Copy<S4DBackwardProblem<float>> f32_;
};

const BackwardHandle& backward_of(const ProblemHandle& h) { return dynamic_cast<const BackwardHandle&>(h); }

}  // namespace

class S4DBackwardEntry final : public Algorithm {
 public:
  explicit S4DBackwardEntry(S4DFlavor f) : f_(f) {
    const std::string order =
        "forward setup; F = sum dK_l A_bar^l and F1 = sum l dK_l A_bar^(l-1) by the block power tables (fma "
        "chains per block, blocks in order); per-mode derivative formulas; ddt summed over modes in order";
    auto bound_with = [](S4DArithmetic m) {
      return [m](const ProblemHandle& h) {
        const auto& b = backward_of(h);
        return b.arrays_of(s4d_kernel_backward_bound(b.problem(), m));
      };
    };
    backends_ = {
        {"cpu-f32", Format::float32, order, [] { return std::string(); },
         [](const ProblemHandle& h) {
           const auto& b = backward_of(h);
           return b.arrays_of(cpu::s4d_kernel_backward(b.as_float32()));
         },
         bound_with(s4d_arithmetic_cpu_f32())},
        {"cpu-f64", Format::float64, order, [] { return std::string(); },
         [](const ProblemHandle& h) {
           const auto& b = backward_of(h);
           return b.arrays_of(cpu::s4d_kernel_backward(b.problem()));
         },
         bound_with(s4d_arithmetic_cpu_f64())},
    };
  }
  std::string name() const override { return f_.dss ? "dss.kernel_exp_backward" : "s4d.kernel_backward"; }
  std::string summary() const override {
    return f_.dss ? "gradients (VJP) of dss.kernel_exp with respect to Lambda, W and log_dt, given dK; complex "
                    "gradients as (dL/dRe, dL/dIm), PyTorch's .grad convention"
                  : "gradients (VJP) of s4d.kernel with respect to A, B, C and dt (or log_dt), given dK; complex "
                    "gradients as (dL/dRe, dL/dIm), PyTorch's .grad convention";
  }
  std::string spec_ref() const override { return f_.dss ? "spec/dss.md [DSS-EXP-BWD]" : "spec/s4d.md [S4D-BWD-DEF]"; }
  std::vector<ArraySpec> inputs() const override {
    auto v = S4DEntry(f_).inputs();
    v.push_back({"dK", "(H, L)", "cotangent of K", false});
    return v;
  }
  std::vector<ArraySpec> outputs() const override {
    if (f_.dss)
      return {{"dLambda", "complex (H, N) as (H, N, 2)", "gradient of Lambda (given per channel)", false},
              {"dW", "complex (H, N) as (H, N, 2)", "gradient of W", false},
              {"dlog_dt", "(H,)", "gradient of log_dt", false}};
    return {{"dA", "complex (H, N') as (H, N', 2)", "gradient of A", false},
            {"dB", "complex (H, N') as (H, N', 2)", "gradient of B (when B is given)", true},
            {"dC", "complex (H, N') as (H, N', 2)", "gradient of C", false},
            {"ddt", "(H,)", "gradient of dt (when dt is given)", true},
            {"dlog_dt", "(H,)", "gradient of log_dt (when log_dt is given)", true}};
  }
  std::vector<OptionSpec> options() const override { return S4DEntry(f_).options(); }
  std::vector<std::string> sizes() const override { return {"tiny", "small", "medium"}; }
  std::unique_ptr<ProblemHandle> generate(const std::string& size, Format format, std::uint64_t seed) const override {
    // [S4D-BWD-REGISTRY] tiny has 3 channels (the forward's has 1): ddt has one element per
    // channel, and one element's error/bound says little about the bound.
    // medium has L = 256, not the forward's 1024: at L = 1024 the Delta gradient's bound is about
    // 10^3 times its error (the powers' worst-case rounding grows linearly in l; spec/s4d.md
    // [S4D-BWD-BOUND-COHERENT]), at the tightness floor.
    static constexpr SizeSpec tiny{"tiny", 3, 2, 8, S4DInit::lin, Discretization::zoh, Conj::halves, false, false};
    static constexpr SizeSpec dss_tiny{"tiny", 3, 2, 8, S4DInit::lin, Discretization::zoh, Conj::full, false, true};
    static constexpr SizeSpec medium{"medium", 4, 32, 256, S4DInit::lin, Discretization::zoh, Conj::halves, false, true};
    static constexpr SizeSpec dss_medium{"medium", 4, 32, 256, S4DInit::lin, Discretization::zoh, Conj::full, false, true};
    const SizeSpec* spec = size == "tiny" ? (f_.dss ? &dss_tiny : &tiny)
                           : size == "medium" ? (f_.dss ? &dss_medium : &medium) : nullptr;
    auto pick = [&](const auto& table) {
      for (const auto& s : table)
        if (size == s.name && size == "small") spec = &s;
    };
    if (f_.dss)
      pick(kDssSizes);
    else
      pick(kSizes);
    if (!spec) throw InvalidInput("size", "unknown size '" + size + "' for " + name() + " (tiny, small, medium)");
    auto p = default_problem(f_, *spec, format, seed);
    PhiloxStream rng(seed, name() + "/dK");
    Tensor<double> dK(Shape{p.H(), p.L()});
    for (Index i = 0; i < dK.count(); ++i) dK[i] = round_to_format(rng.next_uniform(-1, 1), format);
    return std::make_unique<BackwardHandle>(f_, S4DBackwardProblem<double>(std::move(p), std::move(dK)));
  }
  std::unique_ptr<ProblemHandle> problem_from_arrays(const NpyMap& arrays, const OptionMap& options) const override {
    NpyMap forward;
    for (const auto& [k, v] : arrays)
      if (k != "dK") forward.emplace(k, v);
    // A Lambda shared by every channel ((N,)) would need dLambda summed over channels, a reduction
    // this entry does not bound: give it per channel.
    if (f_.dss)
      if (auto it = arrays.find("Lambda"); it != arrays.end() && it->second.values.rank() == 2)
        throw InvalidInput("Lambda", "give Lambda per channel, complex (H, N), for the backward pass");
    const auto fwd = S4DEntry(f_).from_arrays(forward, options);
    auto it = arrays.find("dK");
    if (it == arrays.end()) throw InvalidInput("dK", "missing (required input of " + name() + ")");
    if (it->second.complex || it->second.kind != NpyKind::floating)
      throw InvalidInput("dK", "expected a real float array, got " + it->second.dtype_name());
    return std::make_unique<BackwardHandle>(f_, S4DBackwardProblem<double>(handle_of(*fwd).problem(), it->second.values));
  }
  ExactArrays oracle(const ProblemHandle& h, unsigned bits) const override {
    const WorkingPrecision precision(bits);
    const auto& b = backward_of(h);
    return b.exact_of(s4d_kernel_vjp<mp_real, mp_complex>(b.problem()));
  }
  const std::vector<BackendSpec>& backends() const override { return backends_; }
  // [S4D-BWD-BOUND] Only the CPU order is modelled: this is that order's bound with the given
  // ulps, not a bound for every association order. It ignores a narrower storage format: diff
  // adds that rounding ([CORE-DIFF-STORAGE]).
  Arrays any_order_bound(const ProblemHandle& h, Format storage, double elementary_ulps) const override {
    const auto& b = backward_of(h);
    S4DArithmetic m = s4d_arithmetic_any_order(storage, elementary_ulps);
    m.chunked = true;
    return b.arrays_of(s4d_kernel_backward_bound(b.problem(), m));
  }
  std::string any_order_assumption() const override {
    return "the cpu backends' order [S4D-BWD-BOUND]: " + backends_.front().order;
  }

 private:
  S4DFlavor f_;
  std::vector<BackendSpec> backends_;
};

// Used by registry/dss.cpp for dss.kernel_exp.
std::unique_ptr<Algorithm> make_s4d_entry(bool dss_exp) { return std::make_unique<S4DEntry>(S4DFlavor{dss_exp}); }
std::unique_ptr<Algorithm> make_s4d_backward_entry(bool dss_exp) {
  return std::make_unique<S4DBackwardEntry>(S4DFlavor{dss_exp});
}

}  // namespace touchstone::s4

namespace touchstone {
void register_s4d(Registry& registry) {
  registry.add(s4::make_s4d_entry(false));
  registry.add(s4::make_s4d_backward_entry(false));
}
}  // namespace touchstone
