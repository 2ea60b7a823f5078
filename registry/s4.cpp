// The s4 entries of the registry (spec/s4.md): s4.cauchy, s4.cauchy_backward, s4.kernel_dplr.
#include <cmath>
#include <functional>
#include <optional>

#include "builtin.hpp"
#include "s4_options.hpp"
#include "cpu/s4.hpp"
#include "cuda/s4_cauchy.hpp"
#include "touchstone/core/mp_eigen.hpp"
#include "touchstone/core/random.hpp"
#include "touchstone/reference/s4.hpp"
#include "touchstone/reference/s4_bound.hpp"
#include "touchstone/reference/s4_hippo.hpp"

namespace touchstone::s4 {
namespace {

// ---- shared helpers ----

// A complex array from a file: a complex array (values with a trailing (re, im) axis), or a real
// array whose last axis is 2 (the same layout). Returns the logical shape (without the axis).
std::vector<cdouble> complex_values(const NpyArray& a, const std::string& name, std::vector<Index>& shape) {
  if (a.kind != NpyKind::floating) throw InvalidInput(name, "expected a complex array, got " + a.dtype_name());
  const Tensor<double>& X = a.values;
  if (X.rank() < 1 || X.extent(X.rank() - 1) != 2)
    throw InvalidInput(name, "expected a complex array or a real one with a trailing (re, im) axis of 2, got " +
                                 a.dtype_name() + " of shape " + X.shape().str());
  shape.assign(X.shape().extents().begin(), X.shape().extents().end() - 1);
  std::vector<cdouble> v(static_cast<std::size_t>(X.count() / 2));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = cdouble(X[2 * i], X[2 * i + 1]);
  return v;
}

Tensor<double> complex_tensor(const std::vector<cdouble>& v, std::vector<Index> shape) {
  shape.push_back(2);
  Tensor<double> t{Shape(shape)};
  for (std::size_t i = 0; i < v.size(); ++i) {
    t[2 * i] = v[i].real();
    t[2 * i + 1] = v[i].imag();
  }
  return t;
}

template <class T>
Tensor<double> tensor_of(const std::vector<T>& v, std::vector<Index> shape) {
  Tensor<double> t{Shape(shape)};
  for (std::size_t i = 0; i < v.size(); ++i) t[i] = static_cast<double>(v[i]);
  return t;
}
Tensor<mp_real> exact_tensor(std::vector<mp_real> v, std::vector<Index> shape) {
  return Tensor<mp_real>(Shape(shape), std::move(v));
}

void check_known(const NpyMap& arrays, const OptionMap& options, const std::vector<ArraySpec>& ins,
                 const std::vector<std::string>& opts, const std::string& algo) {
  for (const auto& [name, a] : arrays) {
    bool ok = false;
    for (const auto& s : ins) ok = ok || s.name == name;
    if (!ok) throw InvalidInput(name, "not an input of " + algo);
  }
  for (const auto& [name, v] : options) {
    bool ok = false;
    for (const auto& s : opts) ok = ok || s == name;
    if (!ok) throw InvalidInput(name, "unknown option for " + algo);
  }
}

const NpyArray& required(const NpyMap& arrays, const std::string& name, const std::string& algo) {
  auto it = arrays.find(name);
  if (it == arrays.end()) throw InvalidInput(name, "missing (required input of " + algo + ")");
  return it->second;
}

std::vector<double> all_parts(const std::vector<cdouble>& v) {
  std::vector<double> r;
  r.reserve(2 * v.size());
  for (const auto& z : v) r.push_back(z.real()), r.push_back(z.imag());
  return r;
}

cdouble cround(cdouble z, Format f) { return {round_to_format(z.real(), f), round_to_format(z.imag(), f)}; }

Index parse_index(const std::string& name, const std::string& v) {
  try {
    std::size_t pos = 0;
    const long long x = std::stoll(v, &pos);
    if (pos != v.size()) throw std::invalid_argument(v);
    return static_cast<Index>(x);
  } catch (const std::exception&) {
    throw InvalidInput(name, "expected an integer, got '" + v + "'");
  }
}

std::string cuda_reason() { return cuda::cauchy_unavailable_reason(); }

// [S4-FILE-OPTIONS] An option may also come as a 0-d array of the input file (what `touchstone
// generate` writes, so that a generated file is the whole problem): `conj` (0: halves, 1: full)
// and `L` (scalar_array, conj_of: registry/s4_options.hpp). Given both ways, they must agree.

// [S4-ORACLE-VERIFIED] One evaluation of a reference function at `bits`; core's
// Algorithm::reference checks it at b and 2b bits and doubles until they agree
// ([CORE-ORACLE-VERIFIED]): ill-conditioned inputs (a fuzzer found one: a 1e30 low-rank term,
// where 192 bits gave a wrong DPLR kernel) get the precision they need.
template <class F>
std::vector<mp_real> at_precision(unsigned bits, F compute) {
  const WorkingPrecision wp(bits);
  return compute();
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
// system), all rounded to the format.
CauchyBackwardProblem default_cauchy(const std::string& size, Format f, std::uint64_t seed, const char* algo) {
  const CauchySize* s = nullptr;
  for (const auto& c : kCauchySizes)
    if (size == c.name) s = &c;
  if (!s) throw InvalidInput("size", "unknown size '" + size + "' (tiny, small, medium, bench)");
  CauchyBackwardProblem q;
  CauchyProblem& p = q.fwd;
  p.H = s->H, p.N = s->N, p.L = s->L, p.conj = s->conj;
  PhiloxStream rz(seed, std::string(kCauchy) + "/z"), rv(seed, std::string(kCauchy) + "/v"),
      rw(seed, std::string(kCauchy) + "/w"), rg(seed, std::string(algo) + "/dout");
  for (Index l = 0; l < p.L; ++l) {
    const double x = rz.next_normal();
    p.z.push_back(cround({std::cos(x), std::sin(x)}, f));
  }
  for (Index i = 0; i < p.H * p.N; ++i) {
    p.v.push_back(cround({rv.next_normal(), rv.next_normal()}, f));
    p.w.push_back(cround({-rw.next_uniform(0.05, 1), rw.next_normal()}, f));
  }
  for (Index i = 0; i < p.H * p.L; ++i) q.dout.push_back(cround({rg.next_normal(), rg.next_normal()}, f));
  return q;
}

class CauchyHandle final : public ProblemHandle {
 public:
  CauchyHandle(CauchyBackwardProblem q, bool backward) : q_(std::move(q)), backward_(backward) {
    q_.fwd.validate();
    if (backward_) q_.validate();
  }
  const CauchyProblem& p() const { return q_.fwd; }
  const std::vector<cdouble>& dout() const { return q_.dout; }
  std::string describe() const override {
    return "H=" + std::to_string(p().H) + " N=" + std::to_string(p().N) + " L=" + std::to_string(p().L) +
           " conj=" + conj_name(p().conj);
  }
  Format input_format() const override {
    const auto a = all_parts(p().v), b = all_parts(p().w), c = all_parts(p().z), d = all_parts(q_.dout);
    std::vector<std::span<const double>> arrays = {a, b, c};
    if (backward_) arrays.push_back(d);
    return narrowest_format(arrays);
  }
  Arrays inputs() const override {
    Arrays a{{"v", complex_tensor(p().v, {p().H, p().N})},
             {"z", complex_tensor(p().z, {p().L})},
             {"w", complex_tensor(p().w, {p().H, p().N})}};
    if (backward_) a["dout"] = complex_tensor(q_.dout, {p().H, p().L});
    a["conj"] = conj_array(p().conj);
    return a;
  }

 private:
  CauchyBackwardProblem q_;
  bool backward_;
};

const CauchyHandle& cauchy_of(const ProblemHandle& h) { return dynamic_cast<const CauchyHandle&>(h); }

CauchyBackwardProblem cauchy_from_arrays(const NpyMap& arrays, const OptionMap& options, bool backward) {
  const std::string algo = backward ? kCauchyBwd : kCauchy;
  std::vector<ArraySpec> ins = {{"v", "", "", false}, {"z", "", "", false}, {"w", "", "", false},
                                {"conj", "", "", true}};
  if (backward) ins.push_back({"dout", "", "", false});
  check_known(arrays, options, ins, {"conj"}, algo);
  CauchyBackwardProblem q;
  CauchyProblem& p = q.fwd;
  std::vector<Index> sv, sz, sw, sg;
  p.v = complex_values(required(arrays, "v", algo), "v", sv);
  p.z = complex_values(required(arrays, "z", algo), "z", sz);
  p.w = complex_values(required(arrays, "w", algo), "w", sw);
  if (sv.size() == 1) sv.insert(sv.begin(), 1);
  if (sw.size() == 1) sw.insert(sw.begin(), 1);
  if (sv.size() != 2) throw InvalidInput("v", "expected (H, N) or (N,)");
  if (sw != sv) throw InvalidInput("w", "must have the shape of v");
  if (sz.size() != 1) throw InvalidInput("z", "expected (L,)");
  p.H = sv[0], p.N = sv[1], p.L = sz[0];
  p.conj = conj_of(arrays, options);
  if (backward) {
    q.dout = complex_values(required(arrays, "dout", algo), "dout", sg);
    if (sg.size() == 1) sg.insert(sg.begin(), 1);
    if (sg != std::vector<Index>{p.H, p.L}) throw InvalidInput("dout", "expected (H, L)");
  }
  return q;
}

std::string cauchy_order() {
  return "per (h,l) sequential over n (halves: each mode then its conjugate); d = z - w per part; textbook "
         "division ((a c + b d) + i (b c - a d)) / (c^2 + d^2), one division per part";
}

class CauchyEntry final : public Algorithm {
 public:
  CauchyEntry() {
    auto run = [](auto tag) {
      using T = decltype(tag);
      return [](const ProblemHandle& h) {
        const auto& c = cauchy_of(h);
        if (std::is_same_v<T, float>) h.require_inputs_in(Format::float32);
        return Arrays{{"out", tensor_of(cpu::cauchy<T>(c.p()), {c.p().H, c.p().L, 2})}};
      };
    };
    auto bound = [](Format f) {
      return [f](const ProblemHandle& h) {
        const auto& c = cauchy_of(h);
        return Arrays{{"out", tensor_of(cauchy_bound(c.p(), f), {c.p().H, c.p().L, 2})}};
      };
    };
    backends_ = {
        {"cpu-f32", Format::float32, cauchy_order() + "; vectorized over l, threads over h", [] { return std::string(); },
         run(float{}), bound(Format::float32)},
        {"cpu-f64", Format::float64, cauchy_order() + "; vectorized over l, threads over h", [] { return std::string(); },
         run(double{}), bound(Format::float64)},
        {"cuda-f32", Format::float32, cauchy_order() + "; one thread per (h,l), -fmad=false", cuda_reason,
         [](const ProblemHandle& h) {
           const auto& c = cauchy_of(h);
           h.require_inputs_in(Format::float32);
           return Arrays{{"out", tensor_of(cuda::cauchy(c.p()), {c.p().H, c.p().L, 2})}};
         },
         bound(Format::float32)},
    };
  }
  std::string name() const override { return kCauchy; }
  std::string summary() const override {
    return "Cauchy kernel out[h,l] = sum_n v/(z_l - w_n) (+ conj terms in halves): state-spaces/s4 cauchy_mult";
  }
  std::string spec_ref() const override { return "spec/s4.md [S4-CAUCHY-DEF]"; }
  std::vector<ArraySpec> inputs() const override {
    return {{"v", "complex (H, N) | (N,)", "numerators", false},
            {"z", "complex (L,)", "evaluation points", false},
            {"w", "complex (H, N) | (N,)", "poles", false},
            {"conj", "()", "0: halves, 1: full (also the option conj)", true}};
  }
  std::vector<ArraySpec> outputs() const override {
    return {{"out", "complex (H, L) as (H, L, 2)", "the Cauchy sums", false}};
  }
  std::vector<OptionSpec> options() const override {
    return {{"conj", "halves (each mode plus its conjugate) or full", "halves"}};
  }
  std::vector<std::string> sizes() const override { return {"tiny", "small", "medium"}; }
  std::unique_ptr<ProblemHandle> generate(const std::string& size, Format f, std::uint64_t seed) const override {
    return std::make_unique<CauchyHandle>(default_cauchy(size, f, seed, kCauchy), false);
  }
  std::unique_ptr<ProblemHandle> problem_from_arrays(const NpyMap& a, const OptionMap& o) const override {
    return std::make_unique<CauchyHandle>(cauchy_from_arrays(a, o, false), false);
  }
  ExactArrays oracle(const ProblemHandle& h, unsigned bits) const override {
    const auto& c = cauchy_of(h);
    return {{"out", exact_tensor(at_precision(bits, [&] { return reference::cauchy<mp_real, mp_complex>(c.p()); }),
                                 {c.p().H, c.p().L, 2})}};
  }
  const std::vector<BackendSpec>& backends() const override { return backends_; }
  // [S4-CAUCHY-ANY-ORDER] Any order of the sum; each term's difference and division within the
  // textbook division's bound.
  Arrays any_order_bound(const ProblemHandle& h, Format storage, double) const override {
    const auto& c = cauchy_of(h);
    return {{"out", tensor_of(cauchy_bound(c.p(), storage), {c.p().H, c.p().L, 2})}};
  }

 private:
  std::vector<BackendSpec> backends_;
};

class CauchyBackwardEntry final : public Algorithm {
 public:
  CauchyBackwardEntry() {
    auto arrays = [](const CauchyHandle& c, const auto& v) {
      const std::size_t half = v.size() / 2;
      using T = typename std::decay_t<decltype(v)>::value_type;
      std::vector<T> dv(v.begin(), v.begin() + half), dw(v.begin() + half, v.end());
      return Arrays{{"dv", tensor_of(dv, {c.p().H, c.p().N, 2})}, {"dw", tensor_of(dw, {c.p().H, c.p().N, 2})}};
    };
    auto run = [arrays](auto tag) {
      using T = decltype(tag);
      return [arrays](const ProblemHandle& h) {
        const auto& c = cauchy_of(h);
        if (std::is_same_v<T, float>) h.require_inputs_in(Format::float32);
        return arrays(c, cpu::cauchy_backward<T>(c.p(), c.dout()));
      };
    };
    auto bound = [arrays](Format f) {
      return [f, arrays](const ProblemHandle& h) {
        const auto& c = cauchy_of(h);
        return arrays(c, cauchy_backward_bound(c.p(), c.dout(), f));
      };
    };
    const std::string order =
        "per (h,n) sequential over l: d = z - w; dv += dout / conj(d); dw += dout * conj(v / (d d)) (textbook "
        "divisions, complex products 2 mul + 1 add per part); halves: the conjugate terms after each l";
    backends_ = {
        {"cpu-f32", Format::float32, order + "; threads over h", [] { return std::string(); }, run(float{}),
         bound(Format::float32)},
        {"cpu-f64", Format::float64, order + "; threads over h", [] { return std::string(); }, run(double{}),
         bound(Format::float64)},
        {"cuda-f32", Format::float32, order + "; one thread per (h,n), -fmad=false", cuda_reason,
         [arrays](const ProblemHandle& h) {
           const auto& c = cauchy_of(h);
           h.require_inputs_in(Format::float32);
           return arrays(c, cuda::cauchy_backward(c.p(), c.dout()));
         },
         bound(Format::float32)},
    };
  }
  std::string name() const override { return kCauchyBwd; }
  std::string summary() const override {
    return "VJP of s4.cauchy with respect to v and w (PyTorch's complex gradient convention)";
  }
  std::string spec_ref() const override { return "spec/s4.md [S4-CAUCHY-VJP]"; }
  std::vector<ArraySpec> inputs() const override {
    auto v = CauchyEntry().inputs();
    v.push_back({"dout", "complex (H, L)", "cotangent of out", false});
    return v;
  }
  std::vector<ArraySpec> outputs() const override {
    return {{"dv", "complex (H, N) as (H, N, 2)", "gradient of v", false},
            {"dw", "complex (H, N) as (H, N, 2)", "gradient of w", false}};
  }
  std::vector<OptionSpec> options() const override { return CauchyEntry().options(); }
  std::vector<std::string> sizes() const override { return {"tiny", "small", "medium"}; }
  std::unique_ptr<ProblemHandle> generate(const std::string& size, Format f, std::uint64_t seed) const override {
    return std::make_unique<CauchyHandle>(default_cauchy(size, f, seed, kCauchyBwd), true);
  }
  std::unique_ptr<ProblemHandle> problem_from_arrays(const NpyMap& a, const OptionMap& o) const override {
    return std::make_unique<CauchyHandle>(cauchy_from_arrays(a, o, true), true);
  }
  ExactArrays oracle(const ProblemHandle& h, unsigned bits) const override {
    const auto& c = cauchy_of(h);
    std::vector<mp_real> v =
        at_precision(bits, [&] { return reference::cauchy_backward<mp_real, mp_complex>(c.p(), c.dout()); });
    const std::size_t half = v.size() / 2;
    std::vector<mp_real> dv(v.begin(), v.begin() + half), dw(v.begin() + half, v.end());
    return {{"dv", exact_tensor(std::move(dv), {c.p().H, c.p().N, 2})},
            {"dw", exact_tensor(std::move(dw), {c.p().H, c.p().N, 2})}};
  }
  const std::vector<BackendSpec>& backends() const override { return backends_; }
  // [S4-CAUCHY-VJP-ANY-ORDER] [S4-CAUCHY-VJP-BOUND] at the storage format: the sums over l in any
  // order, each term formed as the spec writes it (any_order_assumption).
  Arrays any_order_bound(const ProblemHandle& h, Format storage, double) const override {
    const auto& c = cauchy_of(h);
    const std::vector<double> v = cauchy_backward_bound(c.p(), c.dout(), storage);
    const std::size_t half = v.size() / 2;
    std::vector<double> dv(v.begin(), v.begin() + half), dw(v.begin() + half, v.end());
    return {{"dv", tensor_of(dv, {c.p().H, c.p().N, 2})}, {"dw", tensor_of(dw, {c.p().H, c.p().N, 2})}};
  }
  std::string any_order_assumption() const override {
    return "each term formed as [S4-CAUCHY-VJP] writes it: d = z - w, dout / conj(d) and "
           "dout * conj(v / (d d)) (one complex product d d, textbook complex divisions); the sums "
           "over l in any order";
  }

 private:
  std::vector<BackendSpec> backends_;
};

// ---- s4.kernel_dplr ----

constexpr const char* kDplr = "s4.kernel_dplr";

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
// U[log 1e-3, log 1e-1] per channel (annotated-s4's log_step_initializer).
DplrProblem default_dplr(const std::string& size, Format f, std::uint64_t seed) {
  const DplrSize* s = nullptr;
  for (const auto& c : kDplrSizes)
    if (size == c.name) s = &c;
  if (!s) throw InvalidInput("size", "unknown size '" + size + "' (tiny, small, medium)");
  const HippoDplrDouble hip = hippo_dplr_double(s->N);
  DplrProblem p;
  p.conj = s->conj;
  p.H = s->H;
  p.batched = true;
  p.L = s->L;
  p.N = s->conj == Conj::halves ? s->N / 2 : s->N;
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
  p.validate();
  return p;
}

class DplrHandle final : public ProblemHandle {
 public:
  explicit DplrHandle(DplrProblem p, std::vector<double> dK = {}) : p_(std::move(p)), dK_(std::move(dK)) {
    p_.validate();
    if (!dK_.empty() && static_cast<Index>(dK_.size()) != p_.H * p_.L)
      throw InvalidInput("dK", "must have the shape of K");
    require_no_inf(dK_, "dK");
  }
  const DplrProblem& p() const { return p_; }
  const std::vector<double>& dK() const { return dK_; }
  std::vector<Index> out_shape() const { return p_.batched ? std::vector<Index>{p_.H, p_.L} : std::vector<Index>{p_.L}; }
  std::string describe() const override {
    return "H=" + std::to_string(p_.H) + " N'=" + std::to_string(p_.N) + " L=" + std::to_string(p_.L) +
           " conj=" + conj_name(p_.conj);
  }
  Format input_format() const override {
    std::vector<std::vector<double>> parts;
    for (const CParam* c : {&p_.Lambda, &p_.P, &p_.Q, &p_.B, &p_.C}) parts.push_back(all_parts(c->values));
    std::vector<std::span<const double>> arrays(parts.begin(), parts.end());
    arrays.push_back(p_.step);
    if (!dK_.empty()) arrays.push_back(dK_);
    return narrowest_format(arrays);
  }
  Arrays inputs() const override {
    auto shape = [&](const CParam& c) { return c.H ? std::vector<Index>{c.H, c.N} : std::vector<Index>{c.N}; };
    Arrays a{{"Lambda", complex_tensor(p_.Lambda.values, shape(p_.Lambda))},
             {"P", complex_tensor(p_.P.values, shape(p_.P))},
             {"B", complex_tensor(p_.B.values, shape(p_.B))},
             {"C", complex_tensor(p_.C.values, shape(p_.C))}};
    if (!p_.q_tied) a["Q"] = complex_tensor(p_.Q.values, shape(p_.Q));
    if (!dK_.empty()) a["dK"] = tensor_of(dK_, out_shape());
    a["L"] = Tensor<double>(Shape{}, static_cast<double>(p_.L));
    a["conj"] = conj_array(p_.conj);
    a["step"] = p_.step.size() == 1 && !p_.batched ? Tensor<double>(Shape{}, p_.step[0])
                                                   : tensor_of(p_.step, {static_cast<Index>(p_.step.size())});
    return a;
  }

 private:
  DplrProblem p_;
  std::vector<double> dK_;
};

const DplrHandle& dplr_of(const ProblemHandle& h) { return dynamic_cast<const DplrHandle&>(h); }

class DplrEntry final : public Algorithm {
 public:
  DplrEntry() {
    auto run = [](auto tag) {
      using T = decltype(tag);
      return [](const ProblemHandle& h) {
        const auto& d = dplr_of(h);
        if (std::is_same_v<T, float>) h.require_inputs_in(Format::float32);
        return Arrays{{"K", tensor_of(cpu::kernel_dplr<T>(d.p()), d.out_shape())}};
      };
    };
    auto bound = [](Format f) {
      return [f](const ProblemHandle& h) {
        const auto& d = dplr_of(h);
        return Arrays{{"K", tensor_of(kernel_dplr_bound(d.p(), f), d.out_shape())}};
      };
    };
    const std::string order =
        "per channel: t_k = tan(pi k/L) (double, reduced to [0, pi/4]), g = (2/step) t_k; four Cauchy sums "
        "sequential over n (textbook division); (1 + i t_k)(k00 - k01 k10 / (1 + k11)); node -1: (step sum "
        "conj(C) B)/2; FFTW inverse DFT (ESTIMATE plan); Re / L";
    backends_ = {
        {"cpu-f32", Format::float32, order, [] { return std::string(); }, run(float{}), bound(Format::float32)},
        {"cpu-f64", Format::float64, order, [] { return std::string(); }, run(double{}), bound(Format::float64)},
    };
  }
  std::string name() const override { return kDplr; }
  std::string summary() const override {
    return "S4 DPLR kernel (annotated-s4 kernel_DPLR): generating function at the L-th roots of unity via "
           "Cauchy sums + Woodbury, inverse FFT; the node -1 by its limit";
  }
  std::string spec_ref() const override { return "spec/s4.md [S4-DPLR-DEF]"; }
  std::vector<ArraySpec> inputs() const override {
    return {{"Lambda", "complex (N,) | (H, N)", "diagonal part (Re < 0)", false},
            {"P", "complex (N,) | (H, N)", "low-rank factor P", false},
            {"Q", "complex (N,) | (H, N)", "low-rank factor Q (absent: Q = P)", true},
            {"B", "complex (N,) | (H, N)", "input vector", false},
            {"C", "complex (N,) | (H, N)", "C~ = C̄(I - Ā^L), conjugated inside as annotated-s4 does", false},
            {"step", "() | (H,)", "step Δ > 0", false},
            {"L", "()", "kernel length (also the option L)", true},
            {"conj", "()", "0: halves, 1: full (also the option conj)", true}};
  }
  std::vector<ArraySpec> outputs() const override {
    return {{"K", "(L,) | (H, L)", "the kernel, real", false}};
  }
  std::vector<OptionSpec> options() const override {
    return {{"L", "kernel length (required with a file; the backward takes it from dK)", ""},
            {"conj", "halves (N stored modes stand for 2N) or full", "halves"}};
  }
  std::vector<std::string> sizes() const override { return {"tiny", "small", "medium"}; }
  std::unique_ptr<ProblemHandle> generate(const std::string& size, Format f, std::uint64_t seed) const override {
    return std::make_unique<DplrHandle>(default_dplr(size, f, seed));
  }
  std::unique_ptr<ProblemHandle> problem_from_arrays(const NpyMap& arrays, const OptionMap& options) const override {
    check_known(arrays, options, inputs(), {"L", "conj"}, kDplr);
    return std::make_unique<DplrHandle>(dplr_from_arrays(arrays, options));
  }
  // L from the option, else from `L_from_array` (the backward's dK) when given.
  static DplrProblem dplr_from_arrays(const NpyMap& arrays, const OptionMap& options, Index L_from_array = 0) {
    DplrProblem p;
    auto param = [&](const std::string& name, bool req) -> std::optional<CParam> {
      auto it = arrays.find(name);
      if (it == arrays.end()) {
        if (req) throw InvalidInput(name, std::string("missing (required input of ") + kDplr + ")");
        return std::nullopt;
      }
      std::vector<Index> shape;
      CParam c;
      c.values = complex_values(it->second, name, shape);
      if (shape.size() == 1) c.N = shape[0];
      else if (shape.size() == 2) c.H = shape[0], c.N = shape[1];
      else throw InvalidInput(name, "expected complex (N,) or (H, N)");
      return c;
    };
    p.Lambda = *param("Lambda", true);
    p.P = *param("P", true);
    p.B = *param("B", true);
    p.C = *param("C", true);
    auto Q = param("Q", false);
    p.Q = Q ? *Q : p.P;
    p.q_tied = !Q;
    p.N = p.Lambda.N;
    p.H = 1;
    const std::pair<const char*, const CParam*> per_channel[] = {
        {"Lambda", &p.Lambda}, {"P", &p.P}, {"Q", &p.Q}, {"B", &p.B}, {"C", &p.C}};
    const char* h_from = nullptr;
    for (const auto& [name, c] : per_channel)
      if (c->H) {
        if (p.batched && c->H != p.H)
          throw InvalidInput(name, "has H = " + std::to_string(c->H) + " but " + h_from + " has H = " +
                                       std::to_string(p.H));
        p.H = c->H;
        p.batched = true;
        if (!h_from) h_from = name;
      }
    const NpyArray& st = required(arrays, "step", kDplr);
    if (st.kind != NpyKind::floating || st.complex) throw InvalidInput("step", "expected a real array");
    p.step = st.values.values();
    // [S4-DPLR-SHAPES] A (H,) step has an H axis, even H = 1: K is then (H, L).
    if (st.values.rank() == 1) {
      if (p.batched && st.values.count() != p.H)
        throw InvalidInput("step", "expected () or (H,) with H = " + std::to_string(p.H) + ", got (" +
                                       std::to_string(st.values.count()) + ",)");
      p.H = st.values.count();
      p.batched = true;
    } else if (st.values.rank() != 0 || st.values.count() != 1) {
      throw InvalidInput("step", "expected () or (H,)");
    }
    std::optional<Index> L = scalar_array(arrays, "L");
    if (auto it = options.find("L"); it != options.end()) {
      const Index o = parse_index("L", it->second);
      if (L && *L != o) throw InvalidInput("L", "the option and the file's L disagree");
      L = o;
    }
    if (L_from_array != 0) {
      if (L && *L != L_from_array)
        throw InvalidInput("L", "disagrees with dK's last extent " + std::to_string(L_from_array));
      L = L_from_array;
    }
    if (!L) throw InvalidInput("L", "the kernel length: a 0-d array L in the file or --option L=...");
    p.L = *L;
    p.conj = conj_of(arrays, options);
    return p;
  }
  ExactArrays oracle(const ProblemHandle& h, unsigned bits) const override {
    const auto& d = dplr_of(h);
    return {{"K", exact_tensor(at_precision(bits, [&] { return reference::kernel_dplr<mp_real, mp_complex>(d.p()); }),
                               d.out_shape())}};
  }
  const std::vector<BackendSpec>& backends() const override { return backends_; }
  // [S4-DPLR-ANY-ORDER] The same analysis at the storage format: an implementation that follows
  // the fast path's operations (any order of each Cauchy sum, an FFT within [S4CONV-FFT-BOUND]).
  Arrays any_order_bound(const ProblemHandle& h, Format storage, double) const override {
    const auto& d = dplr_of(h);
    return {{"K", tensor_of(kernel_dplr_bound(d.p(), storage), d.out_shape())}};
  }

 private:
  std::vector<BackendSpec> backends_;
};

// ---- s4.kernel_dplr_backward ----

constexpr const char* kDplrBwd = "s4.kernel_dplr_backward";

Arrays grads_arrays(const DplrProblem& p, const DplrGrads<double>& g) {
  auto shape = [&](const CParam& c) {
    return c.H ? std::vector<Index>{c.H, c.N, 2} : std::vector<Index>{c.N, 2};
  };
  Arrays a{{"dLambda", tensor_of(g.Lambda, shape(p.Lambda))},
           {"dP", tensor_of(g.P, shape(p.P))},
           {"dB", tensor_of(g.B, shape(p.B))},
           {"dC", tensor_of(g.C, shape(p.C))}};
  if (!p.q_tied) a["dQ"] = tensor_of(g.Q, shape(p.Q));
  a["dstep"] = p.step.size() == 1 && !p.batched ? tensor_of(g.step, {}) : tensor_of(g.step, {static_cast<Index>(g.step.size())});
  return a;
}
template <class T>
DplrGrads<double> to_double_grads(const DplrGrads<T>& g) {
  auto c = [](const std::vector<T>& v) { return std::vector<double>(v.begin(), v.end()); };
  return {c(g.Lambda), c(g.P), c(g.Q), c(g.B), c(g.C), c(g.step)};
}

class DplrBackwardEntry final : public Algorithm {
 public:
  DplrBackwardEntry() {
    auto run = [](auto tag) {
      using T = decltype(tag);
      return [](const ProblemHandle& h) {
        const auto& d = dplr_of(h);
        if (std::is_same_v<T, float>) h.require_inputs_in(Format::float32);
        return grads_arrays(d.p(), to_double_grads(cpu::kernel_dplr_backward<T>(d.p(), d.dK())));
      };
    };
    auto bound = [](Format f) {
      return [f](const ProblemHandle& h) {
        const auto& d = dplr_of(h);
        return grads_arrays(d.p(), kernel_dplr_backward_bound(d.p(), d.dK(), f));
      };
    };
    const std::string order =
        "G = FFTW forward DFT of dK, /L per part; per node: R = 1/(i g - lambda) (textbook), k_ab sums "
        "sequential over n, Woodbury derivative factors, dstep's node factor Y = sum_a dk_a dk_a/dg formed before G, gradient sums over nodes sequential in k; shared "
        "parameters summed over channels in order (s4_dplr_backward_core.hpp)";
    backends_ = {
        {"cpu-f32", Format::float32, order, [] { return std::string(); }, run(float{}), bound(Format::float32)},
        {"cpu-f64", Format::float64, order, [] { return std::string(); }, run(double{}), bound(Format::float64)},
    };
  }
  std::string name() const override { return kDplrBwd; }
  std::string summary() const override {
    return "VJP of s4.kernel_dplr with respect to Lambda, P (and Q), B, C and step (PyTorch's complex "
           "gradient convention)";
  }
  std::string spec_ref() const override { return "spec/s4.md [S4-DPLR-VJP]"; }
  std::vector<ArraySpec> inputs() const override {
    auto v = DplrEntry().inputs();
    v.push_back({"dK", "(L,) | (H, L)", "cotangent of K", false});
    return v;
  }
  std::vector<ArraySpec> outputs() const override {
    return {{"dLambda", "Lambda's shape, complex as (..., 2)", "gradient of Lambda", false},
            {"dP", "P's shape", "gradient of P (with Q's part when Q is tied to P)", false},
            {"dQ", "Q's shape", "gradient of Q (only when Q is given)", true},
            {"dB", "B's shape", "gradient of B", false},
            {"dC", "C's shape", "gradient of C", false},
            {"dstep", "step's shape", "gradient of step", false}};
  }
  std::vector<OptionSpec> options() const override { return DplrEntry().options(); }
  std::vector<std::string> sizes() const override { return {"tiny", "small", "medium"}; }
  std::unique_ptr<ProblemHandle> generate(const std::string& size, Format f, std::uint64_t seed) const override {
    DplrProblem p = default_dplr(size, f, seed);
    PhiloxStream r(seed, std::string(kDplrBwd) + "/dK");
    std::vector<double> dK;
    for (Index i = 0; i < p.H * p.L; ++i) dK.push_back(round_to_format(r.next_normal(), f));
    return std::make_unique<DplrHandle>(std::move(p), std::move(dK));
  }
  std::unique_ptr<ProblemHandle> problem_from_arrays(const NpyMap& arrays, const OptionMap& options) const override {
    check_known(arrays, options, inputs(), {"L", "conj"}, kDplrBwd);
    NpyMap fwd;
    for (const auto& [k, v] : arrays)
      if (k != "dK") fwd.emplace(k, v);
    const NpyArray& g = required(arrays, "dK", kDplrBwd);
    if (g.kind != NpyKind::floating || g.complex) throw InvalidInput("dK", "expected a real array");
    if (g.values.rank() < 1 || g.values.rank() > 2) throw InvalidInput("dK", "expected (L,) or (H, L)");
    const Index L = g.values.extent(g.values.rank() - 1);
    if (L < 1) throw InvalidInput("dK", "L must be at least 1");
    DplrProblem p = DplrEntry::dplr_from_arrays(fwd, options, L);
    return std::make_unique<DplrHandle>(std::move(p), g.values.values());
  }
  ExactArrays oracle(const ProblemHandle& h, unsigned bits) const override {
    const auto& d = dplr_of(h);
    // Verified on the concatenation of every gradient, then split.
    DplrGrads<mp_real> g;
    {
      DplrGrads<mp_real> layout;
      const std::vector<mp_real> all = at_precision(bits, [&] {
        layout = reference::kernel_dplr_vjp<mp_real, mp_complex>(d.p(), d.dK());
        std::vector<mp_real> v;
        for (const auto* part : {&layout.Lambda, &layout.P, &layout.Q, &layout.B, &layout.C, &layout.step})
          v.insert(v.end(), part->begin(), part->end());
        return v;
      });
      std::size_t at = 0;
      for (auto [dst, src] : {std::pair{&g.Lambda, &layout.Lambda}, {&g.P, &layout.P}, {&g.Q, &layout.Q},
                              {&g.B, &layout.B}, {&g.C, &layout.C}, {&g.step, &layout.step}}) {
        dst->assign(all.begin() + static_cast<std::ptrdiff_t>(at), all.begin() + static_cast<std::ptrdiff_t>(at + src->size()));
        at += src->size();
      }
    }
    const Arrays shapes = grads_arrays(d.p(), to_double_grads(DplrGrads<double>{
        std::vector<double>(g.Lambda.size()), std::vector<double>(g.P.size()), std::vector<double>(g.Q.size()),
        std::vector<double>(g.B.size()), std::vector<double>(g.C.size()), std::vector<double>(g.step.size())}));
    auto ex = [&](const char* name, const std::vector<mp_real>& v) {
      return exact_tensor(v, shapes.at(name).shape().extents());
    };
    ExactArrays a{{"dLambda", ex("dLambda", g.Lambda)}, {"dP", ex("dP", g.P)}, {"dB", ex("dB", g.B)},
                  {"dC", ex("dC", g.C)}, {"dstep", ex("dstep", g.step)}};
    if (!d.p().q_tied) a["dQ"] = ex("dQ", g.Q);
    return a;
  }
  const std::vector<BackendSpec>& backends() const override { return backends_; }
  // [S4-DPLR-VJP-BOUND] at the storage format (the backend's sequence, [S4-DPLR-VJP-CPU]).
  Arrays any_order_bound(const ProblemHandle& h, Format storage, double) const override {
    const auto& d = dplr_of(h);
    return grads_arrays(d.p(), kernel_dplr_backward_bound(d.p(), d.dK(), storage));
  }
  std::string any_order_assumption() const override {
    return "the cpu backends' sequence [S4-DPLR-VJP-CPU]: " + backends_.front().order;
  }

 private:
  std::vector<BackendSpec> backends_;
};

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
DiscreteSsmProblem default_ssm(const std::string& size, Format f, std::uint64_t seed) {
  const SsmSize* s = nullptr;
  for (const auto& c : kSsmSizes)
    if (size == c.name) s = &c;
  if (!s) throw InvalidInput("size", "unknown size '" + size + "' (tiny, small, medium)");
  const HippoLegs<double> h = hippo_legs<double>(s->N);
  const auto d = reference::discretize_bilinear<double, double>(h.A, h.B, s->step);
  DiscreteSsmProblem p;
  p.N = s->N;
  p.L = s->L;
  for (Index i = 0; i < p.N; ++i)
    for (Index j = 0; j < p.N; ++j) p.Ab.push_back(round_to_format(d.Ab(i, j), f));
  for (Index i = 0; i < p.N; ++i) p.Bb.push_back(round_to_format(d.Bb(i), f));
  PhiloxStream rc(seed, std::string(kSsm) + "/Cb");
  for (Index i = 0; i < p.N; ++i) p.Cb.push_back(round_to_format(rc.next_normal(), f));
  p.validate();
  return p;
}

class SsmHandle final : public ProblemHandle {
 public:
  explicit SsmHandle(DiscreteSsmProblem p) : p_(std::move(p)) { p_.validate(); }
  const DiscreteSsmProblem& p() const { return p_; }
  std::string describe() const override { return "N=" + std::to_string(p_.N) + " L=" + std::to_string(p_.L); }
  Format input_format() const override { return narrowest_format({p_.Ab, p_.Bb, p_.Cb}); }
  Arrays inputs() const override {
    return {{"Ab", tensor_of(p_.Ab, {p_.N, p_.N})},
            {"Bb", tensor_of(p_.Bb, {p_.N})},
            {"Cb", tensor_of(p_.Cb, {p_.N})},
            {"L", Tensor<double>(Shape{}, static_cast<double>(p_.L))}};
  }

 private:
  DiscreteSsmProblem p_;
};
const SsmHandle& ssm_of(const ProblemHandle& h) { return dynamic_cast<const SsmHandle&>(h); }

class SsmEntry final : public Algorithm {
 public:
  SsmEntry() {
    auto run = [](auto tag) {
      using T = decltype(tag);
      return [](const ProblemHandle& h) {
        const auto& d = ssm_of(h);
        if (std::is_same_v<T, float>) h.require_inputs_in(Format::float32);
        return Arrays{{"K", tensor_of(cpu::ssm_kernel<T>(d.p()), {d.p().L})}};
      };
    };
    auto bound = [](Format f) {
      return [f](const ProblemHandle& h) {
        const auto& d = ssm_of(h);
        return Arrays{{"K", tensor_of(ssm_kernel_bound(d.p(), f), {d.p().L})}};
      };
    };
    const std::string order = "x_0 = Bb; x_{l+1} = Ab x_l, each row a sequential dot product; K_l = Cb . x_l sequential";
    backends_ = {
        {"cpu-f32", Format::float32, order, [] { return std::string(); }, run(float{}), bound(Format::float32)},
        {"cpu-f64", Format::float64, order, [] { return std::string(); }, run(double{}), bound(Format::float64)},
    };
  }
  std::string name() const override { return kSsm; }
  std::string summary() const override {
    return "SSM convolution kernel by its definition K_l = Cb Ab^l Bb (annotated-s4 K_conv), discrete system given";
  }
  std::string spec_ref() const override { return "spec/s4.md [S4-SSM-KERNEL-DEF]"; }
  std::vector<ArraySpec> inputs() const override {
    return {{"Ab", "(N, N)", "discrete state matrix Ā", false},
            {"Bb", "(N,)", "discrete input vector B̄", false},
            {"Cb", "(N,)", "output vector C̄", false},
            {"L", "()", "kernel length (also the option L)", true}};
  }
  std::vector<ArraySpec> outputs() const override { return {{"K", "(L,)", "the kernel", false}}; }
  std::vector<OptionSpec> options() const override { return {{"L", "kernel length (required with a file)", ""}}; }
  std::vector<std::string> sizes() const override { return {"tiny", "small", "medium"}; }
  std::unique_ptr<ProblemHandle> generate(const std::string& size, Format f, std::uint64_t seed) const override {
    return std::make_unique<SsmHandle>(default_ssm(size, f, seed));
  }
  std::unique_ptr<ProblemHandle> problem_from_arrays(const NpyMap& arrays, const OptionMap& options) const override {
    check_known(arrays, options, inputs(), {"L"}, kSsm);
    auto real = [&](const std::string& name, Index rank) {
      const NpyArray& a = required(arrays, name, kSsm);
      if (a.kind != NpyKind::floating || a.complex) throw InvalidInput(name, "expected a real float array");
      if (a.values.rank() != rank) throw InvalidInput(name, "expected rank " + std::to_string(rank));
      return a.values;
    };
    const Tensor<double> A = real("Ab", 2), B = real("Bb", 1), C = real("Cb", 1);
    DiscreteSsmProblem p;
    p.N = A.extent(0);
    if (A.extent(1) != p.N) throw InvalidInput("Ab", "must be square");
    p.Ab = A.values();
    p.Bb = B.values();
    p.Cb = C.values();
    std::optional<Index> L = scalar_array(arrays, "L");
    if (auto it = options.find("L"); it != options.end()) {
      const Index o = parse_index("L", it->second);
      if (L && *L != o) throw InvalidInput("L", "the option and the file's L disagree");
      L = o;
    }
    if (!L) throw InvalidInput("L", "the kernel length: a 0-d array L in the file or --option L=...");
    p.L = *L;
    return std::make_unique<SsmHandle>(std::move(p));
  }
  ExactArrays oracle(const ProblemHandle& h, unsigned bits) const override {
    const auto& d = ssm_of(h);
    return {{"K", exact_tensor(at_precision(bits, [&] { return reference::ssm_kernel_discrete<mp_real>(d.p()); }),
                               {d.p().L})}};
  }
  const std::vector<BackendSpec>& backends() const override { return backends_; }
  // [S4-SSM-KERNEL-BOUND] holds for any order of each dot product (γ_N is order-free).
  Arrays any_order_bound(const ProblemHandle& h, Format storage, double) const override {
    const auto& d = ssm_of(h);
    return {{"K", tensor_of(ssm_kernel_bound(d.p(), storage), {d.p().L})}};
  }

 private:
  std::vector<BackendSpec> backends_;
};

}  // namespace
}  // namespace touchstone::s4

namespace touchstone {
void register_s4(Registry& registry) {
  registry.add(std::make_unique<s4::CauchyEntry>());
  registry.add(std::make_unique<s4::CauchyBackwardEntry>());
  registry.add(std::make_unique<s4::DplrEntry>());
  registry.add(std::make_unique<s4::DplrBackwardEntry>());
  registry.add(std::make_unique<s4::SsmEntry>());
}
}  // namespace touchstone
