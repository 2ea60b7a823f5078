// [PERF-CUDA] The cuda-f32 bodies (optimized/cuda/performer_kernels.cuh) run on the CPU by the
// host emulation (one loop per phase instead of a block's threads, nothing for a barrier) against
// cpu-f32: bit for bit over every element, on several shapes, for every mode, guard and state form,
// the guard's edge |R| <= eps included; and with NaN inputs (which the problems reject,
// [PERF-NONFINITE]) against cpu-f32's order (order/performer_order.hpp on float, what cpu-f32's
// fast paths equal bit for bit) run on the same raw arrays.
// covers: PERF-CUDA
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "cpu/performer.hpp"
#include "cpu/performer_arithmetic.hpp"
#include "cuda/performer_kernels.cuh"
#include "touchstone/core/random.hpp"
#include "touchstone/order/performer_order.hpp"

using namespace touchstone;
using namespace touchstone::performer;

namespace {

// The block policy of the emulation: a phase's indices in one loop; a barrier is nothing.
struct HostBlock {
  template <class F>
  void for_each(std::int64_t n, F&& f) {
    for (std::int64_t i = 0; i < n; ++i) f(i);
  }
  void sync() {}
};

Tensor<float> drawn(Shape s, const std::string& name, double scale, bool positive) {
  PhiloxStream r(20261207, "performer_cuda_emulation_test/" + name);
  Tensor<float> t(std::move(s));
  for (Index i = 0; i < t.count(); ++i) {
    const double z = scale * r.next_normal();
    t[i] = static_cast<float>(positive ? std::exp(z) : z);
  }
  return t;
}

// The first element whose bits differ (any bit: -0 against +0, NaN payloads), or -1; 0 when the
// counts differ.
Index first_bit_difference(const float* a, const float* b, Index count) {
  for (Index i = 0; i < count; ++i)
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) return i;
  return -1;
}
Index first_bit_difference(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() != b.size() ? 0 : first_bit_difference(a.data(), b.data(), static_cast<Index>(a.size()));
}
std::vector<float> values(const Tensor<float>& t) { return {t.data(), t.data() + t.count()}; }

// Raw arrays of one linear-attention problem: (BH, L, M) q, k; (BH, L, E) v, g.
struct LinearRaw {
  Index BH;
  cuda::LinearDims d;
  std::vector<float> q, k, v, g;
};

LinearRaw raw(const LinearProblem<float>& p, const Tensor<float>* g) {
  const auto& in = p.in();
  LinearRaw r{p.batch() * p.heads(), cuda::linear_dims(p), values(in.q), values(in.k), values(in.v), {}};
  if (g) r.g = values(*g);
  return r;
}

std::vector<float> emulate_linear(const LinearRaw& r) {
  const cuda::LinearDims& d = r.d;
  std::vector<float> out(static_cast<std::size_t>(r.BH * d.L * d.E)), state(static_cast<std::size_t>(d.M * (d.E + 1)));
  for (Index bh = 0; bh < r.BH; ++bh) {
    HostBlock b;
    cuda::linear_attention_head(b, &r.q[bh * d.L * d.M], &r.k[bh * d.L * d.M], &r.v[bh * d.L * d.E], d, state.data(),
                                &out[bh * d.L * d.E]);
  }
  return out;
}

struct Grads {
  std::vector<float> dq, dk, dv;
};

Grads emulate_linear_vjp(const LinearRaw& r, bool subtraction, Index chunk) {
  const cuda::LinearDims& d = r.d;
  const Index n = d.M * (d.E + 1), chunks = (d.L + chunk - 1) / chunk;
  Grads g{std::vector<float>(r.q.size()), std::vector<float>(r.q.size()), std::vector<float>(r.v.size())};
  std::vector<float> state(n), ckpt(chunks * n), cs(chunk * n), C(d.M * d.E), D(d.M), dW(d.E), t(d.E), R(1);
  const cuda::LinearVjpScratch s{state.data(), ckpt.data(), cs.data(), C.data(), D.data(), dW.data(), t.data(), R.data()};
  for (Index bh = 0; bh < r.BH; ++bh) {
    HostBlock b;
    const Index a = bh * d.L * d.M, e = bh * d.L * d.E;
    cuda::linear_attention_vjp_head(b, &r.q[a], &r.k[a], &r.v[e], &r.g[e], d, subtraction, chunk, s, &g.dq[a], &g.dk[a],
                                    &g.dv[e]);
  }
  return g;
}

