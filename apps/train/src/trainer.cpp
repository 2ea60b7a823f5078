// spec/mamba_train.md [MAMBA-TRAIN-LOOP], [MAMBA-TRAIN-EVAL].
#include "touchstone/train/trainer.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "touchstone/core/errors.hpp"

namespace touchstone::train {

Batch task_batch(const TrainOptions& o, std::string_view split, std::uint64_t first_example,
                 Index batch, Index seqlen) {
  if (o.task == Task::induction_heads) {
    InductionHeadsTask t;
    t.vocab = o.model.vocab;
    t.seqlen = seqlen;
    return induction_heads_batch(t, o.seed, split, first_example, batch);
  }
  SelectiveCopyingTask t;
  t.vocab = o.model.vocab;
  t.memorize = o.memorize;
  t.seqlen = seqlen;
  return selective_copying_batch(t, o.seed, split, first_example, batch);
}

EvalResult evaluate(const TrainOptions& o, const LmConfig& cfg, const LmWeights<float>& w,
                    std::string_view split, Index seqlen, Index sequences) {
  const auto t0 = std::chrono::steady_clock::now();
  EvalResult r;
  r.seqlen = seqlen;
  const Index chunk = std::max<Index>(1, std::min<Index>(sequences, 65536 / seqlen));
  double loss_sum = 0;
  for (Index first = 0; first < sequences; first += chunk) {
    const Index n = std::min(chunk, sequences - first);
    const Batch b = task_batch(o, split, static_cast<std::uint64_t>(first), n, seqlen);
    const LmOutput out = lm_forward<float>(cfg, w, b, nullptr, o.threads);
    r.correct += out.correct;
    r.count += out.count;
    loss_sum += out.loss * static_cast<double>(out.count);
  }
  r.loss = r.count ? loss_sum / static_cast<double>(r.count) : 0.0;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

namespace {
std::string eval_split(Index seqlen) { return "test/" + std::to_string(seqlen); }
}  // namespace

TrainResult train(const TrainOptions& o, const std::function<void(const TrainEvent&)>& on_event) {
  if (o.batch < 1) throw InvalidInput("--batch", "must be >= 1");
  if (o.steps < 0) throw InvalidInput("--steps", "must be >= 0");
  if (!(o.lr > 0)) throw InvalidInput("--lr", "must be > 0");
  TrainResult res;
  res.config = o.model;
  LmWeights<float> w;
  if (!o.init_weights.empty()) {
    w = load_weights(o.init_weights, &res.config);
    res.config.norm_eps = o.model.norm_eps;
  }
  res.config.validate();
  // Validate the task's parameters before any work.
  (void)task_batch(o, "train", 0, 1, o.seqlen);
  if (o.task == Task::induction_heads)
    for (Index L : o.eval_lengths) (void)task_batch(o, "valid", 0, 1, L);

  std::ofstream curve_csv, eval_csv;
  const std::filesystem::path dir(o.out_dir);
  if (!o.out_dir.empty()) {
    std::filesystem::create_directories(dir);
    curve_csv.open(dir / "curve.csv");
    eval_csv.open(dir / "eval.csv");
    if (!curve_csv || !eval_csv) throw InvalidInput("--out", "cannot write into " + o.out_dir);
    curve_csv << "step,loss,train_acc,wall_s\n";
    eval_csv << "step,seqlen,targets,accuracy,loss,wall_s\n";
  }

  if (o.init_weights.empty()) w = lm_cast<float>(lm_init(res.config, o.seed));
  AdamState<float> adam = adam_init(w);
  AdamConfig acfg;
  acfg.lr = o.lr;

  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  std::vector<double> recent_loss, recent_acc;
  int solved_in_a_row = 0;
  res.stop_reason = "steps";
  for (std::int64_t step = 0; step < o.steps; ++step) {
    const Batch b = task_batch(o, "train", static_cast<std::uint64_t>(step) *
                                               static_cast<std::uint64_t>(o.batch),
                               o.batch, o.seqlen);
    LmCache<float> cache;
    const LmOutput out = lm_forward<float>(res.config, w, b, &cache, o.threads);
    const LmWeights<float> g = lm_backward<float>(res.config, w, b, cache, o.threads);
    adam_step(w, g, adam, acfg);

    CurvePoint pt{step + 1, out.loss,
                  static_cast<double>(out.correct) / static_cast<double>(std::max<Index>(1, out.count)),
                  elapsed()};
    res.curve.push_back(pt);
    res.steps_done = step + 1;
    if (curve_csv.is_open())
      curve_csv << pt.step << ',' << pt.loss << ',' << pt.train_acc << ',' << pt.wall_s << '\n';
    recent_loss.push_back(pt.loss);
    recent_acc.push_back(pt.train_acc);
    const std::size_t window = std::min<std::size_t>(100, recent_loss.size());
    double al = 0, aa = 0;
    for (std::size_t k = recent_loss.size() - window; k < recent_loss.size(); ++k) {
      al += recent_loss[k];
      aa += recent_acc[k];
    }
    if (on_event) {
      TrainEvent ev;
      ev.kind = TrainEvent::step;
      ev.point = pt;
      ev.avg_loss = al / static_cast<double>(window);
      ev.avg_acc = aa / static_cast<double>(window);
      ev.steps = o.steps;
      on_event(ev);
    }
    const bool last = step + 1 == o.steps;
    if (o.eval_every > 0 && ((step + 1) % o.eval_every == 0 || last)) {
      const EvalResult e = evaluate(o, res.config, w, "valid", o.seqlen, o.eval_sequences_periodic);
      res.periodic.emplace_back(step + 1, e);
      if (eval_csv.is_open()) {
        eval_csv << step + 1 << ',' << e.seqlen << ',' << e.count << ',' << e.accuracy() << ','
                 << e.loss << ',' << elapsed() << '\n';
        eval_csv.flush();
        curve_csv.flush();
        save_weights((dir / "weights.npz").string(), w);
      }
      if (on_event) {
        TrainEvent ev;
        ev.kind = TrainEvent::periodic_eval;
        ev.point = pt;
        ev.eval = e;
        ev.steps = o.steps;
        on_event(ev);
      }
      solved_in_a_row = e.correct == e.count ? solved_in_a_row + 1 : 0;
      if (o.stop_when_solved && solved_in_a_row >= 2) {
        res.stop_reason = "solved";
        break;
      }
    }
    if (o.time_limit_s > 0 && elapsed() >= o.time_limit_s) {
      res.stop_reason = "time limit";
      break;
    }
  }
  res.train_seconds = elapsed();

  const std::vector<Index> lengths =
      o.task == Task::induction_heads ? o.eval_lengths : std::vector<Index>{o.seqlen};
  std::ofstream final_csv;
  if (!o.out_dir.empty()) {
    save_weights((dir / "weights.npz").string(), w);
    final_csv.open(dir / "final_eval.csv");
    final_csv << "seqlen,targets,correct,accuracy,loss,seconds\n";
  }
  for (Index L : lengths) {
    const EvalResult e = evaluate(o, res.config, w, eval_split(L), L, o.eval_sequences);
    res.final_eval.push_back(e);
    if (final_csv.is_open()) {
      final_csv << e.seqlen << ',' << e.count << ',' << e.correct << ',' << e.accuracy() << ','
                << e.loss << ',' << e.seconds << '\n';
      final_csv.flush();
    }
    if (on_event) {
      TrainEvent ev;
      ev.kind = TrainEvent::final_eval;
      ev.eval = e;
      ev.steps = o.steps;
      on_event(ev);
    }
  }
  res.weights = std::move(w);
  return res;
}

}  // namespace touchstone::train
