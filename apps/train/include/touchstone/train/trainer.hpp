// Training and evaluation on the synthetic tasks (spec/mamba_train.md [MAMBA-TRAIN-LOOP],
// [MAMBA-TRAIN-EVAL]).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "touchstone/train/lm.hpp"
#include "touchstone/train/tasks.hpp"

namespace touchstone::train {

enum class Task { induction_heads, selective_copying };

struct TrainOptions {
  Task task = Task::induction_heads;
  std::int64_t steps = 204800;      // the paper's 25 "epochs" of 8192 steps
  Index batch = 8;
  Index seqlen = 256;               // selective copying: L + 2M
  Index memorize = 16;              // selective copying: M
  double lr = 1e-3;
  std::uint64_t seed = 0;
  std::vector<Index> eval_lengths = {256, 1024, 4096, 16384};
  Index eval_sequences = 128;       // per length, in the final evaluation
  Index eval_every = 250;           // steps between periodic evaluations (0: none)
  Index eval_sequences_periodic = 256;
  bool stop_when_solved = true;     // stop after two periodic evaluations in a row at 100%
  double time_limit_s = 0;          // training stops after this much wall time (0: none)
  int threads = 0;
  std::string out_dir;              // empty: write no files
  std::string init_weights;         // start from these weights (fresh Adam state); the model's
                                    // sizes come from the file
  LmConfig model;
};

struct EvalResult {
  Index seqlen = 0;
  Index correct = 0, count = 0;
  double loss = 0;
  double seconds = 0;
  double accuracy() const { return count ? static_cast<double>(correct) / static_cast<double>(count) : 0.0; }
};

struct CurvePoint {
  std::int64_t step = 0;  // 1-based: the step just taken
  double loss = 0;        // this step's batch loss (before the update)
  double train_acc = 0;   // this step's batch accuracy
  double wall_s = 0;      // since training started
};

// What the trainer reports while it runs.
struct TrainEvent {
  enum Kind { step, periodic_eval, final_eval } kind = step;
  CurvePoint point;
  double avg_loss = 0, avg_acc = 0;  // over the last 100 steps
  EvalResult eval;
  std::int64_t steps = 0;            // the planned number of steps
};

struct TrainResult {
  std::int64_t steps_done = 0;
  double train_seconds = 0;
  std::string stop_reason;  // "steps", "solved", "time limit"
  std::vector<CurvePoint> curve;
  std::vector<std::pair<std::int64_t, EvalResult>> periodic;
  std::vector<EvalResult> final_eval;
  LmConfig config;
  LmWeights<float> weights;
};

// The task's batch `index` (examples index*batch ..) of `split` at `seqlen`.
Batch task_batch(const TrainOptions& o, std::string_view split, std::uint64_t first_example,
                 Index batch, Index seqlen);

// Accuracy and loss over `sequences` examples of `split` at `seqlen`, forward only, in chunks of
// at most 65536 tokens.
EvalResult evaluate(const TrainOptions& o, const LmConfig& cfg, const LmWeights<float>& w,
                    std::string_view split, Index seqlen, Index sequences);

TrainResult train(const TrainOptions& o, const std::function<void(const TrainEvent&)>& on_event = {});

}  // namespace touchstone::train
