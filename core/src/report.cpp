#include "touchstone/core/report.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>

namespace touchstone {

using Json = nlohmann::ordered_json;

std::string format_number(double x, const char* spec) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  return fmt::format(fmt::runtime(spec), x);
}

Json summary_json(const ErrorSummary& s, const Shape& shape) {
  auto num = [](double x) -> Json {
    if (std::isnan(x)) return "nan";
    if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
    return x;
  };
  Json j;
  j["count"] = s.count;
  j["verdict"] = verdict_name(s.verdict());
  j["within"] = s.within;
  j["enclosed"] = s.enclosed;
  j["error_uncertainty"] = num(s.error_uncertainty);
  j["outside"] = s.outside;
  j["unjudged"] = s.unjudged;
  j["nan_expected"] = s.nan_expected;
  j["max_abs"] = num(s.max_abs);
  j["max_rel"] = num(s.max_rel);
  j["max_ulps"] = num(s.max_ulps);
  j["max_error_over_bound"] = num(s.max_ratio);
  j["median_error_over_bound"] = num(s.median_ratio);
  if (s.first_unjudged >= 0) j["first_unjudged_index"] = index_string(shape, s.first_unjudged);
  if (s.worst >= 0) {
    j["worst_index"] = index_string(shape, s.worst);
    j["worst_computed"] = num(s.worst_computed);
    j["worst_exact"] = num(s.worst_exact);
    j["worst_bound"] = num(s.worst_bound);
  }
  return j;
}

namespace {

// theirs / baseline max abs error: how far their error is beyond touchstone's own backend.
double over_baseline(const ErrorSummary& theirs, const ErrorSummary& baseline) {
  return baseline.max_abs > 0 ? theirs.max_abs / baseline.max_abs
                              : (theirs.max_abs == 0 ? 1.0 : INFINITY);
}

double max_uncertainty(const DiffReport& r) {
  double u = 0;
  for (const auto& j : r.outputs) u = std::max(u, j.summary.error_uncertainty);
  return u;
}

const Suspicion* suspicion_of(const DiffReport& r, const std::string& output) {
  for (const auto& s : r.suspicions)
    if (s.output == output) return &s;
  return nullptr;
}

// [CORE-DIFF-SUSPECT] Why an output is SUSPECT, with the statement the statistic rests on.
std::string suspect_text(const DiffReport& r, const Suspicion& s) {
  std::string t;
  if (s.bias)
    t += fmt::format("SUSPECT {}: its signed errors lean one way: a relative bias of {:+.3g} ({:+.2f} "
                     "unit roundoffs of {}) over {} nonzero errors, {:.1f}% of them pointing that way. "
                     "A correct kernel's errors have no preferred direction under the model of "
                     "[CORE-DIFF-SUSPECT]: {:.0f}% agreement among {} or more errors has probability "
                     "at most exp(-n/8) there.\n",
                     s.output, s.relative_bias, s.bias_units, format_name(compute_format_for(r.format_of(s.output))), s.errors,
                     100 * s.agreement, 100 * kSuspectAgreement, kSuspectMinErrors);
  if (s.baseline)
    t += fmt::format("SUSPECT {}: its largest error is {} times that of touchstone's {} on the same "
                     "inputs (more than {}x), though within the bound.\n",
                     s.output, format_number(s.over_baseline), r.baseline_backend, kSuspectOverBaseline);
  if (s.probabilistic) {
    Shape shape;
    for (const auto& j : r.outputs)
      if (j.output == s.output) shape = j.shape;
    t += fmt::format("SUSPECT {}: {} element(s) beyond the probabilistic bound, first at {}, the largest "
                     "error {} times it (Higham-Mary, lambda = {:.2f} over {:.3g} rounding paths: under the "
                     "model of [CORE-DIFF-PROBABILISTIC] a correct kernel exceeds it anywhere with "
                     "probability at most {:.0e}), though within the rigorous bound.\n",
                     s.output, s.beyond_probabilistic, index_string(shape, s.first_beyond),
                     format_number(s.max_over_probabilistic), s.lambda, s.thetas, s.alpha);
  }
  return t;
}

const OutputJudgement* baseline_of(const DiffReport& r, const std::string& output) {
  for (const auto& b : r.baseline)
    if (b.output == output) return &b;
  return nullptr;
}

}  // namespace

