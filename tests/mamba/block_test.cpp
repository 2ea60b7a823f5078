// The Mamba block: every CPU backend against the MPFR oracle within its a-priori bound (forward,
// backward, step), step = forward, prefill, the initialization, invalid inputs, determinism.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <vector>
#include <algorithm>
#include <sstream>

#include "../tightness.hpp"
#include "cpu/mamba_block.hpp"
#include "touchstone/core/metrics.hpp"
#include "touchstone/core/random.hpp"
#include "touchstone/reference/mamba_block.hpp"
#include "touchstone/bounds/mamba_block_bound.hpp"

using namespace touchstone;
using namespace touchstone::mamba;

namespace {

using touchstone::kVacuousRatio;  // [CORE-TIGHTNESS-FLOOR]

struct Case {
  Index batch, seqlen, d_model, d_state, d_conv, dt_rank;
  std::uint64_t seed;
};
// Ragged sizes, seqlen below and above d_conv, d_conv 1..4, dt_rank auto and explicit.
const Case kCases[] = {{1, 1, 3, 1, 1, 0, 1},  {1, 3, 4, 2, 4, 0, 2}, {2, 9, 5, 3, 3, 2, 3},
                       {2, 16, 8, 4, 4, 0, 4}, {1, 40, 16, 8, 2, 3, 5}};

MambaBlockConfig config_of(const Case& c) {
  MambaBlockConfig cfg;
  cfg.d_model = c.d_model;
  cfg.d_state = c.d_state;
  cfg.d_conv = c.d_conv;
  cfg.dt_rank = c.dt_rank;
  return cfg;
}

Tensor<double> uniform(std::uint64_t seed, const char* name, Shape shape, double lo, double hi) {
  PhiloxStream rng(seed, std::string("test.mamba.block/") + name);
  Tensor<double> t(std::move(shape));
  for (Index i = 0; i < t.count(); ++i) t[i] = static_cast<float>(rng.next_uniform(lo, hi));
  return t;
}

// Init weights, perturbed so that nothing is at a special value (D = 1, A_log = log(n+1)).
MambaBlockWeights<double> weights_of(const Case& c) {
  MambaBlockWeights<double> w = mamba_block_init(config_of(c), c.seed);
  Tensor<double> dD = uniform(c.seed, "D", w.D.shape(), -0.5, 0.5);
  for (Index i = 0; i < w.D.count(); ++i) w.D[i] = static_cast<float>(w.D[i] + dD[i]);
  Tensor<double> dA = uniform(c.seed, "A_log", w.A_log.shape(), -0.3, 0.3);
  for (Index i = 0; i < w.A_log.count(); ++i) w.A_log[i] = static_cast<float>(w.A_log[i] + dA[i]);
  return w;
}

MambaBlockProblem<double> problem_of(const Case& c) {
  return MambaBlockProblem<double>(
      weights_of(c), uniform(c.seed, "hidden", Shape{c.batch, c.seqlen, c.d_model}, -2, 2));
}

std::string describe(const ErrorSummary& e, const std::string& what) {
  std::ostringstream s;
  s << what << ": verdict " << (e.pass() ? "pass" : "not pass") << " max err/bound " << e.max_ratio
    << " worst " << e.worst << " computed " << e.worst_computed << " exact " << e.worst_exact
    << " bound " << e.worst_bound;
  return s.str();
}

// Judges one output; returns its max ratio.
double judge_one(const std::string& what, const Tensor<double>& computed,
                 const Tensor<mp_real>& exact, const Tensor<double>& bound, Format f) {
  const ErrorSummary e = compare(what, computed, exact, &bound, f);
  EXPECT_TRUE(e.pass()) << describe(e, what);  // pass: every element within, none unjudged
  return e.max_ratio;
}

bool same_bits(const Tensor<double>& a, const Tensor<double>& b) {
  if (!(a.shape() == b.shape())) return false;
  return std::memcmp(a.data(), b.data(), sizeof(double) * static_cast<std::size_t>(a.count())) == 0;
}
template <class T>
bool same_bits(const Tensor<T>& a, const Tensor<T>& b) {
  return same_bits(a.template cast<double>(), b.template cast<double>());
}

}  // namespace

