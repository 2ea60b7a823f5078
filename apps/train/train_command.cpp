#include "train_command.hpp"

#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "commands.hpp"
#include "touchstone/core/errors.hpp"
#include "touchstone/train/probe.hpp"
#include "touchstone/train/trainer.hpp"

namespace touchstone::cli {
namespace {

struct TrainCli {
  train::TrainOptions o;
  std::string eval_lengths = "256,1024,4096,16384";
  double time_limit_min = 0;
  bool no_stop = false;
};

struct ProbeCli {
  std::string weights, out;
  train::ProbeOptions o;
};

std::vector<Index> parse_lengths(const std::string& s) {
  std::vector<Index> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      std::size_t used = 0;
      const long long v = std::stoll(item, &used);
      if (used != item.size() || v < 1) throw std::invalid_argument(item);
      out.push_back(static_cast<Index>(v));
    } catch (const std::exception&) {
      throw InvalidInput("--eval-lengths", "expected positive integers separated by commas, got '" + s + "'");
    }
  }
  if (out.empty()) throw InvalidInput("--eval-lengths", "no length given");
  return out;
}

std::string clock(double s) {
  const auto t = static_cast<long long>(s);
  return t >= 3600 ? fmt::format("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60)
                   : fmt::format("{}:{:02}", t / 60, t % 60);
}

int run_train(TrainCli& c, train::Task task) {
  c.o.task = task;
  if (task == train::Task::induction_heads) c.o.eval_lengths = parse_lengths(c.eval_lengths);
  c.o.time_limit_s = c.time_limit_min * 60.0;
  c.o.stop_when_solved = !c.no_stop;
  const bool tty = ::isatty(STDERR_FILENO) == 1;
  const auto params = c.o.init_weights.empty()
                          ? train::lm_cast<float>(train::lm_init(c.o.model, c.o.seed)).parameter_count()
                          : train::load_weights(c.o.init_weights, nullptr).parameter_count();
  fmt::print(stderr, "touchstone train {}: {} parameters, {} steps max, batch {}, seqlen {}, lr {}, seed {}{}\n",
             task == train::Task::induction_heads ? "induction-heads" : "selective-copying", params,
             c.o.steps, c.o.batch, c.o.seqlen, c.o.lr, c.o.seed,
             c.o.time_limit_s > 0 ? fmt::format(", time limit {} min", c.time_limit_min) : "");
  double last_eval_acc = -1;
  auto on_event = [&](const train::TrainEvent& ev) {
    if (ev.kind == train::TrainEvent::step) {
      const double rate = ev.point.wall_s > 0 ? static_cast<double>(ev.point.step) / ev.point.wall_s : 0;
      const std::string valid = last_eval_acc >= 0 ? fmt::format(" | valid acc {:.3f}", last_eval_acc) : "";
      if (tty) {
        const int width = 24;
        const int filled = static_cast<int>(width * static_cast<double>(ev.point.step) / static_cast<double>(std::max<std::int64_t>(1, ev.steps)));
        fmt::print(stderr, "\r\033[K[{}{}] {}/{} loss {:.3f} acc {:.3f}{} | {:.1f} steps/s | {}",
                   std::string(static_cast<std::size_t>(filled), '#'),
                   std::string(static_cast<std::size_t>(width - filled), '-'), ev.point.step, ev.steps,
                   ev.avg_loss, ev.avg_acc, valid, rate, clock(ev.point.wall_s));
        std::fflush(stderr);
      } else if (ev.point.step % 100 == 0) {
        fmt::print(stderr, "step {}/{} loss {:.4f} acc {:.3f} (mean of last 100){} | {:.2f} steps/s | {}\n",
                   ev.point.step, ev.steps, ev.avg_loss, ev.avg_acc, valid, rate, clock(ev.point.wall_s));
      }
    } else if (ev.kind == train::TrainEvent::periodic_eval) {
      last_eval_acc = ev.eval.accuracy();
      if (tty) fmt::print(stderr, "\r\033[K");
      fmt::print(stderr, "step {}: valid accuracy {:.4f} ({}/{}) loss {:.4f} at seqlen {} | {}\n",
                 ev.point.step, ev.eval.accuracy(), ev.eval.correct, ev.eval.count, ev.eval.loss,
                 ev.eval.seqlen, clock(ev.point.wall_s));
    } else {
      fmt::print(stderr, "eval seqlen {}: accuracy {:.4f} ({}/{}) in {:.1f} s\n", ev.eval.seqlen,
                 ev.eval.accuracy(), ev.eval.correct, ev.eval.count, ev.eval.seconds);
    }
  };
  const train::TrainResult r = train::train(c.o, on_event);
  if (tty) fmt::print(stderr, "\r\033[K");
  fmt::print("stopped after {} steps ({}) in {:.1f} s of training ({:.2f} steps/s)\n", r.steps_done,
             r.stop_reason, r.train_seconds,
             r.train_seconds > 0 ? static_cast<double>(r.steps_done) / r.train_seconds : 0.0);
  fmt::print("{:>8}  {:>9}  {:>9}  {:>8}\n", "seqlen", "targets", "accuracy", "loss");
  bool all = true;
  for (const auto& e : r.final_eval) {
    fmt::print("{:>8}  {:>9}  {:>9.4f}  {:>8.4f}\n", e.seqlen, e.count, e.accuracy(), e.loss);
    all = all && e.correct == e.count;
  }
  if (!c.o.out_dir.empty())
    fmt::print("wrote {}/curve.csv, eval.csv, final_eval.csv, weights.npz\n", c.o.out_dir);
  return all ? kExitPass : kExitFail;
}

int run_probe(ProbeCli& c) {
  train::LmConfig cfg;
  const auto w = train::load_weights(c.weights, &cfg);
  const train::ProbeResult r = train::probe_delta(cfg, w, c.o);
  std::filesystem::path dir = c.out.empty() ? std::filesystem::path(c.weights).parent_path() : std::filesystem::path(c.out);
  if (dir.empty()) dir = ".";
  std::filesystem::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream f(dir / name);
    if (!f) throw InvalidInput("--out", "cannot write " + (dir / name).string());
    f << text;
  };
  write("probe_offsets.csv", train::probe_offsets_csv(r));
  write("probe_regions.csv", train::probe_regions_csv(r));
  write("probe_delta.svg", train::probe_svg(r));
  write("probe_channels.csv", train::probe_channels_csv(r));
  write("probe_sequences.csv", train::probe_sequences_csv(r));
  fmt::print("model accuracy on the {} probe sequences (length {}): {}/{}\n", r.sequences, r.seqlen,
             r.correct, r.sequences);
  fmt::print("{:>5}  {:>8}  {:>10}  {:>10}  {:>10}  {:>10}  {:>10}  {:>10}\n", "layer", "region",
             "Δ mean", "Δ min", "Δ q10", "Δ median", "Δ q90", "|ΔBu|");
  for (std::size_t l = 0; l < r.regions.size(); ++l) {
    for (std::size_t k = 0; k < r.regions[l].size(); ++k) {
      const auto& s = r.regions[l][k];
      fmt::print("{:>5}  {:>8}  {:>10.4g}  {:>10.4g}  {:>10.4g}  {:>10.4g}  {:>10.4g}  {:>10.4g}\n", l + 1,
                 train::ProbeResult::region_names()[k], s.delta_mean, s.delta_min, s.delta_q10,
                 s.delta_q50, s.delta_q90, s.update_norm);
    }
    fmt::print("{:>5}  retention from the copied token to the query: best channel {:.4g}, "
               "channels above 1/2: {:.2f}\n", l + 1, r.retention_max[l], r.retention_channels_half[l]);
    std::vector<double> ratio;
    for (std::size_t d = 0; d < r.channel_before[l].size(); ++d)
      ratio.push_back(r.channel_after[l][d] / r.channel_before[l][d]);
    std::sort(ratio.begin(), ratio.end());
    if (!ratio.empty()) {
      const auto below = [&](double x) { return std::count_if(ratio.begin(), ratio.end(), [x](double v) { return v < x; }); };
      fmt::print("{:>5}  per channel, mean Δ after / before the trigger: min {:.4g}, median {:.4g}, max {:.4g}; "
                 "channels below 1/2: {}, below 1/10: {} (of {})\n", l + 1, ratio.front(),
                 train::quantile_sorted(ratio, 0.5), ratio.back(), below(0.5), below(0.1), ratio.size());
      std::vector<double> m;
      for (double v : r.channel_matched_ratio[l])
        if (std::isfinite(v)) m.push_back(v);
      std::sort(m.begin(), m.end());
      if (!m.empty())
        fmt::print("{:>5}  the same at matched positions: min {:.4g}, median {:.4g}, max {:.4g}; "
                   "channels below 1/2: {}, below 1/10: {} (of {})\n", l + 1, m.front(),
                   train::quantile_sorted(m, 0.5), m.back(),
                   std::count_if(m.begin(), m.end(), [](double v) { return v < 0.5; }),
                   std::count_if(m.begin(), m.end(), [](double v) { return v < 0.1; }), m.size());
    }
  }
  fmt::print("wrote {}\n", (dir / "probe_delta.svg").string());
  return kExitPass;
}

}  // namespace

