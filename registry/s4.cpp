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

// A complex array's (..., 2) real view as values, and back.
std::vector<cdouble> complex_values(const Tensor<double>& X) {
  std::vector<cdouble> v(static_cast<std::size_t>(X.count() / 2));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = cdouble(X[2 * i], X[2 * i + 1]);
  return v;
}
Tensor<double> complex_tensor(const std::vector<cdouble>& v, std::vector<Index> shape) {
  shape.push_back(2);
  Tensor<double> t{Shape(shape)};
  for (std::size_t i = 0; i < v.size(); ++i) t[2 * i] = v[i].real(), t[2 * i + 1] = v[i].imag();
  return t;
}
Tensor<double> scalar(double x) { return Tensor<double>(Shape{}, x); }

cdouble cround(cdouble z, Format f) { return {round_to_format(z.real(), f), round_to_format(z.imag(), f)}; }

// [S4-FILE-OPTIONS] [S4-CONJ] conj from the option (halves | full) or the file (0 | 1).
Conj conj_of(const InputReader& r) { return parse_conj(r.choice("conj", {"halves", "full"}, "halves")); }
Tensor<double> conj_array(Conj c) { return scalar(c == Conj::full ? 1.0 : 0.0); }


// The cpu-f32 and cpu-f64 backends, `run(T{}, problem)` computing in T and `bound(problem,
// format)`, and the any-order bound: `bound` at the storage format.
template <class P, class Run, class Bound>
void cpu_backends(Entry<P>& e, const std::string& order, Run run, Bound bound) {
  e.backends.push_back({"cpu-f32", Format::float32, order,
                        [run](const EntryProblem<P>& h) { return run(float{}, h.f32()); },
                        [bound](const P& p) { return bound(p, Format::float32); }});
  e.backends.push_back({"cpu-f64", Format::float64, order,
                        [run](const EntryProblem<P>& h) { return run(double{}, h.f64()); },
                        [bound](const P& p) { return bound(p, Format::float64); }});
  e.any_order_bound = [bound](const P& p, Format storage, double) { return bound(p, storage); };
}

// The cuda-f32 backend ([S4-CAUCHY-CUDA]): `run(problem)` on the float32 problem, the float32 bound.
template <class P, class Run, class Bound>
void cuda_backend(Entry<P>& e, const std::string& order, Run run, Bound bound) {
  e.backends.push_back({"cuda-f32", Format::float32, order, [run](const EntryProblem<P>& h) { return run(h.f32()); },
                        [bound](const P& p) { return bound(p, Format::float32); }, cuda::cauchy_unavailable_reason});
}

// The problems as the entries hold them, validated on construction. The backends are templates
// on the compute type reading the double problem, so the float32 copy core makes (cast<float>,
// after require_inputs_in(float32)) is the same problem.

// s4.cauchy (dout empty) and s4.cauchy_backward.
struct Cauchy {
  CauchyBackwardProblem q;
  bool backward;
  Cauchy(CauchyBackwardProblem qq, bool bwd) : q(std::move(qq)), backward(bwd) {
    backward ? q.validate() : q.fwd.validate();
  }
  template <class U>
  Cauchy cast() const { return *this; }
  const CauchyProblem& p() const { return q.fwd; }
};

// s4.kernel_dplr (dK empty) and s4.kernel_dplr_backward.
struct Dplr {
  DplrProblem p;
  std::vector<double> dK;  // (H, L)
  explicit Dplr(DplrProblem pp, std::vector<double> g = {}) : p(std::move(pp)), dK(std::move(g)) {
    p.validate();
    if (!dK.empty() && static_cast<Index>(dK.size()) != p.H * p.L) throw InvalidInput("dK", "must have the shape of K");
    require_no_inf(dK, "dK");
  }
  template <class U>
  Dplr cast() const { return *this; }
  std::vector<Index> out_shape() const { return p.batched ? std::vector<Index>{p.H, p.L} : std::vector<Index>{p.L}; }
};

