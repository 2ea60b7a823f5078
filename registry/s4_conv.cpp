// The s4_conv entries of the registry: s4.causal_conv (y = K * u + D u) and s4.ssm_scan (the
// diagonal recurrent mode), spec/s4_conv.md.
#include <cmath>
#include <optional>

#include "builtin.hpp"
#include "s4_options.hpp"
#include "cpu/s4_conv.hpp"
#include "cuda/s4_conv.hpp"
#include "cuda/device.hpp"
#include "touchstone/core/random.hpp"
#include "touchstone/reference/s4_conv.hpp"
#include "touchstone/reference/s4_conv_bound.hpp"

namespace touchstone::s4 {
namespace {

// ---- shared helpers ----

const NpyArray* find_array(const NpyMap& arrays, const std::string& name) {
  auto it = arrays.find(name);
  if (it == arrays.end()) return nullptr;
  if (it->second.kind != NpyKind::floating)
    throw InvalidInput(name, "expected a float array, got " + it->second.dtype_name());
  return &it->second;
}

Tensor<double> required_real(const NpyMap& arrays, const std::string& name, const char* algo) {
  const NpyArray* a = find_array(arrays, name);
  if (!a) throw InvalidInput(name, std::string("missing (required input of ") + algo + ")");
  if (a->complex) throw InvalidInput(name, "expected a real array, got " + a->dtype_name());
  return a->values;
}

std::optional<Tensor<double>> optional_real(const NpyMap& arrays, const std::string& name) {
  const NpyArray* a = find_array(arrays, name);
  if (!a) return std::nullopt;
  if (a->complex) throw InvalidInput(name, "expected a real array, got " + a->dtype_name());
  return a->values;
}

// A complex (H, N) array: complex64/128 (read with its (re, im) axis), or real (H, N, 2).
Tensor<double> required_complex(const NpyMap& arrays, const std::string& name, const char* algo) {
  const NpyArray* a = find_array(arrays, name);
  if (!a) throw InvalidInput(name, std::string("missing (required input of ") + algo + ")");
  if (a->complex || (a->values.rank() == 3 && a->values.extent(2) == 2)) return a->values;
  throw InvalidInput(name, "expected complex (H, N) (or real (H, N, 2) holding (re, im)), got " +
                               a->dtype_name() + " of shape " + a->values.shape().str());
}

Tensor<double> fill(const std::string& key, std::vector<Index> shape, double lo, double hi,
                    Format format, std::uint64_t seed) {
  PhiloxStream rng(seed, key);
  Tensor<double> t{Shape(std::move(shape))};
  for (Index i = 0; i < t.count(); ++i) t[i] = round_to_format(rng.next_uniform(lo, hi), format);
  return t;
}

// ---- s4.causal_conv ----

constexpr const char* kConvName = "s4.causal_conv";

struct ConvSize {
  const char* name;
  Index batch, H, L, Lk;
  bool D;
};
// [S4CONV-CONV-DEFAULTS] L = 1; a ragged L with a shorter kernel; a kernel longer than L.
constexpr ConvSize kConvSizes[] = {
    {"tiny", 1, 2, 1, 1, true},
    {"small", 2, 3, 37, 20, true},
    {"medium", 1, 4, 512, 600, false},
};

class ConvHandle final : public ProblemHandle {
 public:
  explicit ConvHandle(ConvProblem<double> p) : p_(std::move(p)) {}
  const ConvProblem<double>& problem() const { return p_; }
  const ConvProblem<float>& as_float32() const { return f32_.get(*this, p_); }
  std::string describe() const override {
    return "batch=" + std::to_string(p_.batch()) + " H=" + std::to_string(p_.channels()) +
           " L=" + std::to_string(p_.length()) + " Lk=" + std::to_string(p_.kernel_length()) +
           (p_.in().D ? " D" : "") + " fft_n=" + std::to_string(p_.fft_length());
  }
  Format input_format() const override {
    std::vector<std::span<const double>> a = {p_.in().u.values(), p_.in().k.values()};
    if (p_.in().D) a.push_back(p_.in().D->values());
    return narrowest_format(a);
  }
  Arrays inputs() const override {
    Arrays a{{"u", p_.in().u}, {"k", p_.in().k}};
    if (p_.in().D) a["D"] = *p_.in().D;
    return a;
  }

