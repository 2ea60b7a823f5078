// spec/mamba_train.md [MAMBA-TRAIN-PROBE].
#include "touchstone/train/probe.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>

#include "touchstone/core/errors.hpp"

namespace touchstone::train {

const std::vector<std::string>& ProbeResult::region_names() {
  static const std::vector<std::string> names = {"before", "trigger", "copied", "near", "after", "query"};
  return names;
}

double quantile_sorted(const std::vector<double>& s, double q) {
  if (s.empty()) return 0.0;
  const double pos = q * static_cast<double>(s.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, s.size() - 1);
  return s[lo] + (pos - static_cast<double>(lo)) * (s[hi] - s[lo]);
}

namespace {
double softplus20(double x) { return x > 20 ? x : std::log1p(std::exp(x)); }

void add(ProbeStats& acc, const ProbeStats& x) {
  acc.count += 1;
  acc.delta_mean += x.delta_mean;
  acc.delta_min += x.delta_min;
  acc.delta_q10 += x.delta_q10;
  acc.delta_q50 += x.delta_q50;
  acc.delta_q90 += x.delta_q90;
  acc.update_norm += x.update_norm;
}
void finish(ProbeStats& s) {
  if (s.count == 0) return;
  const double n = static_cast<double>(s.count);
  s.delta_mean /= n;
  s.delta_min /= n;
  s.delta_q10 /= n;
  s.delta_q50 /= n;
  s.delta_q90 /= n;
  s.update_norm /= n;
}
}  // namespace

ProbeResult probe_delta(const LmConfig& cfg, const LmWeights<float>& w, const ProbeOptions& o) {
  if (o.sequences < 1) throw InvalidInput("--sequences", "must be >= 1");
  if (o.window < 0) throw InvalidInput("--window", "must be >= 0");
  InductionHeadsTask task;
  task.vocab = cfg.vocab;
  task.seqlen = o.seqlen;
  task.validate();
  ProbeResult r;
  r.layers = cfg.n_layer;
  r.sequences = o.sequences;
  r.seqlen = o.seqlen;
  r.window = o.window;
  const auto nl = static_cast<std::size_t>(cfg.n_layer);
  const auto nregions = ProbeResult::region_names().size();
  r.by_offset.assign(nl, std::vector<ProbeStats>(static_cast<std::size_t>(2 * o.window + 1)));
  r.regions.assign(nl, std::vector<ProbeStats>(nregions));
  r.retention_max.assign(nl, 0.0);
  r.retention_channels_half.assign(nl, 0.0);
  const Index L = o.seqlen;
  // The copied token reaches position t through the layers' causal convolutions for
  // t <= p + 1 + n_layer (d_conv - 1): the "near" region. "after" begins beyond it.
  const Index reach = cfg.n_layer * (cfg.d_conv - 1);
  std::vector<std::vector<double>> nb(nl), na(nl);  // counts per channel (the same for all d)
  r.channel_before.assign(nl, {});
  r.channel_after.assign(nl, {});
  r.channel_rate.assign(nl, {});
  const Index bin_width = (L + 15) / 16;
  // [layer][channel * 16 + bin]: sums of Δ and counts, before and after.
  std::vector<std::vector<double>> sb(nl), sa(nl), cb(nl), ca(nl);
  const Index chunk = std::max<Index>(1, std::min<Index>(o.sequences, 16384 / L));
  std::vector<double> dvals;
  for (Index first = 0; first < o.sequences; first += chunk) {
    const Index n = std::min(chunk, o.sequences - first);
    const Batch batch = induction_heads_batch(task, o.seed, "probe", static_cast<std::uint64_t>(first), n);
    LmCache<float> cache;
    const LmOutput out = lm_forward<float>(cfg, w, batch, &cache, o.threads);
    r.correct += out.correct;
    for (Index b = 0; b < n; ++b) {
      r.seq_trigger.push_back(batch.trigger[static_cast<std::size_t>(b)]);
      r.seq_target.push_back(batch.targets[static_cast<std::size_t>(b)].token);
      r.seq_prediction.push_back(out.predictions[static_cast<std::size_t>(b)]);
    }
    for (std::size_t l = 0; l < nl; ++l) {
      const auto& bc = cache.block[l];
      const auto& mw = w.mixer[l];
      const Index D = bc.delta.extent(1), N = bc.B.extent(2);
      std::vector<double> amin(static_cast<std::size_t>(D));
      for (Index d = 0; d < D; ++d) {
        double m = INFINITY;
        for (Index k = 0; k < N; ++k) m = std::min(m, std::exp(static_cast<double>(mw.A_log(d, k))));
        amin[static_cast<std::size_t>(d)] = m;
      }
      if (r.channel_rate[l].empty()) {
        r.channel_rate[l] = amin;
        r.channel_before[l].assign(static_cast<std::size_t>(D), 0.0);
        r.channel_after[l].assign(static_cast<std::size_t>(D), 0.0);
        nb[l].assign(1, 0.0);
        na[l].assign(1, 0.0);
        for (auto* v : {&sb[l], &sa[l], &cb[l], &ca[l]}) v->assign(static_cast<std::size_t>(D * 16), 0.0);
      }
      for (Index b = 0; b < n; ++b) {
        const Index p = batch.trigger[static_cast<std::size_t>(b)];
        std::vector<double> tail(static_cast<std::size_t>(D), 0.0);  // sum of Δ over "after" and the query
        for (Index t = 0; t < L; ++t) {
          dvals.assign(static_cast<std::size_t>(D), 0.0);
          double du2 = 0, sum = 0;
          for (Index d = 0; d < D; ++d) {
            const double dt = softplus20(static_cast<double>(bc.delta(b, d, t)) +
                                         static_cast<double>(mw.dt_proj_bias[d]));
            dvals[static_cast<std::size_t>(d)] = dt;
            sum += dt;
            const double du = dt * static_cast<double>(bc.u(b, d, t));
            du2 += du * du;
            if (t > p + 1 + reach) tail[static_cast<std::size_t>(d)] += dt;
            const auto cell = static_cast<std::size_t>(d * 16 + t / bin_width);
            if (t < p) {
              r.channel_before[l][static_cast<std::size_t>(d)] += dt;
              sb[l][cell] += dt;
              cb[l][cell] += 1;
            }
            if (t > p + 1 + reach && t < L - 1) {
              r.channel_after[l][static_cast<std::size_t>(d)] += dt;
              sa[l][cell] += dt;
              ca[l][cell] += 1;
            }
          }
          if (t < p) nb[l][0] += 1;
          if (t > p + 1 + reach && t < L - 1) na[l][0] += 1;
          double b2 = 0;
          for (Index k = 0; k < N; ++k) {
            const double v = static_cast<double>(bc.B(b, Index{0}, k, t));
            b2 += v * v;
          }
          ProbeStats s;
          s.delta_mean = sum / static_cast<double>(D);
          std::sort(dvals.begin(), dvals.end());
          s.delta_min = dvals.front();
          s.delta_q10 = quantile_sorted(dvals, 0.1);
          s.delta_q50 = quantile_sorted(dvals, 0.5);
          s.delta_q90 = quantile_sorted(dvals, 0.9);
          s.update_norm = std::sqrt(b2) * std::sqrt(du2);
          const Index off = t - p;
          if (off >= -o.window && off <= o.window)
            add(r.by_offset[l][static_cast<std::size_t>(off + o.window)], s);
          const std::size_t region = t < p ? 0 : t == p ? 1 : t == p + 1 ? 2 : t == L - 1 ? 5
                                     : t <= p + 1 + reach ? 3 : 4;
          add(r.regions[l][region], s);
        }
        double best = 0, half = 0;
        for (Index d = 0; d < D; ++d) {
          const double keep = std::exp(-amin[static_cast<std::size_t>(d)] * tail[static_cast<std::size_t>(d)]);
          best = std::max(best, keep);
          if (keep > 0.5) half += 1;
        }
        r.retention_max[l] += best / static_cast<double>(o.sequences);
        r.retention_channels_half[l] += half / static_cast<double>(o.sequences);
      }
    }
  }
  r.channel_matched_ratio.assign(nl, {});
  for (std::size_t l = 0; l < nl; ++l)
    for (std::size_t d = 0; d < r.channel_before[l].size(); ++d) {
      double num = 0, den = 0;
      for (std::size_t k = 0; k < 16; ++k) {
        const std::size_t c = d * 16 + k;
        const double w = std::min(cb[l][c], ca[l][c]);
        if (w <= 0) continue;
        num += w * sa[l][c] / ca[l][c];
        den += w * sb[l][c] / cb[l][c];
      }
      r.channel_matched_ratio[l].push_back(den > 0 ? num / den : NAN);
    }
  for (std::size_t l = 0; l < nl; ++l)
    for (std::size_t d = 0; d < r.channel_before[l].size(); ++d) {
      if (nb[l][0] > 0) r.channel_before[l][d] /= nb[l][0];
      if (na[l][0] > 0) r.channel_after[l][d] /= na[l][0];
    }
  for (auto& layer : r.by_offset)
    for (auto& s : layer) finish(s);
  for (auto& layer : r.regions)
    for (auto& s : layer) finish(s);
  return r;
}

namespace {
std::string stats_cols(const ProbeStats& s) {
  return fmt::format("{},{:.9g},{:.9g},{:.9g},{:.9g},{:.9g},{:.9g}", s.count, s.delta_mean,
                     s.delta_min, s.delta_q10, s.delta_q50, s.delta_q90, s.update_norm);
}
constexpr const char* kStatsHeader =
    "count,delta_mean,delta_min,delta_q10,delta_q50,delta_q90,update_norm";
}  // namespace

std::string probe_offsets_csv(const ProbeResult& r) {
  std::string s = fmt::format("layer,offset,{}\n", kStatsHeader);
  for (std::size_t l = 0; l < r.by_offset.size(); ++l)
    for (std::size_t k = 0; k < r.by_offset[l].size(); ++k)
      s += fmt::format("{},{},{}\n", l, static_cast<Index>(k) - r.window,
                       stats_cols(r.by_offset[l][k]));
  return s;
}

std::string probe_regions_csv(const ProbeResult& r) {
  std::string s = fmt::format("layer,region,{},retention_max,retention_channels_half\n", kStatsHeader);
  for (std::size_t l = 0; l < r.regions.size(); ++l)
    for (std::size_t k = 0; k < r.regions[l].size(); ++k)
      s += fmt::format("{},{},{},{:.9g},{:.9g}\n", l, ProbeResult::region_names()[k],
                       stats_cols(r.regions[l][k]), r.retention_max[l],
                       r.retention_channels_half[l]);
  return s;
}

std::string probe_channels_csv(const ProbeResult& r) {
  std::string s = "layer,channel,delta_before,delta_after,after_over_before,matched_after_over_before,min_abs_A\n";
  for (std::size_t l = 0; l < r.channel_before.size(); ++l)
    for (std::size_t d = 0; d < r.channel_before[l].size(); ++d)
      s += fmt::format("{},{},{:.9g},{:.9g},{:.9g},{:.9g},{:.9g}\n", l, d, r.channel_before[l][d],
                       r.channel_after[l][d], r.channel_after[l][d] / r.channel_before[l][d],
                       r.channel_matched_ratio[l][d], r.channel_rate[l][d]);
  return s;
}

std::string probe_sequences_csv(const ProbeResult& r) {
  std::string s = "sequence,trigger,distance,target,prediction,correct\n";
  for (std::size_t i = 0; i < r.seq_trigger.size(); ++i)
    s += fmt::format("{},{},{},{},{},{}\n", i, r.seq_trigger[i], r.seqlen - 1 - r.seq_trigger[i],
                     r.seq_target[i], r.seq_prediction[i], r.seq_target[i] == r.seq_prediction[i] ? 1 : 0);
  return s;
}

namespace {
struct Series {
  std::string label, color;
  std::vector<double> y;
  bool dashed = false;
};

// One panel: x = offsets -window..window, log10 y.
std::string panel(double x0, double y0, double wdt, double hgt, const std::string& title,
                  Index window, const std::vector<Series>& series) {
  double lo = INFINITY, hi = 0;
  for (const auto& s : series)
    for (double v : s.y)
      if (v > 0) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
  if (!(hi > 0)) {
    lo = 1e-3;
    hi = 1;
  }
  int dlo = static_cast<int>(std::floor(std::log10(lo))), dhi = static_cast<int>(std::ceil(std::log10(hi)));
  if (dhi <= dlo) dhi = dlo + 1;
  const double ml = 58, mr = 10, mt = 24, mb = 34;
  const double pw = wdt - ml - mr, ph = hgt - mt - mb;
  auto X = [&](double off) { return x0 + ml + (off + static_cast<double>(window)) / (2.0 * static_cast<double>(std::max<Index>(window, 1))) * pw; };
  auto Y = [&](double v) {
    const double lv = std::log10(std::max(v, std::pow(10.0, dlo)));
    return y0 + mt + ph - (lv - dlo) / static_cast<double>(dhi - dlo) * ph;
  };
  std::string s;
  s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"13\" font-weight=\"bold\">{}</text>\n",
                   x0 + ml, y0 + 16, title);
  s += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"none\" stroke=\"#444\"/>\n",
                   x0 + ml, y0 + mt, pw, ph);
  for (int e = dlo; e <= dhi; ++e) {
    const double y = Y(std::pow(10.0, e));
    s += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#ddd\"/>\n", x0 + ml, y, x0 + ml + pw, y);
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"10\" text-anchor=\"end\">1e{}</text>\n", x0 + ml - 4, y + 3, e);
  }
  const Index step = std::max<Index>(1, window / 4);
  for (Index off = -window; off <= window; off += step) {
    const double x = X(static_cast<double>(off));
    s += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#444\"/>\n", x, y0 + mt + ph, x, y0 + mt + ph + 4);
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"10\" text-anchor=\"middle\">{}</text>\n", x, y0 + mt + ph + 15, off);
  }
  s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"10\" text-anchor=\"middle\">position - trigger position (0: copy prefix, 1: token to copy)</text>\n",
                   x0 + ml + pw / 2, y0 + hgt - 4);
  for (double off : {0.0, 1.0})
    s += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#999\" stroke-dasharray=\"3,3\"/>\n",
                     X(off), y0 + mt, X(off), y0 + mt + ph);
  double ly = y0 + mt + 12;
  const std::string legend = fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"150\" height=\"{:.1f}\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#ccc\"/>\n",
                   x0 + ml + 3, y0 + mt + 2, 12.0 * static_cast<double>(series.size()) + 4);
  for (const auto& se : series) {
    std::string pts;
    for (std::size_t k = 0; k < se.y.size(); ++k)
      pts += fmt::format("{:.1f},{:.1f} ", X(static_cast<double>(k) - static_cast<double>(window)), Y(se.y[k]));
    s += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\"{} points=\"{}\"/>\n", se.color,
                     se.dashed ? " stroke-dasharray=\"4,2\"" : "", pts);
  }
  s += legend;
  for (const auto& se : series) {
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"10\" fill=\"{}\">{}</text>\n", x0 + ml + 6, ly, se.color, se.label);
    ly += 12;
  }
  return s;
}
}  // namespace