// cpu-f32's order on the raw arrays (NaN allowed).
std::vector<float> order_linear(const LinearRaw& r, double guard_eps) {
  const cuda::LinearDims& d = r.d;
  std::vector<float> out(static_cast<std::size_t>(r.BH * d.L * d.E));
  for (Index bh = 0; bh < r.BH; ++bh) {
    cpu::PerformerArithmetic<float> ar;
    const Index a = bh * d.L * d.M, e = bh * d.L * d.E;
    order::linear_attention_head(
        ar, [&](Index i, Index f) { return static_cast<double>(r.q[a + i * d.M + f]); },
        [&](Index i, Index f) { return static_cast<double>(r.k[a + i * d.M + f]); },
        [&](Index i, Index c) { return static_cast<double>(r.v[e + i * d.E + c]); }, d.L, d.M, d.E, d.causal,
        static_cast<Guard>(d.guard), guard_eps, false, [&](Index i, Index c, float x) { out[e + i * d.E + c] = x; });
  }
  return out;
}

Grads order_linear_vjp(const LinearRaw& r, double guard_eps, bool subtraction) {
  const cuda::LinearDims& d = r.d;
  Grads g{std::vector<float>(r.q.size()), std::vector<float>(r.q.size()), std::vector<float>(r.v.size())};
  for (Index bh = 0; bh < r.BH; ++bh) {
    cpu::PerformerArithmetic<float> ar;
    const Index a = bh * d.L * d.M, e = bh * d.L * d.E;
    order::linear_attention_vjp_head(
        ar, [&](Index i, Index f) { return static_cast<double>(r.q[a + i * d.M + f]); },
        [&](Index i, Index f) { return static_cast<double>(r.k[a + i * d.M + f]); },
        [&](Index i, Index c) { return static_cast<double>(r.v[e + i * d.E + c]); },
        [&](Index i, Index c) { return static_cast<double>(r.g[e + i * d.E + c]); }, d.L, d.M, d.E, d.causal,
        static_cast<Guard>(d.guard), guard_eps, subtraction, [&](Index i, Index f, float x) { g.dq[a + i * d.M + f] = x; },
        [&](Index i, Index f, float x) { g.dk[a + i * d.M + f] = x; },
        [&](Index i, Index c, float x) { g.dv[e + i * d.E + c] = x; });
  }
  return g;
}

// (batch, heads, L, m, dim_v): L = 1, L below, at and above the chunk sizes the tests use, m and
// dim_v from 1 up.
struct LinearShape {
  Index B, H, L, M, E;
};
constexpr LinearShape kLinearShapes[] = {{1, 1, 1, 2, 1}, {2, 3, 7, 12, 5}, {1, 2, 21, 70, 9}, {1, 1, 40, 16, 16}};

// Problems of the shape: positive features (FAVOR+'s), or signed ones (the trigonometric map's, R
// of either sign); with the gr guard a zero query row (R = 0 <= eps: the guard's edge) and, in the
// tiny-feature variant, every |R| below eps.
LinearInputs<float> linear_inputs(const LinearShape& s, bool causal, Guard guard, int variant, const std::string& tag) {
  const bool positive = variant != 1;
  const double scale = variant == 2 ? 1e-3 : 0.7;
  LinearInputs<float> in{drawn(Shape{s.B, s.H, s.L, s.M}, tag + "/q", 0.7, positive),
                         drawn(Shape{s.B, s.H, s.L, s.M}, tag + "/k", 0.7, positive),
                         drawn(Shape{s.B, s.H, s.L, s.E}, tag + "/v", 1.0, false), causal, guard, 1e-6};
  if (variant == 2)  // features near 1e-3 e^z: |R| = |sum q S| mostly below eps = 1e-6 for small L
    for (Index i = 0; i < in.q.count(); ++i) in.q[i] *= static_cast<float>(scale * scale), in.k[i] *= static_cast<float>(scale);
  for (Index f = 0; f < s.M; ++f) in.q(0, 0, s.L - 1, f) = 0;  // R = 0 <= eps (0/0 without a guard)
  // R_0 = eps exactly, the other side of the edge |R| <= eps: S_0 = 1 (k_j0 = 0 but k_00 = 1), q_0 =
  // (fl(eps), 0, ..., 0). With the lr guard S~_0 = fl(1 + eps) instead.
  for (Index j = 0; j < s.L; ++j) in.k(0, 0, j, 0) = j == 0 ? 1.0f : 0.0f;
  for (Index f = 0; f < s.M; ++f) in.q(0, 0, 0, f) = f == 0 ? static_cast<float>(in.guard_eps) : 0.0f;
  return in;
}

}  // namespace

