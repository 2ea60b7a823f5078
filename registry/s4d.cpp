// s4d.kernel and s4d.kernel_backward in the registry (spec/s4d.md [S4D-DEF], [S4D-BWD-DEF]):
// names and file layouts, default problems from the S4D initializations, oracle, backends and
// bounds. The same declarations under DSS's names are dss.kernel_exp and dss.kernel_exp_backward
// (spec/dss.md [DSS-EXP-DEF], [DSS-EXP-BWD]; registry/dss.cpp registers them).
#include <span>
#include <type_traits>

#include "builtin.hpp"
#include "cpu/s4d.hpp"
#include "cuda/device.hpp"
#include "cuda/s4d.hpp"
#include "touchstone/core/entry.hpp"
#include "touchstone/core/random.hpp"
#include "touchstone/reference/s4d.hpp"
#include "touchstone/bounds/s4d_bound.hpp"

namespace touchstone::s4 {
namespace {

// How an entry names things: s4d.kernel (A, B, C, dt | log_dt; options disc, conj) or
// dss.kernel_exp (Lambda, W, log_dt; zoh, full, B = 1).
struct S4DFlavor {
  bool dss = false;
  const char* name() const { return dss ? "dss.kernel_exp" : "s4d.kernel"; }
  const char* A_name() const { return dss ? "Lambda" : "A"; }
  const char* C_name() const { return dss ? "W" : "C"; }
};

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
// `touchstone bench` only: dss.kernel_exp's is s4d.kernel's shape (H 256, N' 32, L 4096, S4D-Lin,
// log_dt) with the 32 modes as full ones, as medium takes S4D-Lin halves as full modes (DSS's own
// N is 64 full modes: twice the MPFR oracle's time).
constexpr SizeSpec kDssBenchSize = {"bench", 256, 32, 4096, S4DInit::lin, Discretization::zoh,
                                    Conj::full, false, true};
using Sizes = std::span<const SizeSpec>;
Sizes sizes_of(S4DFlavor f) { return f.dss ? Sizes(kDssSizes) : Sizes(kSizes); }
const SizeSpec& bench_size_of(S4DFlavor f) { return f.dss ? kDssBenchSize : kBenchSize; }


S4DProblem<double> default_problem(const S4DFlavor& f, const SizeSpec& s, Format format,
                                   std::uint64_t seed) {
  S4DInputs<double> in;
  in.L = s.L;
  in.disc = s.disc;
  in.conj = s.conj;
  in.log_dt = s.log_dt;
  // The init's modes, the same in every channel; B from the init when it has one (legs), else
  // Philox uniforms on [-1, 1) per part.
  const auto A0 = s4d_init_A(s.init, 2 * s.N);
  const auto B0 = s4d_init_B(s.init, 2 * s.N);
  auto per_channel = [&](const auto& modes) {
    Tensor<double> t(Shape{s.H, s.N, 2});
    for (Index h = 0; h < s.H; ++h)
      for (Index n = 0; n < s.N; ++n) {
        t(h, n, Index{0}) = round_to_format(modes[n].real(), format);
        t(h, n, Index{1}) = round_to_format(modes[n].imag(), format);
      }
    return t;
  };
  auto uniform_complex = [&](const char* name) {
    return uniform_array(seed, std::string(f.name()) + "/" + name, {s.H, s.N, 2}, -1, 1, format);
  };
  in.A = per_channel(A0);
  in.C = uniform_complex("C");
  if (s.B) in.B = s.init == S4DInit::legs ? per_channel(B0) : uniform_complex("B");
  // [S4D-DEFAULTS] log dt uniform on [log 1e-3, log 1e-1] (the peers' init).
  in.dt = drawn_array(seed, std::string(f.name()) + "/log_dt", {s.H}, format, [&s](PhiloxStream& r) {
    const double ld = r.next_uniform(std::log(1e-3), std::log(1e-1));
    return s.log_dt ? ld : std::exp(ld);
  });
  return S4DProblem<double>(std::move(in));
}

}  // namespace

// DSS's inputs, which dss.kernel_softmax shares (registry/dss.cpp).
std::vector<ArraySpec> dss_inputs() {
  return {{"Lambda", "complex (H, N) | (N,)", "diagonal state matrix (shared by channels when (N,))", false},
          {"W", "complex (H, N)", "output weights", false},
          {"log_dt", "(H,)", "log of the step: dt = exp(log_dt)", false},
          {"L", "()", "kernel length (also --option L)", true}};
}

namespace {

std::vector<ArraySpec> inputs_of(S4DFlavor f) {
  if (f.dss) return dss_inputs();
  return {{"A", "complex (H, N')", "diagonal state matrix, one value per stored mode", false},
          {"B", "complex (H, N')", "input matrix (absent: 1)", true},
          {"C", "complex (H, N')", "output matrix", false},
          {"dt", "(H,)", "step (give dt or log_dt)", true},
          {"log_dt", "(H,)", "log of the step: dt = exp(log_dt)", true},
          {"L", "()", "kernel length (also --option L)", true},
          {"disc", "()", "0 zoh, 1 bilinear (also --option disc)", true},
          {"conj", "()", "0 halves, 1 full (also --option conj)", true}};
}

std::vector<OptionSpec> options_of(S4DFlavor f) {
  if (f.dss) return {{"L", "kernel length", "(required)"}};
  return {{"L", "kernel length", "(required)"},
          {"disc", "zoh | bilinear", "zoh"},
          {"conj", "halves (2 Re, state-spaces/s4) | full (Re, annotated-s4)", "halves"}};
}

// The forward problem from a user's file (core has checked names, dtypes and shapes).
S4DProblem<double> read_forward(S4DFlavor f, const InputReader& r) {
  S4DInputs<double> in;
  in.A = r.with_leading_axis(f.A_name(), r.dim("H"), 3);  // dss: a (N,) Lambda shared by channels
  in.C = r.array(f.C_name());
  in.B = r.optional_array("B");
  const bool has_dt = r.has("dt"), has_log = r.has("log_dt");
  if (has_dt == has_log) throw InvalidInput(f.dss ? "log_dt" : "dt", "give exactly one of dt and log_dt");
  in.dt = r.array(has_dt ? "dt" : "log_dt");
  in.log_dt = has_log;
  in.L = r.required_integer("L", 1, kS4DMaxL);
  const bool bilinear = !f.dss && r.choice("disc", {"zoh", "bilinear"}, "zoh") == "bilinear";
  in.disc = bilinear ? Discretization::bilinear : Discretization::zoh;
  in.conj = f.dss || r.choice("conj", {"halves", "full"}, "halves") == "full" ? Conj::full : Conj::halves;
  try {
    return S4DProblem<double>(std::move(in));
  } catch (const InvalidInput& e) {
    // The problem names A and C; this entry's users know them by the peer's names.
    if (f.dss && (e.argument() == "A" || e.argument() == "C"))
      throw InvalidInput(e.argument() == "A" ? "Lambda" : "W", e.what());
    throw;
  }
}

Arrays forward_arrays(S4DFlavor f, const S4DProblem<double>& p) {
  const auto& in = p.in();
  Arrays a{{f.A_name(), in.A}, {f.C_name(), in.C}, {in.log_dt ? "log_dt" : "dt", in.dt},
           {"L", scalar_array(static_cast<double>(in.L))}};
  if (in.B) a["B"] = *in.B;
  if (!f.dss) {
    a["disc"] = scalar_array(in.disc == Discretization::bilinear);
    a["conj"] = scalar_array(in.conj == Conj::full);
  }
  return a;
}

std::string describe_forward(const S4DProblem<double>& p) {
  return "H=" + std::to_string(p.H()) + " N'=" + std::to_string(p.N()) + " L=" + std::to_string(p.L()) +
         " disc=" + to_string(p.in().disc) + " conj=" + conj_name(p.in().conj) + (p.in().B ? " B" : "") +
         (p.in().log_dt ? " log_dt" : " dt");
}

// The gradients under the entry's names, as double (V = double) or exact (V = mp_real) arrays.
template <class V, class T, class Q>
std::map<std::string, Tensor<V>> grads_of(S4DFlavor f, const Q& q, S4DGrads<T> g) {
  auto as_v = [](Tensor<T>& t) -> Tensor<V> {
    if constexpr (std::is_same_v<T, V>) return std::move(t);
    else return t.template cast<V>();
  };
  std::map<std::string, Tensor<V>> a{{f.dss ? "dLambda" : "dA", as_v(g.dA)},
                                     {f.dss ? "dW" : "dC", as_v(g.dC)},
                                     {q.forward().in().log_dt ? "dlog_dt" : "ddt", as_v(g.ddt)}};
  if (g.dB) a["dB"] = as_v(*g.dB);
  return a;
}

}  // namespace

// ---- s4d.kernel ([S4D-DEF]) and dss.kernel_exp ([DSS-EXP-DEF]) ----

std::unique_ptr<Algorithm> make_s4d_entry(bool dss_exp) {
  using P = S4DProblem<double>;
  const S4DFlavor f{dss_exp};
  const std::string order =
      "per mode: A_bar, v = C B B_bar/B by textbook complex ops; A_bar^(jT+i) = (v P_j) t_i with "
      "t_i, P_j by repeated products (T = 64); per element 2 fmas per mode, modes in order";
  Entry<P> e;
  e.name = f.name();
  e.spec_ref = f.dss ? "spec/dss.md [DSS-EXP-DEF]" : "spec/s4d.md [S4D-DEF]";
  e.summary = f.dss ? "DSS-exp kernel: K_l = Re sum_n W_n (e^(dt Lambda_n) - 1)/Lambda_n e^(l dt Lambda_n), "
                      "dt = exp(log_dt) (DSSR's 'exp' version)"
                    : "S4D Vandermonde kernel K_l = 2 Re sum_n C_n B_bar_n A_bar_n^l (halves) or Re sum "
                      "(full), ZOH or bilinear";
  e.inputs = inputs_of(f);
  e.outputs = {{"K", "(H, L)", "the kernel", false}};
  e.options = options_of(f);
  e.sizes = size_names(sizes_of(f));
  e.generate = [f](const std::string& size, Format format, std::uint64_t seed) {
    return default_problem(f, size_row(sizes_of(f), size), format, seed);
  };
  e.read = [f](const InputReader& r) { return read_forward(f, r); };
  e.arrays = [f](const P& p) { return forward_arrays(f, p); };
  e.describe = describe_forward;
  e.oracle = [](const P& p) { return ExactArrays{{"K", s4d_kernel<mp_real, mp_complex>(p)}}; };
  auto bound = [](const P& p, const S4DArithmetic& m) { return Arrays{{"K", s4d_kernel_bound(p, m)}}; };
  e.backends = cpu_backends<P>(
      order, [](const auto& p) { return Arrays{{"K", as_double(cpu::s4d_kernel(p))}}; }, bound,
      s4d_arithmetic_cpu_f32(), s4d_arithmetic_cpu_f64());
  e.any_order_bound = [](const P& p, Format storage, double ulps) {
    return Arrays{{"K", s4d_kernel_bound(p, s4d_arithmetic_any_order(storage, ulps))}};
  };
  // [CORE-DIFF-JOINT-BOUND] The any-order bound at the compute format and cpu-f64's in one pass
  // (s4d_kernel_bounds: the any-order bound's two power models share each mode's setup).
  e.any_order_and_cpu_f64_bound = [](const P& p, Format compute, double ulps) {
    auto both = s4d_kernel_bounds(p, {s4d_arithmetic_any_order(compute, ulps), s4d_arithmetic_cpu_f64()});
    return AnyOrderAndCpuF64Bound{Arrays{{"K", std::move(both[0])}}, Arrays{{"K", std::move(both[1])}}};
  };
  // `touchstone bench`'s size, not one of check's.
  e.extra_sizes = {kBenchSize.name};
  e.generate = [f, check_sizes = e.generate](const std::string& size, Format format, std::uint64_t seed) {
    return size == kBenchSize.name ? default_problem(f, bench_size_of(f), format, seed)
                                   : check_sizes(size, format, seed);
  };
  if (f.dss) return make_entry(std::move(e));
  e.backends.push_back(
      {"cuda-f32", Format::float32, order + " (setup on the host, the product on the device: cpu-f32's bits)",
       [](const EntryProblem<P>& h) { return Arrays{{"K", as_double(cuda::s4d_product(cpu::s4d_setup(h.f32())))}}; },
       [bound](const P& p) { return bound(p, s4d_arithmetic_cpu_f32()); },
       [] { return touchstone::cuda::unavailable_reason(); }});
  return make_entry(std::move(e));
}

// ---- s4d.kernel_backward ([S4D-BWD-DEF]) and dss.kernel_exp_backward ([DSS-EXP-BWD]) ----

std::unique_ptr<Algorithm> make_s4d_backward_entry(bool dss_exp) {
  using Q = S4DBackwardProblem<double>;
  const S4DFlavor f{dss_exp};
  const std::string order =
      "forward setup; F = sum dK_l A_bar^l and F1 = sum l dK_l A_bar^(l-1) by the block power tables (fma "
      "chains per block, blocks in order); per-mode derivative formulas; ddt summed over modes in order";
  Entry<Q> e;
  e.name = f.dss ? "dss.kernel_exp_backward" : "s4d.kernel_backward";
  e.spec_ref = f.dss ? "spec/dss.md [DSS-EXP-BWD]" : "spec/s4d.md [S4D-BWD-DEF]";
  e.summary = f.dss ? "gradients (VJP) of dss.kernel_exp with respect to Lambda, W and log_dt, given dK; complex "
                      "gradients as (dL/dRe, dL/dIm), PyTorch's .grad convention"
                    : "gradients (VJP) of s4d.kernel with respect to A, B, C and dt (or log_dt), given dK; complex "
                      "gradients as (dL/dRe, dL/dIm), PyTorch's .grad convention";
  e.inputs = inputs_of(f);
  e.inputs.push_back({"dK", "(H, L)", "cotangent of K", false});
  if (f.dss)
    e.outputs = {{"dLambda", "complex (H, N) as (H, N, 2)", "gradient of Lambda (given per channel)", false},
                 {"dW", "complex (H, N) as (H, N, 2)", "gradient of W", false},
                 {"dlog_dt", "(H,)", "gradient of log_dt", false}};
  else
    e.outputs = {{"dA", "complex (H, N') as (H, N', 2)", "gradient of A", false},
                 {"dB", "complex (H, N') as (H, N', 2)", "gradient of B (when B is given)", true},
                 {"dC", "complex (H, N') as (H, N', 2)", "gradient of C", false},
                 {"ddt", "(H,)", "gradient of dt (when dt is given)", true},
                 {"dlog_dt", "(H,)", "gradient of log_dt (when log_dt is given)", true}};
  e.options = options_of(f);
  e.sizes = {"tiny", "small", "medium"};
  e.extra_sizes = {kBenchSize.name};  // the forward's bench problem, with dK
  e.generate = [f, name = e.name](const std::string& size, Format format, std::uint64_t seed) {
    // [S4D-BWD-REGISTRY] The forward's sizes, but tiny has 3 channels (the forward's has 1): ddt
    // has one element per channel, and one element's error/bound says little about the bound.
    // medium has L = 256, not the forward's 1024: at L = 1024 the Delta gradient's bound is about
    // 10^3 times its error (the powers' worst-case rounding grows linearly in l; spec/s4d.md
    // [S4D-BWD-BOUND-COHERENT]), at the tightness floor.
    SizeSpec s = size == kBenchSize.name ? bench_size_of(f) : size_row(sizes_of(f), size);
    if (size == "tiny") s.H = 3;
    if (size == "medium") s.L = 256;
    auto p = default_problem(f, s, format, seed);
    Tensor<double> dK = uniform_array(seed, name + "/dK", {p.H(), p.L()}, -1, 1, format);
    return Q(std::move(p), std::move(dK));
  };
  e.read = [f](const InputReader& r) {
    // A Lambda shared by every channel ((N,)) would need dLambda summed over channels, a reduction
    // this entry does not bound: give it per channel.
    if (f.dss && r.array("Lambda").rank() == 2)
      throw InvalidInput("Lambda", "give Lambda per channel, complex (H, N), for the backward pass");
    return Q(read_forward(f, r), r.array("dK"));
  };
  e.arrays = [f](const Q& q) {
    Arrays a = forward_arrays(f, q.forward());
    a["dK"] = q.dK();
    return a;
  };
  e.describe = [](const Q& q) { return describe_forward(q.forward()) + " dK"; };
  e.oracle = [f](const Q& q) { return grads_of<mp_real>(f, q, s4d_kernel_vjp<mp_real, mp_complex>(q)); };
  // The gradients' names and which are present follow the problem's inputs, the same in f32().
  e.backends = cpu_backends<Q>(
      order, [f](const auto& q) { return grads_of<double>(f, q, cpu::s4d_kernel_backward(q)); },
      [f](const Q& q, const S4DArithmetic& m) { return grads_of<double>(f, q, s4d_kernel_backward_bound(q, m)); },
      s4d_arithmetic_cpu_f32(), s4d_arithmetic_cpu_f64());
  // [S4D-BWD-BOUND] Only the CPU order is modelled: this is that order's bound with the given
  // ulps, not a bound for every association order. It ignores a narrower storage format: diff
  // adds that rounding ([CORE-DIFF-STORAGE]).
  e.any_order_bound = [f](const Q& q, Format storage, double ulps) {
    S4DArithmetic m = s4d_arithmetic_any_order(storage, ulps);
    m.chunked = true;
    return grads_of<double>(f, q, s4d_kernel_backward_bound(q, m));
  };
  // [CORE-DIFF-JOINT-BOUND] The any-order bound at the compute format and cpu-f64's in one pass
  // (s4d_kernel_backward_bounds: the binary64 power sums, most of either bound's time, once).
  e.any_order_and_cpu_f64_bound = [f](const Q& q, Format compute, double ulps) {
    S4DArithmetic m = s4d_arithmetic_any_order(compute, ulps);
    m.chunked = true;
    auto both = s4d_kernel_backward_bounds(q, {m, s4d_arithmetic_cpu_f64()});
    return AnyOrderAndCpuF64Bound{grads_of<double>(f, q, std::move(both[0])), grads_of<double>(f, q, std::move(both[1]))};
  };
  e.any_order_assumption = "the cpu backends' order [S4D-BWD-BOUND]: " + order;
  return make_entry(std::move(e));
}

}  // namespace touchstone::s4

namespace touchstone {
void register_s4d(Registry& registry) {
  registry.add(s4::make_s4d_entry(false));
  registry.add(s4::make_s4d_backward_entry(false));
}
}  // namespace touchstone
