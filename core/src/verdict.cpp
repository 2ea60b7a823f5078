#include "touchstone/core/verdict.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <cmath>
#include <limits>
#include <string>

#include "touchstone/core/errors.hpp"
#include "touchstone/core/npy.hpp"
#include "touchstone/core/parallel.hpp"
#include "touchstone/core/slices.hpp"
#include "touchstone/core/tracked.hpp"

namespace touchstone {
namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

bool selected(const std::vector<std::string>& filter, const std::string& name) {
  return filter.empty() || std::find(filter.begin(), filter.end(), name) != filter.end();
}

void say(const std::function<void(const std::string&)>& progress, const std::string& line) {
  if (progress) progress(line);
}

}  // namespace

int exit_code(Verdict v) {
  switch (v) {
    case Verdict::pass: return kExitPass;
    case Verdict::fail: return kExitFail;
    case Verdict::inconclusive: return kExitInconclusive;
  }
  return kExitFail;
}

void BiasAccumulator::add(double theirs, double exact) {
  if (!std::isfinite(theirs) || !std::isfinite(exact) || exact == 0) return;
  const double e = theirs - exact;  // the statistic's own rounding is immaterial at its thresholds
  if (e == 0 || !std::isfinite(e)) return;
  sum_ex_ += static_cast<long double>(e) * exact;
  sum_xx_ += static_cast<long double>(exact) * exact;
  ((e > 0) == (exact > 0) ? positive_ : negative_) += 1;
}

Suspicion BiasAccumulator::finish(const std::string& output, Format compute) const {
  Suspicion s;
  s.output = output;
  s.errors = positive_ + negative_;
  if (s.errors == 0 || !(sum_xx_ > 0)) return s;
  s.relative_bias = static_cast<double>(sum_ex_ / sum_xx_);
  s.bias_units = s.relative_bias / format_info(compute).u;
  s.agreement = static_cast<double>(s.relative_bias >= 0 ? positive_ : negative_) / static_cast<double>(s.errors);
  s.bias = s.errors >= kSuspectMinErrors && std::fabs(s.bias_units) >= kSuspectBiasUnits &&
           s.agreement >= kSuspectAgreement;
  return s;
}

void ProbabilisticCounter::add(Index i, double theirs, double exact, double error_lower) {
  if (!bound_ || !std::isfinite(theirs) || !std::isfinite(exact)) return;
  const double b = (*bound_)[i];
  if (!(b > 0) || !std::isfinite(b) || !(error_lower > 0)) return;
  max_ratio_ = std::max(max_ratio_, error_lower / b);
  if (error_lower > b) {
    ++beyond_;
    if (first_ < 0 || i < first_) first_ = i;
  }
}

void ProbabilisticCounter::finish(Suspicion& s) const {
  if (!bound_) return;
  s.probabilistic_available = true;
  s.beyond_probabilistic = beyond_;
  s.first_beyond = first_;
  s.max_over_probabilistic = max_ratio_;
  s.probabilistic = beyond_ > 0;
}

bool DiffReport::suspect() const {
  for (const auto& s : suspicions)
    if (s.suspect()) return true;
  return false;
}

int diff_exit_code(const DiffReport& r, bool strict) {
  if (strict && r.verdict == Verdict::pass && r.suspect()) return kExitSuspect;
  return exit_code(r.verdict);
}

std::string verdict_reason(const OutputJudgement& j) {
  const ErrorSummary& s = j.summary;
  std::string r;
  if (s.outside)
    r = j.output + ": " + std::to_string(s.outside) + " of " + std::to_string(s.count) +
        " element(s) outside the bound, first at " + index_string(j.shape, s.worst);
  if (s.unjudged)
    r += (r.empty() ? "" : "; ") + j.output + ": " + std::to_string(s.unjudged) + " of " +
         std::to_string(s.count) + " element(s) unjudged (no finite bound), first at " +
         index_string(j.shape, s.first_unjudged);
  return r;
}

Verdict CheckReport::verdict() const {
  Verdict v = Verdict::pass;
  for (const auto& r : rows)
    if (!r.skipped) v = combine(v, r.verdict);
  return v;
}

