// mamba.block, mamba.block_backward and mamba.block_step in the registry: their names, default
// problems, oracles, backends and bounds (spec/mamba_block.md [MAMBA-BLOCK-DEFAULTS]).
#include <limits>
#include <optional>
#include <type_traits>

#include "builtin.hpp"
#include "cpu/mamba_block.hpp"
#include "cuda/device.hpp"
#include "cuda/mamba_block.hpp"
#include "touchstone/core/random.hpp"
#include "touchstone/reference/mamba_block.hpp"
#include "touchstone/reference/mamba_block_bound.hpp"

namespace touchstone::mamba {
namespace {

enum class Op { forward, backward, step };

struct BlockSize {
  const char* name;
  Index batch, seqlen, d_model, d_state, d_conv;
};
// [MAMBA-BLOCK-DEFAULTS] tiny: seqlen < d_conv (the conv's zero padding reaches every output);
// small: two batches, seqlen 16, d_inner 16.
constexpr BlockSize kBlockSizes[] = {{"tiny", 1, 3, 4, 2, 4}, {"small", 2, 16, 8, 4, 4}};

const BlockSize& block_size(const std::string& name) {
  for (const auto& s : kBlockSizes)
    if (name == s.name) return s;
  throw InvalidInput("size", "unknown size '" + name + "' (tiny, small)");
}

Tensor<double> draw(std::uint64_t seed, const char* array, Shape shape, double lo, double hi,
                    Format f) {
  PhiloxStream rng(seed, std::string("mamba.block/") + array);
  Tensor<double> t(std::move(shape));
  for (Index i = 0; i < t.count(); ++i) t[i] = round_to_format(rng.next_uniform(lo, hi), f);
  return t;
}

// Every input of one problem, whichever operation: the weights, hidden, and dout or the state.
struct BlockInputs {
  MambaBlockWeights<double> w;
  Tensor<double> hidden;
  std::optional<Tensor<double>> dout;
  std::optional<MambaBlockState<double>> state;
};

class BlockHandle final : public ProblemHandle {
 public:
  BlockHandle(Op op, BlockInputs in) : op_(op), in_(std::move(in)) {
    // Validation happens here, once, through the problem types.
    switch (op_) {
      case Op::forward: forward_.emplace(in_.w, in_.hidden); break;
      case Op::backward:
        backward_.emplace(MambaBlockProblem<double>(in_.w, in_.hidden), *in_.dout);
        break;
      case Op::step: step_.emplace(in_.w, in_.hidden, *in_.state); break;
    }
  }
  Op op() const { return op_; }
  const BlockInputs& in() const { return in_; }
  const MambaBlockProblem<double>& forward() const { return *forward_; }
  const MambaBlockBackwardProblem<double>& backward() const { return *backward_; }
  const MambaBlockStepProblem<double>& step() const { return *step_; }
  const MambaBlockDims& dims() const {
    return op_ == Op::forward ? forward_->dims()
                              : op_ == Op::backward ? backward_->forward().dims() : step_->dims();
  }

  std::string describe() const override {
    const MambaBlockDims& s = dims();
    return "batch=" + std::to_string(in_.hidden.extent(0)) + " seqlen=" +
           std::to_string(in_.hidden.extent(1)) + " d_model=" + std::to_string(s.d_model) +
           " d_inner=" + std::to_string(s.d_inner) + " d_state=" + std::to_string(s.d_state) +
           " d_conv=" + std::to_string(s.d_conv) + " dt_rank=" + std::to_string(s.dt_rank);
  }
  Format input_format() const override {
    const Arrays all = inputs();
    std::vector<std::span<const double>> arrays;
    for (const auto& [name, t] : all) arrays.push_back(t.values());
    return narrowest_format(arrays);
  }
  Arrays inputs() const override {
    Arrays a{{"hidden", in_.hidden}};
    in_.w.for_each([&](const char* name, const Tensor<double>& t) { a[name] = t; });
    if (in_.dout) a["dout"] = *in_.dout;
    if (in_.state) {
      a["conv_state"] = in_.state->conv_state;
      a["ssm_state"] = in_.state->ssm_state;
    }
    return a;
  }

