// `touchstone fom-counterexample`: FOM-SGD against UFOM-SGD on the UFOM authors' counterexample
// (spec/bilevel.md [BILEVEL-COUNTEREXAMPLE]), a table on stdout and, with --svg, the plot of
// |M'(theta_k)| against k.
#include "counterexample_command.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "touchstone/counterexample/fom_counterexample.hpp"

namespace touchstone::cli {
namespace {

struct Options {
  int seeds = 5;
  long long steps = 10000;
  double q = 0.1;
  std::string svg;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string plot(const std::vector<long long>& ks, const std::vector<std::vector<double>>& fom,
                 const std::vector<std::vector<double>>& ufom, const std::vector<std::vector<double>>& adaptive,
                 double q) {
  const double W = 620, H = 360, left = 70, right = 20, top = 36, bottom = 50;
  double lo = 1e300, hi = 0;
  for (const auto* set : {&fom, &ufom, &adaptive})
    for (const auto& run : *set)
      for (double v : run)
        if (v > 0) lo = std::min(lo, v), hi = std::max(hi, v);
  const double ylo = std::floor(std::log10(lo)), yhi = std::ceil(std::log10(hi));
  const double xlo = std::log10(static_cast<double>(std::max(1LL, ks.front()))), xhi = std::log10(static_cast<double>(ks.back()));
  auto X = [&](long long k) { return left + (std::log10(static_cast<double>(std::max(1LL, k))) - xlo) / (xhi - xlo) * (W - left - right); };
  auto Y = [&](double v) { return top + (yhi - std::log10(std::max(v, std::pow(10.0, ylo)))) / (yhi - ylo) * (H - top - bottom); };
  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{:.0f}\" height=\"{:.0f}\" font-family=\"sans-serif\" "
      "font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{:.0f}\" y=\"18\">|M'(theta_k)| on the FOM counterexample: FOM-SGD stalls, UFOM-SGD (q = {}, adaptive) does not</text>\n",
      W, H, left - 50, q);
  for (double e = ylo; e <= yhi; e += 1)
    s += fmt::format("<line x1=\"{:.1f}\" x2=\"{:.1f}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#ddd\"/><text x=\"{:.1f}\" "
                     "y=\"{:.1f}\" text-anchor=\"end\">1e{:.0f}</text>\n",
                     left, W - right, Y(std::pow(10, e)), Y(std::pow(10, e)), left - 6, Y(std::pow(10, e)) + 4, e);
  for (long long k = 1; k <= ks.back(); k *= 10)
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", X(k), H - bottom + 18, k);
  s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">SGD step k (log)</text>\n",
                   (left + W - right) / 2, H - 12);
  const struct {
    const std::vector<std::vector<double>>* runs;
    const char* name;
    const char* colour;
  } series[] = {{&fom, "FOM", "#d62728"}, {&ufom, "UFOM", "#1f77b4"}, {&adaptive, "adaptive UFOM", "#2ca02c"}};
  int row = 0;
  for (const auto& se : series) {
    for (const auto& run : *se.runs) {
      std::string path;
      for (std::size_t i = 0; i < ks.size(); ++i)
        path += fmt::format("{}{:.1f},{:.1f} ", path.empty() ? "M" : "L", X(ks[i]), Y(run[i]));
      s += fmt::format("<path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1\" opacity=\"0.6\"/>\n", path, se.colour);
    }
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" fill=\"{}\">{} ({} seeds)</text>\n", W - right - 150,
                     top + 14 + 16 * row++, se.colour, se.name, se.runs->size());
  }
  return s + "</svg>\n";
}

int run(const Options& o) {
  using namespace touchstone::counterexample;
  const Problem p = make_problem();
  std::printf("FOM counterexample (the UFOM authors' toy): r %d, alpha %g, a = (%g, %g), D %g; b2 = %.6f, A = %.6f\n",
              p.r, p.alpha, p.a[0], p.a[1], p.D, p.b[1], p.A);
  std::vector<long long> ks;
  for (long long k = 1; k < o.steps; k = std::max(k + 1, static_cast<long long>(std::ceil(k * 1.25)))) ks.push_back(k);
  ks.push_back(o.steps);
  std::vector<std::vector<double>> fom, ufom, adaptive;
  std::printf("\n| seed | theta_0 | FOM: theta_K | FOM: abs M' | UFOM q=%g: theta_K | abs M' | exact steps "
              "| adaptive: theta_K | abs M' | exact steps | last q |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
              o.q);
  for (int seed = 0; seed < o.seeds; ++seed) {
    const auto s = static_cast<std::uint64_t>(seed);
    const Run f = sgd(p, 0, o.steps, s, ks), u = sgd(p, o.q, o.steps, s, ks), a = sgd(p, 0, o.steps, s, ks, true);
    std::printf("| %d | %.3f | %.4f | %.4f | %.4f | %.4f | %lld | %.4f | %.4f | %lld | %.3f |\n", seed, f.theta0,
                f.theta_final, f.slope_at.back(), u.theta_final, u.slope_at.back(), u.exact_branches, a.theta_final,
                a.slope_at.back(), a.exact_branches, a.q_final);
    std::fflush(stdout);
    fom.push_back(f.slope_at);
    ufom.push_back(u.slope_at);
    adaptive.push_back(a.slope_at);
  }
  auto end_median = [](const std::vector<std::vector<double>>& runs) {
    std::vector<double> v;
    for (const auto& run : runs) v.push_back(run.back());
    return median(v);
  };
  std::printf("\nafter %lld steps: median |M'| %.4f (FOM), %.4f (UFOM), %.4f (adaptive UFOM); FOM's fixed point "
              "theta_bar has |M'| = sqrt(2 D) = %.4f, the stationary point theta* has 0\n",
              o.steps, end_median(fom), end_median(ufom), end_median(adaptive), std::sqrt(2 * p.D));
  if (!o.svg.empty()) {
    std::ofstream(o.svg) << plot(ks, fom, ufom, adaptive, o.q);
    std::printf("plot: %s\n", o.svg.c_str());
  }
  return 0;
}

}  // namespace

std::function<int()> add_counterexample_command(CLI::App& app) {
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("fom-counterexample",
                                 "FOM-SGD against UFOM-SGD on the UFOM authors' counterexample (spec/bilevel.md)");
  cmd->add_option("--seeds", o->seeds, "Runs (seeds 0..N-1)")->default_val(5)->check(CLI::Range(1, 1000));
  cmd->add_option("--steps", o->steps, "SGD steps")->default_val(10000)->check(CLI::Range(1LL, 10000000LL));
  cmd->add_option("--q", o->q, "UFOM's probability of the exact branch")->default_val(0.1)->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--svg", o->svg, "Write the plot of |M'(theta_k)| against k");
  return [cmd, o]() { return *cmd ? run(*o) : -1; };
}

}  // namespace touchstone::cli
