// The dss entries of the registry: dss.kernel_exp (S4D's entry with DSS's names, registry/s4d.cpp)
// and dss.kernel_softmax (spec/dss.md [DSS-SOFTMAX-DEF]).
#include <optional>

#include "builtin.hpp"
#include "cpu/dss.hpp"
#include "touchstone/core/random.hpp"
#include "touchstone/reference/dss.hpp"
#include "touchstone/reference/dss_bound.hpp"
#include "touchstone/reference/s4_hippo.hpp"

namespace touchstone::s4 {

std::unique_ptr<Algorithm> make_s4d_entry(bool dss_exp);           // registry/s4d.cpp
std::unique_ptr<Algorithm> make_s4d_backward_entry(bool dss_exp);  // registry/s4d.cpp

namespace {

constexpr const char* kName = "dss.kernel_softmax";

struct SizeSpec {
  const char* name;
  Index H, N, L;
  bool legs;  // Lambda from HiPPO (DSS's init); else random with Re Lambda on [-1, 1)
};

// [DSS-SOFTMAX-DEFAULTS] Lambda from DSS's init (the N eigenvalues with Im > 0 of the 2N
// HiPPO-LegS normal part, Re = -1/2) or random with both signs of Re Lambda (the flip), W with
// Philox uniforms per part, log dt on [log 1e-3, log 1e-1].
constexpr SizeSpec kSizes[] = {
    {"tiny", 1, 2, 8, false},
    {"small", 3, 8, 100, true},
    {"medium", 4, 16, 1024, true},
    {"flip", 2, 6, 300, false},
};

DssSoftmaxProblem<double> default_problem(const SizeSpec& s, Format format, std::uint64_t seed) {
  auto rng = [&](const char* a) { return PhiloxStream(seed, std::string(kName) + "/" + a); };
  DssSoftmaxInputs<double> in;
  in.L = s.L;
  in.Lambda = Tensor<double>(Shape{s.H, s.N, 2});
  if (s.legs) {
    const HippoDplrDouble d = hippo_dplr_double(2 * s.N);
    for (Index h = 0; h < s.H; ++h)
      for (Index n = 0; n < s.N; ++n) {
        in.Lambda(h, n, Index{0}) = round_to_format(d.Lambda[n].real(), format);
        in.Lambda(h, n, Index{1}) = round_to_format(d.Lambda[n].imag(), format);
      }
  } else {
    PhiloxStream r = rng("Lambda");
    for (Index i = 0; i < in.Lambda.count(); i += 2) {
      in.Lambda[i] = round_to_format(r.next_uniform(-1, 1), format);
      in.Lambda[i + 1] = round_to_format(r.next_uniform(-10, 10), format);
    }
  }
  PhiloxStream rw = rng("W");
  in.W = Tensor<double>(Shape{s.H, s.N, 2});
  for (Index i = 0; i < in.W.count(); ++i) in.W[i] = round_to_format(rw.next_uniform(-1, 1), format);
  PhiloxStream rd = rng("log_dt");
  in.log_dt = Tensor<double>(Shape{s.H});
  for (Index h = 0; h < s.H; ++h) in.log_dt[h] = round_to_format(rd.next_uniform(std::log(1e-3), std::log(1e-1)), format);
  return DssSoftmaxProblem<double>(std::move(in));
}

class Handle final : public ProblemHandle {
 public:
  explicit Handle(DssSoftmaxProblem<double> p) : p_(std::move(p)) {}
  const DssSoftmaxProblem<double>& problem() const { return p_; }
  const DssSoftmaxProblem<float>& as_float32() const { return f32_.get(*this, p_); }
  std::string describe() const override {
    return "H=" + std::to_string(p_.H()) + " N=" + std::to_string(p_.N()) + " L=" + std::to_string(p_.L());
  }
  Format input_format() const override {
    const auto& in = p_.in();
    return narrowest_format({in.Lambda.values(), in.W.values(), in.log_dt.values()});
  }
  Arrays inputs() const override {
    const auto& in = p_.in();
    return {{"Lambda", in.Lambda}, {"W", in.W}, {"log_dt", in.log_dt},
            {"L", Tensor<double>(Shape{}, static_cast<double>(in.L))}};
  }