// covers: MAMBA-BLOCK-DEF MAMBA-BLOCK-CPU MAMBA-BLOCK-BOUND-MODEL MAMBA-BLOCK-BOUND-FWD
// covers: MAMBA-BLOCK-INPROJ MAMBA-BLOCK-CONV MAMBA-BLOCK-XPROJ MAMBA-BLOCK-DTPROJ MAMBA-BLOCK-A
// covers: MAMBA-BLOCK-SCAN MAMBA-BLOCK-OUTPROJ
// covers: MAMBA-BLOCK-BOUND-CPU-F32 MAMBA-BLOCK-BOUND-CPU-F64 MAMBA-BLOCK-BOUND-EVAL
// covers: MAMBA-BLOCK-ELEMENTARY CORE-TRACKED-ADD CORE-TRACKED-ELEMENTARY
TEST(MambaBlock, ForwardWithinBoundOfTheOracle) {
  double worst32 = 0, worst64 = 0;
  for (const Case& c : kCases) {
    const MambaBlockProblem<double> p = problem_of(c);
    reference::MambaBlockResult<mp_real> exact;
    {
      const WorkingPrecision precision(256);
      exact = reference::mamba_block_forward<mp_real>(p);
    }
    const auto w32 = p.weights().cast<float>();
    const Tensor<double> out32 = cpu::mamba_block_forward(w32, p.hidden().cast<float>()).cast<double>();
    const Tensor<double> out64 = cpu::mamba_block_forward(p.weights(), p.hidden());
    const MambaBlockBound b32 = mamba_block_forward_bound(p, block_arithmetic_cpu_f32());
    const MambaBlockBound b64 = mamba_block_forward_bound(p, block_arithmetic_cpu_f64());
    worst32 = std::max(worst32, judge_one("out f32", out32, exact.out, b32.out, Format::float32));
    worst64 = std::max(worst64, judge_one("out f64", out64, exact.out, b64.out, Format::float64));
  }
  EXPECT_GT(worst32, kVacuousRatio);
  EXPECT_GT(worst64, kVacuousRatio);
  std::printf("forward max err/bound: f32 %.3g, f64 %.3g\n", worst32, worst64);
}

// covers: MAMBA-BLOCK-BWD MAMBA-BLOCK-BOUND-BWD MAMBA-BLOCK-BOUND-SUM
TEST(MambaBlock, BackwardWithinBoundOfTheReferenceVjp) {
  double worst32 = 0, worst64 = 0;
  for (const Case& c : kCases) {
    const MambaBlockProblem<double> p = problem_of(c);
    const MambaBlockBackwardProblem<double> q(
        p, uniform(c.seed, "dout", Shape{c.batch, c.seqlen, c.d_model}, -1, 1));
    MambaBlockGrads<mp_real> exact;
    {
      const WorkingPrecision precision(256);
      exact = reference::mamba_block_vjp<mp_real>(q);
    }
    auto run = [&](auto tag, Format f, const BlockArithmetic& m, double& worst) {
      using T = decltype(tag);
      const auto w = p.weights().cast<T>();
      cpu::MambaBlockCache<T> cache;
      cpu::mamba_block_forward(w, p.hidden().cast<T>(), &cache);
      const MambaBlockGrads<T> g = cpu::mamba_block_backward(w, cache, q.dout().cast<T>());
      const MambaBlockGrads<double> bound = mamba_block_backward_bound(q, m);
      worst = std::max(worst, judge_one("dhidden", g.dhidden.template cast<double>(), exact.dhidden,
                                        bound.dhidden, f));
      std::vector<std::pair<std::string, Tensor<double>>> computed;
      g.dweights.for_each([&](const char* n, const Tensor<T>& t) {
        computed.emplace_back(n, t.template cast<double>());
      });
      std::vector<const Tensor<mp_real>*> ex;
      exact.dweights.for_each([&](const char*, const Tensor<mp_real>& t) { ex.push_back(&t); });
      std::vector<const Tensor<double>*> bd;
      bound.dweights.for_each([&](const char*, const Tensor<double>& t) { bd.push_back(&t); });
      for (std::size_t i = 0; i < computed.size(); ++i)
        worst = std::max(worst, judge_one("d" + computed[i].first, computed[i].second, *ex[i],
                                          *bd[i], f));
    };
    run(float{}, Format::float32, block_arithmetic_cpu_f32(), worst32);
    run(double{}, Format::float64, block_arithmetic_cpu_f64(), worst64);
  }
  EXPECT_GT(worst32, kVacuousRatio);
  EXPECT_GT(worst64, kVacuousRatio);
  std::printf("backward max err/bound: f32 %.3g, f64 %.3g\n", worst32, worst64);
}

