// touchstone: judge sequence-model and optimizer kernels against exact references.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

#include "commands.hpp"
#include "counterexample_command.hpp"
#include "train_command.hpp"
#include "touchstone/core/errors.hpp"

int main(int argc, char** argv) {
  using namespace touchstone::cli;
  CLI::App app{"touchstone: exact references, error bounds and differential tests for "
               "sequence-model and optimizer kernels"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "touchstone 0.1.0");

  auto* list = app.add_subcommand("list", "List algorithms, their backends, and whether they run here");
  bool list_json = false;
  std::vector<std::string> list_names;
  list->add_option("algorithms", list_names,
                   "Show only these, with each input's and output's meaning, the options and sizes");
  list->add_flag("--json", list_json, "Print JSON");

  CheckOptions check;
  auto* chk = app.add_subcommand("check", "Run every (or the named) algorithm on every backend "
                                          "against the oracle and its error bound");
  chk->add_option("algorithms", check.algorithms, "Algorithms (default: all)");
  chk->add_option("--backend", check.backends, "Only these backends (repeatable)");
  chk->add_option("--size", check.sizes, "Only these default sizes (repeatable)");
  chk->add_option("--seed", check.seed, "Seed of the default problems")->default_val(0);
  chk->add_option("--precision", check.precision, "Oracle precision in bits")->default_val(256);
  chk->add_option("--json", check.json_path, "Also write the table as JSON to FILE");
  chk->add_option("--html", check.html_path, "Also write the table as HTML to FILE");
  chk->add_option("--spec-url", check.spec_base,
                  "Where the rendered spec is, seen from the HTML file (tools/render_spec.py --out)")
      ->default_val("spec-html/");

  EvalOptions eval;
  auto* ev = app.add_subcommand("eval", "Write the oracle's outputs for inputs from an .npz");
  ev->add_option("algorithm", eval.algorithm, "Algorithm")->required();
  ev->add_option("--inputs", eval.inputs, "Input .npz (numpy.savez)")->required();
  ev->add_option("--output", eval.output, "Output .npz (float64) or .json (decimal strings)")->required();
  ev->add_option("--precision", eval.precision, "Precision in bits")->default_val(256);
  ev->add_option("--option", eval.options, "Algorithm option NAME=VALUE (repeatable)");
  ev->add_option("--backend", eval.backend,
                 "Write this backend's outputs (in its format: cpu-f32 gives float32) instead of "
                 "the oracle's");

  DiffOptions diff;
  auto* df = app.add_subcommand("diff", "Judge another implementation's outputs against the oracle");
  df->add_option("algorithm", diff.algorithm, "Algorithm")->required();
  df->add_option("--inputs", diff.inputs, "Input .npz")->required();
  df->add_option("--outputs", diff.outputs, "Their outputs .npz")->required();
  df->add_option("--format", diff.format,
                 "Format their outputs are stored in: float32, float64, bfloat16, float16, for all "
                 "outputs, and/or per output as NAME=FORMAT, comma-separated "
                 "(out=bfloat16,last_state=float32); default: each array's dtype");
  df->add_option("--precision", diff.precision, "Oracle precision in bits")->default_val(256);
  df->add_option("--elementary-ulps", diff.elementary_ulps,
                 "Max ulp error assumed of their exp/softplus/silu")->default_val(touchstone::kDefaultElementaryUlps);
  df->add_option("--option", diff.options, "Algorithm option NAME=VALUE (repeatable)");
  df->add_option("--json", diff.json_path, "Also write the report as JSON to FILE");
  df->add_option("--oracle", diff.oracle,
                 "fast: settle what touchstone's float64 backend and its bound can (certified), "
                 "MPFR for the rest; mpfr: the MPFR oracle everywhere (same verdict)")
      ->check(CLI::IsMember({"fast", "mpfr"}))
      ->default_val("fast");
  df->add_flag("--strict", diff.strict,
               "Exit 4 when the verdict passed but an output is SUSPECT (statistical evidence of a "
               "wrong answer within the bound; otherwise reported with exit 0)");
  df->add_flag("--progress", diff.progress_lines,
               "Print progress as plain lines on stderr (on a terminal it is shown in place anyway)");

  GenerateOptions gen;
  auto* gn = app.add_subcommand("generate", "Write a built-in default problem as an input .npz");
  gn->add_option("algorithm", gen.algorithm, "Algorithm")->required();
  gn->add_option("--size", gen.size, "Size name (see `touchstone list`)")->required();
  gn->add_option("--format", gen.format, "float32 or float64 values")->default_val("float32");
  gn->add_option("--seed", gen.seed, "Seed")->default_val(0);
  gn->add_option("--output", gen.output, "Output .npz")->required();

  BenchOptions bench;
  auto* bn = app.add_subcommand("bench", "Time every backend on a default problem (median of repeats)");
  bn->add_option("algorithms", bench.algorithms,
                 "Algorithms (default: every one that has the size; the others are skipped)");
  bn->add_option("--backend", bench.backends, "Only these backends (repeatable)");
  bn->add_option("--size", bench.size, "Size name")->default_val("bench");
  bn->add_option("--repeats", bench.repeats, "Repeats")->default_val(5)->check(CLI::Range(1, 1000));

  const auto run_train_commands = add_train_commands(app);
  const auto run_counterexample = add_counterexample_command(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? kExitPass : kExitInvalid;
  }
  try {
    if (*list) return run_list(list_json, list_names);
    if (*chk) return run_check(check);
    if (*ev) return run_eval(eval);
    if (*df) return run_diff(diff);
    if (*gn) return run_generate(gen);
    if (*bn) return run_bench(bench);
    if (const int rc = run_train_commands(); rc >= 0) return rc;
    if (const int rc = run_counterexample(); rc >= 0) return rc;
  } catch (const touchstone::InvalidInput& e) {
    std::fprintf(stderr, "touchstone: invalid input: %s\n", e.what());
    return kExitInvalid;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "touchstone: error: %s\n", e.what());
    return kExitFail;
  }
  return kExitInvalid;
}
