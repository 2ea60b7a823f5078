// Drift from the manifold over long runs of the stochastic matching flow (spec/orthogonal.md
// [ORTH-DRIFT]): orthogonal.matching_flow's cpu-f32 and cpu-f64 backends, with and without
// re-projection by qf every k steps, against the exact trajectory (the MPFR oracle, checked at two
// precisions). At log-spaced checkpoints t it records the orthogonality defect max |X^T X - I| and
// the distance to the exact trajectory max |X - X_exact|, prints a Markdown table and writes an SVG.
// The problem: f(X) = |A X - Y|_F^2 / 2 on O(d), X0 = I (exactly orthogonal, so the exact trajectory
// stays on the manifold and re-projection leaves it unchanged), A (d x d) normal / sqrt(d), Y normal,
// Philox seed 1, rounds from schedule seed 1.
//   ./build/bench/orthogonal_drift [--steps T] [--d D] [--eta E] [--reproject K] [--bits B] [--svg FILE]
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "cpu/orthogonal.hpp"
#include "touchstone/core/formats.hpp"
#include "touchstone/core/random.hpp"
#include "touchstone/reference/orthogonal.hpp"

using namespace touchstone;
using namespace touchstone::orthogonal;

namespace {

Tensor<double> normal(Index rows, Index cols, const std::string& name, double scale) {
  PhiloxStream r(1, "orthogonal_drift/" + name);
  Tensor<double> t(Shape{rows, cols});
  for (Index i = 0; i < t.count(); ++i) t[i] = round_to_format(scale * r.next_normal(), Format::float32);
  return t;
}

template <class T>
double defect(const Tensor<T>& x) {
  double m = 0;
  for (Index i = 0; i < x.extent(1); ++i)
    for (Index j = 0; j < x.extent(1); ++j) {
      mp_real s(i == j ? -1 : 0);
      for (Index k = 0; k < x.extent(0); ++k) s += mp_real(static_cast<double>(x(k, i))) * mp_real(static_cast<double>(x(k, j)));
      m = std::max(m, std::fabs(to_double(s)));
    }
  return m;
}

bool checkpoint(Index t) {
  for (Index p = 1; p <= t; p *= 10)
    if (t == p || t == 2 * p || t == 5 * p) return true;
  return false;
}

struct Series {
  std::string name, colour;
  bool dashed;
  std::map<Index, double> v;
};

std::string svg(const std::vector<Series>& series, Index steps, Index d, double eta, Index k) {
  const double W = 700, H = 420, left = 70, right = 20, top = 30, bottom = 50;
  double lo = 1e300, hi = 0;
  for (const auto& s : series)
    for (const auto& [t, e] : s.v)
      if (e > 0) lo = std::min(lo, e), hi = std::max(hi, e);
  const double ylo = std::floor(std::log10(lo)), yhi = std::ceil(std::log10(hi));
  const double xhi = std::log10(static_cast<double>(steps));
  auto X = [&](double t) { return left + std::log10(t) / xhi * (W - left - right); };
  auto Y = [&](double e) { return top + (yhi - std::log10(std::max(e, lo))) / (yhi - ylo) * (H - top - bottom); };
  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{:.0f}\" height=\"{:.0f}\" font-family=\"sans-serif\" "
      "font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
      W, H);
  s += fmt::format("<text x=\"{:.0f}\" y=\"18\">matching flow on O({}), eta {}: drift against steps (re-projection: qf every {})</text>\n",
                   left - 50, d, eta, k);
  for (double e = ylo; e <= yhi; e += 1)
    s += fmt::format("<line x1=\"{:.1f}\" x2=\"{:.1f}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#ddd\"/><text x=\"{:.1f}\" "
                     "y=\"{:.1f}\" text-anchor=\"end\">1e{:.0f}</text>\n",
                     left, W - right, Y(std::pow(10, e)), Y(std::pow(10, e)), left - 6, Y(std::pow(10, e)) + 4, e);
  for (double t = 1; t <= static_cast<double>(steps) * 1.0001; t *= 10)
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{:.0f}</text>\n", X(t), H - bottom + 18, t);
  s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">steps</text>\n", (left + W - right) / 2, H - 12);
  int n = 0;
  for (const auto& se : series) {
    std::string path;
    for (const auto& [t, e] : se.v) path += fmt::format("{}{:.1f},{:.1f} ", path.empty() ? "M" : "L", X(double(t)), Y(e));
    s += fmt::format("<path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{}/>\n", path, se.colour,
                     se.dashed ? " stroke-dasharray=\"6,4\"" : "");
    // The legend in the band between float32's values (above 1e-8) and float64's (below 1e-13).
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" fill=\"{}\">{}{}</text>\n", left + 180, Y(1e-9) + 15 * n++, se.colour,
                     se.name, se.dashed ? " (dashed)" : "");
  }
  return s + "</svg>\n";
}

}  // namespace