// The reference VJP against a finite difference of the reference forward at 256 bits: the
// composition of the layers' VJPs is the gradient of <dout, out> (a central difference with
// step 2^-80 errs by O(2^-160)).
// covers: MAMBA-BLOCK-BWD
TEST(MambaBlock, ReferenceVjpMatchesFiniteDifferences) {
  const Case c{1, 5, 4, 2, 3, 0, 7};
  const MambaBlockProblem<double> p = problem_of(c);
  const Tensor<double> dout = uniform(c.seed, "dout", Shape{1, 5, 4}, -1, 1);
  const WorkingPrecision precision(256);
  const MambaBlockGrads<mp_real> g =
      reference::mamba_block_vjp<mp_real>(MambaBlockBackwardProblem<double>(p, dout));
  const auto w = p.weights().cast<mp_real>();
  const auto h = p.hidden().cast<mp_real>();
  const auto dt = dout.cast<mp_real>();
  auto loss = [&](const MambaBlockWeights<mp_real>& ww, const Tensor<mp_real>& hh) {
    const auto r = reference::block_forward(ww, hh);
    mp_real s = 0;
    for (Index i = 0; i < r.out.count(); ++i) s += r.out[i] * dt[i];
    return s;
  };
  const mp_real eps = ldexp(mp_real(1), -80);
  // One element of every weight and of hidden.
  auto check = [&](const char* name, auto get) {
    MambaBlockWeights<mp_real> wp = w, wm = w;
    Tensor<mp_real> hp = h, hm = h;
    mp_real& xp = get(wp, hp);
    xp += eps;
    mp_real& xm = get(wm, hm);
    xm -= eps;
    const mp_real fd = (loss(wp, hp) - loss(wm, hm)) / (2 * eps);
    MambaBlockWeights<mp_real> gw = g.dweights;
    Tensor<mp_real> gh = g.dhidden;
    const mp_real an = get(gw, gh);
    EXPECT_LT(abs(fd - an), ldexp(mp_real(1), -100) * (1 + abs(an))) << name;
  };
  check("hidden", [](MambaBlockWeights<mp_real>&, Tensor<mp_real>& hh) -> mp_real& { return hh[7]; });
  check("in_proj", [](MambaBlockWeights<mp_real>& ww, Tensor<mp_real>&) -> mp_real& { return ww.in_proj_weight[5]; });
  check("in_proj z", [](MambaBlockWeights<mp_real>& ww, Tensor<mp_real>&) -> mp_real& { return ww.in_proj_weight[ww.in_proj_weight.count() - 2]; });
  check("conv1d_weight", [](MambaBlockWeights<mp_real>& ww, Tensor<mp_real>&) -> mp_real& { return ww.conv1d_weight[4]; });
  check("conv1d_bias", [](MambaBlockWeights<mp_real>& ww, Tensor<mp_real>&) -> mp_real& { return ww.conv1d_bias[3]; });
  check("x_proj_weight", [](MambaBlockWeights<mp_real>& ww, Tensor<mp_real>&) -> mp_real& { return ww.x_proj_weight[9]; });
  check("dt_proj_weight", [](MambaBlockWeights<mp_real>& ww, Tensor<mp_real>&) -> mp_real& { return ww.dt_proj_weight[2]; });
  check("dt_proj_bias", [](MambaBlockWeights<mp_real>& ww, Tensor<mp_real>&) -> mp_real& { return ww.dt_proj_bias[1]; });
  check("A_log", [](MambaBlockWeights<mp_real>& ww, Tensor<mp_real>&) -> mp_real& { return ww.A_log[3]; });
  check("D", [](MambaBlockWeights<mp_real>& ww, Tensor<mp_real>&) -> mp_real& { return ww.D[6]; });
  check("out_proj_weight", [](MambaBlockWeights<mp_real>& ww, Tensor<mp_real>&) -> mp_real& { return ww.out_proj_weight[11]; });
}

