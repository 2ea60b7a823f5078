// The s4_conv entries of the registry: s4.causal_conv (y = K * u + D u) and s4.ssm_scan (the
// diagonal recurrent mode), spec/s4_conv.md.
#include <algorithm>
#include <cmath>
#include <optional>

#include "builtin.hpp"
#include "cpu/s4_conv.hpp"
#include "cuda/device.hpp"
#include "cuda/s4_conv.hpp"
#include "touchstone/core/entry.hpp"
#include "touchstone/reference/s4_conv.hpp"
#include "touchstone/bounds/s4_conv_bound.hpp"

namespace touchstone::s4 {
namespace {

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
// `touchstone bench` only (not a `check` size; [S4CONV-CONV-DEFAULTS]): one sequence of S4's
// sequential CIFAR (L 1024) through a layer of H 256 channels (the width of the peer's LRA
// configs), a full-length kernel, D. Its MPFR oracle sums L (L + 1) / 2 products per channel.
constexpr ConvSize kConvBench = {"bench", 1, 256, 1024, 1024, true};

using Conv = ConvProblem<double>;

Arrays conv_y(const Tensor<double>& y) { return {{"y", y}}; }

std::unique_ptr<Algorithm> conv_entry() {
  const std::string order =
      "rows with finite inputs: FFTW complex DFTs of length n = 2^ceil(log2(L + taps - 1)) of u "
      "and k, products (ac-bd, ad+bc), inverse DFT, Re * (1/n), + fl(D u); other rows: the direct "
      "sum s = 0..t sequentially, then + fl(D u)";
  Entry<Conv> e;
  e.name = kConvName;
  e.spec_ref = "spec/s4_conv.md [S4CONV-CONV-DEF]";
  e.summary = "causal convolution y = k * u + D u (state-spaces/s4 FFTConv), FFT on CPU (FFTW) and GPU (cuFFT)";
  e.inputs = {{"u", "(batch, H, L)", "input sequence", false},
              {"k", "(H, Lk)", "convolution kernel per channel; Lk may differ from L (taps past L are unused)", false},
              {"D", "(H,)", "skip connection (absent: no skip term)", true}};
  e.outputs = {{"y", "(batch, H, L)", "y_t = sum_{s<=t} k_s u_{t-s} + D u_t", false}};
  e.sizes = size_names(kConvSizes);
  e.extra_sizes = {kConvBench.name};  // touchstone bench's
  e.generate = [](const std::string& size, Format format, std::uint64_t seed) {
    const ConvSize& s = size_row(kConvSizes, kConvBench, size);
    const std::string key = kConvName;
    ConvInputs<double> in;
    in.u = uniform_array(seed, key + "/u", {s.batch, s.H, s.L}, -1, 1, format);
    // A decaying kernel, like an SSM's: uniform on [-1, 1) times exp(-3 s / Lk).
    in.k = uniform_array(seed, key + "/k", {s.H, s.Lk}, -1, 1, format);
    for (Index h = 0; h < s.H; ++h)
      for (Index j = 0; j < s.Lk; ++j)
        in.k(h, j) = round_to_format(in.k(h, j) * std::exp(-3.0 * double(j) / double(s.Lk)), format);
    if (s.D) in.D = uniform_array(seed, key + "/D", {s.H}, -1, 1, format);
    return Conv(std::move(in));
  };
  e.read = [](const InputReader& r) {
    return Conv(ConvInputs<double>{r.array("u"), r.array("k"), r.optional_array("D")});
  };
  e.arrays = [](const Conv& p) {
    Arrays a{{"u", p.in().u}, {"k", p.in().k}};
    if (p.in().D) a["D"] = *p.in().D;
    return a;
  };
  e.describe = [](const Conv& p) {
    return "batch=" + std::to_string(p.batch()) + " H=" + std::to_string(p.channels()) +
           " L=" + std::to_string(p.length()) + " Lk=" + std::to_string(p.kernel_length()) +
           (p.in().D ? " D" : "") + " fft_n=" + std::to_string(p.fft_length());
  };
  e.oracle = [](const Conv& p) { return ExactArrays{{"y", reference::causal_conv<mp_real>(p)}}; };
  auto bound = [](const Conv& p, Format f) { return conv_y(causal_conv_bound(p, f)); };
  e.backends = cpu_backends<Conv>(
      order, [](const auto& p) { return conv_y(as_double(cpu::causal_conv(p))); }, bound, Format::float32,
      Format::float64);
  e.backends.push_back({"cuda-f32", Format::float32,
                        "the cpu-f32 order with cuFFT C2C transforms in place of FFTW ([S4CONV-ASSUME-CUFFT])",
                        [](const EntryProblem<Conv>& h) { return conv_y(as_double(cuda::causal_conv(h.f32()))); },
                        [bound](const Conv& p) { return bound(p, Format::float32); },
                        [] { return touchstone::cuda::unavailable_reason(); }});
  e.any_order_bound = [](const Conv& p, Format storage, double) {
    return conv_y(causal_conv_any_order_bound(p, storage));
  };
  return make_entry(std::move(e));
}

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
// `touchstone bench` only (not a `check` size; [S4CONV-SCAN-DEFAULTS]): the recurrent mode of the
// same layer as s4.causal_conv's bench (batch 1, H 256, L 1024) with S4D's N 64 as 32 halves.
constexpr ScanSize kScanBench = {"bench", 1, 256, 32, 1024, true, Conj::halves};

using Scan = ScanProblem<double>;

// S4D-Lin-like discretized modes: dA = exp(dt (-1/2 + i pi n)), dB = dt * uniform, dC uniform,
// each rounded to the format (so |dA| < 1: a stable recurrence).
Scan default_scan(const ScanSize& s, Format format, std::uint64_t seed) {
  ScanInputs<double> in;
  const std::string key = kScanName;
  const Tensor<double> dt = uniform_array(seed, key + "/dt", {s.H}, 0.001, 0.1, Format::float64);
  in.dA = Tensor<double>(Shape{s.H, s.N, 2});
  for (Index h = 0; h < s.H; ++h)
    for (Index n = 0; n < s.N; ++n) {
      const double re = -0.5 * dt[h], im = 3.141592653589793 * double(n) * dt[h];
      in.dA(h, n, Index{0}) = round_to_format(std::exp(re) * std::cos(im), format);
      in.dA(h, n, Index{1}) = round_to_format(std::exp(re) * std::sin(im), format);
    }
  in.dB = uniform_array(seed, key + "/dB", {s.H, s.N, 2}, -1, 1, format);
  for (Index i = 0; i < in.dB.count(); ++i) in.dB[i] = round_to_format(in.dB[i] * dt[i / (2 * s.N)], format);
  in.dC = uniform_array(seed, key + "/dC", {s.H, s.N, 2}, -1, 1, format);
  in.u = uniform_array(seed, key + "/u", {s.batch, s.H, s.L}, -1, 1, format);
  if (s.D) in.D = uniform_array(seed, key + "/D", {s.H}, -1, 1, format);
  in.conj = s.conj;
  return Scan(std::move(in));
}

template <class T>
Arrays scan_arrays(const ScanResult<T>& r) {
  return {{"y", as_double(r.y)}, {"last_state", as_double(r.last_state)}};
}

std::unique_ptr<Algorithm> scan_entry() {
  const std::string order =
      "sequential in t; per mode x = (ar xr - ai xi) + br u, (ar xi + ai xr) + bi u (separate "
      "roundings); acc over modes in order of (cr xr - ci xi); c acc + fl(D u)";
  Entry<Scan> e;
  e.name = kScanName;
  e.spec_ref = "spec/s4_conv.md [S4CONV-SCAN-DEF]";
  e.summary = "recurrent (RNN) mode of a diagonal SSM: x_t = dA x_{t-1} + dB u_t, y_t = c Re(dC x_t) + D u_t";
  e.inputs = {{"dA", "complex (H, N) | (H, N, 2)", "discretized diagonal state matrix", false},
              {"dB", "complex (H, N) | (H, N, 2)", "discretized input vector", false},
              {"dC", "complex (H, N) | (H, N, 2)", "output vector", false},
              {"u", "(batch, H, L)", "input sequence", false},
              {"D", "(H,)", "skip connection", true},
              {"conj", "()", "0: halves, 1: full (also the option conj)", true}};
  e.outputs = {{"y", "(batch, H, L)", "c Re(sum_n dC_n x_{t,n}) + D u_t, c = 2 (halves) or 1 (full)", false},
               {"last_state", "complex (batch, H, N) as (batch, H, N, 2)", "state after the last step", false}};
  e.options = {{"conj", "conjugate-pair convention: halves (y = 2 Re, state-spaces/s4) or full (y = Re, annotated-s4)",
                "halves"}};
  e.sizes = size_names(kScanSizes);
  e.extra_sizes = {kScanBench.name};  // touchstone bench's
  e.generate = [](const std::string& size, Format format, std::uint64_t seed) {
    return default_scan(size_row(kScanSizes, kScanBench, size), format, seed);
  };
  e.read = [](const InputReader& r) {
    ScanInputs<double> in{r.array("dA"), r.array("dB"), r.array("dC"), r.array("u"), r.optional_array("D"),
                          parse_conj(r.choice("conj", {"halves", "full"}, "halves"))};
    return Scan(std::move(in));
  };
  e.arrays = [](const Scan& p) {
    const auto& in = p.in();
    Arrays a{{"dA", in.dA}, {"dB", in.dB}, {"dC", in.dC}, {"u", in.u}, {"conj", scalar_array(in.conj == Conj::full)}};
    if (in.D) a["D"] = *in.D;
    return a;
  };
  e.describe = [](const Scan& p) {
    return "batch=" + std::to_string(p.batch()) + " H=" + std::to_string(p.channels()) +
           " N=" + std::to_string(p.modes()) + " L=" + std::to_string(p.length()) +
           " conj=" + conj_name(p.conj()) + (p.in().D ? " D" : "");
  };
  e.oracle = [](const Scan& p) {
    auto r = reference::ssm_scan<mp_real>(p);
    return ExactArrays{{"y", std::move(r.y)}, {"last_state", std::move(r.last_state)}};
  };
  e.backends = cpu_backends<Scan>(
      order, [](const auto& p) { return scan_arrays(cpu::ssm_scan(p)); },
      [](const Scan& p, Format f) { return scan_arrays(ssm_scan_bound(p, f)); }, Format::float32, Format::float64);
  e.any_order_bound = [](const Scan& p, Format storage, double) {
    return scan_arrays(ssm_scan_any_order_bound(p, storage));
  };
  return make_entry(std::move(e));
}

}  // namespace
}  // namespace touchstone::s4

namespace touchstone {

void register_s4_conv(Registry& registry) {
  registry.add(s4::conv_entry());
  registry.add(s4::scan_entry());
}

}  // namespace touchstone