std::string probe_svg(const ProbeResult& r) {
  const double pw = 460, ph = 280;
  const auto nl = static_cast<double>(std::max<Index>(r.layers, 1));
  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{:.0f}\" height=\"{:.0f}\" font-family=\"sans-serif\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
      pw * nl, 2 * ph + 30);
  s += fmt::format("<text x=\"10\" y=\"{:.0f}\" font-size=\"11\">Δ probe: {} held-out induction-heads sequences of length {}; model accuracy on them {}/{}. "
                   "Values are channel statistics averaged over sequences.</text>\n",
                   2 * ph + 20, r.sequences, r.seqlen, r.correct, r.sequences);
  for (Index l = 0; l < r.layers; ++l) {
    const auto& rows = r.by_offset[static_cast<std::size_t>(l)];
    Series mean{"mean over channels", "#1f77b4", {}}, q10{"10% quantile", "#2ca02c", {}, true},
        q50{"median", "#ff7f0e", {}}, q90{"90% quantile", "#d62728", {}, true}, mn{"min", "#7f7f7f", {}, true},
        upd{"||Δ B u|| over (channel, state)", "#9467bd", {}};
    for (const auto& x : rows) {
      mean.y.push_back(x.delta_mean);
      q10.y.push_back(x.delta_q10);
      q50.y.push_back(x.delta_q50);
      q90.y.push_back(x.delta_q90);
      mn.y.push_back(x.delta_min);
      upd.y.push_back(x.update_norm);
    }
    const double x0 = pw * static_cast<double>(l);
    s += panel(x0, 0, pw, ph, fmt::format("layer {}: Δ = softplus(delta + dt_proj.bias)", l + 1), r.window,
               {mean, q10, q50, q90, mn});
    s += panel(x0, ph, pw, ph, fmt::format("layer {}: size of the state update Δ·B·u", l + 1), r.window, {upd});
  }
  s += "</svg>\n";
  return s;
}

}  // namespace touchstone::train