// s4.ssm_kernel.
struct Ssm {
  DiscreteSsmProblem p;
  explicit Ssm(DiscreteSsmProblem pp) : p(std::move(pp)) { p.validate(); }
  template <class U>
  Ssm cast() const { return *this; }
};

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
Cauchy default_cauchy(const std::string& size, Format f, std::uint64_t seed, bool backward) {
  const CauchySize& s = size_row(kCauchySizes, size);
  CauchyBackwardProblem q;
  CauchyProblem& p = q.fwd;
  p.H = s.H, p.N = s.N, p.L = s.L, p.conj = s.conj;
  PhiloxStream rz(seed, std::string(kCauchy) + "/z"), rv(seed, std::string(kCauchy) + "/v"),
      rw(seed, std::string(kCauchy) + "/w"), rg(seed, std::string(backward ? kCauchyBwd : kCauchy) + "/dout");
  for (Index l = 0; l < p.L; ++l) {
    const double x = rz.next_normal();
    p.z.push_back(cround({std::cos(x), std::sin(x)}, f));
  }
  for (Index i = 0; i < p.H * p.N; ++i) {
    p.v.push_back(cround({rv.next_normal(), rv.next_normal()}, f));
    p.w.push_back(cround({-rw.next_uniform(0.05, 1), rw.next_normal()}, f));
  }
  if (backward)
    for (Index i = 0; i < p.H * p.L; ++i) q.dout.push_back(cround({rg.next_normal(), rg.next_normal()}, f));
  return Cauchy(std::move(q), backward);
}

std::string cauchy_order() {
  return "per (h,l) sequential over n (halves: each mode then its conjugate); d = z - w per part; textbook "
         "division ((a c + b d) + i (b c - a d)) / (c^2 + d^2), one division per part";
}

// What the two Cauchy entries share: inputs, the option, sizes, generate, read, arrays, describe.
Entry<Cauchy> cauchy_declaration(bool backward) {
  Entry<Cauchy> e;
  e.inputs = {{"v", "complex (H, N) | (N,)", "numerators", false},
              {"z", "complex (L,)", "evaluation points", false},
              {"w", "complex (H, N) | (N,)", "poles", false},
              {"conj", "()", "0: halves, 1: full (also the option conj)", true}};
  if (backward) e.inputs.push_back({"dout", "complex (H, L)", "cotangent of out", false});
  e.options = {{"conj", "halves (each mode plus its conjugate) or full", "halves"}};
  e.sizes = {"tiny", "small", "medium"};
  e.generate = [backward](const std::string& size, Format f, std::uint64_t seed) {
    return default_cauchy(size, f, seed, backward);
  };
  // [S4-CAUCHY-SHAPES] v and w (N,) are (1, N); w has v's shape, dout (H, L).
  e.read = [backward](const InputReader& r) {
    CauchyBackwardProblem q;
    CauchyProblem& p = q.fwd;
    const Tensor<double> v = r.with_leading_axis("v", 1, 3), w = r.with_leading_axis("w", 1, 3);
    if (!(w.shape() == v.shape())) throw InvalidInput("w", "must have the shape of v");
    p.H = v.extent(0), p.N = v.extent(1), p.L = r.dim("L");
    p.v = complex_values(v), p.w = complex_values(w), p.z = complex_values(r.array("z"));
    p.conj = conj_of(r);
    if (backward) {
      if (r.dim("H") != p.H) throw InvalidInput("dout", "expected (H, L) with v's H = " + std::to_string(p.H));
      q.dout = complex_values(r.array("dout"));
    }
    return Cauchy(std::move(q), backward);
  };
  e.arrays = [](const Cauchy& c) {
    const CauchyProblem& p = c.p();
    Arrays a{{"v", complex_tensor(p.v, {p.H, p.N})}, {"z", complex_tensor(p.z, {p.L})},
             {"w", complex_tensor(p.w, {p.H, p.N})}, {"conj", conj_array(p.conj)}};
    if (c.backward) a["dout"] = complex_tensor(c.q.dout, {p.H, p.L});
    return a;
  };
  e.describe = [](const Cauchy& c) {
    const CauchyProblem& p = c.p();
    return "H=" + std::to_string(p.H) + " N=" + std::to_string(p.N) + " L=" + std::to_string(p.L) +
           " conj=" + conj_name(p.conj);
  };
  return e;
}

