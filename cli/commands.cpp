#include "commands.hpp"

#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "builtin.hpp"
#include "check_html.hpp"
#include "cuda/device.hpp"
#include "touchstone/core/errors.hpp"
#include "touchstone/core/input_check.hpp"
#include "touchstone/core/report.hpp"

namespace touchstone::cli {
namespace {

using Json = nlohmann::ordered_json;

bool stderr_is_terminal() { return ::isatty(STDERR_FILENO) == 1; }

// A progress line on a terminal, overwritten in place; nothing when stderr is a file or pipe.
void progress(const std::string& text) {
  if (!stderr_is_terminal()) return;
  fmt::print(stderr, "\r\033[K{}", text);
  std::fflush(stderr);
}
// --progress: plain lines, for a pipe or a CI log.
void progress_line(const std::string& text) {
  if (stderr_is_terminal()) return progress(text);
  fmt::print(stderr, "{}\n", text);
  std::fflush(stderr);
}
void progress_done() {
  if (stderr_is_terminal()) fmt::print(stderr, "\r\033[K");
}

// [CORE-NPZ-BUDGET] The inputs' declared shapes and dtypes are checked against the entry's
// declarations, and their size against the memory budget, before any array is decompressed.
NpyMap read_inputs(const Algorithm& a, const std::string& path, const OptionMap& options) {
  return read_npz(path, kDefaultMaxNpzBytes, [&](const NpyHeaders& headers) {
    check_inputs(a.name(), a.inputs(), a.options(), headers, options);
  });
}

OptionMap parse_options(const std::vector<std::string>& kv) {
  OptionMap m;
  for (const auto& s : kv) {
    const auto eq = s.find('=');
    if (eq == std::string::npos || eq == 0)
      throw InvalidInput("--option", "expected NAME=VALUE, got '" + s + "'");
    m[s.substr(0, eq)] = s.substr(eq + 1);
  }
  return m;
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  if (!f) throw InvalidInput(path, "cannot open for writing");
  f << text;
  if (!f) throw InvalidInput(path, "write failed");
}

// Whether `name` passes a --backend filter (an empty filter passes everything).
bool selected(const std::vector<std::string>& filter, const std::string& name) {
  return filter.empty() || std::find(filter.begin(), filter.end(), name) != filter.end();
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// The named algorithms, or all of them.
std::vector<const Algorithm*> select_algorithms(const std::vector<std::string>& names) {
  const Registry& reg = builtin_registry();
  if (names.empty()) return reg.all();
  std::vector<const Algorithm*> out;
  for (const auto& name : names) out.push_back(&reg.get(name));
  return out;
}

}  // namespace

// Whether `a` generates problems of `size` (a default size or one of its extra sizes, such as
// `bench`): the registry's interface lists only the default sizes, so this asks generate.
bool has_size(const Algorithm& a, const std::string& size) {
  for (const auto& s : a.sizes())
    if (s == size) return true;
  try {
    a.generate(size, Format::float64, 0);
    return true;
  } catch (const InvalidInput& e) {
    if (e.argument() == "size") return false;
    throw;
  }
}

int run_list(bool json, const std::vector<std::string>& names) {
  const std::vector<const Algorithm*> algos = select_algorithms(names);
  const bool detailed = !names.empty();
  const std::string gpu = touchstone::cuda::unavailable_reason();
  Json j;
  j["gpu"] = gpu.empty() ? Json("found") : Json(gpu);
  for (const Algorithm* a : algos) {
    Json ja;
    ja["name"] = a->name();
    ja["summary"] = a->summary();
    ja["spec"] = a->spec_ref();
    for (const auto& s : a->inputs())
      ja["inputs"].push_back({{"name", s.name}, {"shape", s.shape}, {"optional", s.optional}, {"meaning", s.meaning}});
    for (const auto& s : a->outputs())
      ja["outputs"].push_back({{"name", s.name}, {"shape", s.shape}, {"meaning", s.meaning}});
    for (const auto& o : a->options())
      ja["options"].push_back({{"name", o.name}, {"meaning", o.meaning}, {"default", o.default_value}});
    ja["sizes"] = a->sizes();
    if (detailed) ja["bench_size"] = has_size(*a, "bench");
    for (const auto& b : a->backends()) {
      const std::string why = b.unavailable_reason();
      ja["backends"].push_back({{"name", b.name}, {"format", std::string(format_name(b.format))},
                                {"available", why.empty()}, {"reason", why}, {"order", b.order}});
    }
    j["algorithms"].push_back(ja);
  }
  if (json) {
    fmt::print("{}\n", j.dump(2));
    return kExitPass;
  }
  fmt::print("GPU: {}\n\n", gpu.empty() ? "found" : gpu);
  for (const Algorithm* a : algos) {
    fmt::print("{}\n  {}\n  spec: {}\n  inputs:\n", a->name(), a->summary(), a->spec_ref());
    for (const auto& s : a->inputs())
      fmt::print("    {:<15} {:<22} {:<10}{}\n", s.name, s.shape, s.optional ? "(optional)" : "",
                 detailed && !s.meaning.empty() ? "  " + s.meaning : "");
    fmt::print("  outputs:\n");
    for (const auto& s : a->outputs())
      fmt::print("    {:<15} {:<22} {:<10}{}\n", s.name, s.shape, "",
                 detailed && !s.meaning.empty() ? "  " + s.meaning : "");
    if (detailed) {
      fmt::print("  options (--option NAME=VALUE):{}\n", a->options().empty() ? " none" : "");
      for (const auto& o : a->options())
        fmt::print("    {:<15} default {:<12}  {}\n", o.name,
                   o.default_value.empty() ? "(none)" : o.default_value, o.meaning);
    }
    fmt::print("  default sizes: ");
    for (const auto& s : a->sizes()) fmt::print("{} ", s);
    if (detailed)
      fmt::print("\n  bench size: {}",
                 has_size(*a, "bench") ? "yes (touchstone bench)" : "none (touchstone bench skips it)");
    fmt::print("\n  backends:\n");
    for (const auto& b : a->backends()) {
      const std::string why = b.unavailable_reason();
      fmt::print("    {:<10} {:<8} {}\n", b.name, format_name(b.format),
                 why.empty() ? "available" : "unavailable: " + why);
    }
    fmt::print("\n");
  }
  return kExitPass;
}

int run_check(const CheckOptions& o) {
  const Registry& reg = builtin_registry();
  CheckRequest q;
  q.algorithms = select_algorithms(o.algorithms);
  for (const Algorithm* a : q.algorithms)
    for (const auto& b : o.backends) reg.backend(*a, b);  // validates the names
  q.backends = o.backends;
  q.sizes = o.sizes;
  q.seed = o.seed;
  q.precision = o.precision;
  const CheckReport report = touchstone::run_check(q, progress);
  progress_done();

  auto verdict_text = [](const CheckRow& r) {
    return r.skipped ? std::string("SKIP") : std::string(verdict_name(r.verdict));
  };
  fmt::print("{:<38} {:<9} {:<7} {:>9} {:>10} {:>10}  {}\n", "algorithm", "backend", "size",
             "max ulps", "err/bound", "time ms", "verdict");
  for (const auto& r : report.rows) {
    const bool ran = !r.skipped;
    fmt::print("{:<38} {:<9} {:<7} {:>9} {:>10} {:>10}  {}{}\n", r.algorithm, r.backend, r.size,
               ran ? format_number(r.max_ulps) : "-", ran ? format_number(r.max_ratio) : "-",
               ran ? format_number(r.time_ms, "{:.3f}") : "-", verdict_text(r),
               r.reason.empty() ? "" : " (" + r.reason + ")");
  }
  const Verdict overall = report.verdict();
  fmt::print("\noracle: MPFR from {} bits, verified at twice that; seed {}; {} rows in {:.1f} s; "
             "verdict: {}\n",
             o.precision, o.seed, report.rows.size(), report.seconds, verdict_name(overall));
  fmt::print("max ulps: largest |computed - exact| / ulp(exact) in the backend's format; "
             "err/bound: largest |computed - exact| / (documented bound); PASS: every element "
             "within its bound and NaN exactly where the oracle has NaN; INCONCLUSIVE: none "
             "outside, some with no finite bound\n");

  Json j;
  j["touchstone"] = "0.1.0";
  j["precision_bits"] = o.precision;
  j["seed"] = o.seed;
  j["pass"] = overall == Verdict::pass;
  j["verdict"] = verdict_name(overall);
  for (const auto& r : report.rows) {
    Json jr{{"algorithm", r.algorithm}, {"backend", r.backend}, {"size", r.size},
            {"problem", r.problem}, {"format", std::string(format_name(r.format))},
            {"verdict", verdict_text(r)}};
    if (!r.reason.empty()) jr["reason"] = r.reason;
    if (!r.skipped) {
      jr["time_ms"] = r.time_ms;
      jr["max_ulps"] = r.max_ulps;
      jr["max_error_over_bound"] = r.max_ratio;
      for (const auto& jd : r.outputs) jr["outputs"][jd.output] = summary_json(jd.summary, jd.shape);
    }
    j["rows"].push_back(jr);
  }
  if (!o.json_path.empty()) write_text(o.json_path, j.dump(2) + "\n");
  if (!o.html_path.empty()) {
    CheckHtmlContext c;
    c.precision = o.precision;
    c.seed = o.seed;
    c.date = utc_now();
    c.version = touchstone_version();
    c.machine = machine_description();
    c.spec_base = o.spec_base;
    c.spec_ref = [&reg](const std::string& name) { return reg.get(name).spec_ref(); };
    write_text(o.html_path, check_html(report, c));
  }
  return exit_code(overall);
}

int run_eval(const EvalOptions& o) {
  const Algorithm& a = builtin_registry().get(o.algorithm);
  const bool json = o.output.size() > 5 && o.output.substr(o.output.size() - 5) == ".json";
  const bool npz = o.output.size() > 4 && o.output.substr(o.output.size() - 4) == ".npz";
  if (!json && !npz) throw InvalidInput("--output", "expected a file name ending in .npz or .json");
  const OptionMap options = parse_options(o.options);
  const auto problem = a.from_arrays(read_inputs(a, o.inputs, options), options);
  if (!o.backend.empty()) {
    // One backend's outputs, as a float32 (or float64) answer for `diff` (bench/oracle_tiers.sh).
    const auto& bs = a.backends();
    const auto b = std::find_if(bs.begin(), bs.end(), [&](const BackendSpec& s) { return s.name == o.backend; });
    if (b == bs.end()) {
      std::string names;
      for (const auto& s : bs) names += (names.empty() ? "" : ", ") + s.name;
      throw InvalidInput("--backend", "'" + a.name() + "' has no backend '" + o.backend +
                                          "' (backends: " + names + ")");
    }
    if (const std::string why = b->unavailable_reason(); !why.empty())
      throw InvalidInput("--backend", "'" + o.backend + "' cannot run here: " + why);
    if (!npz) throw InvalidInput("--output", "a backend's outputs are written as .npz");
    const bool f32 = b->format == Format::float32;
    if (!f32 && b->format != Format::float64)
      throw InvalidInput("--backend", "'" + o.backend + "' computes in " +
                                          std::string(format_name(b->format)) +
                                          ", which .npz output does not hold here");
    write_npz(o.output, b->run(*problem), f32);
    fmt::print("wrote {} ({}; backend {}, {})\n", o.output, problem->describe(), o.backend,
               format_name(b->format));
    return kExitPass;
  }
  progress("oracle...");
  const ExactArrays exact = a.reference(*problem, o.precision);
  progress_done();
  if (npz) {
    std::map<std::string, Tensor<double>> out;
    for (const auto& [name, t] : exact) {
      Tensor<double> d(t.shape());
      for (Index i = 0; i < t.count(); ++i) d[i] = to_double(t[i]);
      out[name] = std::move(d);
    }
    write_npz(o.output, out);
  } else {
    Json j;
    j["algorithm"] = a.name();
    j["problem"] = problem->describe();
    unsigned bits = 0;
    for (const auto& [name, t] : exact) {
      Json jo;
      jo["shape"] = t.shape().extents();
      Json values = Json::array();
      for (Index i = 0; i < t.count(); ++i) {
        values.push_back(to_decimal_string(t[i]));
        bits = precision_bits(t[i]);
      }
      jo["values"] = std::move(values);
      j["outputs"][name] = std::move(jo);
    }
    j["precision_bits"] = bits;
    write_text(o.output, j.dump(1) + "\n");
  }
  unsigned verified_bits = o.precision;
  for (const auto& [name, t] : exact)
    if (t.count()) verified_bits = precision_bits(t[0]);
  fmt::print("wrote {} ({}; oracle at {} bits, verified against {} bits)\n", o.output,
             problem->describe(), verified_bits, verified_bits / 2);
  return kExitPass;
}

int run_diff(const DiffOptions& o) {
  const Registry& reg = builtin_registry();
  const Algorithm& a = reg.get(o.algorithm);
  const OptionMap options = parse_options(o.options);
  const auto problem = a.from_arrays(read_inputs(a, o.inputs, options), options);
  const TheirOutputs theirs = their_outputs(read_npz(o.outputs));
  DiffRequest q;
  set_formats(q, o.format, theirs);
  q.elementary_ulps = o.elementary_ulps;
  q.precision = o.precision;
  q.oracle = o.oracle == "mpfr" ? OracleTier::mpfr : OracleTier::fast;
  q.progress = o.progress_lines ? progress_line : progress;
  const DiffReport r = touchstone::run_diff(a, *problem, theirs.arrays, q);
  progress_done();

  fmt::print("{}", diff_text(r));
  if (!o.json_path.empty()) write_text(o.json_path, diff_json(r).dump(2) + "\n");
  return diff_exit_code(r, o.strict);
}

int run_generate(const GenerateOptions& o) {
  const Algorithm& a = builtin_registry().get(o.algorithm);
  const Format f = parse_format(o.format);
  if (f != Format::float32 && f != Format::float64)
    throw InvalidInput("--format", "default problems are generated in float32 or float64");
  const auto problem = a.generate(o.size, f, o.seed);
  write_npz(o.output, problem->inputs());
  fmt::print("wrote {} ({})\n", o.output, problem->describe());
  return kExitPass;
}

int run_bench(const BenchOptions& o) {
  const std::vector<const Algorithm*> algos = select_algorithms(o.algorithms);
  // Named algorithms must have the size; with none named, those without it are skipped.
  if (!o.algorithms.empty())
    for (const Algorithm* a : algos)
      if (!has_size(*a, o.size)) {
        std::string list;
        for (const auto& s : a->sizes()) list += (list.empty() ? "" : ", ") + s;
        throw InvalidInput("--size", "'" + a->name() + "' has no size '" + o.size + "' (sizes: " +
                                         list + ")");
      }
  fmt::print("{:<38} {:<9} {:>12} {:>12}   ({} repeats, median)\n", "algorithm", "backend",
             "median ms", "min ms", o.repeats);
  int timed = 0, skipped = 0;
  for (const Algorithm* a : algos) {
    if (o.algorithms.empty() && !has_size(*a, o.size)) {
      fmt::print("{:<38} {:<9} skipped: no '{}' size\n", a->name(), "-", o.size);
      ++skipped;
      continue;
    }
    for (const auto& b : a->backends()) {
      if (!selected(o.backends, b.name)) continue;
      if (const std::string why = b.unavailable_reason(); !why.empty()) {
        fmt::print("{:<38} {:<9} skipped: {}\n", a->name(), b.name, why);
        continue;
      }
      const auto problem = a->generate(o.size, b.format, 0);
      b.run(*problem);  // warm-up
      std::vector<double> t;
      for (int r = 0; r < o.repeats; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        b.run(*problem);
        t.push_back(ms_since(t0));
      }
      std::sort(t.begin(), t.end());
      fmt::print("{:<38} {:<9} {:>12.3f} {:>12.3f}   {}\n", a->name(), b.name, t[t.size() / 2],
                 t.front(), problem->describe());
      ++timed;
    }
  }
  fmt::print("\n{} timed, {} algorithm(s) skipped (no '{}' size)\n", timed, skipped, o.size);
  return kExitPass;
}

}  // namespace touchstone::cli