std::string oracle_text(const DiffReport& r) {
  std::string t;
  const Index total = r.enclosed + r.recomputed;
  if (r.oracle == OracleTier::fast) {
    t = fmt::format("fast tier: {} of {} elements settled by the certified float64 enclosure "
                    "(errors uncertain by at most {})",
                    r.enclosed, total, format_number(max_uncertainty(r)));
    if (r.recomputed == 0) return t + ", none needed MPFR";
    t += fmt::format("; {} recomputed with ", r.recomputed);
  } else if (!r.oracle_note.empty()) {
    t = "MPFR (fast tier not used: " + r.oracle_note + "); ";
  }
  t += fmt::format("MPFR at up to {} bits (verified)", r.precision);
  if (r.slices > 1) t += fmt::format(", {} of {} independent slices", r.slices_recomputed, r.slices);
  return t;
}

std::string diff_text(const DiffReport& r) {
  std::string t;
  for (const auto& n : r.notes) t += fmt::format("note: {}\n", n);
  const std::string order =
      r.order_assumed.empty()
          ? std::string("any association order")
          : "ASSUMING ONE ORDER (no any-order bound is derived): " + r.order_assumed;
  std::string others;  // [CORE-DIFF-FORMATS]
  for (const auto& [name, f] : r.output_formats)
    others += fmt::format("{}{} as {} (computed in {})", others.empty() ? "; " : ", ", name, format_name(f),
                          format_name(compute_format_for(f)));
  t += fmt::format("{} on {}\njudged as {} outputs (computed in {}){}, {}, elementary functions "
                   "within {} ulps\n",
                   r.algorithm, r.problem, format_name(r.format), format_name(r.compute), others, order,
                   r.elementary_ulps);
  t += "oracle: " + oracle_text(r) + "\n\n";
  for (const auto& jd : r.outputs) {
    const ErrorSummary& s = jd.summary;
    const char* state = s.outside ? "OUTSIDE BOUND" : s.unjudged ? "NOT ALL JUDGED" : "within bound";
    const Format f = r.format_of(jd.output);
    t += fmt::format("{}{}: {} elements, {}\n", jd.output,
                     r.output_formats.empty() ? std::string() : fmt::format(" ({})", format_name(f)), s.count, state);
    t += fmt::format("  max abs {}  max rel {}  max ulps ({}) {}  err/bound max {} median {}\n",
                     format_number(s.max_abs), format_number(s.max_rel), format_name(f),
                     format_number(s.max_ulps), format_number(s.max_ratio),
                     format_number(s.median_ratio));
    // Enough digits to tell any two values of the format apart (float64: 17).
    const char* digits = f == Format::float64 ? "{:.17g}" : "{:.9g}";
    if (s.worst >= 0)
      t += fmt::format("  worst at {}: theirs {}, exact {}, bound {}\n",
                       index_string(jd.shape, s.worst), format_number(s.worst_computed, digits),
                       format_number(s.worst_exact, digits), format_number(s.worst_bound));
    if (s.outside) t += fmt::format("  {} element(s) outside the bound\n", s.outside);
    if (s.unjudged)
      t += fmt::format("  {} element(s) unjudged: no finite bound (outside the bound's domain, "
                       "e.g. a possible overflow), first at {}\n",
                       s.unjudged, index_string(jd.shape, s.first_unjudged));
    if (s.nan_expected) t += fmt::format("  {} element(s) where the oracle is NaN\n", s.nan_expected);
    if (const Suspicion* sp = suspicion_of(r, jd.output); sp && sp->errors)
      t += fmt::format("  signed errors: relative bias {:+.2f} unit roundoffs of {}, {:.1f}% of {} "
                       "nonzero errors point that way\n",
                       sp->bias_units, format_name(compute_format_for(f)), 100 * sp->agreement, sp->errors);
    if (const Suspicion* sp = suspicion_of(r, jd.output); sp && sp->probabilistic_available)
      t += fmt::format("  probabilistic bound (Higham-Mary, lambda {:.2f}): largest error / it = {}, {} element(s) beyond\n",
                       sp->lambda, format_number(sp->max_over_probabilistic), sp->beyond_probabilistic);
    if (const OutputJudgement* bj = baseline_of(r, jd.output))
      t += fmt::format("  baseline {} : max abs {}  max ulps {}  -> theirs / baseline = {}\n",
                       r.baseline_backend, format_number(bj->summary.max_abs),
                       format_number(bj->summary.max_ulps),
                       format_number(over_baseline(s, bj->summary)));
  }
  if (!r.baseline_note.empty()) t += r.baseline_note + "\n";
  std::string suspect;
  for (const auto& s : r.suspicions) suspect += suspect_text(r, s);
  if (!suspect.empty()) t += "\n" + suspect;
  if (r.verdict == Verdict::pass && r.suspect())
    t += fmt::format("\nverdict: PASS, SUSPECT (within the rigorous bound; exit 0, or {} with --strict)\n",
                     kExitSuspect);
  else
    t += fmt::format("\nverdict: {}\n", verdict_name(r.verdict));
  return t;
}