TEST(PerformerCudaEmulation, LinearAttentionEqualsCpuF32BitForBit) {
  for (const LinearShape& s : kLinearShapes)
    for (const bool causal : {false, true})
      for (const Guard guard : {Guard::none, Guard::gr, Guard::lr})
        for (const int variant : {0, 1, 2}) {
          const std::string tag = "linear/" + std::to_string(s.L) + "/" + std::to_string(causal) + "/" +
                                  guard_name(guard) + "/" + std::to_string(variant);
          SCOPED_TRACE(tag);
          const LinearProblem<float> p(linear_inputs(s, causal, guard, variant, tag));
          const LinearRaw r = raw(p, nullptr);
          EXPECT_EQ(first_bit_difference(emulate_linear(r), values(cpu::linear_attention(p))), -1);
        }
}

TEST(PerformerCudaEmulation, LinearAttentionVjpEqualsCpuF32BitForBit) {
  for (const LinearShape& s : kLinearShapes)
    for (const bool causal : {false, true})
      for (const Guard guard : {Guard::none, Guard::gr, Guard::lr})
        for (const int variant : {0, 1, 2})
          for (const int form : {0, 1, 2}) {  // stored, subtraction, stored in slices of 3 (cpu-f32's same values)
            if (form > 0 && !causal) continue;
            const std::string tag = "vjp/" + std::to_string(s.L) + "/" + std::to_string(causal) + "/" +
                                    guard_name(guard) + "/" + std::to_string(variant) + "/" + std::to_string(form);
            SCOPED_TRACE(tag);
            const LinearInputs<float> in = linear_inputs(s, causal, guard, variant, tag);
            const Tensor<float> g = drawn(Shape{s.B, s.H, s.L, s.E}, tag + "/g", 1.0, false);
            const LinearBackwardProblem<float> bp({in, g, form == 1, form == 2 ? Index(3) : Index(0)});
            const AttentionGrads<float> cpu = cpu::linear_attention_vjp(bp);
            const LinearRaw r = raw(bp.fwd(), &g);
            for (const Index chunk : {Index(1), Index(4), Index(64)}) {  // the device's chunk changes no value
              SCOPED_TRACE(chunk);
              const Grads emu = emulate_linear_vjp(r, form == 1, chunk);
              EXPECT_EQ(first_bit_difference(emu.dq, values(cpu.dq)), -1);
              EXPECT_EQ(first_bit_difference(emu.dk, values(cpu.dk)), -1);
              EXPECT_EQ(first_bit_difference(emu.dv, values(cpu.dv)), -1);
            }
          }
}

// NaN inputs: the problems reject them, so the bodies are compared with cpu-f32's order on the
// same raw arrays; NaN spreads through the same elements with the same bits.
TEST(PerformerCudaEmulation, LinearWithNaNEqualsTheOrder) {
  const LinearShape s = kLinearShapes[1];
  for (const bool causal : {false, true})
    for (const Guard guard : {Guard::none, Guard::gr, Guard::lr}) {
      const std::string tag = "nan/" + std::to_string(causal) + guard_name(guard);
      SCOPED_TRACE(tag);
      const LinearInputs<float> in = linear_inputs(s, causal, guard, 0, tag);
      const Tensor<float> g = drawn(Shape{s.B, s.H, s.L, s.E}, tag + "/g", 1.0, false);
      LinearRaw r = raw(LinearProblem<float>(in), &g);
      const float nan = std::numeric_limits<float>::quiet_NaN();
      r.k[(1 * s.L + 3) * s.M + 2] = nan;  // head 1, key 3
      r.v[(4 * s.L + 5) * s.E + 1] = nan;  // head 4, value 5
      r.q[(2 * s.L + 6) * s.M + 0] = nan;  // head 2, query 6
      r.g[(5 * s.L + 2) * s.E + 3] = nan;  // head 5, cotangent 2
      const std::vector<float> out = emulate_linear(r);
      EXPECT_EQ(first_bit_difference(out, order_linear(r, in.guard_eps)), -1);
      Index nans = 0;
      for (float x : out) nans += std::isnan(x);
      EXPECT_GT(nans, 0);
      for (const bool subtraction : {false, true}) {
        if (subtraction && !causal) continue;
        const Grads emu = emulate_linear_vjp(r, subtraction, 4), ord = order_linear_vjp(r, in.guard_eps, subtraction);
        EXPECT_EQ(first_bit_difference(emu.dq, ord.dq), -1);
        EXPECT_EQ(first_bit_difference(emu.dk, ord.dk), -1);
        EXPECT_EQ(first_bit_difference(emu.dv, ord.dv), -1);
      }
    }
}

