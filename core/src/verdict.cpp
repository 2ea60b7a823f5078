#include "touchstone/core/verdict.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <string>

#include "touchstone/core/errors.hpp"
#include "touchstone/core/npy.hpp"
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

DiffReport run_diff(const Algorithm& a, const ProblemHandle& problem, const Arrays& theirs,
                    const DiffRequest& q) {
  if (theirs.empty()) throw InvalidInput("outputs", "holds no arrays");
  if (!(q.elementary_ulps >= 0 && q.elementary_ulps < 1e6))
    throw InvalidInput("--elementary-ulps", "expected a non-negative number");
  say(q.progress, "oracle...");
  const ExactArrays exact = a.reference(problem, q.precision);
  say(q.progress, "bound...");
  const Arrays bounds = diff_bound(a, problem, q.format, q.elementary_ulps, exact);
  return judge_diff(a, problem, theirs, q.format, q.elementary_ulps, exact, bounds, true);
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
    t.arrays[name] = arr.values;
  }
  if (mixed) t.format.reset();
  return t;
}

Arrays diff_bound(const Algorithm& a, const ProblemHandle& problem, Format storage,
                  double elementary_ulps, const ExactArrays& exact) {
  const Format compute = storage == Format::float64 ? Format::float64 : Format::float32;
  Arrays bounds = a.any_order_bound(problem, compute, elementary_ulps);
  if (storage == compute) return bounds;
  // One more rounding of a computed value within b of the exact x: core's round_to, the rule
  // RoundOps.v round_bound proves. x is rounded to double, hence the widened enclosure.
  const Rounding rs = Rounding::of(format_info(storage));
  for (auto& [name, b] : bounds) {
    auto e = exact.find(name);
    if (e == exact.end() || !(e->second.shape() == b.shape())) continue;  // judge reports it
    for (Index i = 0; i < b.count(); ++i) {
      const double x = std::fabs(to_double(e->second[i])) * (1 + 0x1p-52);  // >= |exact|
      const Tracked stored = round_to(Tracked{-x, x, b[i]}, rs);
      b[i] = stored.overflows(rs) ? std::numeric_limits<double>::infinity() : stored.err * (1 + 0x1p-50);
    }
  }
  return bounds;
}

DiffReport judge_diff(const Algorithm& a, const ProblemHandle& problem, const Arrays& theirs,
                      Format format, double elementary_ulps, const ExactArrays& exact,
                      const Arrays& bounds, bool with_baseline) {
  if (theirs.empty()) throw InvalidInput("outputs", "holds no arrays");
  DiffReport r;
  r.algorithm = a.name();
  r.problem = problem.describe();
  r.format = format;
  r.compute = format == Format::float64 ? Format::float64 : Format::float32;
  r.elementary_ulps = elementary_ulps;
  r.order_assumed = a.any_order_assumption();
  // Outputs stored in a wider dtype than the format judged (bfloat16 saved as float32): say how
  // many values are not values of the format, in case the rounding was forgotten.
  for (const auto& [name, t] : theirs) {
    Index off = 0;
    for (Index i = 0; i < t.count(); ++i) off += representable_in(t[i], format) ? 0 : 1;
    if (off)
      r.notes.push_back(std::to_string(off) + " of " + std::to_string(t.count()) + " values of '" +
                        name + "' are not " + std::string(format_name(format)) +
                        " values (judged as given)");
  }
  r.precision = exact.empty() || exact.begin()->second.count() == 0
                    ? 0
                    : precision_bits(exact.begin()->second[0]);
  r.outputs = judge(theirs, exact, &bounds, format);
  r.verdict = verdict_of(r.outputs);

  // Baseline: touchstone's own CPU backend of the compute format on the same inputs.
  for (const auto& b : a.backends()) {
    if (!with_baseline) break;
    if (b.format != r.compute || b.name.rfind("cpu-", 0) != 0) continue;
    r.baseline_backend = b.name;
    try {
      Arrays out = b.run(problem);
      for (auto& [name, t] : out)
        for (Index i = 0; i < t.count(); ++i) t[i] = round_to_format(t[i], format);
      for (auto it = out.begin(); it != out.end();)
        it = theirs.count(it->first) ? std::next(it) : out.erase(it);
      r.baseline = judge(out, exact, &bounds, format);
    } catch (const InvalidInput& e) {
      r.baseline_note = std::string("baseline skipped: ") + e.what();
    }
    break;
  }
  return r;
}

}  // namespace touchstone