 private:
  DssSoftmaxProblem<double> p_;
  Float32Copy<DssSoftmaxProblem<float>> f32_;
};

const Handle& handle_of(const ProblemHandle& h) { return dynamic_cast<const Handle&>(h); }

Tensor<double> complex_array(const NpyArray& a, const std::string& name, int rank) {
  if (a.kind != NpyKind::floating)
    throw InvalidInput(name, "expected a complex or float array, got " + a.dtype_name());
  if (a.values.rank() == rank + 1 && a.values.extent(rank) == 2) return a.values;
  throw InvalidInput(name, "expected a complex array of rank " + std::to_string(rank) +
                               " (or a real one with a trailing (re, im) axis), got " + a.dtype_name() +
                               " of shape " + a.values.shape().str());
}

class SoftmaxEntry final : public Algorithm {
 public:
  SoftmaxEntry() {
    const std::string order =
        "per mode: zeta = exp(+-dt lambda), powers t_i, P_j (T = 64), S by block sums, R = conj(S)/(|S|^2 + "
        "eps), v = (W/lambda) R; per element 2 fmas per mode, modes in order";
    auto bound_with = [](S4DArithmetic m) {
      return [m](const ProblemHandle& h) { return Arrays{{"K", dss_softmax_kernel_bound(handle_of(h).problem(), m)}}; };
    };
    backends_ = {
        {"cpu-f32", Format::float32, order, [] { return std::string(); },
         [](const ProblemHandle& h) {
           return Arrays{{"K", cpu::dss_softmax_kernel(handle_of(h).as_float32()).cast<double>()}};
         },
         bound_with(s4d_arithmetic_cpu_f32())},
        {"cpu-f64", Format::float64, order, [] { return std::string(); },
         [](const ProblemHandle& h) { return Arrays{{"K", cpu::dss_softmax_kernel(handle_of(h).problem())}}; },
         bound_with(s4d_arithmetic_cpu_f64())},
    };
  }
  std::string name() const override { return kName; }
  std::string summary() const override {
    return "DSS-softmax kernel: K = Re((W / Lambda) row-softmax(dt Lambda l)), the complex softmax with "
           "annotated-s4's eps-guarded reciprocal and max-Re subtraction";
  }
  std::string spec_ref() const override { return "spec/dss.md [DSS-SOFTMAX-DEF]"; }
  std::vector<ArraySpec> inputs() const override {
    return {{"Lambda", "complex (H, N) | (N,)", "diagonal state matrix (shared by channels when (N,))", false},
            {"W", "complex (H, N)", "output weights", false},
            {"log_dt", "(H,)", "log of the step: dt = exp(log_dt)", false},
            {"L", "()", "kernel length (also --option L)", true}};
  }
  std::vector<ArraySpec> outputs() const override { return {{"K", "(H, L)", "the kernel", false}}; }
  std::vector<OptionSpec> options() const override { return {{"L", "kernel length", "(required)"}}; }
  std::vector<std::string> sizes() const override {
    std::vector<std::string> v;
    for (const auto& s : kSizes) v.push_back(s.name);
    return v;
  }
  std::unique_ptr<ProblemHandle> generate(const std::string& size, Format format, std::uint64_t seed) const override {
    for (const auto& s : kSizes)
      if (size == s.name) return std::make_unique<Handle>(default_problem(s, format, seed));
    throw InvalidInput("size", "unknown size '" + size + "' for " + std::string(kName));
  }
  std::unique_ptr<ProblemHandle> problem_from_arrays(const NpyMap& arrays, const OptionMap& options) const override {
    for (const auto& [k, v] : options)
      if (k != "L") throw InvalidInput(k, "unknown option for " + std::string(kName) + " (known: L)");
    for (const auto& [k, v] : arrays)
      if (k != "Lambda" && k != "W" && k != "log_dt" && k != "L")
        throw InvalidInput(k, "not an input of " + std::string(kName) + " (inputs: Lambda, W, log_dt, L)");
    auto required = [&](const char* n) -> const NpyArray& {
      auto it = arrays.find(n);
      if (it == arrays.end()) throw InvalidInput(n, "missing (required input of " + std::string(kName) + ")");
      return it->second;
    };
    DssSoftmaxInputs<double> in;
    in.W = complex_array(required("W"), "W", 2);
    const NpyArray& La = required("Lambda");
    if (La.values.rank() == 2 && La.values.extent(1) == 2) {  // (N,): every channel
      const Index H = in.W.extent(0), N = La.values.extent(0);
      in.Lambda = Tensor<double>(Shape{H, N, 2});
      for (Index h = 0; h < H; ++h)
        for (Index i = 0; i < 2 * N; ++i) in.Lambda[h * 2 * N + i] = La.values[i];
    } else {
      in.Lambda = complex_array(La, "Lambda", 2);
    }
    const NpyArray& ld = required("log_dt");
    if (ld.complex || ld.kind != NpyKind::floating)
      throw InvalidInput("log_dt", "expected a real float array, got " + ld.dtype_name());
    in.log_dt = ld.values;
    std::optional<double> L;
    if (auto it = arrays.find("L"); it != arrays.end()) {
      if (it->second.complex || it->second.values.count() != 1) throw InvalidInput("L", "expected one value (a 0-d array)");
      L = it->second.values[0];
    }
    if (auto it = options.find("L"); it != options.end()) {
      double o = 0;
      try {
        std::size_t pos = 0;
        o = static_cast<double>(std::stoll(it->second, &pos));
        if (pos != it->second.size()) throw std::invalid_argument("trailing");
      } catch (const std::logic_error&) {
        throw InvalidInput("L", "expected an integer, got '" + it->second + "'");
      }
      if (L && *L != o) throw InvalidInput("L", "the .npz array and --option disagree");
      L = o;
    }
    if (!L) throw InvalidInput("L", "missing: give --option L=... or a 0-d array L");
    if (!(*L >= 1 && *L <= static_cast<double>(kS4DMaxL) && *L == std::floor(*L)))
      throw InvalidInput("L", "expected an integer 1 <= L <= 2^24");
    in.L = static_cast<Index>(*L);
    return std::make_unique<Handle>(DssSoftmaxProblem<double>(std::move(in)));
  }
  ExactArrays oracle(const ProblemHandle& h, unsigned bits) const override {
    const WorkingPrecision precision(bits);
    return {{"K", dss_softmax_kernel<mp_real, mp_complex>(handle_of(h).problem())}};
  }
  const std::vector<BackendSpec>& backends() const override { return backends_; }
  Arrays any_order_bound(const ProblemHandle& h, Format storage, double elementary_ulps) const override {
    return {{"K", dss_softmax_kernel_bound(handle_of(h).problem(), s4d_arithmetic_any_order(storage, elementary_ulps))}};
  }

 private:
  std::vector<BackendSpec> backends_;
};

}  // namespace
}  // namespace touchstone::s4

namespace touchstone {
void register_dss(Registry& registry) {
  registry.add(s4::make_s4d_entry(true));
  registry.add(s4::make_s4d_backward_entry(true));
  registry.add(std::make_unique<s4::SoftmaxEntry>());
}
}  // namespace touchstone
