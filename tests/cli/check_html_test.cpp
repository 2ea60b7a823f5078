// `touchstone check --html` (spec/core.md [CORE-CHECK-HTML]) on reports made here: a FAIL row,
// skips with a shared reason, the summary and the links to the rendered spec.
// covers: CORE-CHECK-HTML
#include <gtest/gtest.h>

#include <string>

#include "check_html.hpp"

namespace touchstone::cli {
namespace {

int occurrences(const std::string& s, const std::string& what) {
  int n = 0;
  for (auto p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

CheckRow row(const std::string& algorithm, const std::string& backend, Verdict v,
             const std::string& reason = "") {
  CheckRow r;
  r.algorithm = algorithm;
  r.backend = backend;
  r.size = "tiny";
  r.problem = "batch=1 dim=2 <L>=3";
  r.verdict = v;
  r.reason = reason;
  r.max_ulps = 1.5;
  r.max_ratio = v == Verdict::fail ? 3.25 : 0.125;
  r.time_ms = 0.5;
  return r;
}

CheckRow skip(const std::string& algorithm, const std::string& backend, const std::string& why) {
  CheckRow r = row(algorithm, backend, Verdict::pass);
  r.skipped = true;
  r.reason = why;
  return r;
}

CheckHtmlContext context() {
  CheckHtmlContext c;
  c.date = "2026-12-07 08:00:00 UTC";
  c.version = "0.1.0 (git abc1234, at configure time)";
  c.machine = "Linux 6.1 x86_64, Test CPU";
  c.spec_ref = [](const std::string& name) {
    return name == "mamba.selective_scan" ? std::string("spec/mamba.md [MAMBA-SCAN-DEF]")
                                          : std::string("spec/orthogonal.md [ORTH-HH-DEF]");
  };
  return c;
}

// The row of `algorithm`/`backend` in the page, from its <tr to its </tr>.
std::string tr_of(const std::string& page, const std::string& backend) {
  const auto cell = page.find("<td>" + backend + "</td>");
  if (cell == std::string::npos) return "";
  const auto start = page.rfind("<tr", cell);
  return page.substr(start, page.find("</tr>", cell) - start);
}

TEST(CheckHtml, SummaryLinksColoursAndGroupedSkips) {
  CheckReport report;
  report.rows = {row("mamba.selective_scan", "cpu-f32", Verdict::pass),
                 row("orthogonal.householder_product", "cpu-f64", Verdict::fail,
                     "Q: 3 of 16 outside"),
                 row("mamba.selective_scan", "cpu-f64", Verdict::inconclusive, "no finite bound"),
                 skip("mamba.selective_scan", "cuda-f32", "no CUDA device"),
                 skip("orthogonal.householder_product", "cuda-f32", "no CUDA device"),
                 skip("mamba.selective_scan", "cuda-f64", "no CUDA device"),
                 skip("orthogonal.householder_product", "cpu-eigen", "built without Eigen")};
  report.seconds = 1.25;
  const std::string h = check_html(report, context());

  // summary
  EXPECT_NE(h.find("<span class=\"count PASS\">1 PASS</span>"), std::string::npos);
  EXPECT_NE(h.find("<span class=\"count FAIL\">1 FAIL</span>"), std::string::npos);
  EXPECT_NE(h.find("<span class=\"count INCONCLUSIVE\">1 INCONCLUSIVE</span>"), std::string::npos);
  EXPECT_NE(h.find("<span class=\"count SKIP\">4 SKIP</span>"), std::string::npos);
  EXPECT_NE(h.find("2026-12-07 08:00:00 UTC"), std::string::npos);
  EXPECT_NE(h.find("0.1.0 (git abc1234, at configure time)"), std::string::npos);
  EXPECT_NE(h.find("Linux 6.1 x86_64, Test CPU"), std::string::npos);
  EXPECT_NE(h.find("<title>touchstone check: FAIL</title>"), std::string::npos);

  // links to the spec sections
  EXPECT_EQ(occurrences(h, "href=\"spec-html/mamba.html#MAMBA-SCAN-DEF\""), 2);
  EXPECT_EQ(occurrences(h, "href=\"spec-html/orthogonal.html#ORTH-HH-DEF\""), 1);

  // a colour for every verdict, and the FAIL row wears it
  for (const char* css : {".PASS { color:", ".FAIL { color:", ".INCONCLUSIVE { color:", ".SKIP { color:"})
    EXPECT_NE(h.find(css), std::string::npos) << css;
  const std::string fail_row = tr_of(h, "cpu-f64");
  ASSERT_FALSE(fail_row.empty());
  EXPECT_EQ(fail_row.rfind("<tr class=\"row-FAIL\">", 0), 0u) << fail_row;
  EXPECT_NE(fail_row.find("<td class=\"verdict FAIL\">FAIL"), std::string::npos) << fail_row;
  EXPECT_EQ(tr_of(h, "cpu-f32").rfind("<tr class=\"row-PASS\">", 0), 0u);

  // each skip reason once, with its count; skipped rows are not table rows
  EXPECT_EQ(occurrences(h, "no CUDA device"), 1);
  EXPECT_NE(h.find("3 rows skipped: no CUDA device"), std::string::npos);
  EXPECT_NE(h.find("1 row skipped: built without Eigen"), std::string::npos);
  EXPECT_TRUE(tr_of(h, "cuda-f32").empty());
  EXPECT_EQ(occurrences(h, "<tr class=\"row-SKIP\">"), 0);
}

// The checks above must be able to fail: an all-PASS report has no FAIL row, a FAIL title or a
// skip section, and a row counted once.
TEST(CheckHtml, PassingReportShowsNoFailure) {
  CheckReport report;
  report.rows = {row("mamba.selective_scan", "cpu-f32", Verdict::pass),
                 row("orthogonal.householder_product", "cpu-f64", Verdict::pass)};
  const std::string h = check_html(report, context());
  EXPECT_EQ(occurrences(h, "<tr class=\"row-FAIL\">"), 0);
  EXPECT_EQ(h.find("<title>touchstone check: FAIL</title>"), std::string::npos);
  EXPECT_NE(h.find("<span class=\"count FAIL\">0 FAIL</span>"), std::string::npos);
  EXPECT_NE(h.find("<span class=\"count PASS\">2 PASS</span>"), std::string::npos);
  EXPECT_EQ(h.find("skipped:"), std::string::npos);
  EXPECT_EQ(tr_of(h, "cpu-f64").rfind("<tr class=\"row-PASS\">", 0), 0u);
}

TEST(CheckHtml, SpecLink) {
  EXPECT_EQ(spec_link("spec/mamba.md [MAMBA-SCAN-DEF]", "spec-html/"),
            "spec-html/mamba.html#MAMBA-SCAN-DEF");
  EXPECT_EQ(spec_link("spec/s4_conv.md [S4CONV-DEF]", "https://x.org/spec/"),
            "https://x.org/spec/s4_conv.html#S4CONV-DEF");
  EXPECT_EQ(spec_link("spec/dss.md", ""), "dss.html");
  EXPECT_EQ(spec_link("see the paper", "spec-html/"), "");
}

TEST(CheckHtml, EscapesProblemText) {
  CheckReport report;
  report.rows = {row("mamba.selective_scan", "cpu-f32", Verdict::pass)};
  const std::string h = check_html(report, context());
  EXPECT_NE(h.find("&lt;L&gt;=3"), std::string::npos);
  EXPECT_EQ(h.find("<L>=3"), std::string::npos);
}

}  // namespace
}  // namespace touchstone::cli