CheckReport run_check(const CheckRequest& q, const std::function<void(const std::string&)>& progress) {
  CheckReport report;
  std::size_t total = 0, done = 0;
  for (const Algorithm* a : q.algorithms) {
    const auto sizes = q.sizes.empty() ? a->sizes() : q.sizes;
    for (const auto& b : a->backends())
      if (selected(q.backends, b.name)) total += sizes.size();
  }
  const auto started = std::chrono::steady_clock::now();
  for (const Algorithm* a : q.algorithms) {
    const auto sizes = q.sizes.empty() ? a->sizes() : q.sizes;
    std::vector<Format> formats;
    for (const auto& b : a->backends())
      if (selected(q.backends, b.name) &&
          std::find(formats.begin(), formats.end(), b.format) == formats.end())
        formats.push_back(b.format);
    for (const auto& size : sizes) {
      for (Format f : formats) {
        say(progress, "[" + std::to_string(done) + "/" + std::to_string(total) + "] " + a->name() +
                          " " + size + " " + std::string(format_name(f)) + ": oracle");
        const auto problem = a->generate(size, f, q.seed);
        const ExactArrays exact = a->reference(*problem, q.precision);
        for (const auto& b : a->backends()) {
          if (b.format != f || !selected(q.backends, b.name)) continue;
          say(progress, "[" + std::to_string(done) + "/" + std::to_string(total) + "] " + a->name() +
                            " " + size + " " + b.name);
          CheckRow row;
          row.algorithm = a->name();
          row.backend = b.name;
          row.size = size;
          row.problem = problem->describe();
          row.format = f;
          if (const std::string why = b.unavailable_reason(); !why.empty()) {
            row.skipped = true;
            row.reason = why;
          } else {
            const auto t0 = std::chrono::steady_clock::now();
            const Arrays out = b.run(*problem);
            row.time_ms = ms_since(t0);
            for (const auto& [name, t] : exact)
              if (!out.count(name))
                throw std::logic_error(a->name() + " " + b.name + " omits the output '" + name + "'");
            const Arrays bounds = b.bound(*problem);
            row.outputs = judge(out, exact, &bounds, f);
            row.verdict = verdict_of(row.outputs);
            for (const auto& j : row.outputs) {
              row.max_ulps = std::max(row.max_ulps, j.summary.max_ulps);
              row.max_ratio = std::max(row.max_ratio, j.summary.max_ratio);
              const std::string r = verdict_reason(j);
              if (!r.empty()) row.reason += (row.reason.empty() ? "" : "; ") + r;
            }
          }
          report.rows.push_back(std::move(row));
          ++done;
        }
      }
    }
  }
  report.seconds = ms_since(started) / 1000;
  return report;
}

TheirOutputs their_outputs(const NpyMap& arrays) {
  if (arrays.empty()) throw InvalidInput("outputs", "holds no arrays");
  TheirOutputs t;
  bool mixed = false;
  for (const auto& [name, arr] : arrays) {
    if (arr.kind != NpyKind::floating)  // complex arrays come as (re, im) pairs
      throw InvalidInput(name, "expected a float array, got " + arr.dtype_name());
    const Format f = arr.item_bytes == 2 ? Format::float16
                     : arr.item_bytes == 4 ? Format::float32 : Format::float64;
    if (t.format && *t.format != f) mixed = true;
    t.format = f;
    t.formats[name] = f;
    t.arrays[name] = arr.values;
  }
  if (mixed) t.format.reset();
  return t;
}

Format compute_format_for(Format storage) {
  return storage == Format::float64 ? Format::float64 : Format::float32;
}

Format DiffReport::format_of(const std::string& output) const {
  auto it = output_formats.find(output);
  return it == output_formats.end() ? format : it->second;
}