std::function<int()> add_train_commands(CLI::App& app) {
  auto tc = std::make_shared<TrainCli>(), scc = std::make_shared<TrainCli>();
  auto* tr = app.add_subcommand("train", "Train a 2-layer Mamba LM on a synthetic task (CPU, float32)");
  tr->require_subcommand(1);
  auto add_common = [](CLI::App* s, const std::shared_ptr<TrainCli>& tc, Index seqlen_default) {
    s->add_option("--steps", tc->o.steps, "Maximum number of steps")->default_val(204800);
    s->add_option("--batch", tc->o.batch, "Sequences per step")->default_val(8);
    s->add_option("--seqlen", tc->o.seqlen, "Training sequence length")->default_val(seqlen_default);
    s->add_option("--lr", tc->o.lr, "Adam learning rate (constant)")->default_val(1e-3);
    s->add_option("--seed", tc->o.seed, "Seed of the data and the initialization")->default_val(0);
    s->add_option("--threads", tc->o.threads, "Threads (0: all cores)")->default_val(0);
    s->add_option("--out", tc->o.out_dir, "Directory for curve.csv, eval.csv, final_eval.csv, weights.npz");
    s->add_option("--time-limit", tc->time_limit_min, "Stop training after MIN minutes (0: none)")->default_val(0);
    s->add_option("--eval-every", tc->o.eval_every, "Steps between validation evaluations")->default_val(250);
    s->add_option("--eval-sequences", tc->o.eval_sequences, "Sequences per length in the final evaluation")->default_val(128);
    s->add_flag("--no-stop", tc->no_stop, "Keep training after two validation evaluations at 100%");
    s->add_option("--d-model", tc->o.model.d_model, "Model width")->default_val(64);
    s->add_option("--layers", tc->o.model.n_layer, "Mamba layers")->default_val(2);
    s->add_option("--init", tc->o.init_weights, "Start from these weights.npz (fresh Adam state)");
  };
  auto* ih = tr->add_subcommand("induction-heads", "Induction heads (vocab 16), evaluated at longer lengths");
  add_common(ih, tc, 256);
  ih->add_option("--eval-lengths", tc->eval_lengths, "Final evaluation lengths, comma-separated")
      ->default_val("256,1024,4096,16384");
  auto* sc = tr->add_subcommand("selective-copying", "Selective copying (vocab 16, 16 data tokens)");
  add_common(sc, scc, 4096);
  sc->add_option("--memorize", scc->o.memorize, "Data tokens to copy (M)")->default_val(16);

  auto pc = std::make_shared<ProbeCli>();
  auto* pr = app.add_subcommand("probe-delta", "Record Δ and |Δ·B·u| of a trained induction-heads "
                                               "model around the copy-prefix token; CSV and SVG");
  pr->add_option("--weights", pc->weights, "weights.npz written by `touchstone train`")->required();
  pr->add_option("--sequences", pc->o.sequences, "Held-out sequences")->default_val(64);
  pr->add_option("--seqlen", pc->o.seqlen, "Their length")->default_val(256);
  pr->add_option("--window", pc->o.window, "Offsets around the trigger to plot")->default_val(32);
  pr->add_option("--seed", pc->o.seed, "Data seed")->default_val(0);
  pr->add_option("--threads", pc->o.threads, "Threads (0: all cores)")->default_val(0);
  pr->add_option("--out", pc->out, "Output directory (default: the weights' directory)");

  return [=]() -> int {
    if (*ih) return run_train(*tc, train::Task::induction_heads);
    if (*sc) return run_train(*scc, train::Task::selective_copying);
    if (*pr) return run_probe(*pc);
    return -1;
  };
}

}  // namespace touchstone::cli