int main(int argc, char** argv) {
  Index steps = 10000, d = 8, k = 100;
  double eta = 0.01;
  unsigned bits = 256;
  std::string svg_path;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--steps") && i + 1 < argc) steps = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--d") && i + 1 < argc) d = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--reproject") && i + 1 < argc) k = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--eta") && i + 1 < argc) eta = std::atof(argv[++i]);
    else if (!std::strcmp(argv[i], "--bits") && i + 1 < argc) bits = static_cast<unsigned>(std::atoi(argv[++i]));
    else if (!std::strcmp(argv[i], "--svg") && i + 1 < argc) svg_path = argv[++i];
    else {
      std::fprintf(stderr, "usage: %s [--steps T] [--d D] [--eta E] [--reproject K] [--bits B] [--svg FILE]\n", argv[0]);
      return 2;
    }
  }
  const WorkingPrecision precision(bits);
  Tensor<double> x0(Shape{d, d}, 0.0);
  for (Index i = 0; i < d; ++i) x0(i, i) = 1;
  const Tensor<double> a = normal(d, d, "A", 1 / std::sqrt(static_cast<double>(d))), y = normal(d, d, "Y", 1);
  const auto problem = [&](Index reproject) { return FlowProblem<double>(x0, a, y, eta, steps, 1, reproject); };

  // The exact trajectory at `bits` and at bits + 64: their distance says how many digits are exact.
  const auto t0 = std::chrono::steady_clock::now();
  std::map<Index, Tensor<mp_real>> exact;
  reference::matching_flow_observed<mp_real>(problem(0), [&](Index t, const Tensor<mp_real>& x) {
    if (checkpoint(t)) exact.emplace(t, x);
  });
  const double exact_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double precision_gap = 0;
  {
    const WorkingPrecision wider(bits + 64);
    const Tensor<mp_real> last = reference::matching_flow<mp_real>(problem(0));
    for (Index i = 0; i < last.count(); ++i)
      precision_gap = std::max(precision_gap, std::fabs(to_double(last[i] - exact.at(steps)[i])));
  }
  std::vector<Series> series = {{"f32 |X^T X - I|", "#d62728", false, {}},
                                {"f32 + qf |X^T X - I|", "#ff9896", false, {}},
                                {"f64 |X^T X - I|", "#1f77b4", false, {}},
                                {"f64 + qf |X^T X - I|", "#aec7e8", false, {}},
                                {"f32 |X - X_exact|", "#d62728", true, {}},
                                {"f32 + qf |X - X_exact|", "#ff9896", true, {}},
                                {"f64 |X - X_exact|", "#1f77b4", true, {}},
                                {"f64 + qf |X - X_exact|", "#aec7e8", true, {}}};
  const auto record = [&](int which, Index t, const auto& x) {
    if (!checkpoint(t)) return;
    series[which].v[t] = defect(x);
    double dist = 0;
    const Tensor<mp_real>& e = exact.at(t);
    for (Index i = 0; i < x.count(); ++i) dist = std::max(dist, std::fabs(to_double(mp_real(static_cast<double>(x[i])) - e[i])));
    series[which + 4].v[t] = dist;
  };
  for (const Index reproject : {Index{0}, k}) {
    const int off = reproject ? 1 : 0;
    cpu::matching_flow(problem(reproject).cast<float>(), [&](Index t, const Tensor<float>& x) { record(0 + off, t, x); });
    cpu::matching_flow(problem(reproject), [&](Index t, const Tensor<double>& x) { record(2 + off, t, x); });
  }
  std::printf("matching flow on O(%lld), f(X) = |A X - Y|^2 / 2, X0 = I, eta %g, %lld steps, re-projection by qf every %lld "
              "steps; exact trajectory at %u bits (%.1f s), its distance to the one at %u bits: %.2g\n\n",
              static_cast<long long>(d), eta, static_cast<long long>(steps), static_cast<long long>(k), bits, exact_s,
              bits + 64, precision_gap);
  std::printf("| steps | f32 defect | f32 + qf defect | f64 defect | f64 + qf defect | f32 dist | f32 + qf dist | f64 dist | "
              "f64 + qf dist |\n|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& [t, unused] : exact) {
    (void)unused;
    std::printf("| %lld |", static_cast<long long>(t));
    for (const auto& s : series) std::printf(" %.2g |", s.v.at(t));
    std::printf("\n");
  }
  if (!svg_path.empty()) {
    std::ofstream(svg_path) << svg(series, steps, d, eta, k);
    std::printf("\nplot: %s\n", svg_path.c_str());
  }
  return 0;
}