 private:
  ConvProblem<double> p_;
  Float32Copy<ConvProblem<float>> f32_;
};

const ConvHandle& conv_handle(const ProblemHandle& h) { return dynamic_cast<const ConvHandle&>(h); }

class ConvEntry final : public Algorithm {
 public:
  ConvEntry() {
    const std::string order =
        "rows with finite inputs: FFTW complex DFTs of length n = 2^ceil(log2(L + taps - 1)) of u "
        "and k, products (ac-bd, ad+bc), inverse DFT, Re * (1/n), + fl(D u); other rows: the direct "
        "sum s = 0..t sequentially, then + fl(D u)";
    backends_ = {
        {"cpu-f32", Format::float32, order, [] { return std::string(); },
         [](const ProblemHandle& h) {
           return Arrays{{"y", cpu::causal_conv(conv_handle(h).as_float32()).cast<double>()}};
         },
         [](const ProblemHandle& h) {
           return Arrays{{"y", causal_conv_bound(conv_handle(h).problem(), Format::float32)}};
         }},
        {"cpu-f64", Format::float64, order, [] { return std::string(); },
         [](const ProblemHandle& h) { return Arrays{{"y", cpu::causal_conv(conv_handle(h).problem())}}; },
         [](const ProblemHandle& h) {
           return Arrays{{"y", causal_conv_bound(conv_handle(h).problem(), Format::float64)}};
         }},
        {"cuda-f32", Format::float32,
         "the cpu-f32 order with cuFFT C2C transforms in place of FFTW ([S4CONV-ASSUME-CUFFT])",
         [] { return touchstone::cuda::unavailable_reason(); },
         [](const ProblemHandle& h) {
           return Arrays{{"y", cuda::causal_conv(conv_handle(h).as_float32()).cast<double>()}};
         },
         [](const ProblemHandle& h) {
           return Arrays{{"y", causal_conv_bound(conv_handle(h).problem(), Format::float32)}};
         }},
    };
  }
  std::string name() const override { return kConvName; }
  std::string summary() const override {
    return "causal convolution y = k * u + D u (state-spaces/s4 FFTConv), FFT on CPU (FFTW) and GPU (cuFFT)";
  }
  std::string spec_ref() const override { return "spec/s4_conv.md [S4CONV-CONV-DEF]"; }
  std::vector<ArraySpec> inputs() const override {
    return {{"u", "(batch, H, L)", "input sequence", false},
            {"k", "(H, Lk)", "convolution kernel per channel; Lk may differ from L (taps past L are unused)", false},
            {"D", "(H,)", "skip connection (absent: no skip term)", true}};
  }
  std::vector<ArraySpec> outputs() const override {
    return {{"y", "(batch, H, L)", "y_t = sum_{s<=t} k_s u_{t-s} + D u_t", false}};
  }
  std::vector<OptionSpec> options() const override { return {}; }
  std::vector<std::string> sizes() const override {
    std::vector<std::string> v;
    for (const auto& s : kConvSizes) v.push_back(s.name);
    return v;
  }
  std::unique_ptr<ProblemHandle> generate(const std::string& size, Format format,
                                          std::uint64_t seed) const override {
    const ConvSize* s = nullptr;
    for (const auto& c : kConvSizes)
      if (size == c.name) s = &c;
    if (!s) throw InvalidInput("size", "unknown size '" + size + "' for " + kConvName + " (tiny, small, medium)");
    ConvInputs<double> in;
    in.u = fill(std::string(kConvName) + "/u", {s->batch, s->H, s->L}, -1, 1, format, seed);
    // A decaying kernel, like an SSM's: uniform on [-1, 1) times exp(-3 s / Lk).
    in.k = fill(std::string(kConvName) + "/k", {s->H, s->Lk}, -1, 1, format, seed);
    for (Index h = 0; h < s->H; ++h)
      for (Index j = 0; j < s->Lk; ++j)
        in.k(h, j) = round_to_format(in.k(h, j) * std::exp(-3.0 * double(j) / double(s->Lk)), format);
    if (s->D) in.D = fill(std::string(kConvName) + "/D", {s->H}, -1, 1, format, seed);
    return std::make_unique<ConvHandle>(ConvProblem<double>(std::move(in)));
  }
  // Names, options, dtypes and shapes were checked by core against inputs() ([CORE-INPUT-CHECK]).
  std::unique_ptr<ProblemHandle> problem_from_arrays(const NpyMap& arrays, const OptionMap&) const override {
    ConvInputs<double> in;
    in.u = required_real(arrays, "u", kConvName);
    in.k = required_real(arrays, "k", kConvName);
    in.D = optional_real(arrays, "D");
    return std::make_unique<ConvHandle>(ConvProblem<double>(std::move(in)));
  }
  ExactArrays oracle(const ProblemHandle& h, unsigned bits) const override {
    const WorkingPrecision precision(bits);
    return {{"y", reference::causal_conv<mp_real>(conv_handle(h).problem())}};
  }
  const std::vector<BackendSpec>& backends() const override { return backends_; }
  Arrays any_order_bound(const ProblemHandle& h, Format storage, double) const override {
    return {{"y", causal_conv_any_order_bound(conv_handle(h).problem(), storage)}};
  }

