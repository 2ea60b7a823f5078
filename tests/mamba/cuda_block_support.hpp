// Shared by the cuda-f32 block's tests on a GPU (cuda_block_test.cpp) and under the host
// emulation of its kernels (cuda_block_emulation_test.cpp): float32 block problems (odd sizes,
// seqlen across the 256-step checkpoint blocks) and bitwise comparisons with cpu-f32.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cpu/mamba_block.hpp"
#include "cuda/mamba_block.hpp"
#include "touchstone/core/random.hpp"
#include "touchstone/reference/mamba_block_problem.hpp"

namespace touchstone::mamba::testing {

struct BlockCase {
  Index batch, seqlen, d_model, d_state, d_conv, dt_rank;
  std::uint64_t seed;
};
// Size 1 everywhere; ragged sizes; seqlen below d_conv; across one and two checkpoint blocks.
inline const std::vector<BlockCase>& block_cases() {
  static const std::vector<BlockCase> cases = {
      {1, 1, 3, 1, 1, 0, 1},   {1, 3, 4, 2, 4, 0, 2},   {2, 9, 5, 3, 3, 2, 3},
      {1, 40, 16, 8, 2, 3, 5}, {2, 300, 6, 5, 4, 0, 7}, {3, 513, 3, 2, 4, 1, 8}};
  return cases;
}

inline Tensor<float> uniform_f32(std::uint64_t seed, const char* name, Shape shape, double lo, double hi) {
  PhiloxStream rng(seed, std::string("test.mamba.cuda_block/") + name);
  Tensor<float> t(std::move(shape));
  for (Index i = 0; i < t.count(); ++i) t[i] = static_cast<float>(rng.next_uniform(lo, hi));
  return t;
}

// Init weights, perturbed so that nothing is at a special value.
inline MambaBlockWeights<float> block_weights(const BlockCase& c) {
  MambaBlockConfig cfg;
  cfg.d_model = c.d_model;
  cfg.d_state = c.d_state;
  cfg.d_conv = c.d_conv;
  cfg.dt_rank = c.dt_rank;
  MambaBlockWeights<float> w = mamba_block_init(cfg, c.seed).cast<float>();
  const Tensor<float> dD = uniform_f32(c.seed, "D", w.D.shape(), -0.5, 0.5);
  for (Index i = 0; i < w.D.count(); ++i) w.D[i] = w.D[i] + dD[i];
  const Tensor<float> dA = uniform_f32(c.seed, "A_log", w.A_log.shape(), -0.3, 0.3);
  for (Index i = 0; i < w.A_log.count(); ++i) w.A_log[i] = w.A_log[i] + dA[i];
  return w;
}
inline Tensor<float> block_hidden(const BlockCase& c, Index seqlen, const char* name = "hidden") {
  return uniform_f32(c.seed, name, Shape{c.batch, seqlen, c.d_model}, -2, 2);
}
inline Tensor<float> block_dout(const BlockCase& c) {
  return uniform_f32(c.seed, "dout", Shape{c.batch, c.seqlen, c.d_model}, -1, 1);
}

// Empty when a and b have the same shape and bits; else where they first differ.
inline std::string bit_difference(const std::string& name, const Tensor<float>& a, const Tensor<float>& b) {
  if (!(a.shape() == b.shape())) return name + ": shapes differ";
  for (Index i = 0; i < a.count(); ++i)
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0)
    {
      char buf[96];
      std::snprintf(buf, sizeof buf, ": %a vs %a", static_cast<double>(a[i]), static_cast<double>(b[i]));
      return name + " differs at " + index_string(a.shape(), i) + buf;
    }
  return std::string();
}

inline std::string cache_difference(const cuda::MambaBlockCache& g, const cpu::MambaBlockCache<float>& c) {
  std::string d;
  auto one = [&](const char* n, const Tensor<float>& a, const Tensor<float>& b) {
    if (d.empty()) d = bit_difference(n, a, b);
  };
  one("x_pre_conv", g.x_pre_conv, c.x_pre_conv);
  one("u", g.u, c.u);
  one("z", g.z, c.z);
  one("dt_low", g.dt_low, c.dt_low);
  one("delta", g.delta, c.delta);
  one("B", g.B, c.B);
  one("C", g.C, c.C);
  one("y", g.y, c.y);
  one("checkpoints", g.checkpoint_states, c.checkpoints.states);
  if (d.empty() && g.checkpoint_block != c.checkpoints.block) d = "checkpoint block differs";
  return d;
}