// ---- The feature maps ----

namespace {

// Raw arrays of a features problem: x (BH, L, D), w (M, D), g (BH, L, width).
struct FeatureRaw {
  Index BH, width;
  cuda::FeatureDims d;
  std::vector<float> x, w, g;
};

FeatureRaw raw(const FeatureProblem<float>& p, const Tensor<float>* g) {
  FeatureRaw r{p.batch() * p.heads(), p.outputs(), cuda::feature_dims(p), values(p.in().x), values(p.in().projection), {}};
  if (g) r.g = values(*g);
  return r;
}

std::vector<float> emulate_features(const FeatureRaw& r, bool vjp) {
  const cuda::FeatureDims& d = r.d;
  std::vector<float> out(static_cast<std::size_t>(r.BH * d.L * (vjp ? d.D : r.width)));
  std::vector<float> u(d.L * d.M), diag(d.L), shift(d.L), G(d.L * 2 * d.M);
  const cuda::FeatureScratch s{u.data(), diag.data(), shift.data(), G.data()};
  for (Index bh = 0; bh < r.BH; ++bh) {
    HostBlock b;
    const float* x = &r.x[bh * d.L * d.D];
    if (vjp)
      cuda::features_vjp_head(b, x, r.w.data(), &r.g[bh * d.L * r.width], d, s, &out[bh * d.L * d.D]);
    else
      cuda::features_head(b, x, r.w.data(), d, s, &out[bh * d.L * r.width]);
  }
  return out;
}

// cpu-f32's order on the raw arrays (NaN allowed).
std::vector<float> order_features(const FeatureRaw& r, double eps, bool vjp) {
  const cuda::FeatureDims& d = r.d;
  const Index width = vjp ? d.D : r.width;
  std::vector<float> out(static_cast<std::size_t>(r.BH * d.L * width));
  for (Index bh = 0; bh < r.BH; ++bh) {
    cpu::PerformerArithmetic<float> ar;
    auto x = [&](Index i, Index t) { return static_cast<double>(r.x[(bh * d.L + i) * d.D + t]); };
    auto w = [&](Index j, Index t) { return static_cast<double>(r.w[j * d.D + t]); };
    auto g = [&](Index i, Index j) { return static_cast<double>(r.g[(bh * d.L + i) * r.width + j]); };
    auto sink = [&](Index i, Index j, float v) { out[(bh * d.L + i) * width + j] = v; };
    const bool hyp = d.map == cuda::kMapHyperbolic;
    if (d.map == cuda::kMapTrig) {
      if (vjp) order::trig_features_vjp_head(ar, x, w, g, d.L, d.D, d.M, false, sink);
      else order::trig_features_head(ar, x, w, d.L, d.D, d.M, false, false, sink);
    } else {
      if (vjp) order::favor_plus_features_vjp_head(ar, x, w, g, d.L, d.D, d.M, d.is_query, false, sink, hyp);
      else order::favor_plus_features_head(ar, x, w, d.L, d.D, d.M, d.is_query, eps, false, sink, hyp);
    }
  }
  return out;
}

// (batch, heads, L, d, m)
struct FeatureShape {
  Index B, H, L, D, M;
};
constexpr FeatureShape kFeatureShapes[] = {{1, 1, 1, 1, 1}, {2, 3, 7, 8, 12}, {1, 2, 21, 40, 70}, {1, 1, 13, 64, 5}};

FeatureInputs<float> feature_inputs(const FeatureShape& s, FeatureMap map, bool is_query, const std::string& tag) {
  return {drawn(Shape{s.B, s.H, s.L, s.D}, tag + "/x", 1.5, false), drawn(Shape{s.M, s.D}, tag + "/w", 1.0, false),
          is_query, map == FeatureMap::trig ? 0.0 : 1e-4, map};
}

}  // namespace