std::unique_ptr<Algorithm> cauchy_entry() {
  Entry<Cauchy> e = cauchy_declaration(false);
  e.name = kCauchy;
  e.spec_ref = "spec/s4.md [S4-CAUCHY-DEF]";
  e.summary = "Cauchy kernel out[h,l] = sum_n v/(z_l - w_n) (+ conj terms in halves): state-spaces/s4 cauchy_mult";
  e.outputs = {{"out", "complex (H, L) as (H, L, 2)", "the Cauchy sums", false}};
  auto out = [](const Cauchy& c, const auto& v) { return Arrays{{"out", as_tensor(v, {c.p().H, c.p().L, 2})}}; };
  e.oracle = [](const Cauchy& c) {
    return ExactArrays{{"out", as_tensor(reference::cauchy<mp_real, mp_complex>(c.p()), {c.p().H, c.p().L, 2})}};
  };
  auto bound = [out](const Cauchy& c, Format f) { return out(c, cauchy_bound(c.p(), f)); };
  // [S4-CAUCHY-ANY-ORDER] Any order of the sum; each term's difference and division within the
  // textbook division's bound.
  cpu_backends(e, cauchy_order() + "; vectorized over l, threads over h",
               [out](auto t, const Cauchy& c) { return out(c, cpu::cauchy<decltype(t)>(c.p())); }, bound);
  cuda_backend(e, cauchy_order() + "; one thread per (h,l), -fmad=false",
               [out](const Cauchy& c) { return out(c, cuda::cauchy(c.p())); }, bound);
  e.extra_sizes = {"bench"};
  return make_entry(std::move(e));
}

// dv then dw, each (H, N) complex, of the backward's flat result.
template <class T>
auto dv_dw(const CauchyProblem& p, const std::vector<T>& v) {
  const auto half = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
  const std::vector<Index> s{p.H, p.N, 2};
  return std::map<std::string, decltype(as_tensor(v, s))>{{"dv", as_tensor(std::vector<T>(v.begin(), half), s)},
                                                           {"dw", as_tensor(std::vector<T>(half, v.end()), s)}};
}