void set_formats(DiffRequest& q, const std::string& spec, const TheirOutputs& theirs) {
  std::optional<Format> all;
  std::map<std::string, Format> named;
  std::size_t start = 0;
  while (start <= spec.size() && !spec.empty()) {
    const std::size_t comma = std::min(spec.find(',', start), spec.size());
    const std::string item = spec.substr(start, comma - start);
    start = comma + 1;
    const std::size_t eq = item.find('=');
    auto format = [&](const std::string& f) {
      try {
        return parse_format(f);
      } catch (const InvalidInput&) {
        throw InvalidInput("--format", "expected one of float16, bfloat16, float32, float64, got '" + f + "'");
      }
    };
    if (eq == std::string::npos) {
      if (all) throw InvalidInput("--format", "gives the format of every output twice ('" + spec + "')");
      all = format(item);
      continue;
    }
    const std::string name = item.substr(0, eq);
    if (!theirs.arrays.count(name)) {
      std::string known;
      for (const auto& [n, t] : theirs.arrays) known += (known.empty() ? "" : ", ") + n;
      throw InvalidInput("--format", "names '" + name + "', which is not among their outputs (" + known + ")");
    }
    if (!named.emplace(name, format(item.substr(eq + 1))).second)
      throw InvalidInput("--format", "gives the format of '" + name + "' twice");
  }
  // Every output not named: the format given for all, else the dtype they share, else its own.
  if (all) q.format = *all;
  else if (theirs.format) q.format = *theirs.format;
  else if (!theirs.formats.empty()) q.format = theirs.formats.begin()->second;
  q.output_formats.clear();
  for (const auto& [name, t] : theirs.arrays) {
    auto n = named.find(name);
    const Format f = n != named.end() ? n->second
                     : all            ? *all
                     : theirs.formats.count(name) ? theirs.formats.at(name) : q.format;
    if (f != q.format) q.output_formats[name] = f;
  }
}

double storage_bound(double b, double x, Format storage) {
  // One more rounding of a computed value within b of an exact value of modulus <= x: core's
  // round_to, the rule RoundOps.v round_bound proves.
  const Rounding rs = Rounding::of(format_info(storage));
  const Tracked stored = round_to(Tracked{-x, x, b}, rs);
  return stored.overflows(rs) ? std::numeric_limits<double>::infinity() : stored.err * (1 + 0x1p-50);
}

Arrays diff_bound(const Algorithm& a, const ProblemHandle& problem, Format storage,
                  double elementary_ulps, const ExactArrays& exact) {
  const Format compute = storage == Format::float64 ? Format::float64 : Format::float32;
  Arrays bounds = a.any_order_bound(problem, compute, elementary_ulps);
  if (storage == compute) return bounds;
  for (auto& [name, b] : bounds) {
    auto e = exact.find(name);
    if (e == exact.end() || !(e->second.shape() == b.shape())) continue;  // judge reports it
    for (Index i = 0; i < b.count(); ++i)  // x is rounded to double, hence the widening
      b[i] = storage_bound(b[i], std::fabs(to_double(e->second[i])) * (1 + 0x1p-52), storage);
  }
  return bounds;
}

