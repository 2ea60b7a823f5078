// Reports rendered for people and programs: the text and JSON of a diff, which the CLI prints and
// the Python package returns, so that both say the same thing (spec/core.md [CORE-DIFF-VERDICT]).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "touchstone/core/verdict.hpp"

namespace touchstone {

// x with the fmt spec, "nan" and "inf" spelled out.
std::string format_number(double x, const char* spec = "{:.3g}");

// One output's summary as JSON: counts, errors, tightness, the worst and first unjudged element
// named by index in `shape`; non-finite numbers as the strings "nan", "inf", "-inf".
nlohmann::ordered_json summary_json(const ErrorSummary& s, const Shape& shape);

// What `touchstone diff` prints: the problem and the assumptions, per output its errors,
// tightness, worst element (theirs, exact, bound), outside/unjudged counts and the baseline, the
// notes, and the verdict line.
std::string diff_text(const DiffReport& r);
// The line saying how the oracle was consulted ([CORE-DIFF-TIERS]).
std::string oracle_text(const DiffReport& r);
nlohmann::ordered_json diff_json(const DiffReport& r);

}  // namespace touchstone