inline std::string grads_difference(const MambaBlockGrads<float>& a, const MambaBlockGrads<float>& b) {
  std::string d = bit_difference("dhidden", a.dhidden, b.dhidden);
  std::vector<const Tensor<float>*> bs;
  b.dweights.for_each([&](const char*, const Tensor<float>& t) { bs.push_back(&t); });
  std::size_t i = 0;
  a.dweights.for_each([&](const char* n, const Tensor<float>& t) {
    if (d.empty()) d = bit_difference(std::string("d") + n, t, *bs[i]);
    ++i;
  });
  return d;
}

// The state (conv_state, ssm_state) a step starts from.
inline MambaBlockState<float> block_state(const BlockCase& c) {
  const Index di = 2 * c.d_model;
  return {uniform_f32(c.seed, "conv", Shape{c.batch, di, c.d_conv}, -1, 1),
          uniform_f32(c.seed, "ssm", Shape{c.batch, di, c.d_state}, -1, 1)};
}

// Every output of `impl` (forward with its cache, backward, prefill then steps, a step from a
// given state) bitwise against cpu-f32 on case c. Impl has forward(w, hidden, cache*),
// backward(w, cache, dout), prefill(w, hidden, state&), step(w, hidden, state&).
template <class Impl>
void expect_bitwise_cpu_f32(Impl& impl, const BlockCase& c) {
  SCOPED_TRACE("batch " + std::to_string(c.batch) + " seqlen " + std::to_string(c.seqlen) +
               " d_model " + std::to_string(c.d_model) + " d_state " + std::to_string(c.d_state) +
               " d_conv " + std::to_string(c.d_conv));
  const MambaBlockWeights<float> w = block_weights(c);
  const Tensor<float> hidden = block_hidden(c, c.seqlen);
  // Forward and its cache.
  cpu::MambaBlockCache<float> cc;
  const Tensor<float> out_cpu = cpu::mamba_block_forward(w, hidden, &cc);
  cuda::MambaBlockCache gc;
  const Tensor<float> out = impl.forward(w, hidden, &gc);
  EXPECT_EQ(bit_difference("out", out, out_cpu), "");
  EXPECT_EQ(cache_difference(gc, cc), "");
  EXPECT_EQ(bit_difference("out (no cache)", impl.forward(w, hidden, nullptr), out_cpu), "");
  // Backward.
  const Tensor<float> dout = block_dout(c);
  EXPECT_EQ(grads_difference(impl.backward(w, gc, dout), cpu::mamba_block_backward(w, cc, dout)), "");
  // Prefill over a prompt, then tokens one at a time.
  const Index prompt = std::max<Index>(1, c.seqlen / 2), tokens = std::min<Index>(c.seqlen - prompt, 12);
  MambaBlockState<float> sc, sg;
  const Tensor<float> prompt_h = block_hidden(c, prompt, "prompt");
  EXPECT_EQ(bit_difference("prefill out", impl.prefill(w, prompt_h, sg),
                           cpu::mamba_block_prefill(w, prompt_h, sc)), "");
  for (Index k = 0; k < tokens; ++k) {
    const Tensor<float> tok = uniform_f32(c.seed + 1000 + static_cast<std::uint64_t>(k), "token",
                                          Shape{c.batch, 1, c.d_model}, -2, 2);
    EXPECT_EQ(bit_difference("step out", impl.step(w, tok, sg), cpu::mamba_block_step(w, tok, sc)), "");
  }
  EXPECT_EQ(bit_difference("conv_state", sg.conv_state, sc.conv_state), "");
  EXPECT_EQ(bit_difference("ssm_state", sg.ssm_state, sc.ssm_state), "");
  // A step from an arbitrary state.
  MambaBlockState<float> rc = block_state(c), rg = block_state(c);
  const Tensor<float> tok = uniform_f32(c.seed, "step", Shape{c.batch, 1, c.d_model}, -2, 2);
  EXPECT_EQ(bit_difference("step out", impl.step(w, tok, rg), cpu::mamba_block_step(w, tok, rc)), "");
  EXPECT_EQ(bit_difference("step conv_state", rg.conv_state, rc.conv_state), "");
  EXPECT_EQ(bit_difference("step ssm_state", rg.ssm_state, rc.ssm_state), "");
}

}  // namespace touchstone::mamba::testing