namespace {

// The report's header and notes: what is judged, in which format, under which assumptions.
DiffReport diff_header(const Algorithm& a, const ProblemHandle& problem, const Arrays& theirs,
                       Format format, double elementary_ulps,
                       const std::map<std::string, Format>& output_formats = {}) {
  if (theirs.empty()) throw InvalidInput("outputs", "holds no arrays");
  if (!(elementary_ulps >= 0 && elementary_ulps < 1e6))
    throw InvalidInput("--elementary-ulps", "expected a non-negative number");
  DiffReport r;
  r.algorithm = a.name();
  r.problem = problem.describe();
  r.format = format;
  r.compute = compute_format_for(format);
  for (const auto& [name, f] : output_formats) {
    if (!theirs.count(name)) throw InvalidInput("--format", "names '" + name + "', which is not among their outputs");
    if (f != format) r.output_formats[name] = f;
  }
  r.elementary_ulps = elementary_ulps;
  r.order_assumed = a.any_order_assumption();
  // Outputs stored in a wider dtype than the format judged (bfloat16 saved as float32): say how
  // many values are not values of the format, in case the rounding was forgotten.
  for (const auto& [name, t] : theirs) {
    const Format f = r.format_of(name);
    Index off = 0;
    for (Index i = 0; i < t.count(); ++i) off += representable_in(t[i], f) ? 0 : 1;
    if (off)
      r.notes.push_back(std::to_string(off) + " of " + std::to_string(t.count()) + " values of '" +
                        name + "' are not " + std::string(format_name(f)) +
                        " values (judged as given)");
  }
  return r;
}

// Touchstone's own CPU backend of each compute format on the same inputs, each output rounded to
// the format it is judged in, restricted to the outputs they gave: the baseline their errors are
// compared with. Without an output whose backend cannot run (r.baseline_note says why).
Arrays baseline_outputs(const Algorithm& a, const ProblemHandle& problem, const Arrays& theirs,
                        DiffReport& r) {
  std::vector<Format> computes;
  for (const auto& [name, t] : theirs) {
    const Format c = compute_format_for(r.format_of(name));
    if (std::find(computes.begin(), computes.end(), c) == computes.end()) computes.push_back(c);
  }
  Arrays baseline;
  for (Format c : computes)
    for (const auto& b : a.backends()) {
      if (b.format != c || b.name.rfind("cpu-", 0) != 0) continue;
      r.baseline_backend += (r.baseline_backend.empty() ? "" : ", ") + b.name;
      try {
        Arrays out = b.run(problem);
        for (auto& [name, t] : out) {
          if (!theirs.count(name) || compute_format_for(r.format_of(name)) != c) continue;
          const Format f = r.format_of(name);
          for (Index i = 0; i < t.count(); ++i) t[i] = round_to_format(t[i], f);
          baseline[name] = std::move(t);
        }
      } catch (const InvalidInput& e) {
        r.baseline_note += std::string(r.baseline_note.empty() ? "" : "; ") + "baseline " + b.name +
                           " skipped: " + e.what();
      }
      break;
    }
  return baseline;
}

// [CORE-DIFF-SUSPECT] Their outputs' suspicions: the signed-bias sums and their largest error
// against the baseline's.
std::vector<Suspicion> suspicions_of(const DiffReport& r, const std::map<std::string, BiasAccumulator>& sums,
                                     const std::map<std::string, ProbabilisticCounter>& probable,
                                     const std::map<Format, std::optional<ProbabilisticBound>>& probable_at) {
  std::vector<Suspicion> out;
  for (const auto& j : r.outputs) {
    auto it = sums.find(j.output);
    Suspicion s = it == sums.end() ? Suspicion{}
                                   : it->second.finish(j.output, compute_format_for(r.format_of(j.output)));
    s.output = j.output;
    if (auto c = probable.find(j.output); c != probable.end() && c->second.active()) {
      c->second.finish(s);
      const auto& pb = probable_at.at(compute_format_for(r.format_of(j.output)));
      s.lambda = pb->lambda;
      s.thetas = pb->thetas;
      s.alpha = pb->alpha;
    }
    for (const auto& b : r.baseline) {
      if (b.output != j.output) continue;
      const double base = b.summary.max_abs, theirs = j.summary.max_abs;
      s.over_baseline = base > 0 ? theirs / base : (theirs == 0 ? 1.0 : INFINITY);
      s.baseline = std::isfinite(theirs) && j.summary.max_ulps > kSuspectMinUlps &&
                   s.over_baseline > kSuspectOverBaseline;
    }
    out.push_back(std::move(s));
  }
  return out;
}

// A failed float32 output whose every value is a bfloat16 (or float16) value was likely computed
// in that format and saved widened: say so, since judging it as float32 holds it to float32's
// rounding.
void add_narrow_hint(DiffReport& r, const Arrays& theirs) {
  for (const auto& j : r.outputs) {
    if (j.summary.pass() || r.format_of(j.output) != Format::float32) continue;
    const Tensor<double>& t = theirs.at(j.output);
    for (Format narrow : {Format::bfloat16, Format::float16}) {
      bool all = t.count() > 0;
      for (Index i = 0; all && i < t.count(); ++i) all = representable_in(t[i], narrow);
      if (!all) continue;
      r.notes.push_back("every value of '" + j.output + "' is a " + std::string(format_name(narrow)) +
                        " value: if the kernel returns " + std::string(format_name(narrow)) +
                        ", judge it as such (--format " + j.output + "=" + std::string(format_name(narrow)) + ")");
      break;
    }
  }
}

// touchstone's float64 CPU backend, which the fast tier's enclosure comes from.
const BackendSpec* enclosure_backend(const Algorithm& a) {
  for (const auto& b : a.backends())
    if (b.format == Format::float64 && b.name.rfind("cpu-", 0) == 0 && b.unavailable_reason().empty())
      return &b;
  return nullptr;
}

std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f s", s);
  return buf;
}

}  // namespace

