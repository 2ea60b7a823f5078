// FAVOR+ attention's error to exact softmax attention against the number of random features m,
// iid against orthogonal features (spec/performer.md [PERF-ERROR-VS-M]). Bidirectional attention
// of one head, q and k normal with standard deviation `scale` (default 0.25), v standard normal, all
// from Philox, L = 1024, d = 64 (the paper's head size),
// dim_v = 16; features with eps = 0 (the shifts then cancel exactly) and no renormalizer guard;
// everything in binary64 (cpu-f64 backends, whose rounding error is ~1e-15, far below the
// estimator's). Prints a Markdown table (median and range over seeds of the relative RMS error
// |out - exact|_F / |exact|_F) and writes an SVG plot.
//   ./build/bench/performer_favor_error [--seeds N] [--scale S] [--svg FILE]
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "cpu/performer.hpp"
#include "touchstone/core/random.hpp"
#include "touchstone/reference/performer_random.hpp"

using namespace touchstone;
using namespace touchstone::performer;

namespace {

Tensor<double> normal(Shape s, std::uint64_t seed, const std::string& name, double scale = 1) {
  PhiloxStream r(seed, "performer_favor_error/" + name);
  Tensor<double> t(std::move(s));
  for (Index i = 0; i < t.count(); ++i) t[i] = scale * r.next_normal();
  return t;
}

struct Row {
  Index m;
  std::vector<double> iid, orthogonal;  // per seed
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string svg(const std::vector<Row>& rows, double scale) {
  const double W = 620, H = 340, left = 70, right = 20, top = 30, bottom = 50;
  double lo = 1e300, hi = 0;
  for (const Row& r : rows)
    for (const auto* v : {&r.iid, &r.orthogonal})
      for (double e : *v) lo = std::min(lo, e), hi = std::max(hi, e);
  const double ylo = std::floor(std::log10(lo)), yhi = std::ceil(std::log10(hi));
  const double xlo = std::log2(static_cast<double>(rows.front().m)), xhi = std::log2(static_cast<double>(rows.back().m));
  auto X = [&](double m) { return left + (std::log2(m) - xlo) / (xhi - xlo) * (W - left - right); };
  auto Y = [&](double e) { return top + (yhi - std::log10(e)) / (yhi - ylo) * (H - top - bottom); };
  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{:.0f}\" height=\"{:.0f}\" font-family=\"sans-serif\" "
      "font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
      W, H);
  s += fmt::format("<text x=\"{:.0f}\" y=\"18\">FAVOR+ relative RMS error to softmax attention (L 1024, d 64, q, k ~ N(0, {}^2))</text>\n", left - 50, scale);
  for (double e = ylo; e <= yhi; e += 1)
    s += fmt::format("<line x1=\"{:.1f}\" x2=\"{:.1f}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#ddd\"/><text x=\"{:.1f}\" "
                     "y=\"{:.1f}\" text-anchor=\"end\">1e{:.0f}</text>\n",
                     left, W - right, Y(std::pow(10, e)), Y(std::pow(10, e)), left - 6, Y(std::pow(10, e)) + 4, e);
  for (const Row& r : rows)
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", X(double(r.m)), H - bottom + 18,
                     r.m);
  s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">m (random features)</text>\n",
                   (left + W - right) / 2, H - 12);
  const struct {
    const char* name;
    const char* colour;
    bool orthogonal;
  } series[] = {{"iid", "#d62728", false}, {"orthogonal", "#1f77b4", true}};
  int k = 0;
  for (const auto& se : series) {
    std::string path;
    for (const Row& r : rows) {
      const auto& v = se.orthogonal ? r.orthogonal : r.iid;
      const double x = X(double(r.m));
      path += fmt::format("{}{:.1f},{:.1f} ", path.empty() ? "M" : "L", x, Y(median(v)));
      for (double e : v)
        s += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"1.8\" fill=\"{}\" opacity=\"0.45\"/>\n",
                         x + (se.orthogonal ? 4 : -4), Y(e), se.colour);
    }
    s += fmt::format("<path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>\n", path, se.colour);
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" fill=\"{}\">{} (median line, seeds as dots)</text>\n", W - right - 230,
                     top + 16 + 16 * k++, se.colour, se.name);
  }
  return s + "</svg>\n";
}

}  // namespace

int main(int argc, char** argv) {
  int seeds = 8;
  double scale = 0.25;
  std::string svg_path;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--seeds") && i + 1 < argc) seeds = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--svg") && i + 1 < argc) svg_path = argv[++i];
    else if (!std::strcmp(argv[i], "--scale") && i + 1 < argc) scale = std::atof(argv[++i]);
    else {
      std::fprintf(stderr, "usage: %s [--seeds N] [--scale S] [--svg FILE]\n", argv[0]);
      return 2;
    }
  }
  const Index L = 1024, D = 64, E = 16;
  std::vector<Row> rows;
  for (Index m : {16, 32, 64, 128, 256, 512}) rows.push_back({m, {}, {}});
  for (int seed = 0; seed < seeds; ++seed) {
    const auto s = static_cast<std::uint64_t>(seed);
    const Tensor<double> q = normal(Shape{1, 1, L, D}, s, "q", scale), k = normal(Shape{1, 1, L, D}, s, "k", scale),
                         v = normal(Shape{1, 1, L, E}, s, "v");
    const Tensor<double> exact = cpu::softmax_attention(AttentionProblem<double>({q, k, v, false}));
    double norm = 0;
    for (Index i = 0; i < exact.count(); ++i) norm += exact[i] * exact[i];
    for (Row& row : rows)
      for (ProjectionKind kind : {ProjectionKind::iid, ProjectionKind::orthogonal}) {
        const Tensor<double> w = random_projection(row.m, D, s, "performer_favor_error/w", kind, 0);
        const Tensor<double> qf = cpu::favor_plus_features(FeatureProblem<double>({q, w, true, 0.0}));
        const Tensor<double> kf = cpu::favor_plus_features(FeatureProblem<double>({k, w, false, 0.0}));
        const Tensor<double> out = cpu::linear_attention(LinearProblem<double>({qf, kf, v, false, Guard::none, 1e-6}));
        double err = 0;
        for (Index i = 0; i < out.count(); ++i) err += (out[i] - exact[i]) * (out[i] - exact[i]);
        (kind == ProjectionKind::iid ? row.iid : row.orthogonal).push_back(std::sqrt(err / norm));
      }
  }
  std::printf("| m | iid: median (min - max) | orthogonal: median (min - max) | iid / orthogonal |\n|---|---|---|---|\n");
  for (const Row& r : rows)
    std::printf("| %lld | %.4f (%.4f - %.4f) | %.4f (%.4f - %.4f) | %.2f |\n", static_cast<long long>(r.m), median(r.iid),
                *std::min_element(r.iid.begin(), r.iid.end()), *std::max_element(r.iid.begin(), r.iid.end()),
                median(r.orthogonal), *std::min_element(r.orthogonal.begin(), r.orthogonal.end()),
                *std::max_element(r.orthogonal.begin(), r.orthogonal.end()), median(r.iid) / median(r.orthogonal));
  if (!svg_path.empty()) {
    std::ofstream(svg_path) << svg(rows, scale);
    std::printf("\nplot: %s\n", svg_path.c_str());
  }
  return 0;
}