// Prefill a prompt, then step token by token: the CPU backends give the forward pass's bits
// exactly (the same operations in the same order), and the oracle agrees with itself to its
// precision.
// covers: MAMBA-BLOCK-STEP MAMBA-BLOCK-PREFILL
TEST(MambaBlock, PrefillThenStepEqualsForward) {
  for (const Case& c : kCases) {
    if (c.seqlen < 2) continue;
    const MambaBlockProblem<double> p = problem_of(c);
    const Index L = c.seqlen, P = L / 2, dm = c.d_model;
    auto slice = [&](const Tensor<double>& h, Index t0, Index t1) {
      Tensor<double> s(Shape{c.batch, t1 - t0, dm});
      for (Index b = 0; b < c.batch; ++b)
        for (Index t = t0; t < t1; ++t)
          for (Index m = 0; m < dm; ++m) s(b, t - t0, m) = h(b, t, m);
      return s;
    };
    auto check = [&](auto tag) {
      using T = decltype(tag);
      const auto w = p.weights().cast<T>();
      const Tensor<T> h = p.hidden().cast<T>();
      const Tensor<T> full = cpu::mamba_block_forward(w, h);
      MambaBlockState<T> state;
      const Tensor<T> head = cpu::mamba_block_prefill(w, slice(p.hidden(), 0, P).cast<T>(), state);
      for (Index b = 0; b < c.batch; ++b)
        for (Index t = 0; t < P; ++t)
          for (Index m = 0; m < dm; ++m) ASSERT_EQ(head(b, t, m), full(b, t, m));
      for (Index t = P; t < L; ++t) {
        const Tensor<T> o = cpu::mamba_block_step(w, slice(p.hidden(), t, t + 1).cast<T>(), state);
        for (Index b = 0; b < c.batch; ++b)
          for (Index m = 0; m < dm; ++m) ASSERT_EQ(o(b, 0, m), full(b, t, m)) << "t " << t;
      }
    };
    check(float{});
    check(double{});
    // The oracle: prefill (the forward's final state) then steps, against the full forward.
    const WorkingPrecision precision(256);
    const auto w = p.weights().cast<mp_real>();
    const auto full = reference::block_forward(w, p.hidden().cast<mp_real>());
    auto state = reference::block_forward(w, slice(p.hidden(), 0, P).cast<mp_real>()).state;
    for (Index t = P; t < L; ++t) {
      auto r = reference::block_step(w, slice(p.hidden(), t, t + 1).cast<mp_real>(), state);
      for (Index b = 0; b < c.batch; ++b)
        for (Index m = 0; m < dm; ++m)
          EXPECT_LT(abs(r.out(b, 0, m) - full.out(b, t, m)),
                    ldexp(mp_real(1), -200) * (1 + abs(full.out(b, t, m))));
      state = std::move(r.state);
    }
  }
}

// covers: MAMBA-BLOCK-BOUND-STEP
TEST(MambaBlock, StepWithinBoundOfTheOracle) {
  double worst = 0;
  for (const Case& c : kCases) {
    const MambaBlockWeights<double> w = weights_of(c);
    const Index di = 2 * c.d_model;
    const MambaBlockStepProblem<double> p(
        w, uniform(c.seed, "hidden1", Shape{c.batch, 1, c.d_model}, -2, 2),
        MambaBlockState<double>{uniform(c.seed, "conv", Shape{c.batch, di, c.d_conv}, -1, 1),
                                uniform(c.seed, "ssm", Shape{c.batch, di, c.d_state}, -1, 1)});
    reference::MambaBlockResult<mp_real> exact;
    {
      const WorkingPrecision precision(256);
      exact = reference::mamba_block_step<mp_real>(p);
    }
    auto run = [&](auto tag, Format f, const BlockArithmetic& m) {
      using T = decltype(tag);
      MambaBlockState<T> state{p.state().conv_state.template cast<T>(),
                               p.state().ssm_state.template cast<T>()};
      const Tensor<T> out = cpu::mamba_block_step(w.cast<T>(), p.hidden().cast<T>(), state);
      const MambaBlockBound b = mamba_block_step_bound(p, m);
      worst = std::max(worst, judge_one("out", out.template cast<double>(), exact.out, b.out, f));
      judge_one("conv_state", state.conv_state.template cast<double>(), exact.state.conv_state,
                b.state.conv_state, f);
      judge_one("ssm_state", state.ssm_state.template cast<double>(), exact.state.ssm_state,
                b.state.ssm_state, f);
    };
    run(float{}, Format::float32, block_arithmetic_cpu_f32());
    run(double{}, Format::float64, block_arithmetic_cpu_f64());
  }
  EXPECT_GT(worst, kVacuousRatio);
}

// covers: MAMBA-BLOCK-DETERMINISTIC
TEST(MambaBlock, BitwiseIndependentOfThreads) {
  const Case c{2, 70, 8, 4, 4, 0, 9};  // seqlen > 64: several column tiles
  const MambaBlockProblem<double> p = problem_of(c);
  const Tensor<double> dout = uniform(c.seed, "dout", Shape{2, 70, 8}, -1, 1);
  auto run = [&](auto tag) {
    using T = decltype(tag);
    const auto w = p.weights().cast<T>();
    const Tensor<T> h = p.hidden().cast<T>();
    std::vector<MambaBlockGrads<T>> gs;
    std::vector<Tensor<T>> outs;
    for (int threads : {1, 2, 3}) {
      cpu::MambaBlockCache<T> cache;
      outs.push_back(cpu::mamba_block_forward(w, h, &cache, threads));
      gs.push_back(cpu::mamba_block_backward(w, cache, dout.cast<T>(), threads));
    }
    for (std::size_t i = 1; i < outs.size(); ++i) {
      EXPECT_TRUE(same_bits(outs[0], outs[i]));
      EXPECT_TRUE(same_bits(gs[0].dhidden, gs[i].dhidden));
      std::vector<const Tensor<T>*> a, b;
      gs[0].dweights.for_each([&](const char*, const Tensor<T>& t) { a.push_back(&t); });
      gs[i].dweights.for_each([&](const char*, const Tensor<T>& t) { b.push_back(&t); });
      for (std::size_t k = 0; k < a.size(); ++k) EXPECT_TRUE(same_bits(*a[k], *b[k])) << k;
    }
  };
  run(float{});
  run(double{});
}