void verified_slices(const Algorithm& a, const ProblemSlicer& slicer, const std::vector<Index>& slices,
                     unsigned precision, const std::function<void(Index, const ExactArrays&)>& done,
                     const std::function<void(const std::string&)>& progress) {
  { const WorkingPrecision valid(precision); }  // InvalidInput("precision") outside the range
  if (precision > kMaxPrecisionBits / 2)
    throw InvalidInput("precision", "expected at most " + std::to_string(kMaxPrecisionBits / 2) +
                                        " bits: every oracle answer is checked at twice its precision");
  const unsigned kMaxBits = std::max(16384u, 2 * precision);
  const int threads = default_thread_count();
  // A chunk keeps every core busy while holding few slices' MPFR values at once.
  const std::size_t chunk = static_cast<std::size_t>(8 * threads);
  const auto started = std::chrono::steady_clock::now();
  for (std::size_t start = 0; start < slices.size(); start += chunk) {
    const std::size_t n = std::min(chunk, slices.size() - start);
    std::vector<std::unique_ptr<ProblemHandle>> problems(n);
    std::vector<ExactArrays> lo(n), hi(n);
    std::vector<char> agreed(n, 0);
    parallel_for(static_cast<std::int64_t>(n), threads,
                 [&](std::int64_t k) { problems[k] = slicer.slice(slices[start + k]); });
    unsigned b = precision;
    {
      // Every thread then computes at b: their own WorkingPrecision(b) writes nothing.
      const WorkingPrecision wp(b);
      parallel_for(static_cast<std::int64_t>(n), threads,
                   [&](std::int64_t k) { lo[k] = a.oracle_in_range(*problems[k], b); });
    }
    for (;;) {
      if (2 * b > kMaxBits)
        throw InvalidInput("precision", a.name() + ": the oracle's results at " + std::to_string(b / 2) +
                                            " and " + std::to_string(b) + " bits disagree on a slice and " +
                                            std::to_string(kMaxBits) + " bits is the limit");
      bool all = true;
      {
        const WorkingPrecision wp(2 * b);
        parallel_for(static_cast<std::int64_t>(n), threads, [&](std::int64_t k) {
          if (agreed[k]) return;
          hi[k] = a.oracle_in_range(*problems[k], 2 * b);
          agreed[k] = oracle_agrees(lo[k], hi[k], b);
          if (!agreed[k]) lo[k] = std::move(hi[k]);
        });
      }
      for (char g : agreed) all = all && g;
      if (all) break;
      b *= 2;
    }
    for (std::size_t k = 0; k < n; ++k) done(slices[start + k], hi[k]);
    const std::size_t finished = start + n;
    const double elapsed = ms_since(started) / 1000;
    say(progress, "oracle: " + std::to_string(finished) + "/" + std::to_string(slices.size()) +
                      " slices, " + seconds_text(elapsed) + " elapsed, ETA " +
                      seconds_text(elapsed / finished * (slices.size() - finished)));
  }
}

