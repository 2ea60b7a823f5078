#include "check_html.hpp"

#include "touchstone/core/report.hpp"

#include <fmt/core.h>
#include <sys/utsname.h>

#include <cmath>
#include <ctime>
#include <fstream>
#include <map>
#include <regex>
#include <thread>
#include <vector>

namespace touchstone::cli {
namespace {

std::string escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else if (c == '"') o += "&quot;";
    else o += c;
  }
  return o;
}

std::string num(double x, const char* spec = "{:.3g}") { return format_number(x, spec); }

std::string verdict_of(const CheckRow& r) {
  return r.skipped ? std::string("SKIP") : std::string(verdict_name(r.verdict));
}

const char* kStyle = R"(
body { font-family: sans-serif; margin: 1.5em 2em; color: #1a1a1a; }
h1 { font-size: 1.5em; margin-bottom: 0.3em; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { padding: 3px 10px; border-bottom: 1px solid #e3e3e3; white-space: nowrap; }
th { background: #f0f3f6; position: sticky; top: 0; text-align: left; }
td.num, th.num { text-align: right; font-family: monospace; font-variant-numeric: tabular-nums; }
td.problem { white-space: normal; font-size: 0.92em; color: #444; }
table.summary td, table.summary th { border: 0; padding: 1px 12px 1px 0; }
table.summary th { background: none; position: static; font-weight: normal; color: #555; }
.verdict { font-weight: bold; }
.PASS { color: #1b7f1b; }
.FAIL { color: #c40000; }
.INCONCLUSIVE { color: #b86e00; }
.SKIP { color: #777; }
tr.row-FAIL td { background: #fdecec; }
tr.row-INCONCLUSIVE td { background: #fff6e5; }
.count { font-weight: bold; margin-right: 1.5em; }
ul.skips li { margin: 0.3em 0; }
a { color: #1565c0; text-decoration: none; }
a:hover { text-decoration: underline; }
)";

}  // namespace

std::string spec_link(const std::string& spec_ref, const std::string& base) {
  static const std::regex re(R"(spec/([A-Za-z0-9_]+)\.md(?:\s*\[([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+)\])?)");
  std::smatch m;
  if (!std::regex_search(spec_ref, m, re)) return "";
  std::string link = base + m[1].str() + ".html";
  if (m[2].matched) link += "#" + m[2].str();
  return link;
}

std::string check_html(const CheckReport& report, const CheckHtmlContext& c) {
  std::map<std::string, int> counts{{"PASS", 0}, {"FAIL", 0}, {"INCONCLUSIVE", 0}, {"SKIP", 0}};
  // skipped rows by reason, in first-seen order
  std::vector<std::string> reasons;
  std::map<std::string, std::vector<const CheckRow*>> skipped;
  for (const auto& r : report.rows) {
    ++counts[verdict_of(r)];
    if (r.skipped) {
      if (!skipped.count(r.reason)) reasons.push_back(r.reason);
      skipped[r.reason].push_back(&r);
    }
  }
  const std::string overall = verdict_name(report.verdict());
  auto name_cell = [&](const std::string& algorithm) {
    const std::string link = c.spec_ref ? spec_link(c.spec_ref(algorithm), c.spec_base) : "";
    return link.empty() ? escape(algorithm)
                        : fmt::format("<a href=\"{}\" title=\"{}\">{}</a>", escape(link),
                                      escape(c.spec_ref(algorithm)), escape(algorithm));
  };

  std::string h = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                  "<title>touchstone check: " + overall + "</title><style>" + kStyle +
                  "</style></head><body>\n<h1>touchstone check: <span class=\"verdict " + overall +
                  "\">" + overall + "</span></h1>\n<p id=\"counts\">";
  for (const char* v : {"PASS", "FAIL", "INCONCLUSIVE", "SKIP"})
    h += fmt::format("<span class=\"count {0}\">{1} {0}</span>", v, counts[v]);
  h += "</p>\n<table class=\"summary\" id=\"summary\">";
  auto line = [&](const std::string& k, const std::string& v) {
    h += "<tr><th>" + k + "</th><td>" + v + "</td></tr>";
  };
  line("rows", fmt::format("{} ({} ran, {} skipped) in {:.1f} s", report.rows.size(),
                           report.rows.size() - counts["SKIP"], counts["SKIP"], report.seconds));
  line("date", escape(c.date));
  line("version", escape(c.version));
  line("machine", escape(c.machine));
  line("oracle", fmt::format("MPFR from {} bits, verified at twice that; seed {}", c.precision, c.seed));
  h += "</table>\n<table id=\"rows\"><thead><tr><th>algorithm</th><th>backend</th><th>size</th>"
       "<th class=\"num\">max ulps</th><th class=\"num\">err/bound</th><th class=\"num\">time ms</th>"
       "<th>verdict</th><th>problem</th></tr></thead><tbody>\n";
  for (const auto& r : report.rows) {
    if (r.skipped) continue;
    const std::string v = verdict_of(r);
    h += fmt::format("<tr class=\"row-{0}\"><td>{1}</td><td>{2}</td><td>{3}</td><td class=\"num\">{4}</td>"
                     "<td class=\"num\">{5}</td><td class=\"num\">{6}</td><td class=\"verdict {0}\">{0}{7}"
                     "</td><td class=\"problem\">{8}</td></tr>\n",
                     v, name_cell(r.algorithm), escape(r.backend), escape(r.size), num(r.max_ulps),
                     num(r.max_ratio), num(r.time_ms, "{:.3f}"),
                     r.reason.empty() ? "" : " <span class=\"reason\">(" + escape(r.reason) + ")</span>",
                     escape(r.problem));
  }
  h += "</tbody></table>\n";
  if (!reasons.empty()) {
    h += "<h2>Skipped</h2>\n<ul class=\"skips\">\n";
    for (const auto& why : reasons) {
      const auto& rows = skipped[why];
      h += fmt::format("<li><span class=\"SKIP\">{} row{} skipped: {}</span><br><small>", rows.size(),
                       rows.size() == 1 ? "" : "s", escape(why));
      for (std::size_t i = 0; i < rows.size(); ++i)
        h += (i ? ", " : "") + escape(rows[i]->algorithm + " " + rows[i]->backend + " " + rows[i]->size);
      h += "</small></li>\n";
    }
    h += "</ul>\n";
  }
  h += "<p><small>max ulps: largest |computed - exact| / ulp(exact) in the backend's format; "
       "err/bound: largest |computed - exact| / (documented bound); PASS: every element within its "
       "bound and NaN exactly where the oracle has NaN; INCONCLUSIVE: none outside, some with no "
       "finite bound. Algorithm names link to their section of the rendered spec "
       "(tools/render_spec.py).</small></p>\n</body></html>\n";
  return h;
}

std::string machine_description() {
  std::string d;
  utsname u{};
  if (::uname(&u) == 0) d = fmt::format("{} {} {}", u.sysname, u.release, u.machine);
  std::ifstream f("/proc/cpuinfo");
  std::string line, model;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0 || line.rfind("Model", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) {
        model = line.substr(colon + 1);
        model.erase(0, model.find_first_not_of(" \t"));
        break;
      }
    }
  }
  if (!model.empty()) d += (d.empty() ? "" : ", ") + model;
  if (const unsigned n = std::thread::hardware_concurrency(); n > 0)
    d += fmt::format(" ({} hardware threads)", n);
  return d.empty() ? "unknown" : d;
}

#ifndef TOUCHSTONE_VERSION
#define TOUCHSTONE_VERSION "unknown"
#endif
#ifndef TOUCHSTONE_GIT_DESCRIBE
#define TOUCHSTONE_GIT_DESCRIBE ""
#endif

std::string touchstone_version() {
  const std::string git = TOUCHSTONE_GIT_DESCRIBE;
  return std::string(TOUCHSTONE_VERSION) + (git.empty() ? "" : " (git " + git + ", at configure time)");
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

}  // namespace touchstone::cli