 private:
  std::vector<BackendSpec> backends_;
};

// ---- s4.ssm_scan ----

constexpr const char* kScanName = "s4.ssm_scan";

struct ScanSize {
  const char* name;
  Index batch, H, N, L;
  bool D;
  Conj conj;
};
// [S4CONV-SCAN-DEFAULTS] L = 1 and N = 1; ragged sizes with the full convention; a long one.
constexpr ScanSize kScanSizes[] = {
    {"tiny", 1, 1, 1, 1, false, Conj::halves},
    {"small", 2, 3, 4, 33, true, Conj::full},
    {"medium", 1, 8, 32, 256, true, Conj::halves},
};

// S4D-Lin-like discretized modes: dA = exp(dt (-1/2 + i pi n)), dB = dt * uniform, dC uniform,
// each rounded to the format (so |dA| < 1: a stable recurrence).
ScanInputs<double> default_scan(const ScanSize& s, Format format, std::uint64_t seed) {
  ScanInputs<double> in;
  const std::string key = kScanName;
  const Tensor<double> dt = fill(key + "/dt", {s.H}, 0.001, 0.1, Format::float64, seed);
  in.dA = Tensor<double>(Shape{s.H, s.N, 2});
  for (Index h = 0; h < s.H; ++h)
    for (Index n = 0; n < s.N; ++n) {
      const double re = -0.5 * dt[h], im = 3.141592653589793 * double(n) * dt[h];
      in.dA(h, n, Index{0}) = round_to_format(std::exp(re) * std::cos(im), format);
      in.dA(h, n, Index{1}) = round_to_format(std::exp(re) * std::sin(im), format);
    }
  in.dB = fill(key + "/dB", {s.H, s.N, 2}, -1, 1, format, seed);
  for (Index i = 0; i < in.dB.count(); ++i) in.dB[i] = round_to_format(in.dB[i] * dt[i / (2 * s.N)], format);
  in.dC = fill(key + "/dC", {s.H, s.N, 2}, -1, 1, format, seed);
  in.u = fill(key + "/u", {s.batch, s.H, s.L}, -1, 1, format, seed);
  if (s.D) in.D = fill(key + "/D", {s.H}, -1, 1, format, seed);
  in.conj = s.conj;
  return in;
}

class ScanHandle final : public ProblemHandle {
 public:
  explicit ScanHandle(ScanProblem<double> p) : p_(std::move(p)) {}
  const ScanProblem<double>& problem() const { return p_; }
  const ScanProblem<float>& as_float32() const { return f32_.get(*this, p_); }
  std::string describe() const override {
    return "batch=" + std::to_string(p_.batch()) + " H=" + std::to_string(p_.channels()) +
           " N=" + std::to_string(p_.modes()) + " L=" + std::to_string(p_.length()) +
           " conj=" + conj_name(p_.conj()) + (p_.in().D ? " D" : "");
  }
  Format input_format() const override {
    const auto& in = p_.in();
    std::vector<std::span<const double>> a = {in.dA.values(), in.dB.values(), in.dC.values(), in.u.values()};
    if (in.D) a.push_back(in.D->values());
    return narrowest_format(a);
  }
  Arrays inputs() const override {
    const auto& in = p_.in();
    Arrays a{{"dA", in.dA}, {"dB", in.dB}, {"dC", in.dC}, {"u", in.u}, {"conj", conj_array(in.conj)}};
    if (in.D) a["D"] = *in.D;
    return a;
  }