DiffReport run_diff(const Algorithm& a, const ProblemHandle& problem, const Arrays& theirs,
                    const DiffRequest& q) {
  DiffReport r = diff_header(a, problem, theirs, q.format, q.elementary_ulps, q.output_formats);
  auto t0 = std::chrono::steady_clock::now();
  say(q.progress, "bound...");
  auto narrow_storage = [&](const std::string& name) {
    const Format f = r.format_of(name);
    return f != compute_format_for(f);
  };
  // [CORE-DIFF-PROBABILISTIC] The probabilistic bound at each compute format an output stored in
  // it needs (a narrower storage's rounding is worst-case and dominates: no such tier there).
  std::map<Format, std::optional<ProbabilisticBound>> probable_at;
  std::map<std::string, ProbabilisticCounter> probable;
  if (q.probabilistic_alpha > 0)
    for (const auto& [name, t] : theirs) {
      if (narrow_storage(name)) continue;
      const Format c = compute_format_for(r.format_of(name));
      if (!probable_at.count(c)) probable_at[c] = a.probabilistic_bound(problem, c, q.elementary_ulps, q.probabilistic_alpha);
      const auto& pb = probable_at.at(c);
      if (!pb) continue;
      auto b = pb->bound.find(name);
      if (b == pb->bound.end() || !(b->second.shape() == t.shape())) continue;
      probable.emplace(name, ProbabilisticCounter(&b->second));
    }
  // [CORE-DIFF-TIERS] Whether the fast tier will enclose the exact values, and with which backend.
  r.oracle = q.oracle;
  const BackendSpec* f64 = enclosure_backend(a);
  if (q.oracle == OracleTier::fast) {
    bool all_float64 = true;
    for (const auto& [name, t] : theirs) all_float64 = all_float64 && r.format_of(name) == Format::float64;
    if (all_float64) r.oracle_note = "float64 outputs: the float64 enclosure is as wide as the bound";
    else if (!f64) r.oracle_note = "no float64 CPU backend to enclose the exact value";
  }
  const bool enclose = q.oracle == OracleTier::fast && r.oracle_note.empty();
  // The any-order bound at each compute format an output needs ([CORE-DIFF-FORMATS]), and each
  // output's own; taken from the probabilistic bound's evaluation where that computed it too, and
  // at float32 (the outputs the enclosure judges) together with cpu-f64's own bound where the
  // entry evaluates both at once ([CORE-DIFF-JOINT-BOUND]).
  std::map<Format, Arrays> bounds_at;
  std::optional<Arrays> f64_bound;  // cpu-f64's bound, when the joint evaluation gave it
  for (const auto& [name, t] : theirs) {
    const Format c = compute_format_for(r.format_of(name));
    if (bounds_at.count(c)) continue;
    auto pb = probable_at.find(c);
    if (pb != probable_at.end() && pb->second && !pb->second->rigorous.empty()) {
      bounds_at[c] = std::move(pb->second->rigorous);
      continue;
    }
    if (enclose && c == Format::float32 && f64->name == "cpu-f64") {
      std::optional<AnyOrderAndCpuF64Bound> both;
      try {
        both = a.any_order_and_cpu_f64_bound(problem, c, q.elementary_ulps);
      } catch (const InvalidInput&) {
        // Either half may refuse the problem: the separate calls below say which.
      }
      if (both) {
        bounds_at[c] = std::move(both->any_order);
        f64_bound = std::move(both->cpu_f64);
        continue;
      }
    }
    bounds_at[c] = a.any_order_bound(problem, c, q.elementary_ulps);
  }
  auto bound_of = [&](const std::string& name) -> const Tensor<double>& {
    return bounds_at.at(compute_format_for(r.format_of(name))).at(name);
  };
  for (const auto& [name, t] : theirs) {
    const Arrays& bound_compute = bounds_at.at(compute_format_for(r.format_of(name)));
    auto b = bound_compute.find(name);
    if (b == bound_compute.end()) {
      std::string known;
      for (const auto& [n, x] : bound_compute) known += (known.empty() ? "" : ", ") + n;
      throw InvalidInput(name, "not an output of " + a.name() + " for this problem (outputs: " + known + ")");
    }
    if (!(t.shape() == b->second.shape()))
      throw InvalidInput(name, "expected shape " + b->second.shape().str() + ", got " + t.shape().str());
  }
  r.seconds_bound = ms_since(t0) / 1000;
  const Arrays baseline = baseline_outputs(a, problem, theirs, r);

  // Every answer judged: theirs, then the baseline; per output one builder and the elements the
  // enclosure left open (global flat index, sorted by slice).
  struct Judged {
    const Arrays* answer;
    std::vector<OutputJudgement>* into;
    std::map<std::string, SummaryBuilder> builders;
    std::map<std::string, std::vector<std::pair<Index, Index>>> open;  // (slice, local) per output
    // [CORE-DIFF-SUSPECT] theirs only: the signed-bias sums, fed from the float64 value where the
    // enclosure has one (its error is far below the statistic's thresholds), else from the oracle.
    std::map<std::string, BiasAccumulator> bias;
    std::map<std::string, bool> bias_from_v64;
  };
  std::vector<Judged> judged;
  judged.push_back({&theirs, &r.outputs, {}, {}, {}, {}});
  if (!baseline.empty()) judged.push_back({&baseline, &r.baseline, {}, {}, {}, {}});
  for (auto& j : judged)
    for (const auto& [name, t] : *j.answer) j.builders.emplace(name, SummaryBuilder(r.format_of(name), t.count()));

  const ProblemSlicer slicer(a, problem);
  r.slices = slicer.count();
  std::vector<char> needed(static_cast<std::size_t>(slicer.count()), 0);
  bool all_open = true;  // the MPFR tier: every element of every slice

  if (enclose) {
    t0 = std::chrono::steady_clock::now();
    say(q.progress, "float64 enclosure...");
    Arrays v64, r64;
    try {
      v64 = f64->run(problem);
      r64 = f64_bound ? std::move(*f64_bound) : f64->bound(problem);
    } catch (const InvalidInput& e) {
      r.oracle_note = std::string(f64->name) + " cannot run on this problem: " + e.what();
    }
    if (r.oracle_note.empty()) {
      all_open = false;
      for (auto& j : judged)
        for (const auto& [name, t] : *j.answer) {
          SummaryBuilder& builder = j.builders.at(name);
          auto& open = j.open[name];
          const Tensor<double>& bc = bound_of(name);
          const Format f = r.format_of(name);
          const bool narrow = narrow_storage(name);
          auto v = v64.find(name);
          auto rad = r64.find(name);
          // A float64 output's enclosure is as wide as its bound: the oracle judges it.
          const bool have = f != Format::float64 && v != v64.end() && rad != r64.end() &&
                            v->second.shape() == t.shape() && rad->second.shape() == t.shape();
          const bool feed_bias = have && &j == &judged.front();
          j.bias_from_v64[name] = feed_bias;
          for (Index i = 0; i < t.count(); ++i) {
            bool settled = false;
            if (have) {
              const double vi = v->second[i], ri = rad->second[i];
              if (feed_bias) j.bias[name].add(t[i], vi);
              double b_lo = bc[i], b_hi = bc[i];
              if (narrow && std::isfinite(vi) && std::isfinite(ri)) {
                // storage_bound is non-decreasing in |exact|, which lies in [|v| - r, |v| + r].
                b_lo = storage_bound(bc[i], std::max(0.0, (std::fabs(vi) - ri * (1 + 0x1p-50)) * (1 - 0x1p-50)), f);
                b_hi = storage_bound(bc[i], (std::fabs(vi) + ri) * (1 + 0x1p-49), f);
              }
              settled = builder.enclosed(i, t[i], vi, ri, b_lo, b_hi);
              if (settled && feed_bias)
                if (auto c = probable.find(name); c != probable.end())
                  c->second.add(i, t[i], vi, std::fabs(t[i] - vi) - ri);
            }
            if (!settled) {
              const auto place = slicer.locate(name, t.shape(), i);
              open.emplace_back(place.slice, place.local);
              needed[static_cast<std::size_t>(place.slice)] = 1;
            }
          }
          std::sort(open.begin(), open.end());
        }
      r.seconds_enclosure = ms_since(t0) / 1000;
    } else {
      r.oracle = OracleTier::mpfr;
    }
  } else {
    r.oracle = OracleTier::mpfr;
  }
  if (all_open) std::fill(needed.begin(), needed.end(), 1);

  // The elements left to the MPFR oracle, judged slice by slice.
  t0 = std::chrono::steady_clock::now();
  auto judge_slice = [&](Index s, const ExactArrays& exact) {
    for (auto& j : judged)
      for (const auto& answer : *j.answer) {
        const std::string& name = answer.first;  // named, not bound: lambdas below capture them
        const Tensor<double>& t = answer.second;
        auto e = exact.find(name);
        if (e == exact.end()) throw std::logic_error(a.name() + ": the oracle omits the output '" + name + "'");
        const Tensor<double>& bc = bound_of(name);
        SummaryBuilder& builder = j.builders.at(name);
        const Format f = r.format_of(name);
        const bool narrow = narrow_storage(name);
        auto judge_one = [&](Index local) {
          const Index i = slicer.whole() ? local : slicer.global_index(name, t.shape(), s, local);
          const mp_real& x = e->second[local];
          const double b = narrow ? storage_bound(bc[i], std::fabs(to_double(x)) * (1 + 0x1p-52), f) : bc[i];
          builder.exact(i, t[i], x, b);
          if (&j == &judged.front() && !j.bias_from_v64[name]) j.bias[name].add(t[i], to_double(x));
          if (&j == &judged.front())
            if (auto c = probable.find(name); c != probable.end()) {
              // x rounded to double is within 2^-53 |x|: the error's lower bound allows for it.
              const double xd = to_double(x);
              c->second.add(i, t[i], xd, std::fabs(t[i] - xd) - 0x1p-52 * std::fabs(xd));
            }
          r.precision = std::max(r.precision, precision_bits(x));
        };
        if (all_open) {
          if (slicer.whole() && !(e->second.shape() == t.shape()))
            throw InvalidInput(name, "expected shape " + e->second.shape().str() + ", got " + t.shape().str());
          for (Index local = 0; local < e->second.count(); ++local) judge_one(local);
        } else {
          const auto& open = j.open[name];
          auto lo = std::lower_bound(open.begin(), open.end(), std::make_pair(s, Index{0}));
          for (auto it = lo; it != open.end() && it->first == s; ++it) judge_one(it->second);
        }
      }
  };
  std::vector<Index> todo;
  for (Index s = 0; s < slicer.count(); ++s)
    if (needed[static_cast<std::size_t>(s)]) todo.push_back(s);
  r.slices_recomputed = static_cast<Index>(todo.size());
  if (!todo.empty()) {
    if (slicer.whole()) {
      say(q.progress, "oracle...");
      judge_slice(0, a.reference(problem, q.precision));
    } else {
      verified_slices(a, slicer, todo, q.precision, judge_slice, q.progress);
    }
  }
  r.seconds_oracle = ms_since(t0) / 1000;

  for (auto& j : judged)
    for (const auto& [name, t] : *j.answer) {
      ErrorSummary sum = j.builders.at(name).finish();
      if (&j == &judged.front()) {  // theirs (the baseline's elements are not counted)
        r.enclosed += sum.enclosed;
        r.recomputed += sum.count - sum.enclosed;
      }
      j.into->push_back({name, std::move(sum), t.shape()});
    }
  r.verdict = verdict_of(r.outputs);
  r.suspicions = suspicions_of(r, judged.front().bias, probable, probable_at);
  if (r.verdict == Verdict::fail) add_narrow_hint(r, theirs);
  return r;
}

DiffReport judge_diff(const Algorithm& a, const ProblemHandle& problem, const Arrays& theirs,
                      Format format, double elementary_ulps, const ExactArrays& exact,
                      const Arrays& bounds, bool with_baseline) {
  DiffReport r = diff_header(a, problem, theirs, format, elementary_ulps);
  r.precision = exact.empty() || exact.begin()->second.count() == 0
                    ? 0
                    : precision_bits(exact.begin()->second[0]);
  r.outputs = judge(theirs, exact, &bounds, format);
  r.verdict = verdict_of(r.outputs);
  if (with_baseline) {
    const Arrays out = baseline_outputs(a, problem, theirs, r);
    if (!out.empty()) r.baseline = judge(out, exact, &bounds, format);
  }
  std::map<std::string, BiasAccumulator> sums;
  for (const auto& [name, t] : theirs) {
    auto e = exact.find(name);
    if (e == exact.end() || !(e->second.shape() == t.shape())) continue;
    for (Index i = 0; i < t.count(); ++i) sums[name].add(t[i], to_double(e->second[i]));
  }
  r.suspicions = suspicions_of(r, sums, {}, {});
  return r;
}

}  // namespace touchstone
