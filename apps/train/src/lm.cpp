// spec/mamba_train.md [MAMBA-TRAIN-LM], [MAMBA-TRAIN-INIT], [MAMBA-TRAIN-ADAM].
#include "touchstone/train/lm.hpp"

#include <cmath>
#include <set>

#include "touchstone/core/errors.hpp"
#include "touchstone/core/npy.hpp"
#include "touchstone/core/random.hpp"

namespace touchstone::train {

mamba::MambaBlockConfig LmConfig::block() const {
  mamba::MambaBlockConfig c;
  c.d_model = d_model;
  c.d_state = d_state;
  c.d_conv = d_conv;
  c.expand = expand;
  c.dt_rank = dt_rank;
  return c;
}

void LmConfig::validate() const {
  if (vocab < 2) throw InvalidInput("vocab", "must be >= 2");
  if (d_model < 1) throw InvalidInput("d_model", "must be >= 1");
  if (n_layer < 0) throw InvalidInput("n_layer", "must be >= 0");
  if (!(norm_eps > 0)) throw InvalidInput("norm_eps", "must be > 0");
  block().validate();
}

template <class T>
Index LmWeights<T>::parameter_count() const {
  Index n = 0;
  for_each([&](const std::string&, const Tensor<T>& t) { n += t.count(); });
  return n;
}

template <class T>
LmWeights<T> LmWeights<T>::zeros_like() const {
  LmWeights<T> z = *this;
  z.for_each([](const std::string&, Tensor<T>& t) { std::fill(t.values().begin(), t.values().end(), T(0)); });
  return z;
}

namespace {
double round_f32(double x) { return static_cast<double>(static_cast<float>(x)); }
}  // namespace

// [MAMBA-TRAIN-INIT]
LmWeights<double> lm_init(const LmConfig& cfg, std::uint64_t seed) {
  cfg.validate();
  LmWeights<double> w;
  const Index V = cfg.vocab, d = cfg.d_model;
  w.embedding = Tensor<double>(Shape{V, d});
  const PhiloxStream emb(seed, "mamba_train/lm/embedding");
  for (Index i = 0; i < V * d; ++i)
    w.embedding[i] = round_f32(0.02 * emb.normal(static_cast<std::uint64_t>(i)));
  const PhiloxStream layer_seeds(seed, "mamba_train/lm/layer_seed");
  const double scale = std::sqrt(static_cast<double>(cfg.n_layer));
  for (Index l = 0; l < cfg.n_layer; ++l) {
    w.norm.emplace_back(Shape{d}, 1.0);
    const auto words = layer_seeds.block(static_cast<std::uint64_t>(l));
    const std::uint64_t s = (std::uint64_t{words[1]} << 32) | words[0];
    auto m = mamba::mamba_block_init(cfg.block(), s);
    for (auto& v : m.out_proj_weight.values()) v = round_f32(v / scale);
    w.mixer.push_back(std::move(m));
  }
  w.norm_f = Tensor<double>(Shape{d}, 1.0);
  return w;
}

template <class T>
LmWeights<T> lm_cast(const LmWeights<double>& w) {
  LmWeights<T> out;
  out.embedding = w.embedding.template cast<T>();
  for (const auto& n : w.norm) out.norm.push_back(n.template cast<T>());
  for (const auto& m : w.mixer) out.mixer.push_back(m.template cast<T>());
  out.norm_f = w.norm_f.template cast<T>();
  return out;
}

// [MAMBA-TRAIN-LM-NORM]
template <class T>
void rmsnorm_forward(const T* x, const T* w, Index rows, Index n, double eps, T* y, T* rstd) {
  const T e = static_cast<T>(eps);
  for (Index r = 0; r < rows; ++r) {
    const T* xr = x + r * n;
    T* yr = y + r * n;
    T ss = 0;
    for (Index k = 0; k < n; ++k) ss += xr[k] * xr[k];
    const T rs = T(1) / std::sqrt(ss / static_cast<T>(n) + e);
    rstd[r] = rs;
    for (Index k = 0; k < n; ++k) yr[k] = (xr[k] * rs) * w[k];
  }
}

template <class T>
void rmsnorm_backward(const T* x, const T* w, const T* rstd, const T* dy, Index rows, Index n,
                      T* dx, T* dw) {
  for (Index r = 0; r < rows; ++r) {
    const T* xr = x + r * n;
    const T* dyr = dy + r * n;
    T* dxr = dx + r * n;
    const T rs = rstd[r];
    T c = 0;
    for (Index k = 0; k < n; ++k) c += (dyr[k] * w[k]) * (xr[k] * rs);
    c = c / static_cast<T>(n);
    for (Index k = 0; k < n; ++k) {
      const T xhat = xr[k] * rs;
      dxr[k] = (dyr[k] * w[k] - xhat * c) * rs;
      dw[k] += dyr[k] * xhat;
    }
  }
}

namespace {
template <class T>
void check_batch(const LmConfig& cfg, const Batch& batch) {
  if (batch.batch < 1 || batch.seqlen < 1 ||
      static_cast<Index>(batch.tokens.size()) != batch.batch * batch.seqlen)
    throw InvalidInput("batch", "tokens must hold batch * seqlen >= 1 values");
  for (auto tok : batch.tokens)
    if (tok < 0 || tok >= cfg.vocab)
      throw InvalidInput("tokens", "token " + std::to_string(tok) + " outside [0, vocab)");
  for (const auto& tg : batch.targets)
    if (tg.b < 0 || tg.b >= batch.batch || tg.t < 0 || tg.t >= batch.seqlen || tg.token < 0 ||
        tg.token >= cfg.vocab)
      throw InvalidInput("targets", "a target is outside the batch or the vocabulary");
}
}  // namespace

// [MAMBA-TRAIN-LM]
template <class T>
LmOutput lm_forward(const LmConfig& cfg, const LmWeights<T>& w, const Batch& batch,
                    LmCache<T>* cache, int threads) {
  check_batch<T>(cfg, batch);
  const Index Bn = batch.batch, L = batch.seqlen, d = cfg.d_model, V = cfg.vocab;
  const Index rows = Bn * L;
  Tensor<T> h(Shape{Bn, L, d});
  for (Index r = 0; r < rows; ++r) {
    const T* e = w.embedding.data() + batch.tokens[static_cast<std::size_t>(r)] * d;
    std::copy(e, e + d, h.data() + r * d);
  }
  if (cache) {
    cache->resid.clear();
    cache->normed.clear();
    cache->rstd.clear();
    cache->block.clear();
    cache->block.resize(static_cast<std::size_t>(cfg.n_layer));
  }
  for (Index l = 0; l < cfg.n_layer; ++l) {
    Tensor<T> normed(Shape{Bn, L, d});
    std::vector<T> rstd(static_cast<std::size_t>(rows));
    rmsnorm_forward(h.data(), w.norm[static_cast<std::size_t>(l)].data(), rows, d, cfg.norm_eps,
                    normed.data(), rstd.data());
    const Tensor<T> out = mamba::cpu::mamba_block_forward(
        w.mixer[static_cast<std::size_t>(l)], normed,
        cache ? &cache->block[static_cast<std::size_t>(l)] : nullptr, threads);
    if (cache) {
      cache->resid.push_back(h);
      cache->normed.push_back(std::move(normed));
      cache->rstd.push_back(std::move(rstd));
    }
    for (Index i = 0; i < rows * d; ++i) h[i] += out[i];
  }
  // The final norm and the head, at the target positions only.
  const Index nt = static_cast<Index>(batch.targets.size());
  Tensor<T> fin(Shape{nt, d}), fout(Shape{nt, d}), probs(Shape{nt, V});
  std::vector<T> frstd(static_cast<std::size_t>(nt));
  for (Index i = 0; i < nt; ++i) {
    const auto& tg = batch.targets[static_cast<std::size_t>(i)];
    const T* src = h.data() + (tg.b * L + tg.t) * d;
    std::copy(src, src + d, fin.data() + i * d);
  }
  rmsnorm_forward(fin.data(), w.norm_f.data(), nt, d, cfg.norm_eps, fout.data(), frstd.data());
  LmOutput res;
  res.count = nt;
  double loss = 0;
  std::vector<T> logits(static_cast<std::size_t>(V));
  for (Index i = 0; i < nt; ++i) {
    const T* y = fout.data() + i * d;
    for (Index v = 0; v < V; ++v) {
      const T* e = w.embedding.data() + v * d;
      T s = 0;
      for (Index k = 0; k < d; ++k) s += y[k] * e[k];
      logits[static_cast<std::size_t>(v)] = s;
    }
    Index arg = 0;
    for (Index v = 1; v < V; ++v)
      if (logits[static_cast<std::size_t>(v)] > logits[static_cast<std::size_t>(arg)]) arg = v;
    const T mx = logits[static_cast<std::size_t>(arg)];
    T sum = 0;
    for (Index v = 0; v < V; ++v) {
      const T e = std::exp(logits[static_cast<std::size_t>(v)] - mx);
      probs(i, v) = e;
      sum += e;
    }
    for (Index v = 0; v < V; ++v) probs(i, v) = probs(i, v) / sum;
    const auto tgt = batch.targets[static_cast<std::size_t>(i)].token;
    loss += static_cast<double>(std::log(sum) - (logits[static_cast<std::size_t>(tgt)] - mx));
    res.predictions.push_back(static_cast<std::int32_t>(arg));
    if (arg == tgt) ++res.correct;
  }
  res.loss = nt > 0 ? loss / static_cast<double>(nt) : 0.0;
  if (cache) {
    cache->final_in = std::move(fin);
    cache->final_rstd = std::move(frstd);
    cache->final_out = std::move(fout);
    cache->probs = std::move(probs);
  }
  return res;
}

template <class T>
LmWeights<T> lm_backward(const LmConfig& cfg, const LmWeights<T>& w, const Batch& batch,
                         const LmCache<T>& cache, int threads) {
  const Index Bn = batch.batch, L = batch.seqlen, d = cfg.d_model, V = cfg.vocab;
  const Index rows = Bn * L;
  const Index nt = static_cast<Index>(batch.targets.size());
  LmWeights<T> g = w.zeros_like();
  Tensor<T> dh(Shape{Bn, L, d});
  std::vector<T> dy(static_cast<std::size_t>(d)), dx(static_cast<std::size_t>(d));
  std::vector<T> dlog(static_cast<std::size_t>(V));
  const T inv_n = nt > 0 ? T(1) / static_cast<T>(nt) : T(0);
  for (Index i = 0; i < nt; ++i) {
    const auto& tg = batch.targets[static_cast<std::size_t>(i)];
    for (Index v = 0; v < V; ++v)
      dlog[static_cast<std::size_t>(v)] =
          (cache.probs(i, v) - (v == tg.token ? T(1) : T(0))) * inv_n;
    const T* y = cache.final_out.data() + i * d;
    for (Index v = 0; v < V; ++v) {
      T* ge = g.embedding.data() + v * d;
      for (Index k = 0; k < d; ++k) ge[k] += dlog[static_cast<std::size_t>(v)] * y[k];
    }
    for (Index k = 0; k < d; ++k) {
      T s = 0;
      for (Index v = 0; v < V; ++v) s += dlog[static_cast<std::size_t>(v)] * w.embedding(v, k);
      dy[static_cast<std::size_t>(k)] = s;
    }
    rmsnorm_backward(cache.final_in.data() + i * d, w.norm_f.data(), cache.final_rstd.data() + i,
                     dy.data(), 1, d, dx.data(), g.norm_f.data());
    T* dht = dh.data() + (tg.b * L + tg.t) * d;
    for (Index k = 0; k < d; ++k) dht[k] += dx[static_cast<std::size_t>(k)];
  }
  std::vector<T> dxl(static_cast<std::size_t>(rows * d));
  for (Index l = cfg.n_layer - 1; l >= 0; --l) {
    const auto li = static_cast<std::size_t>(l);
    auto bg = mamba::cpu::mamba_block_backward(w.mixer[li], cache.block[li], dh, threads);
    g.mixer[li] = std::move(bg.dweights);
    rmsnorm_backward(cache.resid[li].data(), w.norm[li].data(), cache.rstd[li].data(),
                     bg.dhidden.data(), rows, d, dxl.data(), g.norm[li].data());
    for (Index i = 0; i < rows * d; ++i) dh[i] += dxl[static_cast<std::size_t>(i)];
  }
  for (Index r = 0; r < rows; ++r) {
    T* ge = g.embedding.data() + batch.tokens[static_cast<std::size_t>(r)] * d;
    const T* src = dh.data() + r * d;
    for (Index k = 0; k < d; ++k) ge[k] += src[k];
  }
  return g;
}

// [MAMBA-TRAIN-ADAM]
template <class T>
void adam_update(T& p, T& m, T& v, T g, double lr, double beta1, double beta2, double eps,
                 std::int64_t step) {
  const double gd = static_cast<double>(g);
  m = static_cast<T>(beta1 * static_cast<double>(m) + (1.0 - beta1) * gd);
  v = static_cast<T>(beta2 * static_cast<double>(v) + (1.0 - beta2) * (gd * gd));
  const double bc1 = 1.0 - std::pow(beta1, static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(beta2, static_cast<double>(step));
  const double denom = std::sqrt(static_cast<double>(v)) / std::sqrt(bc2) + eps;
  p = static_cast<T>(static_cast<double>(p) - (lr / bc1) * (static_cast<double>(m) / denom));
}

template <class T>
AdamState<T> adam_init(const LmWeights<T>& w) {
  AdamState<T> s;
  s.m = w.zeros_like();
  s.v = w.zeros_like();
  return s;
}

template <class T>
void adam_step(LmWeights<T>& w, const LmWeights<T>& grad, AdamState<T>& state,
               const AdamConfig& cfg) {
  ++state.step;
  std::vector<Tensor<T>*> ps, ms, vs;
  std::vector<const Tensor<T>*> gs;
  w.for_each([&](const std::string&, Tensor<T>& t) { ps.push_back(&t); });
  state.m.for_each([&](const std::string&, Tensor<T>& t) { ms.push_back(&t); });
  state.v.for_each([&](const std::string&, Tensor<T>& t) { vs.push_back(&t); });
  grad.for_each([&](const std::string&, const Tensor<T>& t) { gs.push_back(&t); });
  if (ps.size() != gs.size()) throw std::logic_error("adam_step: gradient layout differs");
  for (std::size_t k = 0; k < ps.size(); ++k) {
    if (!(ps[k]->shape() == gs[k]->shape())) throw std::logic_error("adam_step: shape differs");
    for (Index i = 0; i < ps[k]->count(); ++i)
      adam_update((*ps[k])[i], (*ms[k])[i], (*vs[k])[i], (*gs[k])[i], cfg.lr, cfg.beta1,
                  cfg.beta2, cfg.eps, state.step);
  }
}

void save_weights(const std::string& path, const LmWeights<float>& w) {
  std::map<std::string, Tensor<double>> arrays;
  w.for_each([&](const std::string& name, const Tensor<float>& t) {
    arrays.emplace(name, t.template cast<double>());
  });
  write_npz(path, arrays);
}

LmWeights<float> load_weights(const std::string& path, LmConfig* config) {
  const NpyMap m = read_npz(path);
  auto get = [&](const std::string& name) -> const Tensor<double>& {
    const auto it = m.find(name);
    if (it == m.end()) throw InvalidInput(path, "has no array '" + name + "'");
    return it->second.values;
  };
  const auto& emb = get("backbone.embedding.weight");
  if (emb.rank() != 2) throw InvalidInput("backbone.embedding.weight", "expected (vocab, d_model)");
  LmConfig cfg;
  cfg.vocab = emb.extent(0);
  cfg.d_model = emb.extent(1);
  cfg.n_layer = 0;
  while (m.count("backbone.layers." + std::to_string(cfg.n_layer) + ".norm.weight")) ++cfg.n_layer;
  if (cfg.n_layer > 0) {
    const auto& A = get("backbone.layers.0.mixer.A_log");
    const auto& conv = get("backbone.layers.0.mixer.conv1d.weight");
    const auto& dtw = get("backbone.layers.0.mixer.dt_proj.weight");
    if (A.rank() != 2 || conv.rank() != 3 || dtw.rank() != 2 || A.extent(0) % cfg.d_model != 0)
      throw InvalidInput(path, "layer 0's mixer weights do not have the block's shapes");
    cfg.d_state = A.extent(1);
    cfg.d_conv = conv.extent(2);
    cfg.expand = A.extent(0) / cfg.d_model;
    cfg.dt_rank = dtw.extent(1);
  }
  LmWeights<float> w = lm_cast<float>(lm_init(cfg, 0));
  std::set<std::string> used;
  w.for_each([&](const std::string& name, Tensor<float>& t) {
    const auto& src = get(name);
    if (!(src.shape() == t.shape()))
      throw InvalidInput(name, "expected shape " + t.shape().str() + ", got " + src.shape().str());
    for (Index i = 0; i < t.count(); ++i) t[i] = static_cast<float>(src[i]);
    used.insert(name);
  });
  for (const auto& [name, arr] : m)
    if (!used.count(name)) throw InvalidInput(path, "unexpected array '" + name + "'");
  if (config) *config = cfg;
  return w;
}

#define TOUCHSTONE_TRAIN_INSTANTIATE(T)                                                          \
  template struct LmWeights<T>;                                                                  \
  template LmWeights<T> lm_cast<T>(const LmWeights<double>&);                                    \
  template void rmsnorm_forward<T>(const T*, const T*, Index, Index, double, T*, T*);           \
  template void rmsnorm_backward<T>(const T*, const T*, const T*, const T*, Index, Index, T*,   \
                                    T*);                                                         \
  template LmOutput lm_forward<T>(const LmConfig&, const LmWeights<T>&, const Batch&,          \
                                  LmCache<T>*, int);                                             \
  template LmWeights<T> lm_backward<T>(const LmConfig&, const LmWeights<T>&, const Batch&,     \
                                       const LmCache<T>&, int);                                  \
  template void adam_update<T>(T&, T&, T&, T, double, double, double, double, std::int64_t);    \
  template AdamState<T> adam_init<T>(const LmWeights<T>&);                                       \
  template void adam_step<T>(LmWeights<T>&, const LmWeights<T>&, AdamState<T>&,                \
                             const AdamConfig&);

TOUCHSTONE_TRAIN_INSTANTIATE(float)
TOUCHSTONE_TRAIN_INSTANTIATE(double)

}  // namespace touchstone::train