// covers: MAMBA-BLOCK-INIT
TEST(MambaBlock, InitializationValuesAndStatistics) {
  MambaBlockConfig cfg;
  cfg.d_model = 64;
  const MambaBlockWeights<double> w = mamba_block_init(cfg, 11);
  const Index di = 128, N = 16, R = 4, K = 4;
  EXPECT_EQ(cfg.resolved_dt_rank(), R);
  const MambaBlockDims s = validate_weights(w);
  EXPECT_EQ(s.d_inner, di);
  EXPECT_EQ(s.dt_rank, R);
  EXPECT_EQ(s.d_state, N);
  EXPECT_EQ(s.d_conv, K);
  // Every value is a float32.
  w.for_each([](const char* name, const Tensor<double>& t) {
    for (Index i = 0; i < t.count(); ++i) ASSERT_EQ(t[i], static_cast<double>(static_cast<float>(t[i]))) << name;
  });
  for (Index d = 0; d < di; ++d) {
    EXPECT_EQ(w.D[d], 1.0);
    for (Index n = 0; n < N; ++n)
      EXPECT_EQ(w.A_log(d, n), static_cast<double>(static_cast<float>(std::log(n + 1.0))));
    // softplus(bias) = dt in [dt_min, dt_max] (up to the bias's float32 rounding).
    const double dt = std::log1p(std::exp(w.dt_proj_bias[d]));
    EXPECT_GE(dt, cfg.dt_min * (1 - 1e-4));
    EXPECT_LE(dt, cfg.dt_max * (1 + 1e-4));
  }
  // U(-s, s): within range, mean 0 and variance s^2/3 within 5 standard errors.
  auto stats = [](const char* name, const Tensor<double>& t, double s) {
    double sum = 0, sq = 0;
    for (Index i = 0; i < t.count(); ++i) {
      ASSERT_LE(std::fabs(t[i]), s * (1 + 1e-7)) << name;
      sum += t[i];
      sq += t[i] * t[i];
    }
    const double n = static_cast<double>(t.count()), var = s * s / 3;
    EXPECT_LT(std::fabs(sum / n), 5 * std::sqrt(var / n)) << name;
    // Var(x^2) for U(-s, s) is s^4 (1/5 - 1/9).
    EXPECT_LT(std::fabs(sq / n - var), 5 * std::sqrt(s * s * s * s * (1.0 / 5 - 1.0 / 9) / n)) << name;
  };
  stats("in_proj", w.in_proj_weight, 1 / std::sqrt(64.0));
  stats("conv1d_weight", w.conv1d_weight, 1 / std::sqrt(4.0));
  stats("conv1d_bias", w.conv1d_bias, 1 / std::sqrt(4.0));
  stats("x_proj", w.x_proj_weight, 1 / std::sqrt(128.0));
  stats("dt_proj", w.dt_proj_weight, 1 / std::sqrt(4.0));
  stats("out_proj", w.out_proj_weight, 1 / std::sqrt(128.0));
  // log dt uniform on [ln dt_min, ln dt_max]: its mean is the midpoint within 5 standard errors.
  {
    MambaBlockConfig big = cfg;
    big.d_model = 2048;
    const MambaBlockWeights<double> wb = mamba_block_init(big, 3);
    double sum = 0;
    const Index n = wb.dt_proj_bias.count();
    for (Index i = 0; i < n; ++i) sum += std::log(std::log1p(std::exp(wb.dt_proj_bias[i])));
    const double lo = std::log(0.001), hi = std::log(0.1);
    EXPECT_LT(std::fabs(sum / n - (lo + hi) / 2), 5 * (hi - lo) / std::sqrt(12.0 * n));
  }
  // The floor: dt_min below the floor clamps every dt at it.
  {
    MambaBlockConfig fl = cfg;
    fl.dt_min = 1e-6;
    fl.dt_max = 2e-6;
    const MambaBlockWeights<double> wf = mamba_block_init(fl, 1);
    for (Index i = 0; i < wf.dt_proj_bias.count(); ++i)
      EXPECT_NEAR(std::log1p(std::exp(wf.dt_proj_bias[i])), 1e-4, 1e-4 * 1e-5);
  }
  // A pure function of (config, seed).
  const MambaBlockWeights<double> again = mamba_block_init(cfg, 11), other = mamba_block_init(cfg, 12);
  EXPECT_TRUE(same_bits(w.in_proj_weight, again.in_proj_weight));
  EXPECT_TRUE(same_bits(w.dt_proj_bias, again.dt_proj_bias));
  EXPECT_FALSE(same_bits(w.in_proj_weight, other.in_proj_weight));
}