 private:
  Op op_;
  BlockInputs in_;
  std::optional<MambaBlockProblem<double>> forward_;
  std::optional<MambaBlockBackwardProblem<double>> backward_;
  std::optional<MambaBlockStepProblem<double>> step_;
};

const BlockHandle& handle_of(const ProblemHandle& h) { return dynamic_cast<const BlockHandle&>(h); }

template <class T>
Arrays grads_arrays(const MambaBlockGrads<T>& g) {
  Arrays a{{"dhidden", g.dhidden.template cast<double>()}};
  g.dweights.for_each(
      [&](const char* name, const Tensor<T>& t) { a[std::string("d") + name] = t.template cast<double>(); });
  return a;
}
template <class T>
ExactArrays exact_grads(MambaBlockGrads<T>&& g) {
  ExactArrays a{{"dhidden", std::move(g.dhidden)}};
  g.dweights.for_each([&](const char* name, Tensor<T>& t) { a[std::string("d") + name] = std::move(t); });
  return a;
}

// One backend: the CPU block in T.
template <class T>
Arrays run_cpu(const ProblemHandle& ph) {
  const BlockHandle& h = handle_of(ph);
  if constexpr (std::is_same_v<T, float>) h.require_inputs_in(Format::float32);
  const MambaBlockWeights<T> w = h.in().w.template cast<T>();
  const Tensor<T> hidden = h.in().hidden.template cast<T>();
  switch (h.op()) {
    case Op::forward:
      return {{"out", cpu::mamba_block_forward(w, hidden).template cast<double>()}};
    case Op::backward: {
      cpu::MambaBlockCache<T> cache;
      cpu::mamba_block_forward(w, hidden, &cache);
      return grads_arrays(cpu::mamba_block_backward(w, cache, h.in().dout->template cast<T>()));
    }
    case Op::step: {
      MambaBlockState<T> state{h.in().state->conv_state.template cast<T>(),
                               h.in().state->ssm_state.template cast<T>()};
      Tensor<T> out = cpu::mamba_block_step(w, hidden, state);
      return {{"out", out.template cast<double>()},
              {"conv_state", state.conv_state.template cast<double>()},
              {"ssm_state", state.ssm_state.template cast<double>()}};
    }
  }
  return {};
}

// The cuda-f32 backend ([MAMBA-BLOCK-CUDA]): the CPU float32 block's order on the device.
Arrays run_cuda(const ProblemHandle& ph) {
  const BlockHandle& h = handle_of(ph);
  h.require_inputs_in(Format::float32);
  const MambaBlockWeights<float> w = h.in().w.template cast<float>();
  const Tensor<float> hidden = h.in().hidden.template cast<float>();
  switch (h.op()) {
    case Op::forward: return {{"out", cuda::mamba_block_forward(w, hidden).template cast<double>()}};
    case Op::backward: {
      cuda::MambaBlockCache cache;
      cuda::mamba_block_forward(w, hidden, &cache);
      return grads_arrays(cuda::mamba_block_backward(w, cache, h.in().dout->template cast<float>()));
    }
    case Op::step: {
      MambaBlockState<float> state{h.in().state->conv_state.template cast<float>(),
                                   h.in().state->ssm_state.template cast<float>()};
      Tensor<float> out = cuda::mamba_block_step(w, hidden, state);
      return {{"out", out.template cast<double>()},
              {"conv_state", state.conv_state.template cast<double>()},
              {"ssm_state", state.ssm_state.template cast<double>()}};
    }
  }
  return {};
}

Arrays bound_cpu(const ProblemHandle& ph, const BlockArithmetic& m) {
  const BlockHandle& h = handle_of(ph);
  switch (h.op()) {
    case Op::forward: return {{"out", mamba_block_forward_bound(h.forward(), m).out}};
    case Op::backward: return grads_arrays(mamba_block_backward_bound(h.backward(), m));
    case Op::step: {
      MambaBlockBound b = mamba_block_step_bound(h.step(), m);
      return {{"out", b.out}, {"conv_state", b.state.conv_state}, {"ssm_state", b.state.ssm_state}};
    }
  }
  return {};
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

class BlockEntry final : public Algorithm {
 public:
  explicit BlockEntry(Op op) : op_(op) {
    const BlockArithmetic f32 = block_arithmetic_cpu_f32(), f64 = block_arithmetic_cpu_f64();
    const std::string order =
        op == Op::backward
            ? "reverse of the forward; matrix products and (batch, t) sums by fma in increasing "
              "index; the scan's backward [MAMBA-BWD-CPU]"
            : "matrix products by fma in increasing k; conv by fma from the bias; scan [MAMBA-SCAN-CPU]";
    backends_ = {
        {"cpu-f32", Format::float32, order, [] { return std::string(); }, run_cpu<float>,
         [f32](const ProblemHandle& h) { return bound_cpu(h, f32); }},
        {"cpu-f64", Format::float64, order, [] { return std::string(); }, run_cpu<double>,
         [f64](const ProblemHandle& h) { return bound_cpu(h, f64); }},
        // [MAMBA-BLOCK-CUDA] bitwise cpu-f32 on a GPU: its bound is cpu-f32's.
        {"cuda-f32", Format::float32, order + " (the cpu-f32 order: bitwise equal)",
         [] { return touchstone::cuda::unavailable_reason(); }, run_cuda,
         [f32](const ProblemHandle& h) { return bound_cpu(h, f32); }},
    };
  }

  std::string name() const override {
    return op_ == Op::forward ? "mamba.block" : op_ == Op::backward ? "mamba.block_backward"
                                                                    : "mamba.block_step";
  }
  std::string summary() const override {
    return op_ == Op::forward    ? "Mamba block forward (mamba_ssm Mamba module, mamba_simple.py)"
           : op_ == Op::backward ? "Mamba block backward: gradients of hidden and every weight"
                                 : "Mamba block recurrent step (one token, conv and ssm state)";
  }
  std::string spec_ref() const override {
    return op_ == Op::forward    ? "spec/mamba_block.md [MAMBA-BLOCK-DEF]"
           : op_ == Op::backward ? "spec/mamba_block.md [MAMBA-BLOCK-BWD]"
                                 : "spec/mamba_block.md [MAMBA-BLOCK-STEP]";
  }
  std::vector<ArraySpec> inputs() const override {
    std::vector<ArraySpec> v;
    v.push_back({"hidden", op_ == Op::step ? "(batch, 1, d_model)" : "(batch, seqlen, d_model)",
                 "the block's input", false});
    for (auto& s : weight_specs()) v.push_back(s);
    if (op_ == Op::backward)
      v.push_back({"dout", "(batch, seqlen, d_model)", "cotangent of out", false});
    if (op_ == Op::step) {
      v.push_back({"conv_state", "(batch, d_inner, d_conv)", "last d_conv pre-conv x values", false});
      v.push_back({"ssm_state", "(batch, d_inner, d_state)", "the scan's state", false});
    }
    return v;
  }
  std::vector<ArraySpec> outputs() const override {
    if (op_ == Op::forward) return {{"out", "(batch, seqlen, d_model)", "the block's output", false}};
    if (op_ == Op::step)
      return {{"out", "(batch, 1, d_model)", "the block's output", false},
              {"conv_state", "(batch, d_inner, d_conv)", "state after the step", false},
              {"ssm_state", "(batch, d_inner, d_state)", "state after the step", false}};
    std::vector<ArraySpec> v{{"dhidden", "(batch, seqlen, d_model)", "gradient of hidden", false}};
    for (auto& s : weight_specs()) v.push_back({"d" + s.name, s.shape, "gradient of " + s.name, false});
    return v;
  }
  std::vector<OptionSpec> options() const override { return {}; }
  std::vector<std::string> sizes() const override {
    std::vector<std::string> v;
    for (const auto& s : kBlockSizes) v.push_back(s.name);
    return v;
  }

  std::unique_ptr<ProblemHandle> generate(const std::string& size, Format format,
                                          std::uint64_t seed) const override {
    const BlockSize& s = block_size(size);
    MambaBlockConfig c;
    c.d_model = s.d_model;
    c.d_state = s.d_state;
    c.d_conv = s.d_conv;
    BlockInputs in;
    in.w = mamba_block_init(c, seed);  // float32 values: every format holds them
    const Index L = op_ == Op::step ? 1 : s.seqlen, di = c.d_inner();
    in.hidden = draw(seed, "hidden", Shape{s.batch, L, s.d_model}, -1, 1, format);
    if (op_ == Op::backward) in.dout = draw(seed, "dout", Shape{s.batch, L, s.d_model}, -1, 1, format);
    if (op_ == Op::step)
      in.state = MambaBlockState<double>{
          draw(seed, "conv_state", Shape{s.batch, di, s.d_conv}, -1, 1, format),
          draw(seed, "ssm_state", Shape{s.batch, di, s.d_state}, -1, 1, format)};
    return std::make_unique<BlockHandle>(op_, std::move(in));
  }

  // Names, options, presence, dtypes and shapes were checked by core against inputs()
  // ([CORE-INPUT-CHECK]); the Problem validates the rest.
  std::unique_ptr<ProblemHandle> problem_from_arrays(const NpyMap& arrays, const OptionMap&) const override {
    auto required = [&](const std::string& name) { return arrays.at(name).values; };
    BlockInputs in;
    in.hidden = required("hidden");
    in.w.for_each([&](const char* name, Tensor<double>& t) { t = required(name); });
    if (op_ == Op::backward) in.dout = required("dout");
    if (op_ == Op::step) in.state = MambaBlockState<double>{required("conv_state"), required("ssm_state")};
    return std::make_unique<BlockHandle>(op_, std::move(in));
  }

  ExactArrays oracle(const ProblemHandle& ph, unsigned bits) const override {
    const WorkingPrecision precision(bits);
    const BlockHandle& h = handle_of(ph);
    switch (op_) {
      case Op::forward:
        return {{"out", reference::mamba_block_forward<mp_real>(h.forward()).out}};
      case Op::backward: return exact_grads(reference::mamba_block_vjp<mp_real>(h.backward()));
      case Op::step: {
        auto r = reference::mamba_block_step<mp_real>(h.step());
        return {{"out", std::move(r.out)},
                {"conv_state", std::move(r.state.conv_state)},
                {"ssm_state", std::move(r.state.ssm_state)}};
      }
    }
    return {};
  }

  const std::vector<BackendSpec>& backends() const override { return backends_; }

  // [MAMBA-BLOCK-BOUND-ANY] Any association order of every reduction and of the scan's
  // recurrences, with or without fma, computed in float32 (float64 for float64 storage),
  // elementary functions within `elementary_ulps`, outputs rounded once to `storage`: the
  // Tracked engine of the CPU bounds in its any-order mode. +inf where an intermediate may
  // overflow (outside the bound's domain).
  Arrays any_order_bound(const ProblemHandle& ph, Format storage,
                         double elementary_ulps) const override {
    return bound_cpu(ph, block_arithmetic_any_order(storage, elementary_ulps));
  }

 private:
  // Arrays of the outputs' shapes (the cpu-f64 backend's outputs; only their shapes are used).
  Arrays run_shapes(const ProblemHandle& ph) const { return run_cpu<double>(ph); }

  Op op_;
  std::vector<BackendSpec> backends_;
};

}  // namespace
}  // namespace touchstone::mamba

namespace touchstone {
void register_mamba_block(Registry& registry) {
  registry.add(std::make_unique<mamba::BlockEntry>(mamba::Op::forward));
  registry.add(std::make_unique<mamba::BlockEntry>(mamba::Op::backward));
  registry.add(std::make_unique<mamba::BlockEntry>(mamba::Op::step));
}
}  // namespace touchstone