TEST(PerformerCudaEmulation, FeaturesAndVjpEqualCpuF32BitForBit) {
  for (const FeatureShape& s : kFeatureShapes)
    for (const FeatureMap map : {FeatureMap::positive, FeatureMap::hyperbolic, FeatureMap::trig})
      for (const bool is_query : {true, false}) {
        if (map == FeatureMap::trig && !is_query) continue;  // no query/key distinction
        const std::string tag = "features/" + std::to_string(s.L) + "/" + std::to_string(static_cast<int>(map)) +
                                (is_query ? "/q" : "/k");
        SCOPED_TRACE(tag);
        const FeatureProblem<float> p(feature_inputs(s, map, is_query, tag));
        EXPECT_EQ(first_bit_difference(emulate_features(raw(p, nullptr), false), values(cpu::favor_plus_features(p))), -1);
        const Tensor<float> g = drawn(Shape{s.B, s.H, s.L, p.outputs()}, tag + "/g", 1.0, false);
        const FeatureBackwardProblem<float> bp({p.in(), g});
        EXPECT_EQ(first_bit_difference(emulate_features(raw(p, &g), true), values(cpu::favor_plus_features_vjp(bp))), -1);
      }
}

TEST(PerformerCudaEmulation, FeaturesWithNaNEqualTheOrder) {
  const FeatureShape s = kFeatureShapes[1];
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (const FeatureMap map : {FeatureMap::positive, FeatureMap::hyperbolic, FeatureMap::trig})
    for (const bool is_query : {true, false})
      for (const int where : {0, 1, 2}) {  // a NaN in x, in w, in g
        if (map == FeatureMap::trig && !is_query) continue;
        const std::string tag = "features-nan/" + std::to_string(static_cast<int>(map)) + (is_query ? "/q/" : "/k/") +
                                std::to_string(where);
        SCOPED_TRACE(tag);
        const FeatureInputs<float> in = feature_inputs(s, map, is_query, tag);
        const FeatureProblem<float> p(in);
        const Tensor<float> g = drawn(Shape{s.B, s.H, s.L, p.outputs()}, tag + "/g", 1.0, false);
        FeatureRaw r = raw(p, &g);
        if (where == 0) r.x[(2 * s.L + 3) * s.D + 1] = nan;  // head 2, position 3
        if (where == 1) r.w[5 * s.D + 2] = nan;              // feature 5
        if (where == 2) r.g[(4 * s.L + 1) * r.width + 6] = nan;
        const std::vector<float> fwd = emulate_features(r, false), vjp = emulate_features(r, true);
        EXPECT_EQ(first_bit_difference(fwd, order_features(r, in.eps, false)), -1);
        EXPECT_EQ(first_bit_difference(vjp, order_features(r, in.eps, true)), -1);
        Index nans = 0;
        for (float v : vjp) nans += std::isnan(v);
        EXPECT_GT(nans, 0);
      }
}

// ---- Generalized kernel features ----

namespace {

struct GeneralizedRaw {
  Index BH;
  cuda::GeneralizedDims d;
  std::vector<float> x, w, g;
};

GeneralizedRaw raw(const GeneralizedFeatureProblem<float>& p, const Tensor<float>* g) {
  GeneralizedRaw r{p.batch() * p.heads(), cuda::generalized_dims(p), values(p.in().x),
                   p.in().projection ? values(*p.in().projection) : std::vector<float>{}, {}};
  if (g) r.g = values(*g);
  return r;
}

std::vector<float> emulate_generalized(const GeneralizedRaw& r, bool vjp) {
  const cuda::GeneralizedDims& d = r.d;
  std::vector<float> out(static_cast<std::size_t>(r.BH * d.L * (vjp ? d.D : d.M))), G(d.L * d.M);
  const float* w = d.projected ? r.w.data() : nullptr;
  for (Index bh = 0; bh < r.BH; ++bh) {
    HostBlock b;
    const float* x = &r.x[bh * d.L * d.D];
    if (vjp)
      cuda::generalized_vjp_head(b, x, w, &r.g[bh * d.L * d.M], d, G.data(), &out[bh * d.L * d.D]);
    else
      cuda::generalized_head(b, x, w, d, &out[bh * d.L * d.M]);
  }
  return out;
}

std::vector<float> order_generalized(const GeneralizedRaw& r, double kernel_eps, bool normalize_data, bool vjp) {
  const cuda::GeneralizedDims& d = r.d;
  const Index width = vjp ? d.D : d.M;
  std::vector<float> out(static_cast<std::size_t>(r.BH * d.L * width));
  for (Index bh = 0; bh < r.BH; ++bh) {
    cpu::PerformerArithmetic<float> ar;
    auto x = [&](Index i, Index t) { return static_cast<double>(r.x[(bh * d.L + i) * d.D + t]); };
    auto w = [&](Index j, Index t) { return static_cast<double>(r.w[j * d.D + t]); };
    auto g = [&](Index i, Index j) { return static_cast<double>(r.g[(bh * d.L + i) * d.M + j]); };
    auto sink = [&](Index i, Index j, float v) { out[(bh * d.L + i) * width + j] = v; };
    const Kernel f = static_cast<Kernel>(d.kernel);
    if (vjp) order::generalized_features_vjp_head(ar, x, w, g, d.projected, d.L, d.D, d.M, f, normalize_data, sink);
    else order::generalized_features_head(ar, x, w, d.projected, d.L, d.D, d.M, f, normalize_data, kernel_eps, sink);
  }
  return out;
}

GeneralizedFeatureInputs<float> generalized_inputs(const FeatureShape& s, bool projected, Kernel f, bool normalize,
                                                   const std::string& tag) {
  std::optional<Tensor<float>> w;
  if (projected) w = drawn(Shape{s.M, s.D}, tag + "/w", 1.0, false);
  Tensor<float> x = drawn(Shape{s.B, s.H, s.L, s.D}, tag + "/x", 1.5, false);
  x[0] = 0.0f;  // t = 0 without a projection: the kinks of relu, abs, elu1 (their one-sided choice)
  return {std::move(x), std::move(w), f, normalize, 1e-3};
}

}  // namespace