// covers: MAMBA-BLOCK-SHAPES MAMBA-BLOCK-NONFINITE
TEST(MambaBlock, InvalidInputsNameTheArgument) {
  const Case c{1, 3, 4, 2, 4, 0, 1};
  const MambaBlockWeights<double> w = weights_of(c);
  const Tensor<double> h(Shape{1, 3, 4}, 0.5);
  auto expect_arg = [](const std::string& arg, auto&& f) {
    try {
      f();
      ADD_FAILURE() << "no InvalidInput for " << arg;
    } catch (const InvalidInput& e) {
      EXPECT_EQ(e.argument(), arg) << e.what();
    }
  };
  auto with = [&](auto mutate) {
    MambaBlockWeights<double> v = w;
    mutate(v);
    return v;
  };
  expect_arg("hidden", [&] { MambaBlockProblem<double>(w, Tensor<double>(Shape{1, 3, 5})); });
  expect_arg("hidden", [&] { MambaBlockProblem<double>(w, Tensor<double>(Shape{3, 4})); });
  expect_arg("hidden", [&] { MambaBlockProblem<double>(w, Tensor<double>(Shape{1, 0, 4})); });
  expect_arg("in_proj_weight", [&] {
    MambaBlockProblem<double>(with([](auto& v) { v.in_proj_weight = Tensor<double>(Shape{7, 4}); }), h);
  });
  expect_arg("conv1d_weight", [&] {
    MambaBlockProblem<double>(with([](auto& v) { v.conv1d_weight = Tensor<double>(Shape{8, 2, 4}); }), h);
  });
  expect_arg("conv1d_bias", [&] {
    MambaBlockProblem<double>(with([](auto& v) { v.conv1d_bias = Tensor<double>(Shape{7}); }), h);
  });
  expect_arg("x_proj_weight", [&] {
    MambaBlockProblem<double>(with([](auto& v) { v.x_proj_weight = Tensor<double>(Shape{6, 8}); }), h);
  });
  expect_arg("dt_proj_weight", [&] {
    MambaBlockProblem<double>(with([](auto& v) { v.dt_proj_weight = Tensor<double>(Shape{8, 1, 1}); }), h);
  });
  expect_arg("dt_proj_bias", [&] {
    MambaBlockProblem<double>(with([](auto& v) { v.dt_proj_bias = Tensor<double>(Shape{9}); }), h);
  });
  expect_arg("A_log", [&] {
    MambaBlockProblem<double>(with([](auto& v) { v.A_log = Tensor<double>(Shape{8}); }), h);
  });
  expect_arg("D", [&] {
    MambaBlockProblem<double>(with([](auto& v) { v.D = Tensor<double>(Shape{1, 8}); }), h);
  });
  expect_arg("out_proj_weight", [&] {
    MambaBlockProblem<double>(with([](auto& v) { v.out_proj_weight = Tensor<double>(Shape{8, 4}); }), h);
  });
  // Non-finite values.
  expect_arg("hidden", [&] {
    Tensor<double> bad = h;
    bad[2] = std::nan("");
    MambaBlockProblem<double>(w, bad);
  });
  expect_arg("A_log", [&] {
    MambaBlockProblem<double>(with([](auto& v) { v.A_log[1] = INFINITY; }), h);
  });
  expect_arg("dout", [&] {
    MambaBlockBackwardProblem<double>(MambaBlockProblem<double>(w, h), Tensor<double>(Shape{1, 3, 3}));
  });
  expect_arg("dout", [&] {
    MambaBlockBackwardProblem<double>(MambaBlockProblem<double>(w, h), Tensor<double>(Shape{1, 3, 4}, NAN));
  });
  // The step.
  const MambaBlockState<double> st{Tensor<double>(Shape{1, 8, 4}), Tensor<double>(Shape{1, 8, 2})};
  expect_arg("hidden", [&] { MambaBlockStepProblem<double>(w, h, st); });
  expect_arg("conv_state", [&] {
    MambaBlockStepProblem<double>(w, Tensor<double>(Shape{1, 1, 4}),
                                  MambaBlockState<double>{Tensor<double>(Shape{1, 8, 3}), st.ssm_state});
  });
  expect_arg("ssm_state", [&] {
    MambaBlockStepProblem<double>(w, Tensor<double>(Shape{1, 1, 4}),
                                  MambaBlockState<double>{st.conv_state, Tensor<double>(Shape{2, 8, 2})});
  });
  // The CPU API validates as well.
  expect_arg("hidden", [&] { cpu::mamba_block_forward(w, Tensor<double>(Shape{1, 3, 5})); });
  // An intermediate that overflows the format is reported, naming hidden.
  expect_arg("hidden", [&] {
    auto big = w.cast<float>();
    for (Index i = 0; i < big.in_proj_weight.count(); ++i) big.in_proj_weight[i] = 3e38f;
    cpu::mamba_block_forward(big, Tensor<float>(Shape{1, 3, 4}, 1.0f));
  });
  // The configuration.
  expect_arg("d_model", [] { mamba_block_init(MambaBlockConfig{}, 0); });
  expect_arg("dt_max", [] {
    MambaBlockConfig c2;
    c2.d_model = 4;
    c2.dt_max = 1e-5;
    mamba_block_init(c2, 0);
  });
  expect_arg("dt_init_floor", [] {
    MambaBlockConfig c2;
    c2.d_model = 4;
    c2.dt_init_floor = 0;
    mamba_block_init(c2, 0);
  });
}

