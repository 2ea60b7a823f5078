// `touchstone check --html`: the check table as one HTML page (README "Command line").
#pragma once

#include <functional>
#include <string>

#include "touchstone/core/verdict.hpp"

namespace touchstone::cli {

struct CheckHtmlContext {
  unsigned precision = 256;
  std::uint64_t seed = 0;
  std::string date;     // when the check ran (UTC)
  std::string version;  // touchstone's version
  std::string machine;  // OS, architecture, CPU model
  // Where the rendered spec is (tools/render_spec.py --out DIR), as seen from the HTML file;
  // "spec/<chapter>.md [ID]" becomes "<spec_base><chapter>.html#ID".
  std::string spec_base = "spec-html/";
  // An algorithm's spec_ref ("spec/mamba.md [MAMBA-SCAN-DEF]"), by name.
  std::function<std::string(const std::string&)> spec_ref;
};

// The link an algorithm's name gets: "spec/mamba.md [MAMBA-SCAN-DEF]" -> "<base>mamba.html#MAMBA-SCAN-DEF";
// empty when spec_ref names no chapter.
std::string spec_link(const std::string& spec_ref, const std::string& base);

// The page: a summary (counts of PASS, FAIL, INCONCLUSIVE and SKIP, date, version, machine),
// the rows that ran (aligned columns, a colour for every verdict, each algorithm linked to its
// spec section), and the skipped rows grouped by reason, each reason stated once.
std::string check_html(const CheckReport& report, const CheckHtmlContext& context);

// "Linux 6.1.0 x86_64, AMD EPYC 7B13 (2 threads)": uname and /proc/cpuinfo's model name.
std::string machine_description();

// "0.1.0 (git 7239f59, at configure time)": CMake's project version and `git describe`.
std::string touchstone_version();

// The current UTC time as "2026-12-07 08:41:00 UTC".
std::string utc_now();

}  // namespace touchstone::cli
