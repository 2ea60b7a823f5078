// The performer entries (spec/performer.md): performer.softmax_attention (the exact attention
// every Performer estimates), performer.favor_plus_features (FAVOR+ positive random features) and
// performer.linear_attention (attention given features, bidirectional or causal).
#include <cmath>
#include <optional>
#include <string>

#include "builtin.hpp"
#include "cpu/performer.hpp"
#include "cpu/performer_projection.hpp"
#include "cpu/performer_slim.hpp"
#include "cuda/device.hpp"
#include "cuda/performer.hpp"
#include "touchstone/bounds/performer_bound.hpp"
#include "touchstone/core/entry.hpp"
#include "touchstone/core/random.hpp"
#include "touchstone/reference/performer.hpp"
#include "touchstone/reference/performer_projection.hpp"
#include "touchstone/reference/performer_slim.hpp"

namespace touchstone::performer {
namespace {

// The default sizes `check` runs: all but those named "bench..." (batch x heads 8, L 4096, d 64,
// m 256, the size issue 10 benchmarks against performer-pytorch; `touchstone bench` only).
template <class Table>
std::vector<std::string> checked_sizes(const Table& table) {
  std::vector<std::string> v;
  for (const auto& s : table)
    if (std::string(s.name).rfind("bench", 0) != 0) v.push_back(s.name);
  return v;
}

// A backend's or bound's result as the entry's output arrays: one named tensor, or the three
// gradients of an attention; float results are converted to double.
struct Outputs {
  const char* name = nullptr;  // the single output's name; nullptr: dq, dk, dv
  template <class T>
  Arrays operator()(const Tensor<T>& t) const {
    return {{name, as_double(t)}};
  }
  template <class T>
  Arrays operator()(const AttentionGrads<T>& g) const {
    return {{"dq", as_double(g.dq)}, {"dk", as_double(g.dk)}, {"dv", as_double(g.dv)}};
  }
};
const Outputs kGrads{};

// Backends and bounds alike for every entry: cpu-f32 and cpu-f64 run the order header, their
// bounds run it over tracked values, and the any-order bound runs it in any order.
template <class P, class Run, class Bound>
void cpu_backends(Entry<P>& e, const std::string& order, Outputs outputs, Run run, Bound bound) {
  e.backends = {
      {"cpu-f32", Format::float32, order, [=](const EntryProblem<P>& h) { return outputs(run(h.f32())); },
       [=](const P& p) { return outputs(bound(p, performer_arithmetic_cpu(Format::float32))); }},
      {"cpu-f64", Format::float64, order, [=](const EntryProblem<P>& h) { return outputs(run(h.f64())); },
       [=](const P& p) { return outputs(bound(p, performer_arithmetic_cpu(Format::float64))); }},
  };
  e.any_order_bound = [=](const P& p, Format compute, double ulps) {
    return outputs(bound(p, performer_arithmetic_any_order(compute, ulps)));
  };
}

// [PERF-CUDA] The cuda-f32 backend of an entry: cpu-f32's order on the device, one block per
// (batch, head), every value cpu-f32's bits (the host emulation test pins it), so cpu-f32's bound.
// Unavailable (SKIP with the reason) where no device can run it.
// The trigonometric map's cos and sin differ: CUDA's binary64 functions (within 2 ulps of binary64,
// CUDA Programming Guide) rounded to float, within the 0.50001 float32 ulps that cpu-f32's bound
// assumes for glibc's; the same order, not assured the same bits.
constexpr const char* kCudaBits = " (on the device, one block per (batch, head): cpu-f32's order and bits)";
constexpr const char* kCudaSinCos =
    " (on the device, one block per (batch, head): cpu-f32's order; cos, sin CUDA's binary64 rounded to float, "
    "within 2 ulps of binary64, so within the bound's 0.50001 float32 ulps, not assured cpu-f32's bits)";
template <class P, class Run, class Bound>
void cuda_backend(Entry<P>& e, const std::string& order, Outputs outputs, Run run, Bound bound,
                  const char* device = kCudaBits) {
  e.backends.push_back({"cuda-f32", Format::float32, order + device,
                        [=](const EntryProblem<P>& h) { return outputs(run(h.f32())); },
                        [=](const P& p) { return outputs(bound(p, performer_arithmetic_cpu(Format::float32))); },
                        [] { return touchstone::cuda::unavailable_reason(); }});
}

const char* const kRows = "(batch, heads, seqlen, dim)";

// What a forward entry and its backward entry declare alike: the forward's inputs, options, how
// to read them and write them back.
struct AttentionFace {
  static std::vector<ArraySpec> inputs() {
    return {{"q", kRows, "queries", false},
            {"k", kRows, "keys", false},
            {"v", "(batch, heads, seqlen, dim_v)", "values", false},
            {"causal", "()", "1: position i attends to j <= i (also --option causal)", true}};
  }
  static std::vector<OptionSpec> options() { return {{"causal", "attend to j <= i only", "0"}}; }
  static AttentionInputs<double> read(const InputReader& r) {
    return {r.array("q"), r.array("k"), r.array("v"), r.flag("causal", false)};
  }
  static Arrays arrays(const AttentionInputs<double>& in) {
    return {{"q", in.q}, {"k", in.k}, {"v", in.v}, {"causal", scalar_array(in.causal ? 1 : 0)}};
  }
};

// The random-feature maps' inputs: the positive and hyperbolic maps take the shift and eps, the
// trigonometric one neither (its renormalizer is fixed, and it has no eps).
struct FeatureFace {
  static std::vector<ArraySpec> inputs(FeatureMap map) {
    std::vector<ArraySpec> v{{"x", kRows, "queries or keys (data)", false},
                             {"projection_matrix", "(nb_features, dim)", "the random features w_j as rows", false}};
    if (map != FeatureMap::trig) {
      v.push_back({"is_query", "()", "1: query shift, 0: key shift (also --option is_query)", true});
      v.push_back({"eps", "()", "added after exp (also --option eps)", true});
    }
    return v;
  }
  static std::vector<OptionSpec> options(FeatureMap map) {
    if (map == FeatureMap::trig) return {};
    return {{"is_query", "the query shift (max over features of each row); 0: the key shift", "1"},
            {"eps", "the stabilizer added after exp (google-research's attention uses 1e-6)", "1e-4"}};
  }
  static FeatureInputs<double> read(const InputReader& r, FeatureMap map) {
    if (map == FeatureMap::trig) return {r.array("x"), r.array("projection_matrix"), true, 0.0, map};
    return {r.array("x"), r.array("projection_matrix"), r.flag("is_query", true), r.real("eps", 1e-4), map};
  }
  static Arrays arrays(const FeatureInputs<double>& in) {
    Arrays a{{"x", in.x}, {"projection_matrix", in.projection}};
    if (in.map != FeatureMap::trig) {
      a["is_query"] = scalar_array(in.is_query ? 1 : 0);
      a["eps"] = scalar_array(in.eps);
    }
    return a;
  }
};

struct LinearFace {
  static std::vector<ArraySpec> inputs() {
    return {{"q", "(batch, heads, seqlen, nb_features)", "query features q'", false},
            {"k", "(batch, heads, seqlen, nb_features)", "key features k'", false},
            {"v", "(batch, heads, seqlen, dim_v)", "values", false},
            {"causal", "()", "1: prefix sums (also --option causal)", true},
            {"guard", "()", "0 none, 1 gr, 2 lr (also --option guard)", true},
            {"guard_eps", "()", "the guard's eps (also --option guard_eps)", true}};
  }
  static std::vector<OptionSpec> options() {
    return {{"causal", "attend to j <= i only", "0"},
            {"guard", "renormalizer guard: none; gr (R + 2 eps where |R| <= eps); lr (causal: eps added to "
                      "every key prefix sum)", "none"},
            {"guard_eps", "the guard's eps", "1e-6"}};
  }
  static LinearInputs<double> read(const InputReader& r) {
    return {r.array("q"), r.array("k"), r.array("v"), r.flag("causal", false),
            parse_guard(r.choice("guard", {"none", "gr", "lr"}, "none")), r.real("guard_eps", 1e-6)};
  }
  static Arrays arrays(const LinearInputs<double>& in) {
    return {{"q", in.q},
            {"k", in.k},
            {"v", in.v},
            {"causal", scalar_array(in.causal ? 1 : 0)},
            {"guard", scalar_array(static_cast<double>(in.guard))},
            {"guard_eps", scalar_array(in.guard_eps)}};
  }
};

// A backward entry's declarations: the forward's, plus the cotangent `g` of the output.
template <class Face>
std::vector<ArraySpec> with_cotangent(ArraySpec g) {
  std::vector<ArraySpec> v = Face::inputs();
  v.insert(v.begin() + 3, std::move(g));  // after the three arrays, before the scalars
  return v;
}

// ---- performer.softmax_attention ([PERF-SOFTMAX-DEF]) ----
struct AttentionSize {
  const char* name;
  Index B, H, L, D, E;
  bool causal;
  double scale;  // q and k are scale * N(0, 1): logits of about scale^2 sqrt(d)
};
constexpr AttentionSize kAttentionSizes[] = {
    {"tiny", 1, 1, 4, 4, 4, false, 1.0},   {"small", 2, 2, 32, 16, 16, false, 1.0},
    {"causal", 1, 2, 48, 16, 8, true, 1.0}, {"sharp", 1, 2, 32, 16, 16, true, 2.5},
    {"medium", 1, 2, 96, 16, 16, false, 1.0},
    // Bench only (issue 13's table; not in check): one head of BERT-base's 512 positions, d_head 64;
    // its MPFR oracle (computed twice, [CORE-ORACLE-VERIFIED]) took over 40 CPU s at 1024 positions.
    {"bench", 1, 1, 512, 64, 64, false, 1.0},
};

std::unique_ptr<Algorithm> softmax_attention_entry() {
  using P = AttentionProblem<double>;
  Entry<P> e;
  e.name = "performer.softmax_attention";
  e.spec_ref = "spec/performer.md [PERF-SOFTMAX-DEF]";
  e.summary =
      "exact softmax attention D^-1 exp(q k^T / sqrt(d)) v, bidirectional or causal (diagonal included): "
      "what every Performer estimates";
  e.inputs = AttentionFace::inputs();
  e.outputs = {{"out", "(batch, heads, seqlen, dim_v)", "attention output", false}};
  e.independent_axes = {"batch", "heads"};  // [CORE-SLICES]: one head of one sequence
  e.options = AttentionFace::options();
  e.sizes = checked_sizes(kAttentionSizes);
  e.extra_sizes = {"bench"};
  e.generate = [](const std::string& size, Format format, std::uint64_t seed) {
    const AttentionSize& s = size_row(kAttentionSizes, size);
    const std::string stream = "performer.softmax_attention/";
    return P({normal_array(seed, stream + "q", Shape{s.B, s.H, s.L, s.D}, format, s.scale),
              normal_array(seed, stream + "k", Shape{s.B, s.H, s.L, s.D}, format, s.scale),
              normal_array(seed, stream + "v", Shape{s.B, s.H, s.L, s.E}, format),
              s.causal});
  };
  e.read = [](const InputReader& r) { return P(AttentionFace::read(r)); };
  e.arrays = [](const P& p) { return AttentionFace::arrays(p.in()); };
  e.oracle = [](const P& p) { return ExactArrays{{"out", reference::softmax_attention<mp_real>(p)}}; };
  const std::string order =
      "per row: q~ = fl(d^-1/4) q, k~ likewise; s_j = sequential dot; m = max s_j; e_j = exp(s_j - m); "
      "den and num = sum e_j v_j in j order; out = num / den";
  cpu_backends(e, order, Outputs{"out"}, [](const auto& p) { return cpu::softmax_attention(p); }, &softmax_attention_bound);
  cuda_backend(e, order, Outputs{"out"}, [](const auto& p) { return cuda::softmax_attention(p); },
               &softmax_attention_bound);
  e.any_order_assumption = "";
  return make_entry(std::move(e));
}

// ---- performer.softmax_attention_backward ([PERF-SOFTMAX-VJP]) ----
constexpr AttentionSize kAttentionBackwardSizes[] = {
    {"tiny", 1, 1, 4, 4, 4, false, 1.0},
    {"small", 2, 2, 16, 8, 8, false, 1.0},
    {"causal", 1, 2, 32, 16, 8, true, 1.0},
    {"sharp", 1, 2, 24, 16, 8, true, 2.5},
    {"bench", 1, 1, 512, 64, 64, true, 1.0},  // bench only: the forward's head, causal (a decoder's step)
};

std::unique_ptr<Algorithm> softmax_attention_backward_entry() {
  using P = AttentionBackwardProblem<double>;
  Entry<P> e;
  e.name = "performer.softmax_attention_backward";
  e.spec_ref = "spec/performer.md [PERF-SOFTMAX-VJP]";
  e.summary = "VJP of exact softmax attention (dq, dk, dv from dout), bidirectional or causal";
  e.inputs = with_cotangent<AttentionFace>({"dout", "(batch, heads, seqlen, dim_v)", "cotangent of out", false});
  e.outputs = {{"dq", kRows, "gradient of q", false},
               {"dk", kRows, "gradient of k", false},
               {"dv", "(batch, heads, seqlen, dim_v)", "gradient of v", false}};
  e.independent_axes = {"batch", "heads"};  // [CORE-SLICES]: one head of one sequence
  e.options = AttentionFace::options();
  e.sizes = checked_sizes(kAttentionBackwardSizes);
  e.extra_sizes = {"bench"};
  e.generate = [](const std::string& size, Format format, std::uint64_t seed) {
    const AttentionSize& s = size_row(kAttentionBackwardSizes, size);
    const std::string stream = "performer.softmax_attention_backward/";
    AttentionInputs<double> fwd{normal_array(seed, stream + "q", Shape{s.B, s.H, s.L, s.D}, format, s.scale),
                                normal_array(seed, stream + "k", Shape{s.B, s.H, s.L, s.D}, format, s.scale),
                                normal_array(seed, stream + "v", Shape{s.B, s.H, s.L, s.E}, format), s.causal};
    return P({std::move(fwd), normal_array(seed, stream + "dout", Shape{s.B, s.H, s.L, s.E}, format)});
  };
  e.read = [](const InputReader& r) { return P({AttentionFace::read(r), r.array("dout")}); };
  e.arrays = [](const P& p) {
    Arrays a = AttentionFace::arrays(p.fwd().in());
    a["dout"] = p.dout();
    return a;
  };
  e.oracle = [](const P& p) {
    const AttentionGrads<mp_real> g = reference::softmax_attention_vjp<mp_real>(p);
    return ExactArrays{{"dq", g.dq}, {"dk", g.dk}, {"dv", g.dv}};
  };
  const std::string order =
      "per row i in order: the forward's s, m, e, den; p = e / den; out = num / den; D = g . out; per j: "
      "dp = g . v_j, ds = p (dp - D); dq = c sum ds k~_j; dk_j, dv_j accumulate over rows in order";
  cpu_backends(e, order, kGrads, [](const auto& p) { return cpu::softmax_attention_vjp(p); }, &softmax_attention_vjp_bound);
  cuda_backend(e, order, kGrads, [](const auto& p) { return cuda::softmax_attention_vjp(p); },
               &softmax_attention_vjp_bound);
  return make_entry(std::move(e));
}

// ---- performer.favor_plus_features ([PERF-FEATURES-DEF]), performer.hyperbolic_features
// ([PERF-HYPERBOLIC-DEF]), performer.trig_features ([PERF-TRIG-DEF]) and the backward entries ----
struct FeatureSize {
  const char* name;
  Index B, H, L, D, M;
  bool is_query;
};
constexpr FeatureSize kFeatureSizes[] = {
    {"tiny", 1, 1, 4, 4, 4, true},
    {"small", 2, 2, 32, 16, 32, true},
    {"key", 1, 2, 48, 16, 64, false},
    {"medium", 1, 2, 96, 32, 64, true},
    {"bench", 1, 8, 4096, 64, 256, true},  // touchstone bench only (bench/RESULTS.md)
};
constexpr FeatureSize kFeatureBackwardSizes[] = {
    {"tiny", 1, 1, 4, 4, 4, true},
    {"small", 2, 2, 16, 16, 32, true},
    {"key", 1, 2, 24, 16, 32, false},
    {"bench", 1, 8, 4096, 64, 256, true},
};

// What each map's entries say of themselves.
struct FeatureMapEntry {
  FeatureMap map;
  const char* name;  // the forward entry's; the backward's adds "_backward"
  const char* spec_id;
  const char* vjp_spec_id;
  const char* summary;
  const char* width;  // the features' last dimension
  const char* order;  // the CPU backends' order
};
const FeatureMapEntry kFeatureMaps[] = {
    {FeatureMap::positive, "performer.favor_plus_features", "PERF-FEATURES-DEF", "PERF-FEATURES-VJP",
     "FAVOR+ positive random features m^-1/2 (exp(w.x~ - |x~|^2/2 - shift) + eps), x~ = d^-1/4 x, with the query "
     "(per row) or key (per batch and head) max shift (performer-pytorch softmax_kernel)",
     "nb_features",
     "x~ = fl(d^-1/4) x; |x~|^2/2 sequential; u_j = sequential dot w_j . x~; shift = max; "
     "phi = fl(m^-1/2) (exp((u - diag) - shift) + eps)"},
    {FeatureMap::hyperbolic, "performer.hyperbolic_features", "PERF-HYPERBOLIC-DEF", "PERF-HYPERBOLIC-VJP",
     "hyperbolic positive random features (2m)^-1/2 (exp(+-w.x~ - |x~|^2/2 - shift) + eps), the paper's phi_hyp+ "
     "with FAVOR+'s query or key max shift over all 2m exponents",
     "2 nb_features",
     "x~, |x~|^2/2, u_j as FAVOR+; exponents +u and -u (exact); shift = max of the 2m; "
     "phi = fl((2m)^-1/2) (exp((+-u - diag) - shift) + eps)"},
    {FeatureMap::trig, "performer.trig_features", "PERF-TRIG-DEF", "PERF-TRIG-VJP",
     "trigonometric random features (FAVOR) m^-1/2 [cos(w.x~), sin(w.x~)] exp(|x~|^2/2 - max over positions), "
     "google-research's sincos_softmax_kernel_feature_creator",
     "2 nb_features",
     "x~, |x~|^2/2, u_j as FAVOR+; top = running max of |x~_i|^2/2; s = exp(diag - top); "
     "phi = fl(fl(cos u * fl(m^-1/2)) * s), then sin"},
};

FeatureInputs<double> drawn_features(const FeatureSize& s, FeatureMap map, Format format, std::uint64_t seed,
                                     const std::string& stream) {
  return {normal_array(seed, stream + "x", Shape{s.B, s.H, s.L, s.D}, format),
          normal_array(seed, stream + "projection_matrix", Shape{s.M, s.D}, format), s.is_query,
          map == FeatureMap::trig ? 0.0 : round_to_format(1e-4, format), map};
}

std::unique_ptr<Algorithm> features_entry(const FeatureMapEntry& f) {
  using P = FeatureProblem<double>;
  Entry<P> e;
  e.name = f.name;
  e.spec_ref = std::string("spec/performer.md [") + f.spec_id + "]";
  e.summary = f.summary;
  e.inputs = FeatureFace::inputs(f.map);
  e.outputs = {{"features", std::string("(batch, heads, seqlen, ") + f.width + ")", "phi(x)", false}};
  e.options = FeatureFace::options(f.map);
  e.sizes = checked_sizes(kFeatureSizes);
  e.extra_sizes = {"bench"};
  const FeatureMap map = f.map;
  const std::string stream = std::string(f.name) + "/";
  e.generate = [=](const std::string& size, Format format, std::uint64_t seed) {
    return P(drawn_features(size_row(kFeatureSizes, size), map, format, seed, stream));
  };
  e.read = [=](const InputReader& r) { return P(FeatureFace::read(r, map)); };
  e.arrays = [](const P& p) { return FeatureFace::arrays(p.in()); };
  e.oracle = [](const P& p) { return ExactArrays{{"features", reference::favor_plus_features<mp_real>(p)}}; };
  cpu_backends(e, f.order, Outputs{"features"}, [](const auto& p) { return cpu::favor_plus_features(p); },
               &favor_plus_features_bound);
  cuda_backend(e, f.order, Outputs{"features"}, [](const auto& p) { return cuda::favor_plus_features(p); },
               &favor_plus_features_bound, f.map == FeatureMap::trig ? kCudaSinCos : kCudaBits);
  return make_entry(std::move(e));
}

std::unique_ptr<Algorithm> features_backward_entry(const FeatureMapEntry& f) {
  using P = FeatureBackwardProblem<double>;
  Entry<P> e;
  e.name = std::string(f.name) + "_backward";
  e.spec_ref = std::string("spec/performer.md [") + f.vjp_spec_id + "]";
  e.summary = std::string("VJP of ") + f.name + " with respect to x (dx from dfeatures), " +
              (f.map == FeatureMap::trig ? "the renormalizer's maximum held constant"
                                         : "the shift held constant as performer-pytorch detaches it");
  e.inputs = FeatureFace::inputs(f.map);
  e.inputs.insert(e.inputs.begin() + 2, {"dfeatures", std::string("(batch, heads, seqlen, ") + f.width + ")",
                                         "cotangent of the features", false});
  e.outputs = {{"dx", kRows, "gradient of x", false}};
  e.options = FeatureFace::options(f.map);
  e.sizes = checked_sizes(kFeatureBackwardSizes);
  e.extra_sizes = {"bench"};
  const FeatureMap map = f.map;
  const std::string stream = e.name + "/";
  e.generate = [=](const std::string& size, Format format, std::uint64_t seed) {
    const FeatureSize& s = size_row(kFeatureBackwardSizes, size);
    const Index width = map == FeatureMap::positive ? s.M : 2 * s.M;
    return P({drawn_features(s, map, format, seed, stream),
              normal_array(seed, stream + "dfeatures", Shape{s.B, s.H, s.L, width}, format)});
  };
  e.read = [=](const InputReader& r) { return P({FeatureFace::read(r, map), r.array("dfeatures")}); };
  e.arrays = [](const P& p) {
    Arrays a = FeatureFace::arrays(p.fwd().in());
    a["dfeatures"] = p.dfeatures();
    return a;
  };
  e.oracle = [](const P& p) { return ExactArrays{{"dx", reference::favor_plus_features_vjp<mp_real>(p)}}; };
  const std::string order =
      f.map == FeatureMap::trig
          ? "the forward's x~, diag, u, top; rs = fl(m^-1/2 s); per row S1 = sum (gs cos u - gc sin u) w_j, "
            "S2 = sum (gc cos u + gs sin u) in j order; dx = c (rs S1) + c2 (x (rs S2))"
          : "the forward's x~, diag, u, shift; per row G_j = fl(fl(g_j r) e_j), S1 = sum G_j w_j (-w_j for "
            "the hyperbolic map's last m), S2 = sum G_j in j order; dx = c S1 - c2 (x S2)";
  cpu_backends(e, order, Outputs{"dx"}, [](const auto& p) { return cpu::favor_plus_features_vjp(p); },
               &favor_plus_features_vjp_bound);
  cuda_backend(e, order, Outputs{"dx"}, [](const auto& p) { return cuda::favor_plus_features_vjp(p); },
               &favor_plus_features_vjp_bound, f.map == FeatureMap::trig ? kCudaSinCos : kCudaBits);
  return make_entry(std::move(e));
}

// ---- performer.generalized_features ([PERF-GENERALIZED-DEF]) ----
struct GeneralizedSize {
  const char* name;
  Index B, H, L, D, M;  // M = 0: no projection
  Kernel kernel;
};
constexpr GeneralizedSize kGeneralizedSizes[] = {
    {"tiny", 1, 1, 4, 4, 4, Kernel::relu},       {"relu", 2, 2, 32, 16, 32, Kernel::relu},
    {"elu1", 1, 2, 32, 16, 32, Kernel::elu1},    {"sqr", 1, 2, 32, 16, 0, Kernel::sqr},
    {"exp", 1, 2, 24, 16, 16, Kernel::exp},      {"abs", 1, 1, 16, 8, 0, Kernel::abs},
    // Bench only: one head of performer-pytorch's defaults (dim_head 64, 256 features; relu, its
    // generalized_kernel's default) at 1024 positions: at 4096 the oracle took over 40 CPU s.
    {"bench", 1, 1, 1024, 64, 256, Kernel::relu},
};

struct GeneralizedFace {
  static std::vector<ArraySpec> inputs() {
    return {{"x", kRows, "queries or keys (data)", false},
            {"projection_matrix", "(nb_features, dim)", "the random features w_j as rows (absent: f(x~) itself)", true},
            {"kernel", "()", "index into relu, elu1, abs, sqr, exp, identity (also --option kernel)", true},
            {"normalize_data", "()", "1: x~ = d^-1/4 x (also --option normalize_data)", true},
            {"kernel_eps", "()", "added after f (also --option kernel_eps)", true}};
  }
  static std::vector<OptionSpec> options() {
    return {{"kernel", "f: relu, elu1 (e^t below 0, t + 1 above), abs, sqr, exp, identity", "relu"},
            {"normalize_data", "scale x by d^-1/4 first", "1"},
            {"kernel_eps", "added after f", "1e-3"}};
  }
  static GeneralizedFeatureInputs<double> generate(const GeneralizedSize& s, Format format, std::uint64_t seed,
                                                   const std::string& stream) {
    std::optional<Tensor<double>> w;
    if (s.M > 0) w = normal_array(seed, stream + "projection_matrix", Shape{s.M, s.D}, format);
    return {normal_array(seed, stream + "x", Shape{s.B, s.H, s.L, s.D}, format), std::move(w), s.kernel, true,
            round_to_format(1e-3, format)};
  }
  static GeneralizedFeatureInputs<double> read(const InputReader& r) {
    return {r.array("x"), r.optional_array("projection_matrix"), parse_kernel(r.choice("kernel", kernel_names(), "relu")),
            r.flag("normalize_data", true), r.real("kernel_eps", 1e-3)};
  }
  static Arrays arrays(const GeneralizedFeatureInputs<double>& in) {
    Arrays a{{"x", in.x},
             {"kernel", scalar_array(static_cast<double>(in.kernel))},
             {"normalize_data", scalar_array(in.normalize_data ? 1 : 0)},
             {"kernel_eps", scalar_array(in.kernel_eps)}};
    if (in.projection) a["projection_matrix"] = *in.projection;
    return a;
  }
};

std::unique_ptr<Algorithm> generalized_features_entry() {
  using P = GeneralizedFeatureProblem<double>;
  Entry<P> e;
  e.name = "performer.generalized_features";
  e.spec_ref = "spec/performer.md [PERF-GENERALIZED-DEF]";
  e.summary =
      "generalized kernel features f(x~ W^T) + kernel_eps (f(x~) + kernel_eps without a projection), x~ = d^-1/4 x, "
      "f = relu, elu1, abs, sqr, exp or identity (performer-pytorch generalized_kernel)";
  e.inputs = GeneralizedFace::inputs();
  e.outputs = {{"features", "(batch, heads, seqlen, nb_features) | (batch, heads, seqlen, dim)", "phi(x)", false}};
  e.options = GeneralizedFace::options();
  e.sizes = checked_sizes(kGeneralizedSizes);
  e.extra_sizes = {"bench"};
  e.generate = [](const std::string& size, Format format, std::uint64_t seed) {
    return P(GeneralizedFace::generate(size_row(kGeneralizedSizes, size), format, seed, "performer.generalized_features/"));
  };
  e.read = [](const InputReader& r) { return P(GeneralizedFace::read(r)); };
  e.arrays = [](const P& p) { return GeneralizedFace::arrays(p.in()); };
  e.oracle = [](const P& p) { return ExactArrays{{"features", reference::generalized_features<mp_real>(p)}}; };
  const std::string order =
      "x~ = fl(c x); t = sequential dot w_j . x~ (or x~); phi = fl(f(t) + kernel_eps), exp as the family's";
  cpu_backends(e, order, Outputs{"features"}, [](const auto& p) { return cpu::generalized_features(p); },
               &generalized_features_bound);
  cuda_backend(e, order, Outputs{"features"}, [](const auto& p) { return cuda::generalized_features(p); },
               &generalized_features_bound);
  return make_entry(std::move(e));
}

// ---- performer.generalized_features_backward ([PERF-GENERALIZED-VJP]) ----
std::unique_ptr<Algorithm> generalized_features_backward_entry() {
  using P = GeneralizedFeatureBackwardProblem<double>;
  Entry<P> e;
  e.name = "performer.generalized_features_backward";
  e.spec_ref = "spec/performer.md [PERF-GENERALIZED-VJP]";
  e.summary = "VJP of the generalized kernel features with respect to x (dx from dfeatures), f' as autograd takes it";
  e.inputs = GeneralizedFace::inputs();
  e.inputs.insert(e.inputs.begin() + 2, {"dfeatures", "(batch, heads, seqlen, nb_features) | (batch, heads, seqlen, dim)",
                                         "cotangent of the features", false});
  e.outputs = {{"dx", kRows, "gradient of x", false}};
  e.options = GeneralizedFace::options();
  e.sizes = checked_sizes(kGeneralizedSizes);
  e.extra_sizes = {"bench"};
  e.generate = [](const std::string& size, Format format, std::uint64_t seed) {
    const GeneralizedSize& s = size_row(kGeneralizedSizes, size);
    const std::string stream = "performer.generalized_features_backward/";
    GeneralizedFeatureInputs<double> fwd = GeneralizedFace::generate(s, format, seed, stream);
    Tensor<double> g = normal_array(seed, stream + "dfeatures", Shape{s.B, s.H, s.L, s.M > 0 ? s.M : s.D}, format);
    return P({std::move(fwd), std::move(g)});
  };
  e.read = [](const InputReader& r) { return P({GeneralizedFace::read(r), r.array("dfeatures")}); };
  e.arrays = [](const P& p) {
    Arrays a = GeneralizedFace::arrays(p.fwd().in());
    a["dfeatures"] = p.dfeatures();
    return a;
  };
  e.oracle = [](const P& p) { return ExactArrays{{"dx", reference::generalized_features_vjp<mp_real>(p)}}; };
  const std::string order = "x~, t as the forward; G_j = fl(g_j f'(t_j)); dx = c (sequential sum_j G_j w_j), or c G";
  cpu_backends(e, order, Outputs{"dx"}, [](const auto& p) { return cpu::generalized_features_vjp(p); },
               &generalized_features_vjp_bound);
  cuda_backend(e, order, Outputs{"dx"}, [](const auto& p) { return cuda::generalized_features_vjp(p); },
               &generalized_features_vjp_bound);
  return make_entry(std::move(e));
}

// ---- performer.linear_attention ([PERF-LINEAR-DEF]) ----
struct LinearSize {
  const char* name;
  Index B, H, L, M, E;
  bool causal;
  Guard guard;
  double feature_scale;  // features are feature_scale m^-1/2 e^g, g on [-2, 0]
};
// "gr": features of 1e-5 make every |R_i| < 2^-23, below eps = 1e-6, so the guard fires everywhere.
constexpr LinearSize kLinearSizes[] = {
    {"tiny", 1, 1, 4, 4, 4, false, Guard::none, 1},      {"small", 2, 2, 32, 16, 16, false, Guard::none, 1},
    {"causal", 1, 2, 64, 32, 16, true, Guard::none, 1},  {"causal_lr", 1, 2, 64, 32, 16, true, Guard::lr, 1},
    {"gr", 2, 1, 32, 16, 8, false, Guard::gr, 1e-5},     {"medium", 1, 2, 256, 64, 32, true, Guard::none, 1},
    {"bench", 1, 8, 4096, 256, 64, true, Guard::lr, 1},
};

std::unique_ptr<Algorithm> linear_attention_entry() {
  using P = LinearProblem<double>;
  Entry<P> e;
  e.name = "performer.linear_attention";
  e.spec_ref = "spec/performer.md [PERF-LINEAR-DEF]";
  e.summary =
      "linear attention given features: out_i = (q'_i^T sum_j k'_j v_j^T) / (q'_i . sum_j k'_j), over all j or "
      "j <= i (causal prefix sums), with google-research's or performer-pytorch's renormalizer guard";
  e.inputs = LinearFace::inputs();
  e.outputs = {{"out", "(batch, heads, seqlen, dim_v)", "attention output", false}};
  e.independent_axes = {"batch", "heads"};  // [CORE-SLICES]: one head of one sequence
  e.options = LinearFace::options();
  e.sizes = checked_sizes(kLinearSizes);
  e.extra_sizes = {"bench"};
  e.generate = [](const std::string& size, Format format, std::uint64_t seed) {
    const LinearSize& s = size_row(kLinearSizes, size);
    const std::string stream = "performer.linear_attention/";
    // Positive features, as FAVOR+ makes them: m^-1/2 e^g with g on [-2, 0].
    const double ratio = s.feature_scale / std::sqrt(static_cast<double>(s.M));
    auto feature = [ratio](PhiloxStream& r) { return ratio * std::exp(r.next_uniform(-2, 0)); };
    return P({drawn_array(seed, stream + "q", Shape{s.B, s.H, s.L, s.M}, format, feature),
              drawn_array(seed, stream + "k", Shape{s.B, s.H, s.L, s.M}, format, feature),
              normal_array(seed, stream + "v", Shape{s.B, s.H, s.L, s.E}, format),
              s.causal, s.guard, round_to_format(1e-6, format)});
  };
  e.read = [](const InputReader& r) { return P(LinearFace::read(r)); };
  e.arrays = [](const P& p) { return LinearFace::arrays(p.in()); };
  e.oracle = [](const P& p) { return ExactArrays{{"out", reference::linear_attention<mp_real>(p)}}; };
  const std::string order =
      "S = sum k'_j, P = sum k'_j v_j^T in j order (running when causal); R = sequential q' . S (+ guard); "
      "W = sequential q'^T P; out = W / R";
  cpu_backends(e, order, Outputs{"out"}, [](const auto& p) { return cpu::linear_attention(p); }, &linear_attention_bound);
  cuda_backend(e, order, Outputs{"out"}, [](const auto& p) { return cuda::linear_attention(p); },
               &linear_attention_bound);
  return make_entry(std::move(e));
}

// ---- performer.linear_attention_backward ([PERF-LINEAR-VJP]) ----
struct LinearBackwardSize {
  const char* name;
  Index B, H, L, M, E;
  bool causal, subtraction;
  Guard guard;
  double growth;  // key j scaled by 10^(growth j / (L - 1)): late keys dominate the final state
  Index slice = 0;
};
constexpr LinearBackwardSize kLinearBackwardSizes[] = {
    {"tiny", 1, 1, 4, 4, 4, false, false, Guard::none, 0},
    {"small", 2, 2, 32, 16, 8, false, false, Guard::none, 0},
    {"causal", 1, 2, 64, 16, 8, true, false, Guard::none, 0},
    {"causal_subtraction", 1, 2, 64, 16, 8, true, true, Guard::none, 0},
    {"causal_slices", 1, 2, 64, 16, 8, true, false, Guard::lr, 0, 24},  // slices of 24, 24 and 16
    {"causal_lr", 1, 1, 48, 16, 8, true, true, Guard::lr, 0},
    {"growing", 1, 1, 64, 16, 8, true, false, Guard::none, 2},
    {"growing_subtraction", 1, 1, 64, 16, 8, true, true, Guard::none, 2},
    {"bench", 1, 8, 4096, 256, 64, true, false, Guard::lr, 0},
    {"bench_slices", 1, 8, 4096, 256, 64, true, false, Guard::lr, 0, 64},
};


std::unique_ptr<Algorithm> linear_attention_backward_entry() {
  using P = LinearBackwardProblem<double>;
  Entry<P> e;
  e.name = "performer.linear_attention_backward";
  e.spec_ref = "spec/performer.md [PERF-LINEAR-VJP]";
  e.summary =
      "VJP of linear attention given features (dq, dk, dv from dout), bidirectional or causal; causal prefix "
      "states stored or recovered by subtraction from the final state (google-research, SLiM)";
  e.inputs = with_cotangent<LinearFace>({"dout", "(batch, heads, seqlen, dim_v)", "cotangent of out", false});
  e.inputs.push_back({"state", "()", "0 stored, 1 subtraction (also --option state)", true});
  e.inputs.push_back({"slice", "()", "slice size of the stored form, 0 none (also --option slice)", true});
  e.outputs = {{"dq", "(batch, heads, seqlen, nb_features)", "gradient of q'", false},
               {"dk", "(batch, heads, seqlen, nb_features)", "gradient of k'", false},
               {"dv", "(batch, heads, seqlen, dim_v)", "gradient of v", false}};
  e.independent_axes = {"batch", "heads"};  // [CORE-SLICES]: one head of one sequence
  e.options = LinearFace::options();
  e.options.push_back({"state", "how the kernel gets causal prefix states in the backward pass: stored (from the forward "
                         "pass) or subtraction (P_(i-1) = P_i - k_i v_i^T from the final state); the bound follows it",
                "stored"});
  e.options.push_back({"slice", "with state=stored, keep the prefix states only every `slice` positions and recompute "
                                "each slice's in the backward pass (SLiM's memory scheme; the same values)",
                       "0"});
  e.sizes = checked_sizes(kLinearBackwardSizes);
  e.extra_sizes = {"bench", "bench_slices"};
  e.generate = [](const std::string& size, Format format, std::uint64_t seed) {
    const LinearBackwardSize& s = size_row(kLinearBackwardSizes, size);
    const std::string stream = "performer.linear_attention_backward/";
    const double ratio = 1 / std::sqrt(static_cast<double>(s.M));
    auto feature = [ratio](PhiloxStream& r) { return ratio * std::exp(r.next_uniform(-2, 0)); };
    Tensor<double> k = drawn_array(seed, stream + "k", Shape{s.B, s.H, s.L, s.M}, format, feature);
    for (Index i = 0; i < k.count(); ++i) {
      const Index j = (i / s.M) % s.L;
      k[i] = round_to_format(k[i] * std::pow(10.0, s.growth * static_cast<double>(j) / static_cast<double>(s.L - 1)), format);
    }
    LinearInputs<double> fwd{drawn_array(seed, stream + "q", Shape{s.B, s.H, s.L, s.M}, format, feature), std::move(k),
                             normal_array(seed, stream + "v", Shape{s.B, s.H, s.L, s.E}, format), s.causal, s.guard,
                             round_to_format(1e-6, format)};
    return P({std::move(fwd), normal_array(seed, stream + "dout", Shape{s.B, s.H, s.L, s.E}, format), s.subtraction,
              s.slice});
  };
  e.read = [](const InputReader& r) {
    return P({LinearFace::read(r), r.array("dout"), r.choice("state", {"stored", "subtraction"}, "stored") == "subtraction",
              r.integer("slice", 0, kMaxExtent, 0)});
  };
  e.arrays = [](const P& p) {
    Arrays a = LinearFace::arrays(p.fwd().in());
    a["dout"] = p.dout();
    a["state"] = scalar_array(p.subtraction() ? 1 : 0);
    a["slice"] = scalar_array(static_cast<double>(p.slice()));
    return a;
  };
  e.oracle = [](const P& p) {
    const AttentionGrads<mp_real> g = reference::linear_attention_vjp<mp_real>(p);
    return ExactArrays{{"dq", g.dq}, {"dk", g.dk}, {"dv", g.dv}};
  };
  const std::string order =
      "forward sums in j order (every prefix state stored, or the final state); for i = L-1..0: R, W, dW = g/R, "
      "dR = -(g.out)/R, dq = P dW + dR S, suffix sums C, D; dk = C v + D, dv = C^T k; state=subtraction: "
      "P -= k_i v_i^T after step i; slice=C: the sums at each slice's start kept, a slice's states recomputed from "
      "them when the backward pass enters it";
  cpu_backends(e, order, kGrads, [](const auto& p) { return cpu::linear_attention_vjp(p); }, &linear_attention_vjp_bound);
  cuda_backend(e, order, kGrads, [](const auto& p) { return cuda::linear_attention_vjp(p); },
               &linear_attention_vjp_bound);
  e.any_order_assumption =
      "causal prefix states as sums in any order (state=stored) or recovered by sequential subtraction from the "
      "final state (state=subtraction): pass the form your kernel uses";
  return make_entry(std::move(e));
}

// ---- performer.slim_layer_backward ([PERF-SLIM-VJP]) ----
struct SlimSize {
  const char* name;
  Index L, D, Dh, M;  // M = 0: no projection (f(c q) itself, SLiM's default g(x) = x^2)
  Kernel kernel;
  Index slice;
  bool subtraction;
};
constexpr SlimSize kSlimSizes[] = {
    {"tiny", 4, 4, 4, 0, Kernel::sqr, 0, false},
    {"sqr", 32, 8, 8, 0, Kernel::sqr, 0, false},
    {"elu1_slices", 24, 6, 4, 8, Kernel::elu1, 5, true},  // slices of 5 (the last of 4)
    {"sqr_subtraction", 16, 6, 4, 0, Kernel::sqr, 0, true},
    {"bench", 256, 256, 64, 0, Kernel::sqr, 0, false},  // bench only: the forward's widths, 256 positions
};

template <class T>
Arrays slim_arrays(const SlimLayerGrads<T>& g) {
  return {{"dx", as_double(g.dx)},
          {"dw_q", as_double(g.dw_q)},
          {"dw_k", as_double(g.dw_k)},
          {"dw_v", as_double(g.dw_v)},
          {"dw_o", as_double(g.dw_o)}};
}

std::unique_ptr<Algorithm> slim_layer_backward_entry() {
  using P = SlimLayerProblem<double>;
  Entry<P> e;
  e.name = "performer.slim_layer_backward";
  e.spec_ref = "spec/performer.md [PERF-SLIM-VJP]";
  e.summary =
      "gradients of <dy, y> for one causal Performer layer y = CausalLinearAttention(f(x W_q), f(x W_k), x W_v) W_o "
      "with generalized kernel features, computed slice by slice as SLiM does (slice=C) or by full backprop";
  e.inputs = {{"x", "(seqlen, d_model)", "the layer's input", false},
              {"w_q", "(d_model, d_head)", "query projection", false},
              {"w_k", "(d_model, d_head)", "key projection", false},
              {"w_v", "(d_model, d_head)", "value projection", false},
              {"projection_matrix", "(nb_features, d_head)", "random features w_j as rows (absent: f(c q) itself)", true},
              {"w_o", "(d_head, d_model)", "output projection", false},
              {"dy", "(seqlen, d_model)", "cotangent of y (the loss is <dy, y>)", false},
              {"kernel", "()", "index into relu, elu1, abs, sqr, exp, identity (also --option kernel)", true},
              {"kernel_eps", "()", "added after f (also --option kernel_eps)", true},
              {"state", "()", "0 stored, 1 subtraction (also --option state)", true},
              {"slice", "()", "slice size, 0 none (also --option slice)", true}};
  e.outputs = {{"dx", "(seqlen, d_model)", "gradient of x", false},
               {"dw_q", "(d_model, d_head)", "gradient of w_q", false},
               {"dw_k", "(d_model, d_head)", "gradient of w_k", false},
               {"dw_v", "(d_model, d_head)", "gradient of w_v", false},
               {"dw_o", "(d_head, d_model)", "gradient of w_o", false}};
  e.options = {{"kernel", "f: relu, elu1, abs, sqr, exp, identity (SLiM's default: sqr without a projection)", "sqr"},
               {"kernel_eps", "added after f", "1e-3"},
               {"state", "prefix states in the backward pass: stored (every one kept: full backprop) or subtraction "
                         "(P_(i-1) = P_i - k'_i v_i^T from the final state)",
                "stored (subtraction with a slice)"},
               {"slice", "SLiM's slice size C: the backward pass recomputes one slice's rows at a time and keeps "
                         "only the current prefix state (needs state=subtraction, its default then)",
                "0"}};
  e.sizes = checked_sizes(kSlimSizes);
  e.extra_sizes = {"bench"};
  e.generate = [](const std::string& size, Format format, std::uint64_t seed) {
    const SlimSize& s = size_row(kSlimSizes, size);
    const std::string stream = "performer.slim_layer_backward/";
    const double wd = 1 / std::sqrt(static_cast<double>(s.D)), wo = 1 / std::sqrt(static_cast<double>(s.Dh));
    std::optional<Tensor<double>> w;
    if (s.M > 0) w = normal_array(seed, stream + "projection_matrix", Shape{s.M, s.Dh}, format);
    return P({normal_array(seed, stream + "x", Shape{s.L, s.D}, format),
              normal_array(seed, stream + "w_q", Shape{s.D, s.Dh}, format, wd),
              normal_array(seed, stream + "w_k", Shape{s.D, s.Dh}, format, wd),
              normal_array(seed, stream + "w_v", Shape{s.D, s.Dh}, format, wd), std::move(w),
              normal_array(seed, stream + "w_o", Shape{s.Dh, s.D}, format, wo),
              normal_array(seed, stream + "dy", Shape{s.L, s.D}, format), s.kernel, round_to_format(1e-3, format),
              s.slice, s.subtraction});
  };
  e.read = [](const InputReader& r) {
    const Index slice = r.integer("slice", 0, kMaxExtent, 0);
    const bool subtraction =
        r.choice("state", {"stored", "subtraction"}, slice > 0 ? "subtraction" : "stored") == "subtraction";
    return P({r.array("x"), r.array("w_q"), r.array("w_k"), r.array("w_v"), r.optional_array("projection_matrix"),
              r.array("w_o"), r.array("dy"), parse_kernel(r.choice("kernel", kernel_names(), "sqr")),
              r.real("kernel_eps", 1e-3), slice, subtraction});
  };
  e.arrays = [](const P& p) {
    const auto& in = p.in();
    Arrays a{{"x", in.x},
             {"w_q", in.w_q},
             {"w_k", in.w_k},
             {"w_v", in.w_v},
             {"w_o", in.w_o},
             {"dy", in.dy},
             {"kernel", scalar_array(static_cast<double>(in.kernel))},
             {"kernel_eps", scalar_array(in.kernel_eps)},
             {"state", scalar_array(in.subtraction ? 1 : 0)},
             {"slice", scalar_array(static_cast<double>(in.slice))}};
    if (in.projection) a["projection_matrix"] = *in.projection;
    return a;
  };
  e.oracle = [](const P& p) {
    const SlimLayerGrads<mp_real> g = reference::slim_layer_vjp<mp_real>(p);
    return ExactArrays{{"dx", g.dx}, {"dw_q", g.dw_q}, {"dw_k", g.dw_k}, {"dw_v", g.dw_v}, {"dw_o", g.dw_o}};
  };
  const std::string order =
      "per row: q, k, v sequential dots; t = w . fl(c a), phi = f(t) + eps; forward S, P in j order (every state kept "
      "when stored); backward over slices from the last, rows recomputed, i descending: do = W_o dy_i, R, o, dW, dR, "
      "dq', suffix sums C, D, dk', dv; subtraction: P -= k' v^T after step i; feature VJPs; dx_i and the weight "
      "gradients accumulated in i descending order";
  e.backends = {
      {"cpu-f32", Format::float32, order,
       [](const EntryProblem<P>& h) { return slim_arrays(cpu::slim_layer_vjp(h.f32())); },
       [](const P& p) { return slim_arrays(slim_layer_vjp_bound(p, performer_arithmetic_cpu(Format::float32))); }},
      {"cpu-f64", Format::float64, order,
       [](const EntryProblem<P>& h) { return slim_arrays(cpu::slim_layer_vjp(h.f64())); },
       [](const P& p) { return slim_arrays(slim_layer_vjp_bound(p, performer_arithmetic_cpu(Format::float64))); }},
  };
  e.any_order_bound = [](const P& p, Format compute, double ulps) {
    return slim_arrays(slim_layer_vjp_bound(p, performer_arithmetic_any_order(compute, ulps)));
  };
  e.any_order_assumption =
      "every sum in any order, with the layer's pieces composed as [PERF-SLIM-CPU] writes them (out = W / R; the "
      "prefix states stored as sums or, with state=subtraction, recovered by sequential subtraction): pass the state "
      "form your implementation uses";
  return make_entry(std::move(e));
}

// ---- performer.gaussian_orthogonal_random_matrix ([PERF-RF-ORTHO-DEF]) ----
// The name and the options nb_rows and scaling are performer-pytorch's
// gaussian_orthogonal_random_matrix(nb_rows, nb_columns, scaling) (google-research's
// GaussianOrthogonalRandomMatrix); the Gaussians it draws are inputs here. No independent axes:
// the blocks are independent, but W carries no block axis (row j comes from block j / d).
struct ProjectionSize {
  const char* name;
  Index m, d;
  int scaling;
};
// One full block; a partial last block; scaling 1 with a partial block; three blocks at d = 8.
constexpr ProjectionSize kProjectionSizes[] = {
    {"one_block", 4, 4, 0}, {"partial", 6, 4, 0}, {"sqrt_d", 7, 3, 1}, {"wide", 20, 8, 0}};

std::unique_ptr<Algorithm> gaussian_orthogonal_entry() {
  using P = GaussianOrthogonalProblem<double>;
  Entry<P> e;
  e.name = "performer.gaussian_orthogonal_random_matrix";
  e.spec_ref = "spec/performer.md [PERF-RF-ORTHO-DEF]";
  e.summary =
      "orthogonal random features W (nb_rows, d) from given Gaussian blocks: block k's rows are the columns of "
      "qf(G_k) (R's diagonal positive), the last block's first nb_rows - k d; rows scaled by the norms of fresh "
      "Gaussians (scaling 0) or by sqrt(d) (scaling 1)";
  e.inputs = {{"unstructured_block", "(nb_blocks, dim, dim)", "the Gaussian blocks G_k, nb_blocks = ceil(nb_rows / dim)", false},
              {"multiplier_gaussians", "(nb_rows, dim)", "the fresh Gaussians whose row norms scale W (scaling 0 only)", true},
              {"nb_rows", "()", "m, the rows of W (also --option nb_rows)", true},
              {"scaling", "()", "0 or 1 (also --option scaling)", true}};
  e.outputs = {{"projection_matrix", "(nb_rows, dim)", "the random features w_j as rows", false}};
  e.options = {{"nb_rows", "m, the number of random features (default: multiplier_gaussians' rows, else nb_blocks dim)", ""},
               {"scaling", "0: row j scaled by ||g_j|| (chi(dim) norms); 1: every row by sqrt(dim)", "0"}};
  e.sizes = size_names(kProjectionSizes);
  e.generate = [](const std::string& size, Format format, std::uint64_t seed) {
    // [PERF-RF-ORTHO]'s draws from one named Philox stream: block k's G(a, b) is normal k d^2 + a d
    // + b, the fresh g_j(t) normal ceil(m/d) d^2 + j d + t (reference/performer_random.hpp's indices).
    const ProjectionSize& s = size_row(kProjectionSizes, size);
    const PhiloxStream r(seed, "performer.gaussian_orthogonal_random_matrix");
    const Index nb = (s.m + s.d - 1) / s.d;
    Tensor<double> g(Shape{nb, s.d, s.d});
    for (Index i = 0; i < g.count(); ++i) g[i] = round_to_format(r.normal(static_cast<std::uint64_t>(i)), format);
    std::optional<Tensor<double>> fresh;
    if (s.scaling == 0) {
      fresh = Tensor<double>(Shape{s.m, s.d});
      for (Index i = 0; i < fresh->count(); ++i)
        (*fresh)[i] = round_to_format(r.normal(static_cast<std::uint64_t>(nb * s.d * s.d + i)), format);
    }
    return P(std::move(g), std::move(fresh), s.m, s.scaling);
  };
  e.read = [](const InputReader& r) {
    const Tensor<double>& g = r.array("unstructured_block");
    std::optional<Tensor<double>> fresh = r.optional_array("multiplier_gaussians");
    const Index d = g.rank() == 3 ? g.extent(1) : 1;
    const Index fallback = fresh && fresh->rank() >= 1 ? fresh->extent(0) : (g.rank() == 3 ? g.extent(0) * d : 1);
    const Index m = r.integer("nb_rows", 1, kMaxExtent, fallback);
    const int scaling = static_cast<int>(r.integer("scaling", 0, 1, 0));
    return P(g, std::move(fresh), m, scaling);
  };
  e.arrays = [](const P& p) {
    Arrays a{{"unstructured_block", p.blocks()},
             {"nb_rows", scalar_array(static_cast<double>(p.nb_rows()))},
             {"scaling", scalar_array(p.scaling())}};
    if (p.gaussians()) a["multiplier_gaussians"] = *p.gaussians();
    return a;
  };
  e.oracle = [](const P& p) {
    return ExactArrays{{"projection_matrix", reference::gaussian_orthogonal_random_matrix<mp_real>(p)}};
  };
  cpu_backends(e,
               "per block: Q = orthogonal.qf's modified Gram-Schmidt (dots sequential); s_j = fl(sqrt(g_j . g_j)) "
               "sequential, or fl(sqrt(d)); W(kd + i, t) = fl(s_j Q(t, i))",
               Outputs{"projection_matrix"}, [](const auto& p) { return cpu::gaussian_orthogonal_random_matrix(p); },
               &gaussian_orthogonal_bound);
  e.any_order_assumption =
      "modified Gram-Schmidt per block as orthogonal.qf, every sum in any order, quotients or reciprocal products; "
      "Householder QR (LAPACK, torch.linalg.qr, jnp.linalg.qr) is another algorithm";
  return make_entry(std::move(e));
}

// ---- performer.iid_projection ([PERF-RF-IID-DEF]) ----
// Gaussian rows rescaled to norm sqrt(dim) ([PERF-RF-IID]'s scaling 1, the paper's SMREG); the
// unscaled iid matrix is the draw itself and has no entry. Rows are independent.
struct IidSize {
  const char* name;
  Index m, d;
};
constexpr IidSize kIidSizes[] = {{"tiny", 4, 4}, {"small", 16, 8}, {"tall", 64, 3}, {"one_dim", 5, 1}};

std::unique_ptr<Algorithm> iid_projection_entry() {
  using P = IidProjectionProblem<double>;
  Entry<P> e;
  e.name = "performer.iid_projection";
  e.spec_ref = "spec/performer.md [PERF-RF-IID-DEF]";
  e.summary = "iid Gaussian random features with every row rescaled to norm sqrt(dim): W_j = sqrt(d) g_j / |g_j| "
              "(scaling 1; unscaled iid features are the draw itself)";
  e.inputs = {{"gaussians", "(nb_features, dim)", "the Gaussian rows g_j (none zero)", false}};
  e.outputs = {{"projection_matrix", "(nb_features, dim)", "the random features w_j as rows, |w_j| = sqrt(dim)", false}};
  e.independent_axes = {"nb_features"};  // [CORE-SLICES]: one row
  e.sizes = size_names(kIidSizes);
  e.generate = [](const std::string& size, Format format, std::uint64_t seed) {
    // [PERF-RF-IID]'s draws: g_j(t) is the stream's normal j d + t (random_projection's indices).
    const IidSize& s = size_row(kIidSizes, size);
    const PhiloxStream r(seed, "performer.iid_projection");
    Tensor<double> g(Shape{s.m, s.d});
    for (Index i = 0; i < g.count(); ++i) g[i] = round_to_format(r.normal(static_cast<std::uint64_t>(i)), format);
    return P(std::move(g));
  };
  e.read = [](const InputReader& r) { return P(r.array("gaussians")); };
  e.arrays = [](const P& p) { return Arrays{{"gaussians", p.g()}}; };
  e.oracle = [](const P& p) { return ExactArrays{{"projection_matrix", reference::iid_projection<mp_real>(p)}}; };
  cpu_backends(e, "per row: n = fl(sqrt(g . g)) sequential; c = fl(fl(sqrt(d)) / n); W = fl(g c)",
               Outputs{"projection_matrix"}, [](const auto& p) { return cpu::iid_projection(p); }, &iid_projection_bound);
  e.any_order_assumption =
      "the row's factor sqrt(d) / |g_j| formed first (the quotient or sqrt(d) times a reciprocal), then g times it; "
      "every sum in any order (fl(g sqrt(d)) / |g_j| and other placements are not covered)";
  return make_entry(std::move(e));
}

// ---- performer.slim_layer ([PERF-SLIM-DEF]) ----
constexpr SlimSize kSlimForwardSizes[] = {
    {"tiny", 4, 4, 4, 0, Kernel::sqr, 0, false},
    {"sqr", 32, 8, 8, 0, Kernel::sqr, 0, false},
    {"elu1", 24, 6, 4, 8, Kernel::elu1, 0, false},
    {"exp", 24, 8, 4, 8, Kernel::exp, 0, false},
    // Bench only: d_head 64 and SLiM's default kernel (x^2, no projection), d_model 256, 512 positions:
    // smaller than a production layer so that the oracle stays within minutes (over 40 CPU s at 1024 x 512).
    {"bench", 512, 256, 64, 0, Kernel::sqr, 0, false},
};

std::unique_ptr<Algorithm> slim_layer_entry() {
  using P = SlimLayerForwardProblem<double>;
  Entry<P> e;
  e.name = "performer.slim_layer";
  e.spec_ref = "spec/performer.md [PERF-SLIM-DEF]";
  e.summary =
      "one causal Performer layer y = CausalLinearAttention(f(x W_q), f(x W_k), x W_v) W_o with generalized kernel "
      "features (with or without a projection): the forward of performer.slim_layer_backward";
  e.inputs = {{"x", "(seqlen, d_model)", "the layer's input", false},
              {"w_q", "(d_model, d_head)", "query projection", false},
              {"w_k", "(d_model, d_head)", "key projection", false},
              {"w_v", "(d_model, d_head)", "value projection", false},
              {"projection_matrix", "(nb_features, d_head)", "random features w_j as rows (absent: f(c q) itself)", true},
              {"w_o", "(d_head, d_model)", "output projection", false},
              {"kernel", "()", "index into relu, elu1, abs, sqr, exp, identity (also --option kernel)", true},
              {"kernel_eps", "()", "added after f (also --option kernel_eps)", true}};
  e.outputs = {{"y", "(seqlen, d_model)", "the layer's output", false}};
  e.options = {{"kernel", "f: relu, elu1, abs, sqr, exp, identity (SLiM's default: sqr without a projection)", "sqr"},
               {"kernel_eps", "added after f", "1e-3"}};
  e.sizes = checked_sizes(kSlimForwardSizes);
  e.extra_sizes = {"bench"};
  e.generate = [](const std::string& size, Format format, std::uint64_t seed) {
    const SlimSize& s = size_row(kSlimForwardSizes, size);
    const std::string stream = "performer.slim_layer/";
    const double wd = 1 / std::sqrt(static_cast<double>(s.D)), wo = 1 / std::sqrt(static_cast<double>(s.Dh));
    std::optional<Tensor<double>> w;
    if (s.M > 0) w = normal_array(seed, stream + "projection_matrix", Shape{s.M, s.Dh}, format);
    return P({normal_array(seed, stream + "x", Shape{s.L, s.D}, format),
              normal_array(seed, stream + "w_q", Shape{s.D, s.Dh}, format, wd),
              normal_array(seed, stream + "w_k", Shape{s.D, s.Dh}, format, wd),
              normal_array(seed, stream + "w_v", Shape{s.D, s.Dh}, format, wd), std::move(w),
              normal_array(seed, stream + "w_o", Shape{s.Dh, s.D}, format, wo), s.kernel, round_to_format(1e-3, format)});
  };
  e.read = [](const InputReader& r) {
    return P({r.array("x"), r.array("w_q"), r.array("w_k"), r.array("w_v"), r.optional_array("projection_matrix"),
              r.array("w_o"), parse_kernel(r.choice("kernel", kernel_names(), "sqr")), r.real("kernel_eps", 1e-3)});
  };
  e.arrays = [](const P& p) {
    const auto& in = p.in();
    Arrays a{{"x", in.x},
             {"w_q", in.w_q},
             {"w_k", in.w_k},
             {"w_v", in.w_v},
             {"w_o", in.w_o},
             {"kernel", scalar_array(static_cast<double>(in.kernel))},
             {"kernel_eps", scalar_array(in.kernel_eps)}};
    if (in.projection) a["projection_matrix"] = *in.projection;
    return a;
  };
  e.oracle = [](const P& p) { return ExactArrays{{"y", reference::slim_layer<mp_real>(p)}}; };
  cpu_backends(e,
               "per row i in order: q, k, v sequential dots; t = w . fl(c a), phi = f(t) + eps; S += k', P += k' v^T; "
               "R = q' . S, o = fl(q' . P) / R; y = sequential o . W_o",
               Outputs{"y"}, [](const auto& p) { return cpu::slim_layer(p); }, &slim_layer_bound);
  e.any_order_assumption = "every sum in any order, out = W / R last (the division not replaced by a reciprocal)";
  return make_entry(std::move(e));
}

}  // namespace
}  // namespace touchstone::performer

namespace touchstone {
void register_performer(Registry& registry) {
  registry.add(performer::softmax_attention_entry());
  registry.add(performer::softmax_attention_backward_entry());
  for (const performer::FeatureMapEntry& f : performer::kFeatureMaps) {
    registry.add(performer::features_entry(f));
    if (f.vjp_spec_id) registry.add(performer::features_backward_entry(f));
  }
  registry.add(performer::generalized_features_entry());
  registry.add(performer::generalized_features_backward_entry());
  registry.add(performer::linear_attention_entry());
  registry.add(performer::linear_attention_backward_entry());
  registry.add(performer::slim_layer_entry());
  registry.add(performer::slim_layer_backward_entry());
  registry.add(performer::gaussian_orthogonal_entry());
  registry.add(performer::iid_projection_entry());
}
}  // namespace touchstone