TEST(PerformerCudaEmulation, GeneralizedFeaturesAndVjpEqualCpuF32BitForBit) {
  for (const FeatureShape& s : kFeatureShapes)
    for (const Kernel f : {Kernel::relu, Kernel::elu1, Kernel::abs, Kernel::sqr, Kernel::exp, Kernel::identity})
      for (const bool projected : {true, false})
        for (const bool normalize : {true, false}) {
          const std::string tag = "generalized/" + std::to_string(s.L) + "/" + std::to_string(static_cast<int>(f)) +
                                  "/" + std::to_string(projected) + std::to_string(normalize);
          SCOPED_TRACE(tag);
          const GeneralizedFeatureProblem<float> p(generalized_inputs(s, projected, f, normalize, tag));
          EXPECT_EQ(first_bit_difference(emulate_generalized(raw(p, nullptr), false),
                                         values(cpu::generalized_features(p))),
                    -1);
          const Tensor<float> g = drawn(Shape{s.B, s.H, s.L, p.features()}, tag + "/g", 1.0, false);
          const GeneralizedFeatureBackwardProblem<float> bp({p.in(), g});
          EXPECT_EQ(first_bit_difference(emulate_generalized(raw(p, &g), true), values(cpu::generalized_features_vjp(bp))),
                    -1);
        }
}

TEST(PerformerCudaEmulation, GeneralizedWithNaNEqualsTheOrder) {
  const FeatureShape s = kFeatureShapes[1];
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (const Kernel f : {Kernel::relu, Kernel::elu1, Kernel::abs, Kernel::sqr, Kernel::exp, Kernel::identity})
    for (const bool projected : {true, false}) {
      const std::string tag = "generalized-nan/" + std::to_string(static_cast<int>(f)) + std::to_string(projected);
      SCOPED_TRACE(tag);
      const GeneralizedFeatureInputs<float> in = generalized_inputs(s, projected, f, true, tag);
      const GeneralizedFeatureProblem<float> p(in);
      const Tensor<float> g = drawn(Shape{s.B, s.H, s.L, p.features()}, tag + "/g", 1.0, false);
      GeneralizedRaw r = raw(p, &g);
      r.x[(2 * s.L + 3) * s.D + 1] = nan;
      r.g[(4 * s.L + 1) * r.d.M + 6] = -nan;
      EXPECT_EQ(first_bit_difference(emulate_generalized(r, false), order_generalized(r, in.kernel_eps, true, false)), -1);
      EXPECT_EQ(first_bit_difference(emulate_generalized(r, true), order_generalized(r, in.kernel_eps, true, true)), -1);
    }
}

// ---- Exact softmax attention ----

