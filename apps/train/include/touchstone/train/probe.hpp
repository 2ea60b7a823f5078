// The Δ probe (spec/mamba_train.md [MAMBA-TRAIN-PROBE]): on held-out induction-heads sequences,
// per layer and position, the step size Δ = softplus(delta + dt_proj.bias) across channels and
// the size of the state update Δ·B·u, aligned to the copy-prefix (trigger) position.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "touchstone/train/lm.hpp"

namespace touchstone::train {

struct ProbeOptions {
  Index sequences = 64;
  Index seqlen = 256;
  Index window = 32;        // offsets -window .. +window around the trigger
  std::uint64_t seed = 0;   // data seed; the split is "probe", disjoint from train/valid/test
  int threads = 0;
};

// Channel statistics of one quantity, averaged over the (sequence, position) pairs of a group.
struct ProbeStats {
  Index count = 0;  // (sequence, position) pairs
  double delta_mean = 0, delta_min = 0, delta_q10 = 0, delta_q50 = 0, delta_q90 = 0;
  double update_norm = 0;  // ||Δ_t B_t u_t||_F over (channel, state)
};

struct ProbeResult {
  Index layers = 0, sequences = 0, seqlen = 0, window = 0;
  Index correct = 0;  // the model's accuracy on the probe sequences
  // by_offset[l][k]: offset k - window from the trigger.
  std::vector<std::vector<ProbeStats>> by_offset;
  // regions[l][r]: r indexes region_names(): before (t < p), trigger (p), copied (p+1), near
  // (p+2 .. p+1+n_layer (d_conv-1): the copied token is within the convolutions' reach), after
  // (beyond near, before the query), query (L-1).
  std::vector<std::vector<ProbeStats>> regions;
  // Per layer: the fraction of what a channel's state held at the end of "near" that survives
  // to the query, exp(-min_n |A_dn| * sum of Δ_dt over "after" and the query):
  // its maximum over channels, and the number of channels above 1/2, averaged over sequences.
  std::vector<double> retention_max, retention_channels_half;
  // Per layer and inner channel: Δ averaged over the (sequence, position) pairs of the regions
  // before and after, and the channel's slowest rate min_n |A[d,n]|.
  std::vector<std::vector<double>> channel_before, channel_after, channel_rate;
  // Per layer and channel: after/before at matched absolute positions (position bins of width
  // ceil(L/16); per bin the mean Δ after and before, weighted by the smaller of the two counts),
  // which separates a response to the trigger from a drift of Δ along the sequence.
  std::vector<std::vector<double>> channel_matched_ratio;
  // Per sequence: the trigger position, the target and the model's prediction at the query.
  std::vector<Index> seq_trigger;
  std::vector<std::int32_t> seq_target, seq_prediction;
  static const std::vector<std::string>& region_names();
};

// [MAMBA-TRAIN-PROBE]
ProbeResult probe_delta(const LmConfig& cfg, const LmWeights<float>& w, const ProbeOptions& o);

// CSV of by_offset and of the regions, and an SVG plot (hand-written: axes, polylines, labels).
std::string probe_offsets_csv(const ProbeResult& r);
std::string probe_regions_csv(const ProbeResult& r);
// layer, channel, delta_before, delta_after, after/before, min_n |A|.
std::string probe_channels_csv(const ProbeResult& r);
// sequence, trigger, distance (L-1 - trigger), target, prediction, correct.
std::string probe_sequences_csv(const ProbeResult& r);
std::string probe_svg(const ProbeResult& r);

// q-quantile of sorted values by linear interpolation (numpy's default, "linear").
double quantile_sorted(const std::vector<double>& sorted, double q);

}  // namespace touchstone::train