Json diff_json(const DiffReport& r) {
  Json j;
  j["algorithm"] = r.algorithm;
  j["problem"] = r.problem;
  j["format"] = std::string(format_name(r.format));
  j["any_order"] = r.order_assumed.empty();
  j["order_assumed"] = r.order_assumed.empty() ? Json(nullptr) : Json(r.order_assumed);
  j["precision_bits"] = r.precision;
  j["oracle"] = {{"tier", r.oracle == OracleTier::fast ? "fast" : "mpfr"},
                 {"note", r.oracle_note},
                 {"elements_enclosed", r.enclosed},
                 {"elements_recomputed", r.recomputed},
                 {"slices", r.slices},
                 {"slices_recomputed", r.slices_recomputed},
                 {"seconds", {{"bound", r.seconds_bound}, {"enclosure", r.seconds_enclosure}, {"oracle", r.seconds_oracle}}}};
  for (const auto& jd : r.outputs) {
    Json jo = summary_json(jd.summary, jd.shape);
    jo["format"] = std::string(format_name(r.format_of(jd.output)));
    if (const OutputJudgement* bj = baseline_of(r, jd.output)) {
      const double ratio = over_baseline(jd.summary, bj->summary);
      jo["baseline"] = summary_json(bj->summary, jd.shape);
      jo["baseline"]["backend"] = r.baseline_backend;
      jo["max_abs_over_baseline"] = std::isinf(ratio) ? Json("inf") : Json(ratio);
    }
    if (const Suspicion* sp = suspicion_of(r, jd.output)) {
      auto num = [](double x) -> Json {
        if (std::isnan(x)) return nullptr;
        if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
        return x;
      };
      jo["suspect"] = {{"suspect", sp->suspect()},
                       {"bias", sp->bias},
                       {"baseline", sp->baseline},
                       {"relative_bias", sp->relative_bias},
                       {"bias_unit_roundoffs", sp->bias_units},
                       {"agreement", sp->agreement},
                       {"errors", sp->errors},
                       {"max_abs_over_baseline", num(sp->over_baseline)}};
      if (sp->probabilistic_available)
        jo["suspect"]["probabilistic"] = {{"suspect", sp->probabilistic},
                                          {"beyond", sp->beyond_probabilistic},
                                          {"first_beyond_index", sp->first_beyond >= 0 ? Json(index_string(jd.shape, sp->first_beyond)) : Json(nullptr)},
                                          {"max_error_over_bound", sp->max_over_probabilistic},
                                          {"lambda", sp->lambda},
                                          {"rounding_paths", sp->thetas},
                                          {"family_wise_probability", sp->alpha}};
    }
    j["outputs"][jd.output] = jo;
  }
  j["suspect"] = r.suspect();
  j["verdict"] = verdict_name(r.verdict);
  return j;
}

}  // namespace touchstone