// The registry entries: every default size, every backend within its bound (the loop of
// `touchstone check`), the input and output names, and an any-order bound for every output.
// covers: MAMBA-BLOCK-DEFAULTS MAMBA-BLOCK-BOUND-ANY
#include "builtin.hpp"
TEST(MambaBlock, RegistryEntriesPassOnTheirDefaultProblems) {
  for (const char* name : {"mamba.block", "mamba.block_backward", "mamba.block_step"}) {
    const Algorithm& a = builtin_registry().get(name);
    for (const auto& size : a.sizes())
      for (Format f : {Format::float32, Format::float64}) {
        const auto problem = a.generate(size, f, 0);
        const ExactArrays exact = a.reference(*problem, 256);
        EXPECT_EQ(exact.size(), a.outputs().size()) << name;
        for (const auto& b : a.backends()) {
          if (b.format != f || !b.unavailable_reason().empty()) continue;  // cuda-f32 without a GPU
          const Arrays out = b.run(*problem), bounds = b.bound(*problem);
          for (const auto& j : judge(out, exact, &bounds, f)) {
            EXPECT_TRUE(j.summary.pass()) << name << " " << b.name << " " << size << " " << j.output;
          }
        }
        const Arrays any = a.any_order_bound(*problem, f, 4);
        EXPECT_EQ(any.size(), exact.size()) << name;
        for (const auto& [n, t] : any)
          for (Index i = 0; i < t.count(); ++i) ASSERT_TRUE(std::isfinite(t[i])) << n;
      }
  }
}

namespace {

// |computed - exact| <= bound, evaluated in MPFR (no ErrorSummary: the comparison itself).
bool within(double computed, const mp_real& exact, double bound) {
  if (!std::isfinite(bound) || !std::isfinite(computed)) return false;
  return abs(mp_real(computed) - exact) <= mp_real(bound);
}

// Ratios |computed - exact| / bound of one output: max and median.
std::pair<double, double> tightness(const Tensor<double>& computed, const Tensor<mp_real>& exact,
                                    const Tensor<double>& bound) {
  std::vector<double> r;
  for (Index i = 0; i < exact.count(); ++i)
    r.push_back(to_double(abs(mp_real(computed[i]) - exact[i])) / bound[i]);
  std::sort(r.begin(), r.end());
  const std::size_t n = r.size();
  const double median = n == 0 ? 0 : n % 2 ? r[n / 2] : (r[n / 2 - 1] + r[n / 2]) / 2;
  return {n ? r.back() : 0, median};
}

// One backend's outputs on `p`, run once.
const Arrays& backend_outputs(const Algorithm& a, const ProblemHandle& p, const std::string& backend,
                              std::map<std::string, Arrays>& cache) {
  auto it = cache.find(backend);
  if (it == cache.end())
    for (const auto& b : a.backends())
      if (b.name == backend) it = cache.emplace(backend, b.run(p)).first;
  return it->second;
}

}  // namespace

