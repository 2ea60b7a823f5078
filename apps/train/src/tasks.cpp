#include "touchstone/train/tasks.hpp"

#include <algorithm>
#include <numeric>

#include "touchstone/core/errors.hpp"
#include "touchstone/core/random.hpp"

namespace touchstone::train {

std::uint64_t draw_below(double u, std::uint64_t n) {
  const auto k = static_cast<std::uint64_t>(u * static_cast<double>(n));
  return k < n ? k : n - 1;
}

void InductionHeadsTask::validate() const {
  if (vocab < 3) throw InvalidInput("vocab", "induction heads needs vocab >= 3 (copy prefix, noop "
                                             "and at least one data token), got " +
                                             std::to_string(vocab));
  if (seqlen < 4 || seqlen > (Index{1} << 32))
    throw InvalidInput("seqlen", "induction heads needs 4 <= seqlen <= 2^32, got " +
                                     std::to_string(seqlen));
}

// [MAMBA-TRAIN-IH-DEF], [MAMBA-TRAIN-IH-DRAWS]
Batch induction_heads_batch(const InductionHeadsTask& task, std::uint64_t seed,
                            std::string_view split, std::uint64_t first_index, Index batch) {
  task.validate();
  if (batch < 1) throw InvalidInput("batch", "must be >= 1");
  const PhiloxStream stream(seed, "mamba_train/induction_heads/" + std::string(split));
  const Index L = task.seqlen;
  Batch out;
  out.batch = batch;
  out.seqlen = L;
  out.tokens.resize(static_cast<std::size_t>(batch * L));
  for (Index b = 0; b < batch; ++b) {
    const std::uint64_t base = (first_index + static_cast<std::uint64_t>(b)) << 32;
    std::int32_t* x = out.tokens.data() + b * L;
    // Positions 0 .. L-2: data tokens; draw L-1 places the trigger.
    for (Index t = 0; t + 1 < L; ++t)
      x[t] = static_cast<std::int32_t>(
          draw_below(stream.uniform(base + static_cast<std::uint64_t>(t)),
                     static_cast<std::uint64_t>(task.data_tokens())));
    const auto p = static_cast<Index>(
        draw_below(stream.uniform(base + static_cast<std::uint64_t>(L - 1)),
                   static_cast<std::uint64_t>(L - 3)));
    x[p] = task.copy_prefix();      // the trigger; x[p+1] keeps its drawn token: the one to copy
    x[L - 1] = task.copy_prefix();  // the query
    out.targets.push_back({b, L - 1, x[p + 1]});
    out.trigger.push_back(p);
  }
  return out;
}

void SelectiveCopyingTask::validate() const {
  if (vocab < 3) throw InvalidInput("vocab", "selective copying needs vocab >= 3 (noise, marker and "
                                             "at least one data token), got " +
                                             std::to_string(vocab));
  if (memorize < 1) throw InvalidInput("memorize", "must be >= 1");
  if (noise() < 0 || seqlen > (Index{1} << 31))
    throw InvalidInput("seqlen", "selective copying needs 2 * memorize <= seqlen <= 2^31, got " +
                                     std::to_string(seqlen));
}

// [MAMBA-TRAIN-SC-DEF], [MAMBA-TRAIN-SC-DRAWS]
Batch selective_copying_batch(const SelectiveCopyingTask& task, std::uint64_t seed,
                              std::string_view split, std::uint64_t first_index, Index batch) {
  task.validate();
  if (batch < 1) throw InvalidInput("batch", "must be >= 1");
  const PhiloxStream stream(seed, "mamba_train/selective_copying/" + std::string(split));
  const Index M = task.memorize, N = task.noise() + task.memorize, L = task.seqlen;
  Batch out;
  out.batch = batch;
  out.seqlen = L;
  out.tokens.assign(static_cast<std::size_t>(batch * L), 0);
  std::vector<Index> perm(static_cast<std::size_t>(N));
  for (Index b = 0; b < batch; ++b) {
    const std::uint64_t base = (first_index + static_cast<std::uint64_t>(b)) << 32;
    std::int32_t* x = out.tokens.data() + b * L;
    std::vector<std::int32_t> data(static_cast<std::size_t>(M));
    for (Index k = 0; k < M; ++k)
      data[static_cast<std::size_t>(k)] = 1 + static_cast<std::int32_t>(draw_below(
          stream.uniform(base + static_cast<std::uint64_t>(k)),
          static_cast<std::uint64_t>(task.vocab - 2)));
    // A partial Fisher-Yates shuffle of 0 .. N-1 picks M distinct positions; sorted ascending.
    std::iota(perm.begin(), perm.end(), Index{0});
    for (Index k = 0; k < M; ++k) {
      const Index r = k + static_cast<Index>(draw_below(
                              stream.uniform(base + static_cast<std::uint64_t>(M + k)),
                              static_cast<std::uint64_t>(N - k)));
      std::swap(perm[static_cast<std::size_t>(k)], perm[static_cast<std::size_t>(r)]);
    }
    std::vector<Index> pos(perm.begin(), perm.begin() + M);
    std::sort(pos.begin(), pos.end());
    for (Index k = 0; k < M; ++k) x[pos[static_cast<std::size_t>(k)]] = data[static_cast<std::size_t>(k)];
    for (Index k = 0; k < M; ++k) {
      x[N + k] = static_cast<std::int32_t>(task.vocab - 1);
      out.targets.push_back({b, N + k, data[static_cast<std::size_t>(k)]});
    }
    out.trigger.push_back(-1);
  }
  return out;
}

}  // namespace touchstone::train
