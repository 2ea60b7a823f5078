// A small Mamba language model for the synthetic tasks (spec/mamba_train.md [MAMBA-TRAIN-LM]):
// token embedding -> n_layer x (h += MambaBlock(RMSNorm(h))) -> RMSNorm -> LM head tied to the
// embedding -> cross-entropy at the batch's target positions. The blocks are
// optimized/cpu/mamba_block's; everything else is here, in a fixed sequential order, so the
// results are the same bits for any thread count.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "cpu/mamba_block.hpp"
#include "touchstone/reference/mamba_block_problem.hpp"
#include "touchstone/train/tasks.hpp"

namespace touchstone::train {

struct LmConfig {
  Index vocab = 16;
  Index d_model = 64;
  Index n_layer = 2;
  Index d_state = 16, d_conv = 4, expand = 2, dt_rank = 0;  // the block's; dt_rank 0 = auto
  double norm_eps = 1e-5;                                    // RMSNorm's eps
  mamba::MambaBlockConfig block() const;
  void validate() const;
};

template <class T>
struct LmWeights {
  Tensor<T> embedding;                            // (vocab, d_model); the LM head is its transpose
  std::vector<Tensor<T>> norm;                    // per layer: RMSNorm weight (d_model)
  std::vector<mamba::MambaBlockWeights<T>> mixer; // per layer
  Tensor<T> norm_f;                               // (d_model)

  // (name, tensor) for every parameter, in a fixed order, with the peer's state_dict names
  // (MambaLMHeadModel: backbone.embedding.weight, backbone.layers.i.norm.weight,
  // backbone.layers.i.mixer.in_proj.weight, ..., backbone.norm_f.weight).
  template <class F>
  void for_each(F&& f) {
    for_each_impl(*this, f);
  }
  template <class F>
  void for_each(F&& f) const {
    for_each_impl(*this, f);
  }
  Index parameter_count() const;
  LmWeights zeros_like() const;

 private:
  template <class W, class F>
  static void for_each_impl(W& w, F& f) {
    f(std::string("backbone.embedding.weight"), w.embedding);
    for (std::size_t l = 0; l < w.mixer.size(); ++l) {
      const std::string p = "backbone.layers." + std::to_string(l) + ".";
      f(p + "norm.weight", w.norm[l]);
      w.mixer[l].for_each([&](const char* name, auto& t) {
        std::string n(name);  // in_proj_weight -> mixer.in_proj.weight; A_log and D stay
        const auto u = n.rfind('_');
        if (u != std::string::npos && (n.substr(u) == "_weight" || n.substr(u) == "_bias"))
          n[u] = '.';
        f(p + "mixer." + n, t);
      });
    }
    f(std::string("backbone.norm_f.weight"), w.norm_f);
  }
};

// [MAMBA-TRAIN-INIT] The peer's initialization (mamba_block_init per layer under seed
// derived from `seed` and the layer, embedding N(0, 0.02^2), norms 1, out_proj divided by
// sqrt(n_layer)), rounded to float32.
LmWeights<double> lm_init(const LmConfig& config, std::uint64_t seed);

template <class T>
LmWeights<T> lm_cast(const LmWeights<double>& w);

// What the backward pass needs.
template <class T>
struct LmCache {
  std::vector<Tensor<T>> resid;     // resid[l]: (batch, seqlen, d_model), input of layer l
  std::vector<Tensor<T>> normed;    // normed[l]: RMSNorm(resid[l]), the block's input
  std::vector<std::vector<T>> rstd; // rstd[l][b*L+t] = 1 / sqrt(mean(x^2) + eps)
  std::vector<mamba::cpu::MambaBlockCache<T>> block;
  Tensor<T> final_in;               // (targets, d_model): resid[n_layer] at the target positions
  std::vector<T> final_rstd;        // (targets)
  Tensor<T> final_out;              // (targets, d_model): norm_f's output
  Tensor<T> probs;                  // (targets, vocab): softmax of the logits
};

struct LmOutput {
  double loss = 0;            // mean cross-entropy over the targets (nats)
  Index correct = 0;          // targets whose argmax logit (lowest index on ties) is the target
  Index count = 0;
  std::vector<std::int32_t> predictions;  // per target
};

// threads: for the blocks (0 = default). With `cache`, fills it for lm_backward.
template <class T>
LmOutput lm_forward(const LmConfig& cfg, const LmWeights<T>& w, const Batch& batch,
                    LmCache<T>* cache = nullptr, int threads = 0);

// Gradient of LmOutput::loss with respect to every parameter.
template <class T>
LmWeights<T> lm_backward(const LmConfig& cfg, const LmWeights<T>& w, const Batch& batch,
                         const LmCache<T>& cache, int threads = 0);

// The non-block pieces, exposed for the tests ([MAMBA-TRAIN-LM-NORM], [MAMBA-TRAIN-LM-HEAD]).
// RMSNorm over the last axis of rows x (rows, n): y = x * rstd * w.
template <class T>
void rmsnorm_forward(const T* x, const T* w, Index rows, Index n, double eps, T* y, T* rstd);
// dx = rstd * (dy*w - xhat * mean(dy*w*xhat)), dw += sum over rows of dy * xhat (rows in order).
template <class T>
void rmsnorm_backward(const T* x, const T* w, const T* rstd, const T* dy, Index rows, Index n,
                      T* dx, T* dw);

// Adam without weight decay (PyTorch's torch.optim.Adam, amsgrad=False) [MAMBA-TRAIN-ADAM].
struct AdamConfig {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
};
template <class T>
struct AdamState {
  LmWeights<T> m, v;
  std::int64_t step = 0;
};
template <class T>
AdamState<T> adam_init(const LmWeights<T>& w);
template <class T>
void adam_step(LmWeights<T>& w, const LmWeights<T>& grad, AdamState<T>& state,
               const AdamConfig& cfg);
// The per-element update, exposed for the test: returns the new (p, m, v).
template <class T>
void adam_update(T& p, T& m, T& v, T g, double lr, double beta1, double beta2, double eps,
                 std::int64_t step);

// Weights <-> .npz (float32 values, the names of LmWeights::for_each).
void save_weights(const std::string& path, const LmWeights<float>& w);
// Reads the weights and infers the config from their shapes.
LmWeights<float> load_weights(const std::string& path, LmConfig* config);

}  // namespace touchstone::train