// [MAMBA-BLOCK-BOUND-ANY] on every default problem of the three entries: the bound is finite;
// cpu-f32 (one of the orders, float32) and cpu-f64 (float64) are within it; the oracle correctly
// rounded to float32, float16, bfloat16 and float64 storage is within it; and it is not vacuous:
// the largest-magnitude exact value of every output, times 1.01, is outside the bound of each
// narrow storage, and so is some element of the exact output times 1.5. Prints the tightness
// table of spec/mamba_block.md.
// covers: MAMBA-BLOCK-BOUND-ANY
TEST(MambaBlock, AnyOrderBoundHoldsAndIsNotVacuous) {
  const Format storages[] = {Format::float32, Format::float16, Format::bfloat16, Format::float64};
  std::printf("| entry | size | output | cpu-f32 max | cpu-f32 median | rn32 oracle max | "
              "rn32 oracle median |\n");
  for (const char* name : {"mamba.block", "mamba.block_backward", "mamba.block_step"}) {
    const Algorithm& a = builtin_registry().get(name);
    for (const auto& size : a.sizes()) {
      const auto problem = a.generate(size, Format::float32, 0);
      const ExactArrays exact = a.reference(*problem, 256);
      const WorkingPrecision precision(256);
      std::map<std::string, Arrays> runs;
      for (Format storage : storages) {
        const Arrays bound = a.any_order_bound(*problem, storage, 1.0);
        ASSERT_EQ(bound.size(), exact.size()) << name;
        for (const auto& [out, ex] : exact) {
          const Tensor<double>& B = bound.at(out);
          ASSERT_EQ(B.count(), ex.count()) << name << " " << out;
          const std::string what = std::string(name) + " " + size + " " + out + " storage " +
                                   std::string(format_info(storage).name);
          double largest = 0;
          Index arg = 0;
          for (Index i = 0; i < ex.count(); ++i) {
            const double v = std::fabs(to_double(ex[i]));
            if (v > largest) largest = v, arg = i;
          }
          if (storage == Format::float16 && largest > format_info(Format::float16).max_finite) {
            std::printf("%s: the exact output overflows float16; case skipped\n", what.c_str());
            continue;
          }
          // 1. Finite everywhere.
          for (Index i = 0; i < B.count(); ++i) ASSERT_TRUE(std::isfinite(B[i])) << what << " " << i;
          // 2. The CPU backends' orders are among the bound's.
          if (storage == Format::float32 || storage == Format::float64) {
            const Tensor<double>& c =
                backend_outputs(a, *problem, storage == Format::float32 ? "cpu-f32" : "cpu-f64", runs)
                    .at(out);
            for (Index i = 0; i < c.count(); ++i)
              EXPECT_TRUE(within(c[i], ex[i], B[i]))
                  << what << " cpu element " << i << ": " << c[i] << " vs " << to_double(ex[i])
                  << " bound " << B[i];
          }
          // 3. The correctly rounded oracle is within.
          Tensor<double> rounded(ex.shape());
          for (Index i = 0; i < ex.count(); ++i) {
            rounded[i] = round_to_format(to_double(ex[i]), storage);
            EXPECT_TRUE(within(rounded[i], ex[i], B[i]))
                << what << " rounded oracle element " << i << ": " << rounded[i] << " bound " << B[i];
          }
          if (storage == Format::float64) continue;
          // 4. Not vacuous. Where the storage format's rounding of the exact value itself errs by
          // more than 1% (float16 subnormals: a few outputs of the backward's tiny problem), every
          // valid bound admits 1.01 x; there the bound must exclude the rounded value's error
          // plus 1% of |x| instead.
          const double v = to_double(ex[arg]);
          const double rn_err = to_double(abs(mp_real(rounded[arg]) - ex[arg]));
          if (rn_err < 0.01 * std::fabs(v)) {
            EXPECT_FALSE(within(v * 1.01, ex[arg], B[arg]))
                << what << ": the largest element " << v << " times 1.01 is within " << B[arg];
          } else {
            std::printf("%s: rn(x) errs by %.3g > 1%% of |x| = %.3g (no valid bound excludes "
                        "1.01 x); bound %.3g\n",
                        what.c_str(), rn_err, 0.01 * std::fabs(v), B[arg]);
            const double away = rounded[arg] >= v ? 1.0 : -1.0;
            EXPECT_FALSE(within(v + away * (rn_err + 0.01 * std::fabs(v)), ex[arg], B[arg]))
                << what << ": the bound " << B[arg] << " exceeds rn(x)'s error " << rn_err
                << " by more than 1% of |x|";
          }
          bool some_outside = false;
          for (Index i = 0; i < ex.count() && !some_outside; ++i)
            some_outside = !within(to_double(ex[i]) * 1.5, ex[i], B[i]);
          EXPECT_TRUE(some_outside) << what << ": the exact output times 1.5 is within the bound";
          if (storage == Format::float32) {
            const auto [cmax, cmed] = tightness(runs.at("cpu-f32").at(out), ex, B);
            const auto [omax, omed] = tightness(rounded, ex, B);
            std::printf("| %s | %s | %s | %.3g | %.3g | %.3g | %.3g |\n", name, size.c_str(),
                        out.c_str(), cmax, cmed, omax, omed);
          }
        }
      }
    }
  }
}
