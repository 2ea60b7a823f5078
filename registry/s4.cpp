// The s4 entries of the registry (spec/s4.md): s4.cauchy, s4.cauchy_backward, s4.kernel_dplr,
// s4.kernel_dplr_backward, s4.ssm_kernel, each an Entry<P> declaration (core/entry.hpp).
#include <cmath>
#include <type_traits>

#include "builtin.hpp"
#include "cpu/s4.hpp"
#include "cuda/s4_cauchy.hpp"
#include "touchstone/core/entry.hpp"
#include "touchstone/core/mp_eigen.hpp"
#include "touchstone/core/random.hpp"
#include "touchstone/reference/s4.hpp"
#include "touchstone/bounds/s4_bound.hpp"
#include "touchstone/reference/s4_hippo.hpp"

namespace touchstone::s4 {
namespace {

// ---- shared helpers ----

constexpr Index kMaxL = Index{1} << 24;  // [S4-DPLR-SHAPES] [S4-SSM-KERNEL-SHAPES] L in [1, 2^24]

// A flat result as a tensor: double for the backends and bounds, mp_real for the oracle.
template <class T>
auto as_tensor(const std::vector<T>& v, const std::vector<Index>& shape) {
  if constexpr (std::is_same_v<T, mp_real>) return Tensor<mp_real>(Shape(shape), v);
  else return Tensor<double>(Shape(shape), std::vector<double>(v.begin(), v.end()));
}

cdouble cround(cdouble z, Format f) { return {round_to_format(z.real(), f), round_to_format(z.imag(), f)}; }

// [S4-FILE-OPTIONS] [S4-CONJ] conj from the option (halves | full) or the file (0 | 1).
Conj conj_of(const InputReader& r) { return parse_conj(r.choice("conj", {"halves", "full"}, "halves")); }
Tensor<double> conj_array(Conj c) { return scalar_array(c == Conj::full); }


// The oracle (its named outputs), the cpu-f32 and cpu-f64 backends and the any-order bound of an
// entry whose backends and bound return the same flat layout: `out(problem, flat)` names their
// outputs; `run(T{}, problem)` computes in T, `bound(problem, format)`; the any-order bound is
// `bound` at the storage format. The backends read the double problem; core's float32 copy
// (cast<float>, after require_inputs_in(float32)) holds the same values.
template <class P, class Out, class Oracle, class Run, class Bound>
void computations(Entry<P>& e, const std::string& order, Out out, Oracle oracle, Run run, Bound bound) {
  e.oracle = oracle;
  auto bound_at = [out, bound](Format f) { return [out, bound, f](const P& p) { return out(p, bound(p, f)); }; };
  e.backends.push_back({"cpu-f32", Format::float32, order,
                        [out, run](const EntryProblem<P>& h) { return out(h.f32(), run(float{}, h.f32())); },
                        bound_at(Format::float32)});
  e.backends.push_back({"cpu-f64", Format::float64, order,
                        [out, run](const EntryProblem<P>& h) { return out(h.f64(), run(double{}, h.f64())); },
                        bound_at(Format::float64)});
  e.any_order_bound = [out, bound](const P& p, Format storage, double) { return out(p, bound(p, storage)); };
}

// ---- s4.cauchy and s4.cauchy_backward ----

constexpr const char* kCauchy = "s4.cauchy";
constexpr const char* kCauchyBwd = "s4.cauchy_backward";

struct CauchySize {
  const char* name;
  Index H, N, L;
  Conj conj;
};
// [S4-CAUCHY-DEFAULTS]
constexpr CauchySize kCauchySizes[] = {
    {"tiny", 1, 1, 3, Conj::halves},
    {"small", 2, 8, 17, Conj::full},
    {"medium", 4, 32, 256, Conj::halves},
    // `touchstone bench` only (not a `check` size): H 256, N 64 as 32 halves, L 4096.
    {"bench", 256, 32, 4096, Conj::halves},
};

// [S4-CAUCHY-DEFAULTS] As state-spaces/s4's test_cauchy draws them: z = exp(i x), x ~ N(0, 1) (on
// the unit circle); v ~ complex normal; w = -U(0.05, 1) + i N(0, 1) (the poles of a stable
// system), all rounded to the format; the backward's dout ~ complex normal.
template <class P>
P default_cauchy(const std::string& size, Format f, std::uint64_t seed) {
  using Q = CauchyBackwardProblem;
  constexpr bool backward = std::is_same_v<P, Q>;
  const CauchySize& s = size_row(kCauchySizes, size);
  CauchyInputs p;
  p.H = s.H, p.N = s.N, p.L = s.L, p.conj = s.conj;
  const std::string key = std::string(kCauchy) + "/";
  const Tensor<double> x = normal_array(seed, key + "z", {p.L}, Format::float64);
  for (Index l = 0; l < p.L; ++l) p.z.push_back(cround({std::cos(x[l]), std::sin(x[l])}, f));
  p.v = complex_values(normal_array(seed, key + "v", {p.H, p.N, 2}, f));
  PhiloxStream rw(seed, key + "w");
  for (Index i = 0; i < p.H * p.N; ++i) p.w.push_back(cround({-rw.next_uniform(0.05, 1), rw.next_normal()}, f));
  if constexpr (!backward) {
    return CauchyProblem(std::move(p));
  } else {
    auto dout = complex_values(normal_array(seed, std::string(kCauchyBwd) + "/dout", {p.H, p.L, 2}, f));
    return Q(CauchyProblem(std::move(p)), std::move(dout));
  }
}

std::string cauchy_order() {
  return "per (h,l) sequential over n (halves: each mode then its conjugate); d = z - w per part; textbook "
         "division ((a c + b d) + i (b c - a d)) / (c^2 + d^2), one division per part";
}

// What the two Cauchy entries share: inputs, the option, sizes, generate, read, arrays, describe,
// the cuda-f32 backend ([S4-CAUCHY-CUDA]: `run(problem)` on the float32 problem, the float32 bound)
// and the rest of computations().
template <class P, class Out, class Oracle, class Cpu, class Cuda, class Bound>
Entry<P> cauchy_entry(const std::string& order, Out out, Oracle oracle, Cpu cpu, Cuda gpu, Bound bound) {
  constexpr bool backward = std::is_same_v<P, CauchyBackwardProblem>;
  Entry<P> e;
  e.inputs = {{"v", "complex (H, N) | (N,)", "numerators", false},
              {"z", "complex (L,)", "evaluation points", false},
              {"w", "complex (H, N) | (N,)", "poles", false},
              {"conj", "()", "0: halves, 1: full (also the option conj)", true}};
  if (backward) e.inputs.push_back({"dout", "complex (H, L)", "cotangent of out", false});
  e.options = {{"conj", "halves (each mode plus its conjugate) or full", "halves"}};
  e.sizes = {"tiny", "small", "medium"};
  e.extra_sizes = {"bench"};
  e.generate = default_cauchy<P>;
  // [S4-CAUCHY-SHAPES] v and w (N,) are (1, N); w has v's shape, dout (H, L).
  e.read = [](const InputReader& r) {
    CauchyInputs p;
    const Tensor<double> v = r.with_leading_axis("v", 1, 3), w = r.with_leading_axis("w", 1, 3);
    if (!(w.shape() == v.shape())) throw InvalidInput("w", "must have the shape of v");
    p.H = v.extent(0), p.N = v.extent(1), p.L = r.dim("L");
    p.v = complex_values(v), p.w = complex_values(w), p.z = complex_values(r.array("z"));
    p.conj = conj_of(r);
    if constexpr (!backward) {
      return CauchyProblem(std::move(p));
    } else {
      CauchyProblem fwd(std::move(p));
      if (r.dim("H") != fwd.H) throw InvalidInput("dout", "expected (H, L) with v's H = " + std::to_string(fwd.H));
      return CauchyBackwardProblem(std::move(fwd), complex_values(r.array("dout")));
    }
  };
  e.arrays = [](const P& q) {
    const CauchyProblem& p = forward_of(q);
    Arrays a{{"v", complex_tensor(p.v, {p.H, p.N})}, {"z", complex_tensor(p.z, {p.L})},
             {"w", complex_tensor(p.w, {p.H, p.N})}, {"conj", conj_array(p.conj)}};
    if constexpr (backward) a["dout"] = complex_tensor(q.dout(), {p.H, p.L});
    return a;
  };
  e.describe = [](const P& q) {
    const CauchyProblem& p = forward_of(q);
    return "H=" + std::to_string(p.H) + " N=" + std::to_string(p.N) + " L=" + std::to_string(p.L) +
           " conj=" + conj_name(p.conj);
  };
  computations(e, order + (backward ? "; threads over h" : "; vectorized over l, threads over h"), out, oracle, cpu,
               bound);
  e.backends.push_back({"cuda-f32", Format::float32,
                        order + (backward ? "; one thread per (h,n), -fmad=false" : "; one thread per (h,l), -fmad=false"),
                        [out, gpu](const EntryProblem<P>& h) { return out(h.f32(), gpu(h.f32())); },
                        [out, bound](const P& p) { return out(p, bound(p, Format::float32)); },
                        cuda::cauchy_unavailable_reason});
  return e;
}

std::unique_ptr<Algorithm> cauchy_forward_entry() {
  auto out = [](const CauchyProblem& p, const auto& v) { return std::map{std::pair{std::string("out"), as_tensor(v, {p.H, p.L, 2})}}; };
  // [S4-CAUCHY-ANY-ORDER] Any order of the sum; each term's difference and division within the
  // textbook division's bound.
  Entry<CauchyProblem> e = cauchy_entry<CauchyProblem>(
      cauchy_order(), out,
      [](const CauchyProblem& p) { return ExactArrays{{"out", reference::cauchy<mp_real, mp_complex>(p)}}; },
      [](auto t, const CauchyProblem& p) { return cpu::cauchy<decltype(t)>(p); },
      [](const CauchyProblem& p) { return cuda::cauchy(p); }, cauchy_bound);
  e.name = kCauchy;
  e.spec_ref = "spec/s4.md [S4-CAUCHY-DEF]";
  e.summary = "Cauchy kernel out[h,l] = sum_n v/(z_l - w_n) (+ conj terms in halves): state-spaces/s4 cauchy_mult";
  e.outputs = {{"out", "complex (H, L) as (H, L, 2)", "the Cauchy sums", false}};
  e.independent_axes = {"H"};  // [CORE-SLICES]: one channel's row, from its own v and w
  // [CORE-DIFF-JOINT-BOUND] The any-order bound (cauchy_bound at the compute format) and cpu-f64's
  // (at float64): one pass, the differences' moduli shared.
  e.any_order_and_cpu_f64_bound = [out](const CauchyProblem& p, Format compute, double) {
    auto both = cauchy_bound_pair(p, compute, Format::float64);
    return AnyOrderAndCpuF64Bound{out(p, both[0]), out(p, both[1])};
  };
  return make_entry(std::move(e));
}

std::unique_ptr<Algorithm> cauchy_backward_entry() {
  using Q = CauchyBackwardProblem;
  // dv then dw, each (H, N) complex, of the backward's flat result.
  auto dv_dw = [](const Q& q, const auto& v) {
    const auto half = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
    using V = typename std::decay_t<decltype(v)>::value_type;
    const std::vector<Index> s{q.forward().H, q.forward().N, 2};
    return std::map{std::pair{std::string("dv"), as_tensor(std::vector<V>(v.begin(), half), s)},
                    std::pair{std::string("dw"), as_tensor(std::vector<V>(half, v.end()), s)}};
  };
  // [S4-CAUCHY-VJP-ANY-ORDER] [S4-CAUCHY-VJP-BOUND] at the storage format: the sums over l in any
  // order, each term formed as the spec writes it (any_order_assumption).
  Entry<Q> e = cauchy_entry<Q>(
      "per (h,n) sequential over l: d = z - w; dv += dout / conj(d); dw += dout * conj(v / (d d)) (textbook "
      "divisions, complex products 2 mul + 1 add per part); halves: the conjugate terms after each l",
      dv_dw,
      [](const Q& q) {
        auto g = reference::cauchy_backward<mp_real, mp_complex>(q);
        return ExactArrays{{"dv", std::move(g.dv)}, {"dw", std::move(g.dw)}};
      },
      [](auto t, const Q& q) { return cpu::cauchy_backward<decltype(t)>(q.forward(), q.dout()); },
      [](const Q& q) { return cuda::cauchy_backward(q.forward(), q.dout()); },
      [](const Q& q, Format f) { return cauchy_backward_bound(q.forward(), q.dout(), f); });
  e.name = kCauchyBwd;
  e.spec_ref = "spec/s4.md [S4-CAUCHY-VJP]";
  e.summary = "VJP of s4.cauchy with respect to v and w (PyTorch's complex gradient convention)";
  e.outputs = {{"dv", "complex (H, N) as (H, N, 2)", "gradient of v", false},
               {"dw", "complex (H, N) as (H, N, 2)", "gradient of w", false}};
  e.any_order_assumption =
      "each term formed as [S4-CAUCHY-VJP] writes it: d = z - w, dout / conj(d) and "
      "dout * conj(v / (d d)) (one complex product d d, textbook complex divisions); the sums "
      "over l in any order";
  // [CORE-DIFF-JOINT-BOUND] As the forward's: both formats in one pass.
  e.any_order_and_cpu_f64_bound = [dv_dw](const Q& q, Format compute, double) {
    auto both = cauchy_backward_bound_pair(q.forward(), q.dout(), compute, Format::float64);
    return AnyOrderAndCpuF64Bound{dv_dw(q, both[0]), dv_dw(q, both[1])};
  };
  return make_entry(std::move(e));
}

// ---- s4.kernel_dplr and s4.kernel_dplr_backward ----

constexpr const char* kDplr = "s4.kernel_dplr";
constexpr const char* kDplrBwd = "s4.kernel_dplr_backward";

struct DplrSize {
  const char* name;
  Index H, N, L;  // N: the HiPPO state size (halves stores N/2)
  Conj conj;
};
// [S4-DPLR-DEFAULTS] odd L, the node ω = -1 (even L), both conventions, channels.
constexpr DplrSize kDplrSizes[] = {
    {"tiny", 1, 4, 3, Conj::halves},
    {"small", 2, 8, 16, Conj::full},
    {"medium", 2, 16, 64, Conj::halves},
    // `touchstone bench` only: H 256, HiPPO N 64 (32 halves), L 4096.
    {"bench", 256, 64, 4096, Conj::halves},
};

// [S4-DPLR-DEFAULTS] HiPPO-LegS DPLR (Λ, P̃, B̃) rounded to the format (hippo_dplr_double, then
// the format), Q = P; C ~ complex normal with variance 1/2 per part per channel; log step ~
// U[log 1e-3, log 1e-1] per channel (annotated-s4's log_step_initializer); the backward's dK ~
// N(0, 1).
template <class P>
P default_dplr(const std::string& size, Format f, std::uint64_t seed) {
  const DplrSize& s = size_row(kDplrSizes, size);
  const HippoDplrDouble hip = hippo_dplr_double(s.N);
  DplrInputs p;
  p.conj = s.conj;
  p.H = s.H;
  p.batched = true;
  p.L = s.L;
  p.N = s.conj == Conj::halves ? s.N / 2 : s.N;
  auto shared = [&](const std::vector<cdouble>& src) {
    CParam c;
    c.N = p.N;
    for (Index n = 0; n < p.N; ++n) c.values.push_back(cround(src[static_cast<std::size_t>(n)], f));
    return c;
  };
  p.Lambda = shared(hip.Lambda);
  p.P = shared(hip.P);
  p.Q = p.P;
  p.q_tied = true;
  p.B = shared(hip.B);
  p.C = {p.H, p.N, complex_values(normal_array(seed, std::string(kDplr) + "/C", {p.H, p.N, 2}, f, std::sqrt(0.5)))};
  p.step = drawn_array(seed, std::string(kDplr) + "/step", {p.H}, f, [](PhiloxStream& r) {
             return std::exp(r.next_uniform(std::log(1e-3), std::log(1e-1)));
           }).values();
  if constexpr (std::is_same_v<P, DplrProblem>) {
    return DplrProblem(std::move(p));
  } else {
    auto dK = normal_array(seed, std::string(kDplrBwd) + "/dK", {p.H * p.L}, f).values();
    return P(DplrProblem(std::move(p)), std::move(dK));
  }
}

// What the two DPLR entries share: inputs, options, sizes, generate, read, arrays, describe.
template <class P>
Entry<P> dplr_declaration() {
  constexpr bool backward = std::is_same_v<P, DplrBackwardProblem>;
  Entry<P> e;
  e.inputs = {{"Lambda", "complex (N,) | (H, N)", "diagonal part (Re < 0)", false},
              {"P", "complex (N,) | (H, N)", "low-rank factor P", false},
              {"Q", "complex (N,) | (H, N)", "low-rank factor Q (absent: Q = P)", true},
              {"B", "complex (N,) | (H, N)", "input vector", false},
              {"C", "complex (N,) | (H, N)", "C~ = C̄(I - Ā^L), conjugated inside as annotated-s4 does", false},
              {"step", "() | (H,)", "step Δ > 0", false},
              {"L", "()", "kernel length (also the option L)", true},
              {"conj", "()", "0: halves, 1: full (also the option conj)", true}};
  if (backward) e.inputs.push_back({"dK", "(L,) | (H, L)", "cotangent of K", false});
  e.options = {{"L", "kernel length (required with a file; the backward takes it from dK)", ""},
               {"conj", "halves (N stored modes stand for 2N) or full", "halves"}};
  e.sizes = {"tiny", "small", "medium"};
  e.extra_sizes = {"bench"};
  e.generate = default_dplr<P>;
  // [S4-DPLR-SHAPES] Each parameter (N',) shared or (H, N'); an H axis on any of them or a (H,)
  // step (even H = 1) makes K (H, L). The backward takes L from dK's last extent.
  e.read = [](const InputReader& r) {
    DplrInputs p;
    const Index L_dK = backward ? r.dim("L") : 0;
    if (backward && L_dK < 1) throw InvalidInput("dK", "L must be at least 1");
    auto param = [&](const std::string& name) {
      const Tensor<double>& t = r.array(name);
      return CParam{t.rank() == 3 ? t.extent(0) : 0, t.extent(t.rank() - 2), complex_values(t)};
    };
    p.Lambda = param("Lambda"), p.P = param("P"), p.B = param("B"), p.C = param("C");
    p.q_tied = !r.has("Q");
    p.Q = p.q_tied ? p.P : param("Q");
    p.N = p.Lambda.N;
    const Tensor<double>& step = r.array("step");
    p.step = step.values();
    p.batched = step.rank() == 1;
    for (const CParam* c : {&p.Lambda, &p.P, &p.Q, &p.B, &p.C}) p.batched = p.batched || c->H != 0;
    p.H = p.batched ? r.dim("H") : 1;  // core checked that every H axis agrees
    if (!backward) {
      p.L = r.required_integer("L", 1, kMaxL);
    } else {
      if (const auto L = r.integer("L", 1, kMaxL); L && *L != L_dK)
        throw InvalidInput("L", "disagrees with dK's last extent " + std::to_string(L_dK));
      p.L = L_dK;
    }
    p.conj = conj_of(r);
    if constexpr (!backward) return DplrProblem(std::move(p));
    else return DplrBackwardProblem(DplrProblem(std::move(p)), r.array("dK").values());
  };
  e.arrays = [](const P& q) {
    const DplrProblem& p = forward_of(q);
    Arrays a{{"Lambda", complex_tensor(p.Lambda.values, p.Lambda.shape())},
             {"P", complex_tensor(p.P.values, p.P.shape())},
             {"B", complex_tensor(p.B.values, p.B.shape())},
             {"C", complex_tensor(p.C.values, p.C.shape())},
             {"L", scalar_array(static_cast<double>(p.L))},
             {"conj", conj_array(p.conj)},
             {"step", as_tensor(p.step, p.step_shape())}};
    if (!p.q_tied) a["Q"] = complex_tensor(p.Q.values, p.Q.shape());
    if constexpr (backward) a["dK"] = as_tensor(q.dK(), p.K_shape());
    return a;
  };
  e.describe = [](const P& q) {
    const DplrProblem& p = forward_of(q);
    return "H=" + std::to_string(p.H) + " N'=" + std::to_string(p.N) + " L=" + std::to_string(p.L) +
           " conj=" + conj_name(p.conj);
  };
  return e;
}

std::unique_ptr<Algorithm> dplr_entry() {
  Entry<DplrProblem> e = dplr_declaration<DplrProblem>();
  e.name = kDplr;
  e.spec_ref = "spec/s4.md [S4-DPLR-DEF]";
  e.summary =
      "S4 DPLR kernel (annotated-s4 kernel_DPLR): generating function at the L-th roots of unity via "
      "Cauchy sums + Woodbury, inverse FFT; the node -1 by its limit";
  e.outputs = {{"K", "(L,) | (H, L)", "the kernel, real", false}};
  auto out = [](const DplrProblem& p, const auto& K) { return std::map{std::pair{std::string("K"), as_tensor(K, p.K_shape())}}; };
  // [S4-DPLR-ANY-ORDER] The same analysis at the storage format: an implementation that follows
  // the fast path's operations (any order of each Cauchy sum, an FFT within [S4CONV-FFT-BOUND]).
  computations(
      e,
      "per channel: t_k = tan(pi k/L) (double, reduced to [0, pi/4]), g = (2/step) t_k; four Cauchy sums "
      "sequential over n (textbook division); (1 + i t_k)(k00 - k01 k10 / (1 + k11)); node -1: (step sum "
      "conj(C) B)/2; FFTW inverse DFT (ESTIMATE plan); Re / L",
      out, [out](const DplrProblem& p) { return out(p, reference::kernel_dplr<mp_real, mp_complex>(p)); },
      [](auto t, const DplrProblem& p) { return cpu::kernel_dplr<decltype(t)>(p); }, kernel_dplr_bound);
  return make_entry(std::move(e));
}

// The gradients, each in its input's layout: complex as (..., 2), dQ only when Q was given.
template <class T>
auto grads_arrays(const DplrBackwardProblem& q, const DplrGrads<T>& g) {
  const DplrProblem& p = q.forward();
  auto shape = [](const CParam& c) { return c.H ? std::vector<Index>{c.H, c.N, 2} : std::vector<Index>{c.N, 2}; };
  std::map<std::string, decltype(as_tensor(g.P, {}))> a{{"dLambda", as_tensor(g.Lambda, shape(p.Lambda))},
                                                        {"dP", as_tensor(g.P, shape(p.P))},
                                                        {"dB", as_tensor(g.B, shape(p.B))},
                                                        {"dC", as_tensor(g.C, shape(p.C))},
                                                        {"dstep", as_tensor(g.step, p.step_shape())}};
  if (!p.q_tied) a["dQ"] = as_tensor(g.Q, shape(p.Q));
  return a;
}

std::unique_ptr<Algorithm> dplr_backward_entry() {
  using Q = DplrBackwardProblem;
  Entry<Q> e = dplr_declaration<Q>();
  e.name = kDplrBwd;
  e.spec_ref = "spec/s4.md [S4-DPLR-VJP]";
  e.summary =
      "VJP of s4.kernel_dplr with respect to Lambda, P (and Q), B, C and step (PyTorch's complex "
      "gradient convention)";
  e.outputs = {{"dLambda", "Lambda's shape, complex as (..., 2)", "gradient of Lambda", false},
               {"dP", "P's shape", "gradient of P (with Q's part when Q is tied to P)", false},
               {"dQ", "Q's shape", "gradient of Q (only when Q is given)", true},
               {"dB", "B's shape", "gradient of B", false},
               {"dC", "C's shape", "gradient of C", false},
               {"dstep", "step's shape", "gradient of step", false}};
  const std::string order =
      "G = FFTW forward DFT of dK, /L per part; per node: R = 1/(i g - lambda) (textbook), k_ab sums "
      "sequential over n, Woodbury derivative factors, dstep's node factor Y = sum_a dk_a dk_a/dg formed before G, gradient sums over nodes sequential in k; shared "
      "parameters summed over channels in order (s4_order.hpp)";
  // [S4-DPLR-VJP-BOUND] at the storage format (the backend's sequence, [S4-DPLR-VJP-CPU]).
  computations(
      e, order, [](const Q& q, const auto& g) { return grads_arrays(q, g); },
      [](const Q& q) { return grads_arrays(q, reference::kernel_dplr_vjp<mp_real, mp_complex>(q)); },
      [](auto t, const Q& q) { return cpu::kernel_dplr_backward<decltype(t)>(q.forward(), q.dK()); },
      [](const Q& q, Format f) { return kernel_dplr_backward_bound(q.forward(), q.dK(), f); });
  e.any_order_assumption = "the cpu backends' sequence [S4-DPLR-VJP-CPU]: " + order;
  return make_entry(std::move(e));
}

// ---- s4.ssm_kernel ----

constexpr const char* kSsm = "s4.ssm_kernel";

struct SsmSize {
  const char* name;
  Index N, L;
  double step;
};
// [S4-SSM-KERNEL-DEFAULTS]
constexpr SsmSize kSsmSizes[] = {{"tiny", 2, 1, 0.5}, {"small", 8, 64, 1.0 / 64}, {"medium", 32, 512, 0.01}};
// `touchstone bench` only (not a `check` size): S4's state size N 64 and the L 4096 of the other S4
// kernels' bench, Δ = 1/L (annotated-s4's step).
constexpr SsmSize kSsmBench = {"bench", 64, 4096, 1.0 / 4096};

// [S4-SSM-KERNEL-DEFAULTS] Ā, B̄: HiPPO-LegS discretized by the bilinear rule in double
// (annotated-s4's discretize), rounded to the format; C̄ ~ N(0, 1) rounded.
DiscreteSsmProblem default_ssm(const std::string& size, Format f, std::uint64_t seed) {
  const SsmSize& s = size_row(kSsmSizes, kSsmBench, size);
  const HippoLegs<double> h = hippo_legs<double>(s.N);
  const auto d = reference::discretize_bilinear<double, double>(h.A, h.B, s.step);
  DiscreteSsmInputs p;
  p.N = s.N;
  p.L = s.L;
  for (Index i = 0; i < p.N; ++i)
    for (Index j = 0; j < p.N; ++j) p.Ab.push_back(round_to_format(d.Ab(i, j), f));
  for (Index i = 0; i < p.N; ++i) p.Bb.push_back(round_to_format(d.Bb(i), f));
  p.Cb = normal_array(seed, std::string(kSsm) + "/Cb", {p.N}, f).values();
  return DiscreteSsmProblem(std::move(p));
}

std::unique_ptr<Algorithm> ssm_entry() {
  using P = DiscreteSsmProblem;
  Entry<P> e;
  e.name = kSsm;
  e.spec_ref = "spec/s4.md [S4-SSM-KERNEL-DEF]";
  e.summary = "SSM convolution kernel by its definition K_l = Cb Ab^l Bb (annotated-s4 K_conv), discrete system given";
  e.inputs = {{"Ab", "(N, N)", "discrete state matrix Ā", false},
              {"Bb", "(N,)", "discrete input vector B̄", false},
              {"Cb", "(N,)", "output vector C̄", false},
              {"L", "()", "kernel length (also the option L)", true}};
  e.outputs = {{"K", "(L,)", "the kernel", false}};
  e.options = {{"L", "kernel length (required with a file)", ""}};
  e.sizes = size_names(kSsmSizes);
  e.extra_sizes = {kSsmBench.name};  // touchstone bench's
  e.generate = default_ssm;
  // [S4-SSM-KERNEL-SHAPES] core checks Ab (N, N), Bb and Cb (N,); the Problem the values.
  e.read = [](const InputReader& r) {
    return P({r.dim("N"), r.required_integer("L", 1, kMaxL), r.array("Ab").values(), r.array("Bb").values(),
              r.array("Cb").values()});
  };
  e.arrays = [](const P& p) {
    return Arrays{{"Ab", as_tensor(p.Ab, {p.N, p.N})}, {"Bb", as_tensor(p.Bb, {p.N})},
                  {"Cb", as_tensor(p.Cb, {p.N})}, {"L", scalar_array(static_cast<double>(p.L))}};
  };
  e.describe = [](const P& p) { return "N=" + std::to_string(p.N) + " L=" + std::to_string(p.L); };
  auto out = [](const P& p, const auto& K) { return std::map{std::pair{std::string("K"), as_tensor(K, {p.L})}}; };
  // [S4-SSM-KERNEL-BOUND] holds for any order of each dot product (γ_N is order-free).
  computations(
      e, "x_0 = Bb; x_{l+1} = Ab x_l, each row a sequential dot product; K_l = Cb . x_l sequential", out,
      [out](const P& p) { return out(p, reference::ssm_kernel_discrete<mp_real>(p)); },
      [](auto t, const P& p) { return cpu::ssm_kernel<decltype(t)>(p); }, ssm_kernel_bound);
  return make_entry(std::move(e));
}

}  // namespace
}  // namespace touchstone::s4

namespace touchstone {
void register_s4(Registry& registry) {
  registry.add(s4::cauchy_forward_entry());
  registry.add(s4::cauchy_backward_entry());
  registry.add(s4::dplr_entry());
  registry.add(s4::dplr_backward_entry());
  registry.add(s4::ssm_entry());
}
}  // namespace touchstone
