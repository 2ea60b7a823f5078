// The synthetic tasks of the Mamba paper (§4.1, App. E.1), specified exactly in
// spec/mamba_train.md and drawn from Philox streams ([CORE-RNG]): every example is a pure function
// of (seed, split, index, the task's parameters).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "touchstone/core/tensor.hpp"

namespace touchstone::train {

// A batch of token sequences and the positions where the loss is taken.
struct Batch {
  Index batch = 0, seqlen = 0;
  std::vector<std::int32_t> tokens;  // (batch, seqlen), row-major
  struct Target {
    Index b = 0, t = 0;           // the prediction made at position t of sequence b ...
    std::int32_t token = 0;       // ... must be this token
  };
  std::vector<Target> targets;    // ordered by (b, t)
  std::vector<Index> trigger;     // per sequence: the induction task's copy-prefix position, or -1

  std::int32_t token(Index b, Index t) const {
    return tokens[static_cast<std::size_t>(b * seqlen + t)];
  }
};

// [MAMBA-TRAIN-IH-DEF] Induction heads (safari's generate_induction_head, one trigger).
struct InductionHeadsTask {
  Index vocab = 16;    // token ids 0 .. vocab-1; vocab-1 = copy prefix, vocab-2 = noop (unused)
  Index seqlen = 256;  // tokens the model reads; the last one is the copy prefix
  std::int32_t copy_prefix() const { return static_cast<std::int32_t>(vocab - 1); }
  Index data_tokens() const { return vocab - 2; }
  void validate() const;  // InvalidInput: vocab >= 3, 4 <= seqlen <= 2^32
};

// Example `index` of `split`: draws PhiloxStream(seed, "mamba_train/induction_heads/" + split)
// .uniform(index * 2^32 + j) for j = 0 .. seqlen-1 ([MAMBA-TRAIN-IH-DRAWS]).
Batch induction_heads_batch(const InductionHeadsTask& task, std::uint64_t seed,
                            std::string_view split, std::uint64_t first_index, Index batch);

// [MAMBA-TRAIN-SC-DEF] Selective copying (the S4 repository's torch_copying_data(L, M, A,
// variable=True)): seqlen = L + 2M tokens.
struct SelectiveCopyingTask {
  Index vocab = 16;    // A: 0 = noise, vocab-1 = marker, data tokens 1 .. vocab-2
  Index memorize = 16; // M
  Index seqlen = 4096; // L + 2M
  Index noise() const { return seqlen - 2 * memorize; }  // L
  void validate() const;  // InvalidInput: vocab >= 3, memorize >= 1, noise >= 0, seqlen <= 2^31
};

// Example `index` of `split`: PhiloxStream(seed, "mamba_train/selective_copying/" + split)
// .uniform(index * 2^32 + j), j = 0 .. 2M-1 ([MAMBA-TRAIN-SC-DRAWS]).
Batch selective_copying_batch(const SelectiveCopyingTask& task, std::uint64_t seed,
                              std::string_view split, std::uint64_t first_index, Index batch);

// floor(u * n) clamped to n-1: the integer draw of [MAMBA-TRAIN-DRAW-INT].
std::uint64_t draw_below(double u, std::uint64_t n);

}  // namespace touchstone::train