namespace {

// Raw arrays of a softmax-attention problem: (BH, L, D) q, k; (BH, L, E) v, g.
struct SoftmaxRaw {
  Index BH;
  cuda::SoftmaxDims d;
  std::vector<float> q, k, v, g;
};

SoftmaxRaw raw(const AttentionProblem<float>& p, const Tensor<float>* g) {
  const auto& in = p.in();
  SoftmaxRaw r{p.batch() * p.heads(), cuda::softmax_dims(p), values(in.q), values(in.k), values(in.v), {}};
  if (g) r.g = values(*g);
  return r;
}

std::vector<float> emulate_softmax(const SoftmaxRaw& r) {
  const cuda::SoftmaxDims& d = r.d;
  std::vector<float> out(r.v.size()), e(d.L + 1);
  for (Index bh = 0; bh < r.BH; ++bh) {
    HostBlock b;
    const Index a = bh * d.L * d.D, c = bh * d.L * d.E;
    cuda::softmax_attention_head(b, &r.q[a], &r.k[a], &r.v[c], d, e.data(), &out[c]);
  }
  return out;
}

Grads emulate_softmax_vjp(const SoftmaxRaw& r) {
  const cuda::SoftmaxDims& d = r.d;
  Grads g{std::vector<float>(r.q.size()), std::vector<float>(r.q.size()), std::vector<float>(r.v.size())};
  std::vector<float> e(d.L + 1), ds(d.L), out(d.E), den(1);
  const cuda::SoftmaxVjpScratch s{e.data(), ds.data(), out.data(), den.data()};
  for (Index bh = 0; bh < r.BH; ++bh) {
    HostBlock b;
    const Index a = bh * d.L * d.D, c = bh * d.L * d.E;
    cuda::softmax_attention_vjp_head(b, &r.q[a], &r.k[a], &r.v[c], &r.g[c], d, s, &g.dq[a], &g.dk[a], &g.dv[c]);
  }
  return g;
}

// cpu-f32's order (order/performer_order.hpp, cpu-f32's placement) on the raw arrays (NaN allowed).
std::vector<float> order_softmax(const SoftmaxRaw& r) {
  const cuda::SoftmaxDims& d = r.d;
  std::vector<float> out(r.v.size());
  for (Index bh = 0; bh < r.BH; ++bh) {
    cpu::PerformerArithmetic<float> ar;
    const Index a = bh * d.L * d.D, c = bh * d.L * d.E;
    order::softmax_attention_head(
        ar, [&](Index i, Index t) { return static_cast<double>(r.q[a + i * d.D + t]); },
        [&](Index i, Index t) { return static_cast<double>(r.k[a + i * d.D + t]); },
        [&](Index i, Index x) { return static_cast<double>(r.v[c + i * d.E + x]); }, d.L, d.D, d.E, d.causal,
        order::SoftmaxPlacement{}, [&](Index i, Index x, float y) { out[c + i * d.E + x] = y; });
  }
  return out;
}

Grads order_softmax_vjp(const SoftmaxRaw& r) {
  const cuda::SoftmaxDims& d = r.d;
  Grads g{std::vector<float>(r.q.size()), std::vector<float>(r.q.size()), std::vector<float>(r.v.size())};
  for (Index bh = 0; bh < r.BH; ++bh) {
    cpu::PerformerArithmetic<float> ar;
    const Index a = bh * d.L * d.D, c = bh * d.L * d.E;
    order::softmax_attention_vjp_head(
        ar, [&](Index i, Index t) { return static_cast<double>(r.q[a + i * d.D + t]); },
        [&](Index i, Index t) { return static_cast<double>(r.k[a + i * d.D + t]); },
        [&](Index i, Index x) { return static_cast<double>(r.v[c + i * d.E + x]); },
        [&](Index i, Index x) { return static_cast<double>(r.g[c + i * d.E + x]); }, d.L, d.D, d.E, d.causal,
        order::SoftmaxPlacement{}, [&](Index i, Index t, float y) { g.dq[a + i * d.D + t] = y; },
        [&](Index i, Index t, float y) { g.dk[a + i * d.D + t] = y; },
        [&](Index i, Index x, float y) { g.dv[c + i * d.E + x] = y; });
  }
  return g;
}

// (batch, heads, L, d, dim_v): L = 1, odd and even L, d and dim_v from 1 up.
struct SoftmaxShape {
  Index B, H, L, D, E;
};
constexpr SoftmaxShape kSoftmaxShapes[] = {{1, 1, 1, 1, 1}, {2, 3, 7, 8, 5}, {1, 2, 21, 16, 9}, {1, 1, 40, 3, 16}};

// Variants: 0 q, k ~ N(0, 1); 1 sharp (N(0, 6^2): logits of hundreds, most weights underflow to 0);
// 2 ties: every key of head 0 equal (equal logits, the max met many times) and a zero query row
// (every logit 0), with -0 in v; 3 tiny (N(0, 1e-20^2): the products and logits
// subnormal).
AttentionInputs<float> softmax_inputs(const SoftmaxShape& s, bool causal, int variant, const std::string& tag) {
  const double scale = variant == 1 ? 6.0 : variant == 3 ? 1e-20 : 1.0;
  AttentionInputs<float> in{drawn(Shape{s.B, s.H, s.L, s.D}, tag + "/q", scale, false),
                            drawn(Shape{s.B, s.H, s.L, s.D}, tag + "/k", scale, false),
                            drawn(Shape{s.B, s.H, s.L, s.E}, tag + "/v", 1.0, false), causal};
  if (variant == 2) {
    for (Index j = 0; j < s.L; ++j)
      for (Index t = 0; t < s.D; ++t) in.k(0, 0, j, t) = in.k(0, 0, 0, t);
    for (Index t = 0; t < s.D; ++t) in.q(0, 0, s.L - 1, t) = 0.0f;
    for (Index j = 0; j < s.L; ++j) in.v(0, 0, j, 0) = -0.0f;
  }
  return in;
}

}  // namespace