std::unique_ptr<Algorithm> cauchy_backward_entry() {
  Entry<Cauchy> e = cauchy_declaration(true);
  e.name = kCauchyBwd;
  e.spec_ref = "spec/s4.md [S4-CAUCHY-VJP]";
  e.summary = "VJP of s4.cauchy with respect to v and w (PyTorch's complex gradient convention)";
  e.outputs = {{"dv", "complex (H, N) as (H, N, 2)", "gradient of v", false},
               {"dw", "complex (H, N) as (H, N, 2)", "gradient of w", false}};
  e.oracle = [](const Cauchy& c) {
    return dv_dw(c.p(), reference::cauchy_backward<mp_real, mp_complex>(c.p(), c.q.dout));
  };
  auto bound = [](const Cauchy& c, Format f) { return dv_dw(c.p(), cauchy_backward_bound(c.p(), c.q.dout, f)); };
  const std::string order =
      "per (h,n) sequential over l: d = z - w; dv += dout / conj(d); dw += dout * conj(v / (d d)) (textbook "
      "divisions, complex products 2 mul + 1 add per part); halves: the conjugate terms after each l";
  // [S4-CAUCHY-VJP-ANY-ORDER] [S4-CAUCHY-VJP-BOUND] at the storage format: the sums over l in any
  // order, each term formed as the spec writes it (any_order_assumption).
  cpu_backends(e, order + "; threads over h", [](auto t, const Cauchy& c) {
    return dv_dw(c.p(), cpu::cauchy_backward<decltype(t)>(c.p(), c.q.dout));
  }, bound);
  cuda_backend(e, order + "; one thread per (h,n), -fmad=false",
               [](const Cauchy& c) { return dv_dw(c.p(), cuda::cauchy_backward(c.p(), c.q.dout)); }, bound);
  e.any_order_assumption =
      "each term formed as [S4-CAUCHY-VJP] writes it: d = z - w, dout / conj(d) and "
      "dout * conj(v / (d d)) (one complex product d d, textbook complex divisions); the sums "
      "over l in any order";
  e.extra_sizes = {"bench"};
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
Dplr default_dplr(const std::string& size, Format f, std::uint64_t seed, bool backward) {
  const DplrSize& s = size_row(kDplrSizes, size);
  const HippoDplrDouble hip = hippo_dplr_double(s.N);
  DplrProblem p;
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
  PhiloxStream rc(seed, std::string(kDplr) + "/C"), rs(seed, std::string(kDplr) + "/step");
  p.C.H = p.H;
  p.C.N = p.N;
  const double sq = std::sqrt(0.5);
  for (Index i = 0; i < p.H * p.N; ++i) p.C.values.push_back(cround({sq * rc.next_normal(), sq * rc.next_normal()}, f));
  for (Index h = 0; h < p.H; ++h)
    p.step.push_back(round_to_format(std::exp(rs.next_uniform(std::log(1e-3), std::log(1e-1))), f));
  std::vector<double> dK;
  PhiloxStream rk(seed, std::string(kDplrBwd) + "/dK");
  for (Index i = 0; backward && i < p.H * p.L; ++i) dK.push_back(round_to_format(rk.next_normal(), f));
  return Dplr(std::move(p), std::move(dK));
}

// What the two DPLR entries share: inputs, options, sizes, generate, read, arrays, describe.
Entry<Dplr> dplr_declaration(bool backward) {
  Entry<Dplr> e;
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
  e.generate = [backward](const std::string& size, Format f, std::uint64_t seed) {
    return default_dplr(size, f, seed, backward);
  };
  // [S4-DPLR-SHAPES] Each parameter (N',) shared or (H, N'); an H axis on any of them or a (H,)
  // step (even H = 1) makes K (H, L). The backward takes L from dK's last extent.
  e.read = [backward](const InputReader& r) {
    DplrProblem p;
    const Index L_dK = backward ? r.dim("L") : 0;
    if (backward && L_dK < 1) throw InvalidInput("dK", "L must be at least 1");
    auto param = [&](const std::string& name) {
      const Tensor<double>& t = r.array(name);
      CParam c;
      c.H = t.rank() == 3 ? t.extent(0) : 0;
      c.N = t.extent(t.rank() - 2);
      c.values = complex_values(t);
      return c;
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
    return Dplr(std::move(p), backward ? r.array("dK").values() : std::vector<double>{});
  };
  e.arrays = [](const Dplr& d) {
    const DplrProblem& p = d.p;
    auto shape = [&](const CParam& c) { return c.H ? std::vector<Index>{c.H, c.N} : std::vector<Index>{c.N}; };
    Arrays a{{"Lambda", complex_tensor(p.Lambda.values, shape(p.Lambda))},
             {"P", complex_tensor(p.P.values, shape(p.P))},
             {"B", complex_tensor(p.B.values, shape(p.B))},
             {"C", complex_tensor(p.C.values, shape(p.C))},
             {"L", scalar(static_cast<double>(p.L))},
             {"conj", conj_array(p.conj)}};
    if (!p.q_tied) a["Q"] = complex_tensor(p.Q.values, shape(p.Q));
    if (!d.dK.empty()) a["dK"] = as_tensor(d.dK, d.out_shape());
    a["step"] = p.step.size() == 1 && !p.batched ? scalar(p.step[0])
                                                 : as_tensor(p.step, {static_cast<Index>(p.step.size())});
    return a;
  };
  e.describe = [](const Dplr& d) {
    return "H=" + std::to_string(d.p.H) + " N'=" + std::to_string(d.p.N) + " L=" + std::to_string(d.p.L) +
           " conj=" + conj_name(d.p.conj);
  };
  return e;
}

std::unique_ptr<Algorithm> dplr_entry() {
  Entry<Dplr> e = dplr_declaration(false);
  e.name = kDplr;
  e.spec_ref = "spec/s4.md [S4-DPLR-DEF]";
  e.summary =
      "S4 DPLR kernel (annotated-s4 kernel_DPLR): generating function at the L-th roots of unity via "
      "Cauchy sums + Woodbury, inverse FFT; the node -1 by its limit";
  e.outputs = {{"K", "(L,) | (H, L)", "the kernel, real", false}};
  e.oracle = [](const Dplr& d) {
    return ExactArrays{{"K", as_tensor(reference::kernel_dplr<mp_real, mp_complex>(d.p), d.out_shape())}};
  };
  const std::string order =
      "per channel: t_k = tan(pi k/L) (double, reduced to [0, pi/4]), g = (2/step) t_k; four Cauchy sums "
      "sequential over n (textbook division); (1 + i t_k)(k00 - k01 k10 / (1 + k11)); node -1: (step sum "
      "conj(C) B)/2; FFTW inverse DFT (ESTIMATE plan); Re / L";
  // [S4-DPLR-ANY-ORDER] The same analysis at the storage format: an implementation that follows
  // the fast path's operations (any order of each Cauchy sum, an FFT within [S4CONV-FFT-BOUND]).
  cpu_backends(
      e, order,
      [](auto t, const Dplr& d) { return Arrays{{"K", as_tensor(cpu::kernel_dplr<decltype(t)>(d.p), d.out_shape())}}; },
      [](const Dplr& d, Format f) { return Arrays{{"K", as_tensor(kernel_dplr_bound(d.p, f), d.out_shape())}}; });
  e.extra_sizes = {"bench"};
  return make_entry(std::move(e));
}

// The gradients, each in its input's layout: complex as (..., 2), dQ only when Q was given.
template <class T>
auto grads_arrays(const DplrProblem& p, const DplrGrads<T>& g) {
  auto shape = [&](const CParam& c) { return c.H ? std::vector<Index>{c.H, c.N, 2} : std::vector<Index>{c.N, 2}; };
  std::map<std::string, decltype(as_tensor(g.P, {}))> a{{"dLambda", as_tensor(g.Lambda, shape(p.Lambda))},
                                                        {"dP", as_tensor(g.P, shape(p.P))},
                                                        {"dB", as_tensor(g.B, shape(p.B))},
                                                        {"dC", as_tensor(g.C, shape(p.C))}};
  if (!p.q_tied) a["dQ"] = as_tensor(g.Q, shape(p.Q));
  const bool scalar_step = p.step.size() == 1 && !p.batched;
  a["dstep"] = as_tensor(g.step, scalar_step ? std::vector<Index>{} : std::vector<Index>{Index(g.step.size())});
  return a;
}

std::unique_ptr<Algorithm> dplr_backward_entry() {
  Entry<Dplr> e = dplr_declaration(true);
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
  e.oracle = [](const Dplr& d) {
    return grads_arrays(d.p, reference::kernel_dplr_vjp<mp_real, mp_complex>(d.p, d.dK));
  };
  const std::string order =
      "G = FFTW forward DFT of dK, /L per part; per node: R = 1/(i g - lambda) (textbook), k_ab sums "
      "sequential over n, Woodbury derivative factors, dstep's node factor Y = sum_a dk_a dk_a/dg formed before G, gradient sums over nodes sequential in k; shared "
      "parameters summed over channels in order (s4_order.hpp)";
  // [S4-DPLR-VJP-BOUND] at the storage format (the backend's sequence, [S4-DPLR-VJP-CPU]).
  cpu_backends(
      e, order,
      [](auto t, const Dplr& d) { return grads_arrays(d.p, cpu::kernel_dplr_backward<decltype(t)>(d.p, d.dK)); },
      [](const Dplr& d, Format f) { return grads_arrays(d.p, kernel_dplr_backward_bound(d.p, d.dK, f)); });
  e.any_order_assumption = "the cpu backends' sequence [S4-DPLR-VJP-CPU]: " + order;
  e.extra_sizes = {"bench"};
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

// [S4-SSM-KERNEL-DEFAULTS] Ā, B̄: HiPPO-LegS discretized by the bilinear rule in double
// (annotated-s4's discretize), rounded to the format; C̄ ~ N(0, 1) rounded.
Ssm default_ssm(const SsmSize& s, Format f, std::uint64_t seed) {
  const HippoLegs<double> h = hippo_legs<double>(s.N);
  const auto d = reference::discretize_bilinear<double, double>(h.A, h.B, s.step);
  DiscreteSsmProblem p;
  p.N = s.N;
  p.L = s.L;
  for (Index i = 0; i < p.N; ++i)
    for (Index j = 0; j < p.N; ++j) p.Ab.push_back(round_to_format(d.Ab(i, j), f));
  for (Index i = 0; i < p.N; ++i) p.Bb.push_back(round_to_format(d.Bb(i), f));
  PhiloxStream rc(seed, std::string(kSsm) + "/Cb");
  for (Index i = 0; i < p.N; ++i) p.Cb.push_back(round_to_format(rc.next_normal(), f));
  return Ssm(std::move(p));
}

std::unique_ptr<Algorithm> ssm_entry() {
  Entry<Ssm> e;
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
  e.generate = [](const std::string& size, Format f, std::uint64_t seed) {
    return default_ssm(size_row(kSsmSizes, size), f, seed);
  };
  // [S4-SSM-KERNEL-SHAPES] core checks Ab (N, N), Bb and Cb (N,); the Problem the values.
  e.read = [](const InputReader& r) {
    DiscreteSsmProblem p;
    p.N = r.dim("N");
    p.Ab = r.array("Ab").values(), p.Bb = r.array("Bb").values(), p.Cb = r.array("Cb").values();
    p.L = r.required_integer("L", 1, kMaxL);
    return Ssm(std::move(p));
  };
  e.arrays = [](const Ssm& s) {
    const DiscreteSsmProblem& p = s.p;
    return Arrays{{"Ab", as_tensor(p.Ab, {p.N, p.N})}, {"Bb", as_tensor(p.Bb, {p.N})},
                  {"Cb", as_tensor(p.Cb, {p.N})}, {"L", scalar(static_cast<double>(p.L))}};
  };
  e.describe = [](const Ssm& s) { return "N=" + std::to_string(s.p.N) + " L=" + std::to_string(s.p.L); };
  e.oracle = [](const Ssm& s) {
    return ExactArrays{{"K", as_tensor(reference::ssm_kernel_discrete<mp_real>(s.p), {s.p.L})}};
  };
  // [S4-SSM-KERNEL-BOUND] holds for any order of each dot product (γ_N is order-free).
  cpu_backends(
      e, "x_0 = Bb; x_{l+1} = Ab x_l, each row a sequential dot product; K_l = Cb . x_l sequential",
      [](auto t, const Ssm& s) { return Arrays{{"K", as_tensor(cpu::ssm_kernel<decltype(t)>(s.p), {s.p.L})}}; },
      [](const Ssm& s, Format f) { return Arrays{{"K", as_tensor(ssm_kernel_bound(s.p, f), {s.p.L})}}; });
  return make_entry(std::move(e));
}

}  // namespace
}  // namespace touchstone::s4

namespace touchstone {
void register_s4(Registry& registry) {
  registry.add(s4::cauchy_entry());
  registry.add(s4::cauchy_backward_entry());
  registry.add(s4::dplr_entry());
  registry.add(s4::dplr_backward_entry());
  registry.add(s4::ssm_entry());
}
}  // namespace touchstone