 private:
  ScanProblem<double> p_;
  Float32Copy<ScanProblem<float>> f32_;
};

const ScanHandle& scan_handle(const ProblemHandle& h) { return dynamic_cast<const ScanHandle&>(h); }

template <class T>
Arrays scan_arrays(const ScanResult<T>& r) {
  return {{"y", r.y.template cast<double>()}, {"last_state", r.last_state.template cast<double>()}};
}

class ScanEntry final : public Algorithm {
 public:
  ScanEntry() {
    const std::string order =
        "sequential in t; per mode x = (ar xr - ai xi) + br u, (ar xi + ai xr) + bi u (separate "
        "roundings); acc over modes in order of (cr xr - ci xi); c acc + fl(D u)";
    backends_ = {
        {"cpu-f32", Format::float32, order, [] { return std::string(); },
         [](const ProblemHandle& h) { return scan_arrays(cpu::ssm_scan(scan_handle(h).as_float32())); },
         [](const ProblemHandle& h) { return scan_arrays(ssm_scan_bound(scan_handle(h).problem(), Format::float32)); }},
        {"cpu-f64", Format::float64, order, [] { return std::string(); },
         [](const ProblemHandle& h) { return scan_arrays(cpu::ssm_scan(scan_handle(h).problem())); },
         [](const ProblemHandle& h) { return scan_arrays(ssm_scan_bound(scan_handle(h).problem(), Format::float64)); }},
    };
  }
  std::string name() const override { return kScanName; }
  std::string summary() const override {
    return "recurrent (RNN) mode of a diagonal SSM: x_t = dA x_{t-1} + dB u_t, y_t = c Re(dC x_t) + D u_t";
  }
  std::string spec_ref() const override { return "spec/s4_conv.md [S4CONV-SCAN-DEF]"; }
  std::vector<ArraySpec> inputs() const override {
    return {{"dA", "complex (H, N) | (H, N, 2)", "discretized diagonal state matrix", false},
            {"dB", "complex (H, N) | (H, N, 2)", "discretized input vector", false},
            {"dC", "complex (H, N) | (H, N, 2)", "output vector", false},
            {"u", "(batch, H, L)", "input sequence", false},
            {"D", "(H,)", "skip connection", true},
            {"conj", "()", "0: halves, 1: full (also the option conj)", true}};
  }
  std::vector<ArraySpec> outputs() const override {
    return {{"y", "(batch, H, L)", "c Re(sum_n dC_n x_{t,n}) + D u_t, c = 2 (halves) or 1 (full)", false},
            {"last_state", "complex (batch, H, N) as (batch, H, N, 2)", "state after the last step", false}};
  }
  std::vector<OptionSpec> options() const override {
    return {{"conj", "conjugate-pair convention: halves (y = 2 Re, state-spaces/s4) or full (y = Re, annotated-s4)",
             "halves"}};
  }
  std::vector<std::string> sizes() const override {
    std::vector<std::string> v;
    for (const auto& s : kScanSizes) v.push_back(s.name);
    return v;
  }
  std::unique_ptr<ProblemHandle> generate(const std::string& size, Format format,
                                          std::uint64_t seed) const override {
    for (const auto& s : kScanSizes)
      if (size == s.name) return std::make_unique<ScanHandle>(ScanProblem<double>(default_scan(s, format, seed)));
    throw InvalidInput("size", "unknown size '" + size + "' for " + kScanName + " (tiny, small, medium)");
  }
  std::unique_ptr<ProblemHandle> problem_from_arrays(const NpyMap& arrays, const OptionMap& options) const override {
    // Names, options, dtypes and shapes were checked by core against inputs() ([CORE-INPUT-CHECK]).
    const Conj conj = conj_of(arrays, options);
    ScanInputs<double> in;
    in.dA = required_complex(arrays, "dA", kScanName);
    in.dB = required_complex(arrays, "dB", kScanName);
    in.dC = required_complex(arrays, "dC", kScanName);
    in.u = required_real(arrays, "u", kScanName);
    in.D = optional_real(arrays, "D");
    in.conj = conj;
    return std::make_unique<ScanHandle>(ScanProblem<double>(std::move(in)));
  }
  ExactArrays oracle(const ProblemHandle& h, unsigned bits) const override {
    const WorkingPrecision precision(bits);
    auto r = reference::ssm_scan<mp_real>(scan_handle(h).problem());
    return {{"y", std::move(r.y)}, {"last_state", std::move(r.last_state)}};
  }
  const std::vector<BackendSpec>& backends() const override { return backends_; }
  Arrays any_order_bound(const ProblemHandle& h, Format storage, double) const override {
    return scan_arrays(ssm_scan_any_order_bound(scan_handle(h).problem(), storage));
  }

 private:
  std::vector<BackendSpec> backends_;
};

}  // namespace
}  // namespace touchstone::s4

namespace touchstone {

void register_s4_conv(Registry& registry) {
  registry.add(std::make_unique<s4::ConvEntry>());
  registry.add(std::make_unique<s4::ScanEntry>());
}

}  // namespace touchstone