TEST(PerformerCudaEmulation, SoftmaxAttentionAndVjpEqualCpuF32BitForBit) {
  for (const SoftmaxShape& s : kSoftmaxShapes)
    for (const bool causal : {false, true})
      for (const int variant : {0, 1, 2, 3}) {
        const std::string tag =
            "softmax/" + std::to_string(s.L) + "/" + std::to_string(causal) + "/" + std::to_string(variant);
        SCOPED_TRACE(tag);
        const AttentionInputs<float> in = softmax_inputs(s, causal, variant, tag);
        const AttentionProblem<float> p(in);
        EXPECT_EQ(first_bit_difference(emulate_softmax(raw(p, nullptr)), values(cpu::softmax_attention(p))), -1);
        const Tensor<float> g = drawn(Shape{s.B, s.H, s.L, s.E}, tag + "/g", 1.0, false);
        const AttentionBackwardProblem<float> bp({in, g});
        const AttentionGrads<float> cpu = cpu::softmax_attention_vjp(bp);
        const Grads emu = emulate_softmax_vjp(raw(p, &g));
        EXPECT_EQ(first_bit_difference(emu.dq, values(cpu.dq)), -1);
        EXPECT_EQ(first_bit_difference(emu.dk, values(cpu.dk)), -1);
        EXPECT_EQ(first_bit_difference(emu.dv, values(cpu.dv)), -1);
      }
}

// Non-finite inputs: the problems reject them, so the bodies are compared with cpu-f32's order on
// the same raw arrays: NaN in q, k, v or g, and an infinite key (logit +inf: exp(inf - inf) = NaN).
TEST(PerformerCudaEmulation, SoftmaxWithNonFiniteEqualsTheOrder) {
  const SoftmaxShape s = kSoftmaxShapes[1];
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  for (const bool causal : {false, true})
    for (const int where : {0, 1, 2, 3, 4}) {
      const std::string tag = "softmax-nan/" + std::to_string(causal) + "/" + std::to_string(where);
      SCOPED_TRACE(tag);
      const AttentionInputs<float> in = softmax_inputs(s, causal, 0, tag);
      const Tensor<float> g = drawn(Shape{s.B, s.H, s.L, s.E}, tag + "/g", 1.0, false);
      SoftmaxRaw r = raw(AttentionProblem<float>(in), &g);
      if (where == 0) r.q[(2 * s.L + 3) * s.D + 1] = nan;  // head 2, query 3
      if (where == 1) r.k[(1 * s.L + 4) * s.D + 0] = nan;  // head 1, key 4
      if (where == 2) r.v[(4 * s.L + 5) * s.E + 2] = nan;  // head 4, value 5
      if (where == 3) r.g[(5 * s.L + 2) * s.E + 3] = nan;  // head 5, cotangent 2
      if (where == 4) r.k[(3 * s.L + 1) * s.D + 2] = inf;  // head 3, key 1
      const std::vector<float> out = emulate_softmax(r);
      EXPECT_EQ(first_bit_difference(out, order_softmax(r)), -1);
      const Grads emu = emulate_softmax_vjp(r), ord = order_softmax_vjp(r);
      EXPECT_EQ(first_bit_difference(emu.dq, ord.dq), -1);
      EXPECT_EQ(first_bit_difference(emu.dk, ord.dk), -1);
      EXPECT_EQ(first_bit_difference(emu.dv, ord.dv), -1);
      Index nans = 0;
      for (const auto* a : {&emu.dq, &emu.dk, &emu.dv})
        for (float x : *a) nans += std::isnan(x);
      EXPECT_GT(nans, 0);
    }
}
