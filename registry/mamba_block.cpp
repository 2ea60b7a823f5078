// mamba.block, mamba.block_backward and mamba.block_step in the registry: their names, default
// problems, oracles, backends and bounds (spec/mamba_block.md [MAMBA-BLOCK-DEFAULTS]).
#include <algorithm>
#include <iterator>
#include <type_traits>

#include "builtin.hpp"
#include "cpu/mamba_block.hpp"
#include "cuda/device.hpp"
#include "cuda/mamba_block.hpp"
#include "touchstone/core/entry.hpp"
#include "touchstone/reference/mamba_block.hpp"
#include "touchstone/bounds/mamba_block_bound.hpp"

namespace touchstone::mamba {
namespace {

enum class Op { forward, backward, step };

// The problem of each operation, in T.
template <Op op, class T>
using ProblemOf = std::conditional_t<op == Op::forward, MambaBlockProblem<T>,
                                     std::conditional_t<op == Op::backward, MambaBlockBackwardProblem<T>,
                                                        MambaBlockStepProblem<T>>>;

struct BlockSize {
  const char* name;
  Index batch, seqlen, d_model, d_state, d_conv;
};
// [MAMBA-BLOCK-DEFAULTS] tiny: seqlen < d_conv (the conv's zero padding reaches every output);
// small: two batches, seqlen 16, d_inner 16.
constexpr BlockSize kBlockSizes[] = {{"tiny", 1, 3, 4, 2, 4}, {"small", 2, 16, 8, 4, 4}};
// `touchstone bench` only (not a `check` size; [MAMBA-BLOCK-DEFAULTS]): Mamba-130M's block (d_model
// 768, N 16, d_conv 4, expand 2, dt_rank 48), batch 1. The forward and backward: seqlen 64, not
// the peer's training length (2048), so that the MPFR oracle (about 4 million products a token,
// the backward about three times that) finishes within ~300 CPU seconds on one core. The step:
// one token (the peer's generation benchmark steps batch 1).
constexpr BlockSize kBench = {"bench", 1, 64, 768, 16, 4};

// The problem of `op` from its weights and get(name), each other input array.
template <Op op, class Get>
ProblemOf<op, double> make(MambaBlockWeights<double> w, const Get& get) {
  if constexpr (op == Op::forward) return ProblemOf<op, double>(std::move(w), get("hidden"));
  else if constexpr (op == Op::backward)
    return ProblemOf<op, double>(MambaBlockProblem<double>(std::move(w), get("hidden")), get("dout"));
  else return ProblemOf<op, double>(std::move(w), get("hidden"), {get("conv_state"), get("ssm_state")});
}

// Outputs as Map (Arrays or, for the oracle, ExactArrays): the step's, and the gradients.
template <class Map, class T>
typename Map::mapped_type to(Tensor<T>& t) {
  if constexpr (std::is_same_v<typename Map::mapped_type, Tensor<T>>) return std::move(t);
  else return t.template cast<double>();
}
template <class Map, class T>
Map step_outputs(Tensor<T> out, MambaBlockState<T> s) {
  return {{"out", to<Map>(out)}, {"conv_state", to<Map>(s.conv_state)}, {"ssm_state", to<Map>(s.ssm_state)}};
}
template <class Map, class T>
Map grads_outputs(MambaBlockGrads<T> g) {
  Map a{{"dhidden", to<Map>(g.dhidden)}};
  g.dweights.for_each([&](const char* name, Tensor<T>& t) { a[std::string("d") + name] = to<Map>(t); });
  return a;
}

// The CPU block in T or (kGpu) the cuda-f32 backend ([MAMBA-BLOCK-CUDA]): the CPU float32
// block's order on the device.
template <Op op, bool kGpu, class T>
Arrays run(const ProblemOf<op, T>& p) {
  const MambaBlockWeights<T>& w = forward_of(p).weights();
  const Tensor<T>& hidden = forward_of(p).hidden();
  using Cache = std::conditional_t<kGpu, cuda::MambaBlockCache, cpu::MambaBlockCache<T>>;
  auto forward = [&](Cache* cache) {
    if constexpr (kGpu) return cuda::mamba_block_forward(w, hidden, cache);
    else return cpu::mamba_block_forward(w, hidden, cache);
  };
  if constexpr (op == Op::forward) {
    return {{"out", as_double(forward(nullptr))}};
  } else if constexpr (op == Op::backward) {
    Cache cache;
    forward(&cache);
    if constexpr (kGpu) return grads_outputs<Arrays>(cuda::mamba_block_backward(w, cache, p.dout()));
    else return grads_outputs<Arrays>(cpu::mamba_block_backward(w, cache, p.dout()));
  } else {
    MambaBlockState<T> state = p.state();
    Tensor<T> out;
    if constexpr (kGpu) out = cuda::mamba_block_step(w, hidden, state);
    else out = cpu::mamba_block_step(w, hidden, state);
    return step_outputs<Arrays>(std::move(out), std::move(state));
  }
}

template <Op op>
Arrays bound(const ProblemOf<op, double>& p, const BlockArithmetic& m) {
  if constexpr (op == Op::forward) return {{"out", mamba_block_forward_bound(p, m).out}};
  else if constexpr (op == Op::backward) return grads_outputs<Arrays>(mamba_block_backward_bound(p, m));
  else {
    MambaBlockBound b = mamba_block_step_bound(p, m);
    return step_outputs<Arrays>(std::move(b.out), std::move(b.state));
  }
}

template <Op op>
ExactArrays oracle(const ProblemOf<op, double>& p) {
  if constexpr (op == Op::forward) return {{"out", reference::mamba_block_forward<mp_real>(p).out}};
  else if constexpr (op == Op::backward) return grads_outputs<ExactArrays>(reference::mamba_block_vjp<mp_real>(p));
  else {
    auto r = reference::mamba_block_step<mp_real>(p);
    return step_outputs<ExactArrays>(std::move(r.out), std::move(r.state));
  }
}

std::vector<ArraySpec> weight_specs() {
  return {
      {"in_proj_weight", "(2 d_inner, d_model)", "in_proj.weight: rows x | z", false},
      {"conv1d_weight", "(d_inner, 1, d_conv)", "conv1d.weight: depthwise, causal", false},
      {"conv1d_bias", "(d_inner,)", "conv1d.bias", false},
      {"x_proj_weight", "(dt_rank + 2 d_state, d_inner)", "x_proj.weight: rows dt | B | C", false},
      {"dt_proj_weight", "(d_inner, dt_rank)", "dt_proj.weight", false},
      {"dt_proj_bias", "(d_inner,)", "dt_proj.bias: the scan's delta_bias", false},
      {"A_log", "(d_inner, d_state)", "A = -exp(A_log)", false},
      {"D", "(d_inner,)", "skip connection", false},
      {"out_proj_weight", "(d_model, d_inner)", "out_proj.weight", false},
  };
}

template <Op op>
std::unique_ptr<Algorithm> block_entry(const char* name, const char* spec_ref, const char* summary) {
  using P = ProblemOf<op, double>;
  Entry<P> e;
  e.name = name;
  e.spec_ref = std::string("spec/mamba_block.md ") + spec_ref;
  e.summary = summary;
  e.inputs = {{"hidden", op == Op::step ? "(batch, 1, d_model)" : "(batch, seqlen, d_model)",
               "the block's input", false}};
  for (auto& s : weight_specs()) e.inputs.push_back(s);
  if (op == Op::backward) e.inputs.push_back({"dout", "(batch, seqlen, d_model)", "cotangent of out", false});
  if (op == Op::step) {
    e.inputs.push_back({"conv_state", "(batch, d_inner, d_conv)", "last d_conv pre-conv x values", false});
    e.inputs.push_back({"ssm_state", "(batch, d_inner, d_state)", "the scan's state", false});
  }
  if (op == Op::forward) e.outputs = {{"out", "(batch, seqlen, d_model)", "the block's output", false}};
  if (op == Op::step)
    e.outputs = {{"out", "(batch, 1, d_model)", "the block's output", false},
                 {"conv_state", "(batch, d_inner, d_conv)", "state after the step", false},
                 {"ssm_state", "(batch, d_inner, d_state)", "state after the step", false}};
  if (op == Op::backward) {
    e.outputs = {{"dhidden", "(batch, seqlen, d_model)", "gradient of hidden", false}};
    for (auto& s : weight_specs()) e.outputs.push_back({"d" + s.name, s.shape, "gradient of " + s.name, false});
  }
  e.sizes = size_names(kBlockSizes);
  e.extra_sizes = {kBench.name};  // touchstone bench's
  e.generate = [](const std::string& size, Format format, std::uint64_t seed) {
    const BlockSize& s = size_row(kBlockSizes, kBench, size);
    MambaBlockConfig c;
    c.d_model = s.d_model;
    c.d_state = s.d_state;
    c.d_conv = s.d_conv;
    const Index batch = s.batch, L = op == Op::step ? 1 : s.seqlen, di = c.d_inner();
    const std::map<std::string, Shape> shapes = {{"hidden", Shape{batch, L, s.d_model}},
                                                 {"dout", Shape{batch, L, s.d_model}},
                                                 {"conv_state", Shape{batch, di, s.d_conv}},
                                                 {"ssm_state", Shape{batch, di, s.d_state}}};
    // The weights are float32 values: every format holds them.
    return make<op>(mamba_block_init(c, seed), [&](const char* a) {
      return uniform_array(seed, std::string("mamba.block/") + a, shapes.at(a), -1, 1, format);
    });
  };
  e.read = [](const InputReader& r) {
    MambaBlockWeights<double> w;
    w.for_each([&](const char* a, Tensor<double>& t) { t = r.array(a); });
    return make<op>(std::move(w), [&](const char* a) { return r.array(a); });
  };
  e.arrays = [](const P& p) {
    Arrays a{{"hidden", forward_of(p).hidden()}};
    forward_of(p).weights().for_each([&](const char* n, const Tensor<double>& t) { a[n] = t; });
    if constexpr (op == Op::backward) a["dout"] = p.dout();
    if constexpr (op == Op::step) {
      a["conv_state"] = p.state().conv_state;
      a["ssm_state"] = p.state().ssm_state;
    }
    return a;
  };
  e.describe = [](const P& p) {
    const MambaBlockDims& s = forward_of(p).dims();
    const Tensor<double>& h = forward_of(p).hidden();
    return "batch=" + std::to_string(h.extent(0)) + " seqlen=" + std::to_string(h.extent(1)) +
           " d_model=" + std::to_string(s.d_model) + " d_inner=" + std::to_string(s.d_inner) +
           " d_state=" + std::to_string(s.d_state) + " d_conv=" + std::to_string(s.d_conv) +
           " dt_rank=" + std::to_string(s.dt_rank);
  };
  e.oracle = oracle<op>;
  const std::string order =
      op == Op::backward
          ? "reverse of the forward; matrix products and (batch, t) sums by fma in increasing "
            "index; the scan's backward [MAMBA-BWD-CPU]"
          : "matrix products by fma in increasing k; conv by fma from the bias; scan [MAMBA-SCAN-CPU]";
  auto bound_with = [](BlockArithmetic m) { return [m](const P& p) { return bound<op>(p, m); }; };
  e.backends = {
      {"cpu-f32", Format::float32, order,
       [](const EntryProblem<P>& h) { return run<op, false, float>(h.f32()); },
       bound_with(block_arithmetic_cpu_f32())},
      {"cpu-f64", Format::float64, order,
       [](const EntryProblem<P>& h) { return run<op, false, double>(h.f64()); },
       bound_with(block_arithmetic_cpu_f64())},
      // [MAMBA-BLOCK-CUDA] bitwise cpu-f32 on a GPU: its bound is cpu-f32's.
      {"cuda-f32", Format::float32, order + " (the cpu-f32 order: bitwise equal)",
       [](const EntryProblem<P>& h) { return run<op, true, float>(h.f32()); },
       bound_with(block_arithmetic_cpu_f32()), [] { return touchstone::cuda::unavailable_reason(); }},
  };
  // [MAMBA-BLOCK-BOUND-ANY] Any association order of every reduction and of the scan's
  // recurrences, with or without fma, computed in float32 (float64 for float64 storage),
  // elementary functions within `elementary_ulps`, outputs rounded once to `storage`: the
  // Tracked engine of the CPU bounds in its any-order mode. +inf where an intermediate may
  // overflow (outside the bound's domain).
  e.any_order_bound = [](const P& p, Format storage, double elementary_ulps) {
    return bound<op>(p, block_arithmetic_any_order(storage, elementary_ulps));
  };
  return make_entry(std::move(e));
}

}  // namespace
}  // namespace touchstone::mamba

namespace touchstone {
void register_mamba_block(Registry& registry) {
  using mamba::Op;
  registry.add(mamba::block_entry<Op::forward>(
      "mamba.block", "[MAMBA-BLOCK-DEF]", "Mamba block forward (mamba_ssm Mamba module, mamba_simple.py)"));
  registry.add(mamba::block_entry<Op::backward>("mamba.block_backward", "[MAMBA-BLOCK-BWD]",
                                                "Mamba block backward: gradients of hidden and every weight"));
  registry.add(mamba::block_entry<Op::step>("mamba.block_step", "[MAMBA-BLOCK-STEP]",
                                            "Mamba block recurrent step (one token, conv and ssm state)"));
}
}  // namespace touchstone
