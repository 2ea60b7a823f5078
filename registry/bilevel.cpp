// The bilevel entries (spec/bilevel.md). Quadratic class: bilevel.quadratic.exact_stored,
// .exact_recompute, .exact_forward (the exact hypergradient three ways), .fom (the first-order
// shortcut), .ufom (the unbiased estimator with the coin given), .ufom_drawn (the coin drawn from
// Philox) and .hvp; ridge class (per-feature regularization as the hyperparameters):
// bilevel.ridge.exact_stored, .exact_recompute, .exact_forward and .hvp; logistic class (per-feature
// L2 of logistic regression): bilevel.logistic.exact_stored, .exact_recompute, .exact_forward, .fom,
// .ufom, .hvp; bilevel.quadratic.ufom_adaptive (one step of adaptive UFOM, the state in and out); MAML sinusoid class (MLP 1-h-h-1, ReLU): bilevel.maml.exact_stored, .exact_recompute,
// .exact_forward, .fom. The problem class is in
// the name, not an option: each class declares different input arrays (the quadratic's A, c,
// theta; the ridge's data and regularizers), and an entry's inputs are fixed.
#include <cmath>
#include <limits>
#include <string>

#include "builtin.hpp"
#include "cpu/bilevel.hpp"
#include "cuda/bilevel.hpp"
#include "cuda/device.hpp"
#include "touchstone/bounds/bilevel_bound.hpp"
#include "touchstone/core/entry.hpp"
#include "touchstone/core/random.hpp"
#include "touchstone/reference/bilevel.hpp"

namespace touchstone::bilevel {
namespace {

Tensor<double> scalar(double x) { return Tensor<double>(Shape{}, x); }
Arrays grad_output(const Tensor<double>& g) { return {{"grad", g}}; }
Arrays grad_output(const Tensor<float>& g) { return {{"grad", as_double(g)}}; }

// ---- what every quadratic entry declares alike ----
struct QuadSize {
  const char* name;
  Index d, r;
  double alpha;
  double q;  // UFOM only
  int xi;    // UFOM only
};

// A given as (dim, dim), or as its diagonal (dim): the diagonal matrix (a separable quadratic).
Tensor<double> full_matrix(const Tensor<double>& a) {
  if (a.rank() != 1) return a;
  Tensor<double> m(Shape{a.extent(0), a.extent(0)}, 0.0);
  for (Index i = 0; i < a.extent(0); ++i) m(i, i) = a[i];
  return m;
}

struct QuadraticFace {
  static std::vector<ArraySpec> inputs() {
    return {{"A", "(dim, dim) | (dim)", "the inner (and outer) loss's Hessian, symmetric; (dim): its diagonal", false},
            {"c", "(dim)", "the losses' minimizer", false},
            {"theta", "(dim)", "the outer parameters: phi_0 = theta", false},
            {"alpha", "()", "inner step size (also --option alpha)", true},
            {"r", "()", "number of inner steps (also --option r)", true}};
  }
  static std::vector<OptionSpec> options() {
    return {{"alpha", "inner step size (required: file or option)", ""},
            {"r", "number of inner steps, 0 <= r <= 2^20 (required: file or option)", ""}};
  }
  static QuadraticInputs<double> read(const InputReader& rd) {
    const double alpha = rd.real("alpha", std::numeric_limits<double>::quiet_NaN());
    if (std::isnan(alpha)) throw InvalidInput("alpha", "missing: give --option alpha=... or a 0-d array alpha");
    return {full_matrix(rd.array("A")), rd.array("c"), rd.array("theta"), alpha, rd.required_integer("r", 0, kMaxSteps)};
  }
  static Arrays arrays(const QuadraticInputs<double>& in) {
    return {{"A", in.A},
            {"c", in.c},
            {"theta", in.theta},
            {"alpha", scalar(in.alpha)},
            {"r", scalar(static_cast<double>(in.r))}};
  }
  // A = G G^T / d with G (d, d) standard normal (symmetric positive semi-definite, eigenvalues
  // mostly in [0, 4]); c and theta standard normal; every value rounded to the format (A(i, k) and
  // A(k, i) are the same sum of the same products, so A stays exactly symmetric).
  static QuadraticProblem<double> generate(const QuadSize& s, Format format, std::uint64_t seed,
                                           const std::string& stream) {
    const Tensor<double> G = normal_array(seed, stream + "G", {s.d, s.d}, Format::float64);
    Tensor<double> A(Shape{s.d, s.d});
    for (Index i = 0; i < s.d; ++i)
      for (Index k = 0; k < s.d; ++k) {
        double sum = 0;
        for (Index l = 0; l < s.d; ++l) sum += (i <= k ? G(i, l) * G(k, l) : G(k, l) * G(i, l));
        A(i, k) = round_to_format(sum / static_cast<double>(s.d), format);
      }
    return QuadraticProblem<double>({A, normal_array(seed, stream + "c", {s.d}, format),
                                     normal_array(seed, stream + "theta", {s.d}, format),
                                     round_to_format(s.alpha, format), s.r});
  }
};

// Default sizes: dim <= 8 and r <= 10 so that the MPFR oracle is fast; "r0" is the edge where
// E = F = grad L_out(theta); "bench" (not checked) is for timings.
constexpr QuadSize kQuadSizes[] = {
    {"tiny", 2, 1, 0.1, 1, 1},  {"small", 4, 5, 0.1, 1, 1}, {"medium", 8, 10, 0.05, 1, 1},
    {"r0", 3, 0, 0.1, 1, 1},    {"bench", 64, 100, 0.02, 1, 1},
};
constexpr QuadSize kUfomSizes[] = {
    {"coin1", 4, 5, 0.1, 0.25, 1},      {"coin0", 4, 5, 0.1, 0.25, 0},  {"q1", 3, 4, 0.1, 1.0, 1},
    {"medium", 6, 10, 0.05, 0.125, 1},   {"bench", 64, 100, 0.02, 0.1, 1},
};

template <class Table>
std::vector<std::string> checked_sizes(const Table& table) {
  std::vector<std::string> v;
  for (const auto& s : table)
    if (std::string(s.name) != "bench") v.push_back(s.name);
  return v;
}

const char* const kPlainOrder =
    "phi_{j+1} = phi_j - alpha fl(A fl(phi_j - c)) with every sum A x in k order, one rounding per operation";

template <class P>
void quadratic_declarations(Entry<P>& e, const std::string& name, const std::string& id, const std::string& summary) {
  e.name = "bilevel.quadratic." + name;
  e.spec_ref = "spec/bilevel.md [" + id + "]";
  e.summary = summary;
  e.outputs = {{"grad", "(dim)", "the (hyper)gradient with respect to theta", false}};
}

// ---- the exact hypergradient, three ways ----
std::unique_ptr<Algorithm> exact_entry(order::Method method) {
  using P = QuadraticProblem<double>;
  Entry<P> e;
  const char* names[] = {"exact_stored", "exact_recompute", "exact_forward"};
  const char* ids[] = {"BILEVEL-STORED-CPU", "BILEVEL-RECOMPUTE-CPU", "BILEVEL-FORWARD-CPU"};
  const char* how[] = {"reverse mode over the stored trajectory (O(r dim) memory)",
                       "reverse mode recomputing each phi_j from theta (O(dim) memory, r(r+1)/2 inner steps)",
                       "forward mode: dim tangents carried along the inner loop (O(dim^2) memory)"};
  const int m = static_cast<int>(method);
  quadratic_declarations(e, names[m], ids[m],
                         std::string("exact hypergradient dM/dtheta of the quadratic ABLO problem by ") + how[m]);
  e.inputs = QuadraticFace::inputs();
  e.options = QuadraticFace::options();
  e.sizes = checked_sizes(kQuadSizes);
  e.extra_sizes = {"bench"};
  const std::string stream = std::string("bilevel.quadratic.") + names[m] + "/";
  e.generate = [stream](const std::string& size, Format format, std::uint64_t seed) {
    return QuadraticFace::generate(size_row(kQuadSizes, size), format, seed, stream);
  };
  e.read = [](const InputReader& r) { return P(QuadraticFace::read(r)); };
  e.arrays = [](const P& p) { return QuadraticFace::arrays(p.in()); };
  e.oracle = [](const P& p) { return ExactArrays{{"grad", reference::exact_hypergradient<mp_real>(p)}}; };
  const std::string order =
      std::string(kPlainOrder) +
      (method == order::Method::forward
           ? "; tangents Z e_t = Z e_t - alpha fl(A Z e_t) before each step; grad_t = sum_k Z(k,t) g_k in k order"
           : "; lambda = fl(A fl(phi_r - c)); lambda = lambda - alpha fl(A lambda), r times");
  e.backends = {
      {"cpu-f32", Format::float32, order,
       [method](const EntryProblem<P>& h) { return grad_output(cpu::exact_hypergradient(h.f32(), method)); },
       [method](const P& p) {
         return grad_output(exact_hypergradient_bound(p, method, bilevel_arithmetic_cpu(Format::float32)));
       }},
      {"cpu-f64", Format::float64, order,
       [method](const EntryProblem<P>& h) { return grad_output(cpu::exact_hypergradient(h.f64(), method)); },
       [method](const P& p) {
         return grad_output(exact_hypergradient_bound(p, method, bilevel_arithmetic_cpu(Format::float64)));
       }},
  };
  e.any_order_bound = [method](const P& p, Format compute, double) {
    return grad_output(exact_hypergradient_bound(p, method, bilevel_arithmetic_any_order(compute)));
  };
  e.any_order_assumption =
      "the product of the r step Jacobians accumulated step by step, reverse (a vector, stored or recomputed) or "
      "forward (dim tangents); within each step any order of every sum, FMA or not, alpha A x as alpha (A x), "
      "(alpha A) x or alpha (A x + A^T x)/2 (not (I - alpha A)^r by repeated squaring)";
  return make_entry(std::move(e));
}

// ---- FOM ----
std::unique_ptr<Algorithm> fom_entry() {
  using P = QuadraticProblem<double>;
  Entry<P> e;
  quadratic_declarations(e, "fom", "BILEVEL-FOM-DEF",
                         "first-order shortcut (FOM, learn2learn first_order=True): grad L_out(phi_r) of the "
                         "quadratic ABLO problem, dphi_r/dtheta replaced by I");
  e.inputs = QuadraticFace::inputs();
  e.options = QuadraticFace::options();
  e.sizes = checked_sizes(kQuadSizes);
  e.extra_sizes = {"bench"};
  e.generate = [](const std::string& size, Format format, std::uint64_t seed) {
    return QuadraticFace::generate(size_row(kQuadSizes, size), format, seed, "bilevel.quadratic.fom/");
  };
  e.read = [](const InputReader& r) { return P(QuadraticFace::read(r)); };
  e.arrays = [](const P& p) { return QuadraticFace::arrays(p.in()); };
  e.oracle = [](const P& p) { return ExactArrays{{"grad", reference::fom<mp_real>(p)}}; };
  const std::string order = std::string(kPlainOrder) + "; grad = fl(A fl(phi_r - c))";
  e.backends = {
      {"cpu-f32", Format::float32, order, [](const EntryProblem<P>& h) { return grad_output(cpu::fom(h.f32())); },
       [](const P& p) { return grad_output(fom_bound(p, bilevel_arithmetic_cpu(Format::float32))); }},
      {"cpu-f64", Format::float64, order, [](const EntryProblem<P>& h) { return grad_output(cpu::fom(h.f64())); },
       [](const P& p) { return grad_output(fom_bound(p, bilevel_arithmetic_cpu(Format::float64))); }},
  };
  e.any_order_bound = [](const P& p, Format compute, double) {
    return grad_output(fom_bound(p, bilevel_arithmetic_any_order(compute)));
  };
  e.any_order_assumption =
      "the r inner steps in their order; within each step any order of every sum, FMA or not, alpha A x as "
      "alpha (A x), (alpha A) x or alpha (A x + A^T x)/2";
  return make_entry(std::move(e));
}

// ---- UFOM, the coin given ----
std::unique_ptr<Algorithm> ufom_entry() {
  using P = UfomProblem<double>;
  Entry<P> e;
  quadratic_declarations(e, "ufom", "BILEVEL-UFOM-DEF",
                         "unbiased first-order estimator (UFOM) F + (xi/q)(E - F) of the quadratic ABLO problem "
                         "with the coin xi given (deterministic); E by recomputation");
  e.inputs = QuadraticFace::inputs();
  e.inputs.push_back({"q", "()", "probability of the exact branch, 0 < q <= 1 (also --option q)", true});
  e.inputs.push_back({"xi", "()", "the coin, 0 or 1 (also --option xi)", true});
  e.options = QuadraticFace::options();
  e.options.push_back({"q", "probability of the exact branch (required: file or option)", ""});
  e.options.push_back({"xi", "the coin, 0 or 1 (required: file or option)", ""});
  e.sizes = checked_sizes(kUfomSizes);
  e.extra_sizes = {"bench"};
  e.generate = [](const std::string& size, Format format, std::uint64_t seed) {
    const QuadSize& s = size_row(kUfomSizes, size);
    return P(QuadraticFace::generate(s, format, seed, "bilevel.quadratic.ufom/"), round_to_format(s.q, format), s.xi);
  };
  e.read = [](const InputReader& r) {
    const double q = r.real("q", std::numeric_limits<double>::quiet_NaN());
    if (std::isnan(q)) throw InvalidInput("q", "missing: give --option q=... or a 0-d array q");
    return P(QuadraticProblem<double>(QuadraticFace::read(r)), q, static_cast<int>(r.required_integer("xi", 0, 1)));
  };
  e.arrays = [](const P& p) {
    Arrays a = QuadraticFace::arrays(p.quad().in());
    a["q"] = scalar(p.q());
    a["xi"] = scalar(p.xi());
    return a;
  };
  e.oracle = [](const P& p) { return ExactArrays{{"grad", reference::ufom<mp_real>(p)}}; };
  const std::string order = std::string(kPlainOrder) +
                            "; F = fl(A fl(phi_r - c)); xi = 1: E by recomputation from lambda = F, "
                            "grad = F + fl(fl(E - F) / q); xi = 0: grad = F";
  e.backends = {
      {"cpu-f32", Format::float32, order, [](const EntryProblem<P>& h) { return grad_output(cpu::ufom(h.f32())); },
       [](const P& p) { return grad_output(ufom_bound(p, bilevel_arithmetic_cpu(Format::float32))); }},
      {"cpu-f64", Format::float64, order, [](const EntryProblem<P>& h) { return grad_output(cpu::ufom(h.f64())); },
       [](const P& p) { return grad_output(ufom_bound(p, bilevel_arithmetic_cpu(Format::float64))); }},
  };
  e.any_order_bound = [](const P& p, Format compute, double) {
    return grad_output(ufom_bound(p, bilevel_arithmetic_any_order(compute)));
  };
  e.any_order_assumption =
      "F and E as bilevel.quadratic.fom and .exact_* (E reverse or forward); F + (E - F)/q with the division or "
      "a multiplication by fl(1/q) (not the rearranged F (1 - 1/q) + E/q)";
  return make_entry(std::move(e));
}

// ---- UFOM, the coin drawn from Philox ----
constexpr QuadSize kUfomDrawSizes[] = {
    {"small", 4, 5, 0.1, 0.25, 0}, {"medium", 6, 10, 0.05, 0.5, 0}, {"bench", 64, 100, 0.02, 0.1, 0}};

std::unique_ptr<Algorithm> ufom_drawn_entry() {
  using P = UfomDrawProblem<double>;
  Entry<P> e;
  quadratic_declarations(e, "ufom_drawn", "BILEVEL-UFOM-DRAWN",
                         "unbiased first-order estimator (UFOM) F + (xi/q)(E - F) of the quadratic ABLO problem "
                         "with xi ~ Bernoulli(q) drawn from the Philox stream bilevel.ufom/xi (seed, draw)");
  e.inputs = QuadraticFace::inputs();
  e.inputs.push_back({"q", "()", "probability of the exact branch, 0 < q <= 1 (also --option q)", true});
  e.inputs.push_back({"seed", "()", "the Philox key, 0 <= seed <= 2^53 (also --option seed)", true});
  e.inputs.push_back({"draw", "()", "which draw of the stream: the coin of the draw-th step (also --option draw)", true});
  e.options = QuadraticFace::options();
  e.options.push_back({"q", "probability of the exact branch (required: file or option)", ""});
  e.options.push_back({"seed", "the Philox key (required: file or option)", ""});
  e.options.push_back({"draw", "which draw of the stream", "0"});
  e.sizes = checked_sizes(kUfomDrawSizes);
  e.extra_sizes = {"bench"};
  // The problem's seed is the generator's seed; draws 0, 1, 2 ... give both coins on the defaults.
  e.generate = [](const std::string& size, Format format, std::uint64_t seed) {
    const QuadSize& s = size_row(kUfomDrawSizes, size);
    return P(QuadraticFace::generate(s, format, seed, "bilevel.quadratic.ufom_drawn/"), round_to_format(s.q, format),
             seed, 0);
  };
  e.read = [](const InputReader& r) {
    const double q = r.real("q", std::numeric_limits<double>::quiet_NaN());
    if (std::isnan(q)) throw InvalidInput("q", "missing: give --option q=... or a 0-d array q");
    const auto max = static_cast<Index>(kMaxSeed);
    return P(QuadraticProblem<double>(QuadraticFace::read(r)), q,
             static_cast<std::uint64_t>(r.required_integer("seed", 0, max)),
             static_cast<std::uint64_t>(r.integer("draw", 0, max, 0)));
  };
  e.arrays = [](const P& p) {
    Arrays a = QuadraticFace::arrays(p.given().quad().in());
    a["q"] = scalar(p.given().q());
    a["seed"] = scalar(static_cast<double>(p.seed()));
    a["draw"] = scalar(static_cast<double>(p.draw()));
    return a;
  };
  e.describe = [](const P& p) {
    return "dim=" + std::to_string(p.given().quad().dim()) + " r=" + std::to_string(p.given().quad().steps()) +
           " seed=" + std::to_string(p.seed()) + " draw=" + std::to_string(p.draw()) +
           " xi=" + std::to_string(p.given().xi());
  };
  e.oracle = [](const P& p) { return ExactArrays{{"grad", reference::ufom<mp_real>(p.given())}}; };
  const std::string order = std::string(kPlainOrder) +
                            "; xi = [Philox(seed, bilevel.ufom/xi).uniform(draw) < q]; then as bilevel.quadratic.ufom";
  e.backends = {
      {"cpu-f32", Format::float32, order,
       [](const EntryProblem<P>& h) { return grad_output(cpu::ufom(h.f32().given())); },
       [](const P& p) { return grad_output(ufom_bound(p.given(), bilevel_arithmetic_cpu(Format::float32))); }},
      {"cpu-f64", Format::float64, order,
       [](const EntryProblem<P>& h) { return grad_output(cpu::ufom(h.f64().given())); },
       [](const P& p) { return grad_output(ufom_bound(p.given(), bilevel_arithmetic_cpu(Format::float64))); }},
  };
  e.any_order_bound = [](const P& p, Format compute, double) {
    return grad_output(ufom_bound(p.given(), bilevel_arithmetic_any_order(compute)));
  };
  e.any_order_assumption =
      "the coin as drawn here (compare with bilevel.quadratic.ufom and your xi otherwise); F, E and the "
      "combination as bilevel.quadratic.ufom";
  return make_entry(std::move(e));
}

// ---- adaptive UFOM: one step of the authors' rule, the state in and out ----
struct AdaptiveSize {
  const char* name;
  Index d, r;
  double alpha, q;
  int xi;
  double ema_v2, ema_d2;
  Index exact_steps;
};
// First exact branch from the initial state (q = q_min), a later branch with a state, a step
// with xi = 0 (the state passes through), and a case where the rule's q falls below q_min.
// The regimes (q_next = 1 by the threshold, interior, clipped) are checked in adaptive_test.cpp.
constexpr AdaptiveSize kAdaptiveSizes[] = {
    {"first", 4, 5, 0.1, 0.05, 1, 0.0, 0.0, 0},     {"later", 4, 5, 0.1, 0.25, 1, 3.0, 0.5, 3},
    {"coin0", 4, 5, 0.1, 0.25, 0, 3.0, 0.5, 3},     {"clipped", 4, 2, 0.02, 0.75, 1, 40.0, 0.001, 1},
    {"medium", 6, 10, 0.05, 0.5, 1, 1.5, 0.25, 5},  {"bench", 64, 100, 0.02, 0.1, 1, 1.0, 0.5, 20},
};

// The state after the step as one array ([BILEVEL-UFOM-ADAPTIVE]): a scalar judged alone can be
// exact by chance, which says nothing of its bound; one array is judged as a whole.
constexpr int kStateSize = 5;  // q_next, ema_v2_next, ema_d2_next, v2, d2
template <class T>
Tensor<double> state_array(T q, T ema_v2, T ema_d2, T v2, T d2) {
  return Tensor<double>(Shape{kStateSize}, std::vector<double>{static_cast<double>(q), static_cast<double>(ema_v2),
                                                                static_cast<double>(ema_d2), static_cast<double>(v2),
                                                                static_cast<double>(d2)});
}
template <class T>
Arrays adaptive_output(const AdaptiveUfomResult<T>& x) {
  return {{"grad", as_double(x.grad)}, {"state", state_array(x.q_next, x.ema_v2_next, x.ema_d2_next, x.v2, x.d2)}};
}
Arrays adaptive_output(const AdaptiveUfomBound& b) {
  return {{"grad", b.grad}, {"state", state_array(b.q_next, b.ema_v2_next, b.ema_d2_next, b.v2, b.d2)}};
}

std::unique_ptr<Algorithm> ufom_adaptive_entry() {
  using P = AdaptiveUfomProblem<double>;
  Entry<P> e;
  quadratic_declarations(e, "ufom_adaptive", "BILEVEL-UFOM-ADAPTIVE",
                         "one step of adaptive UFOM as the authors' code adapts q (EMA beta 0.99 with bias "
                         "correction, D2/10, q_min 0.05: the code's choices): the estimate F + (xi/q)(E - F) of the "
                         "quadratic ABLO problem and the state after it");
  e.inputs = QuadraticFace::inputs();
  e.inputs.push_back({"q", "()", "the probability this step uses, 0 < q <= 1 (start: 0.05) (also --option q)", true});
  e.inputs.push_back({"xi", "()", "this step's coin, 0 or 1 (also --option xi)", true});
  e.inputs.push_back({"ema_v2", "()", "EMA of |E|^2 before the step, >= 0 (start: 0) (also --option ema_v2)", true});
  e.inputs.push_back({"ema_d2", "()", "EMA of |g - E|^2 before the step, >= 0 (start: 0) (also --option ema_d2)", true});
  e.inputs.push_back({"exact_steps", "()", "exact branches before this step, 0 <= n <= 2^20 (also --option exact_steps)",
                      true});
  e.outputs.push_back({"state", "(5)",
                        "after the step: q_next (max(0.05, the rule's q); q when xi = 0), ema_v2_next, ema_d2_next "
                        "(beta 0.99; unchanged when xi = 0), v2 = ema_v2_next / (1 - 0.99^n), d2 = ema_d2_next / "
                        "(1 - 0.99^n) (n = exact branches so far; 0 while n = 0; d2 before the D2/10 heuristic)",
                        false});
  e.options = QuadraticFace::options();
  e.options.push_back({"q", "probability of the exact branch (required: file or option)", ""});
  e.options.push_back({"xi", "the coin, 0 or 1 (required: file or option)", ""});
  e.options.push_back({"ema_v2", "EMA of |E|^2 before the step", "0"});
  e.options.push_back({"ema_d2", "EMA of |g - E|^2 before the step", "0"});
  e.options.push_back({"exact_steps", "exact branches before this step", "0"});
  e.sizes = checked_sizes(kAdaptiveSizes);
  e.extra_sizes = {"bench"};
  e.generate = [](const std::string& size, Format format, std::uint64_t seed) {
    const AdaptiveSize& s = size_row(kAdaptiveSizes, size);
    const QuadSize qs{s.name, s.d, s.r, s.alpha, s.q, s.xi};
    return P(UfomProblem<double>(QuadraticFace::generate(qs, format, seed, "bilevel.quadratic.ufom_adaptive/"),
                                 round_to_format(s.q, format), s.xi),
             round_to_format(s.ema_v2, format), round_to_format(s.ema_d2, format), s.exact_steps);
  };
  e.read = [](const InputReader& r) {
    const double q = r.real("q", std::numeric_limits<double>::quiet_NaN());
    if (std::isnan(q)) throw InvalidInput("q", "missing: give --option q=... or a 0-d array q");
    return P(UfomProblem<double>(QuadraticProblem<double>(QuadraticFace::read(r)), q,
                                 static_cast<int>(r.required_integer("xi", 0, 1))),
             r.real("ema_v2", 0.0), r.real("ema_d2", 0.0), r.integer("exact_steps", 0, kMaxSteps, 0));
  };
  e.arrays = [](const P& p) {
    Arrays a = QuadraticFace::arrays(p.quad().in());
    a["q"] = scalar(p.ufom().q());
    a["xi"] = scalar(p.ufom().xi());
    a["ema_v2"] = scalar(p.ema_v2());
    a["ema_d2"] = scalar(p.ema_d2());
    a["exact_steps"] = scalar(static_cast<double>(p.exact_steps()));
    return a;
  };
  e.describe = [](const P& p) {
    return "dim=" + std::to_string(p.quad().dim()) + " r=" + std::to_string(p.quad().steps()) +
           " xi=" + std::to_string(p.ufom().xi()) + " n=" + std::to_string(p.exact_steps());
  };
  e.oracle = [](const P& p) {
    const AdaptiveUfomResult<mp_real> x = reference::ufom_adaptive<mp_real>(p);
    Tensor<mp_real> state{Shape{kStateSize}};
    state[0] = x.q_next;
    state[1] = x.ema_v2_next;
    state[2] = x.ema_d2_next;
    state[3] = x.v2;
    state[4] = x.d2;
    return ExactArrays{{"grad", x.grad}, {"state", state}};
  };
  const std::string order =
      std::string(kPlainOrder) +
      "; g as bilevel.quadratic.ufom; xi = 1: |E|^2 and |g - E|^2 one sum each in k order; beta = fl(99/100); "
      "ema = fl(fl(beta ema) + fl(fl(1/100) sample)); 1 - beta^n with the power by repeated products; V2, D2 one "
      "division each; the threshold and the root as order::adaptive_state; q = max(fl(1/20), q2)";
  e.backends = {
      {"cpu-f32", Format::float32, order,
       [](const EntryProblem<P>& h) { return adaptive_output(cpu::ufom_adaptive(h.f32())); },
       [](const P& p) { return adaptive_output(ufom_adaptive_bound(p, bilevel_arithmetic_cpu(Format::float32))); }},
      {"cpu-f64", Format::float64, order,
       [](const EntryProblem<P>& h) { return adaptive_output(cpu::ufom_adaptive(h.f64())); },
       [](const P& p) { return adaptive_output(ufom_adaptive_bound(p, bilevel_arithmetic_cpu(Format::float64))); }},
  };
  e.any_order_bound = [](const P& p, Format compute, double) {
    return adaptive_output(ufom_adaptive_bound(p, bilevel_arithmetic_any_order(compute)));
  };
  e.any_order_assumption =
      "g as bilevel.quadratic.ufom (E reverse or forward, the division or a product with fl(1/q)); the squared "
      "norms' sums in any order; the scalar update in the order of order::adaptive_state (beta^n by repeated "
      "products, not pow); where the rounded comparison with the threshold can flip, q_next is unjudged";
  return make_entry(std::move(e));
}

// ---- the ridge class: per-feature regularization as the hyperparameters ----
struct RidgeSize {
  const char* name;
  Index n, m, d, r;
  double alpha;
};
constexpr RidgeSize kRidgeSizes[] = {
    {"tiny", 4, 3, 2, 2, 0.1}, {"small", 12, 8, 4, 5, 0.1}, {"medium", 24, 16, 6, 10, 0.1}, {"bench", 256, 128, 32, 50, 0.05}};

RidgeProblem<double> generate_ridge(const RidgeSize& s, Format format, std::uint64_t seed, const std::string& stream) {
  PhiloxStream g(seed, stream + "data"), t(seed, stream + "theta");
  auto fill = [&](Shape shape, double scale) {
    Tensor<double> x(std::move(shape));
    for (Index i = 0; i < x.count(); ++i) x[i] = round_to_format(scale * g.next_normal(), format);
    return x;
  };
  const Tensor<double> w_true = fill(Shape{s.d}, 1.0);
  auto targets = [&](const Tensor<double>& X) {
    Tensor<double> y(Shape{X.extent(0)});
    for (Index i = 0; i < X.extent(0); ++i) {
      double v = 0.1 * g.next_normal();
      for (Index k = 0; k < s.d; ++k) v += X(i, k) * w_true[k];
      y[i] = round_to_format(v, format);
    }
    return y;
  };
  const Tensor<double> X = fill(Shape{s.n, s.d}, 1.0), X_val = fill(Shape{s.m, s.d}, 1.0);
  const Tensor<double> y = targets(X), y_val = targets(X_val), w0 = fill(Shape{s.d}, 0.1);
  Tensor<double> theta(Shape{s.d});
  for (Index k = 0; k < s.d; ++k) theta[k] = round_to_format(t.next_uniform(-2.0, 1.0), format);
  return RidgeProblem<double>({X, y, X_val, y_val, w0, theta, round_to_format(s.alpha, format), s.r});
}

std::unique_ptr<Algorithm> ridge_entry(order::Method method) {
  using P = RidgeProblem<double>;
  Entry<P> e;
  const char* names[] = {"exact_stored", "exact_recompute", "exact_forward"};
  const char* how[] = {"reverse mode over the stored trajectory", "reverse mode recomputing each w_j from w0",
                       "forward mode (dim tangents dw/dtheta)"};
  const int k = static_cast<int>(method);
  e.name = std::string("bilevel.ridge.") + names[k];
  e.spec_ref = "spec/bilevel.md [BILEVEL-RIDGE-DEF]";
  e.summary = std::string("hyperparameter gradient dM/dtheta of ridge regression with per-feature regularization ") +
              "exp(theta) through r gradient steps, by " + how[k];
  e.inputs = {{"X", "(n, dim)", "training inputs", false},
              {"y", "(n)", "training targets", false},
              {"X_val", "(m, dim)", "validation inputs", false},
              {"y_val", "(m)", "validation targets", false},
              {"w0", "(dim)", "initial weights (do not depend on theta)", false},
              {"theta", "(dim)", "log of the per-feature regularizers", false},
              {"alpha", "()", "inner step size (also --option alpha)", true},
              {"r", "()", "number of inner steps (also --option r)", true}};
  e.outputs = {{"grad", "(dim)", "the hypergradient with respect to theta", false}};
  e.options = QuadraticFace::options();
  e.sizes = {"tiny", "small", "medium"};
  e.extra_sizes = {"bench"};
  const std::string stream = e.name + "/";
  e.generate = [stream](const std::string& size, Format format, std::uint64_t seed) {
    return generate_ridge(size_row(kRidgeSizes, size), format, seed, stream);
  };
  e.read = [](const InputReader& r) {
    const double alpha = r.real("alpha", std::numeric_limits<double>::quiet_NaN());
    if (std::isnan(alpha)) throw InvalidInput("alpha", "missing: give --option alpha=... or a 0-d array alpha");
    return P({r.array("X"), r.array("y"), r.array("X_val"), r.array("y_val"), r.array("w0"), r.array("theta"), alpha,
              r.required_integer("r", 0, kMaxSteps)});
  };
  e.arrays = [](const P& p) {
    const auto& in = p.in();
    return Arrays{{"X", in.X},       {"y", in.y},         {"X_val", in.X_val},
                  {"y_val", in.y_val}, {"w0", in.w0},     {"theta", in.theta},
                  {"alpha", scalar(in.alpha)}, {"r", scalar(static_cast<double>(in.r))}};
  };
  e.oracle = [](const P& p) { return ExactArrays{{"grad", reference::ridge_hypergradient<mp_real>(p)}}; };
  const std::string order =
      "lambda = exp(theta); w - alpha (X^T fl(X w - y) / n + lambda w), sums in index order; a = X_val^T (X_val w_r - "
      "y_val) / m; " +
      std::string(method == order::Method::forward
                      ? "tangents Z e_t = Z e_t - alpha H Z e_t, then - (alpha lambda_t) w_t at t; grad_t = sum_k Z(k,t) a_k"
                      : "for j = r-1..0: mu -= (alpha lambda)(w_j a), a -= alpha H a");
  e.backends = {
      {"cpu-f32", Format::float32, order,
       [method](const EntryProblem<P>& h) { return grad_output(cpu::ridge_hypergradient(h.f32(), method)); },
       [method](const P& p) {
         return grad_output(ridge_hypergradient_bound(p, method, bilevel_arithmetic_cpu(Format::float32)));
       }},
      {"cpu-f64", Format::float64, order,
       [method](const EntryProblem<P>& h) { return grad_output(cpu::ridge_hypergradient(h.f64(), method)); },
       [method](const P& p) {
         return grad_output(ridge_hypergradient_bound(p, method, bilevel_arithmetic_cpu(Format::float64)));
       }},
  };
  e.any_order_bound = [method](const P& p, Format compute, double ulps) {
    return grad_output(ridge_hypergradient_bound(p, method, bilevel_arithmetic_any_order(compute, ulps)));
  };
  e.any_order_assumption =
      "the step Jacobians accumulated step by step, reverse (stored or recomputed) or forward; within a step any "
      "order of every sum, divisions by n and m or products with their reciprocals, exp within the given ulps "
      "(not X^T X formed first, not (X^T X + diag(lambda)) as one matrix)";
  return make_entry(std::move(e));
}

// ---- Hessian-vector products ----
struct HvpSize {
  const char* name;
  Index n, d;
};
constexpr HvpSize kHvpSizes[] = {{"tiny", 3, 2}, {"small", 12, 5}, {"medium", 40, 8}, {"bench", 1024, 256}};

template <class Problem>
void hvp_backends(Entry<HvpProblem<Problem>>& e, const std::string& order) {
  using P = HvpProblem<Problem>;
  e.outputs = {{"hv", "(dim)", "the Hessian-vector product H v", false}};
  e.backends = {
      {"cpu-f32", Format::float32, order, [](const EntryProblem<P>& h) { return Arrays{{"hv", as_double(cpu::hvp(h.f32()))}}; },
       [](const P& p) { return Arrays{{"hv", hvp_bound(p, bilevel_arithmetic_cpu(Format::float32))}}; }},
      {"cpu-f64", Format::float64, order, [](const EntryProblem<P>& h) { return Arrays{{"hv", cpu::hvp(h.f64())}}; },
       [](const P& p) { return Arrays{{"hv", hvp_bound(p, bilevel_arithmetic_cpu(Format::float64))}}; }},
  };
  e.any_order_bound = [](const P& p, Format compute, double ulps) {
    return Arrays{{"hv", hvp_bound(p, bilevel_arithmetic_any_order(compute, ulps))}};
  };
  e.oracle = [](const P& p) { return ExactArrays{{"hv", reference::hvp<mp_real>(p)}}; };
}

std::unique_ptr<Algorithm> quadratic_hvp_entry() {
  using P = HvpProblem<QuadraticProblem<double>>;
  Entry<P> e;
  e.name = "bilevel.quadratic.hvp";
  e.spec_ref = "spec/bilevel.md [BILEVEL-HVP-DEF]";
  e.summary = "Hessian-vector product of the quadratic class: A v (the same at every phi)";
  e.inputs = {{"A", "(dim, dim) | (dim)", "the Hessian, symmetric; (dim): its diagonal", false},
              {"v", "(dim)", "the vector", false}};
  e.sizes = {"tiny", "small", "medium"};
  e.extra_sizes = {"bench"};
  auto from_a = [](Tensor<double> A, Tensor<double> v) {
    const Index d = v.count();
    return P(QuadraticProblem<double>({std::move(A), Tensor<double>(Shape{d}, 0.0), Tensor<double>(Shape{d}, 0.0), 0.0, 0}),
             std::move(v));
  };
  e.generate = [from_a](const std::string& size, Format format, std::uint64_t seed) {
    const HvpSize& s = size_row(kHvpSizes, size);
    const QuadSize q{s.name, s.d, 0, 0.0, 1, 1};
    return from_a(QuadraticFace::generate(q, format, seed, "bilevel.quadratic.hvp/").in().A,
                  normal_array(seed, "bilevel.quadratic.hvp/v", {s.d}, format));
  };
  e.read = [from_a](const InputReader& r) { return from_a(full_matrix(r.array("A")), r.array("v")); };
  e.arrays = [](const P& p) { return Arrays{{"A", p.problem().in().A}, {"v", p.v()}}; };
  hvp_backends(e, "each row's sum A_ik v_k in k order");
  e.any_order_assumption = "";
  return make_entry(std::move(e));
}

std::unique_ptr<Algorithm> ridge_hvp_entry() {
  using P = HvpProblem<RidgeProblem<double>>;
  Entry<P> e;
  e.name = "bilevel.ridge.hvp";
  e.spec_ref = "spec/bilevel.md [BILEVEL-HVP-DEF]";
  e.summary = "Hessian-vector product of the ridge class's inner loss: X^T (X v) / n + exp(theta) o v, without "
              "forming X^T X";
  e.inputs = {{"X", "(n, dim)", "training inputs", false},
              {"theta", "(dim)", "log of the per-feature regularizers", false},
              {"v", "(dim)", "the vector", false}};
  e.sizes = {"tiny", "small", "medium"};
  e.extra_sizes = {"bench"};
  auto from_x = [](Tensor<double> X, Tensor<double> theta, Tensor<double> v) {
    const Index n = X.extent(0), d = X.rank() == 2 ? X.extent(1) : 0;
    Tensor<double> Xv = X;
    return P(RidgeProblem<double>({std::move(X), Tensor<double>(Shape{n}, 0.0), std::move(Xv), Tensor<double>(Shape{n}, 0.0),
                                   Tensor<double>(Shape{d}, 0.0), std::move(theta), 0.0, 0}),
             std::move(v));
  };
  e.generate = [from_x](const std::string& size, Format format, std::uint64_t seed) {
    const HvpSize& s = size_row(kHvpSizes, size);
    const RidgeSize rs{s.name, s.n, 1, s.d, 0, 0.0};
    const RidgeProblem<double> p = generate_ridge(rs, format, seed, "bilevel.ridge.hvp/");
    return from_x(p.in().X, p.in().theta, normal_array(seed, "bilevel.ridge.hvp/v", {s.d}, format));
  };
  e.read = [from_x](const InputReader& r) { return from_x(r.array("X"), r.array("theta"), r.array("v")); };
  e.arrays = [](const P& p) { return Arrays{{"X", p.problem().in().X}, {"theta", p.problem().in().theta}, {"v", p.v()}}; };
  hvp_backends(e, "lambda = exp(theta); r_i = sum_k X_ik v_k (k order); g_k = sum_i X_ik r_i (i order) / n; + lambda_k v_k");
  e.any_order_assumption = "X^T (X v) as two products (not X^T X formed first); sums in any order; / n or * fl(1/n)";
  return make_entry(std::move(e));
}

// ---- the logistic class: per-feature L2 regularization of logistic regression ----
// The ridge sizes; labels drawn as y = [u < sigmoid(x . w_true)] with w_true standard normal.
LogisticProblem<double> generate_logistic(const RidgeSize& s, Format format, std::uint64_t seed, const std::string& stream) {
  PhiloxStream g(seed, stream + "data"), t(seed, stream + "theta"), u(seed, stream + "labels");
  auto fill = [&](Shape shape, double scale) {
    Tensor<double> x(std::move(shape));
    for (Index i = 0; i < x.count(); ++i) x[i] = round_to_format(scale * g.next_normal(), format);
    return x;
  };
  const Tensor<double> w_true = fill(Shape{s.d}, 1.0);
  auto labels = [&](const Tensor<double>& X) {
    Tensor<double> y(Shape{X.extent(0)});
    for (Index i = 0; i < X.extent(0); ++i) {
      double z = 0;
      for (Index k = 0; k < s.d; ++k) z += X(i, k) * w_true[k];
      y[i] = u.next_uniform() < 1 / (1 + std::exp(-z)) ? 1.0 : 0.0;
    }
    return y;
  };
  const Tensor<double> X = fill(Shape{s.n, s.d}, 1.0), X_val = fill(Shape{s.m, s.d}, 1.0);
  const Tensor<double> y = labels(X), y_val = labels(X_val), w0 = fill(Shape{s.d}, 0.1);
  Tensor<double> theta(Shape{s.d});
  for (Index k = 0; k < s.d; ++k) theta[k] = round_to_format(t.next_uniform(-2.0, 1.0), format);
  return LogisticProblem<double>({X, y, X_val, y_val, w0, theta, round_to_format(s.alpha, format), s.r});
}

std::vector<ArraySpec> logistic_inputs() {
  return {{"X", "(n, dim)", "training inputs", false},
          {"y", "(n)", "training labels in [0, 1]", false},
          {"X_val", "(m, dim)", "validation inputs", false},
          {"y_val", "(m)", "validation labels in [0, 1]", false},
          {"w0", "(dim)", "initial weights (do not depend on theta)", false},
          {"theta", "(dim)", "log of the per-feature L2 regularizers", false},
          {"alpha", "()", "inner step size (also --option alpha)", true},
          {"r", "()", "number of inner steps (also --option r)", true}};
}
RidgeInputs<double> read_logistic(const InputReader& r) {
  const double alpha = r.real("alpha", std::numeric_limits<double>::quiet_NaN());
  if (std::isnan(alpha)) throw InvalidInput("alpha", "missing: give --option alpha=... or a 0-d array alpha");
  return {r.array("X"), r.array("y"), r.array("X_val"), r.array("y_val"), r.array("w0"), r.array("theta"), alpha,
          r.required_integer("r", 0, kMaxSteps)};
}
Arrays logistic_arrays(const RidgeInputs<double>& in) {
  return Arrays{{"X", in.X},         {"y", in.y},   {"X_val", in.X_val},         {"y_val", in.y_val},
                {"w0", in.w0},       {"theta", in.theta}, {"alpha", scalar(in.alpha)}, {"r", scalar(static_cast<double>(in.r))}};
}
const char* const kLogisticOrder =
    "lambda = exp(theta); z = X w (k order), s = sigmoid(z) (stable, one elementary function); "
    "w - alpha (X^T (s - y) / n + lambda w), sums in index order; "
    "H(w) v = X^T (fl(s fl(1 - s)) (X v)) / n + lambda v";

template <class P, class Cpu32, class Cpu64, class Bound>
void logistic_backends(Entry<P>& e, const std::string& order, Cpu32 cpu32, Cpu64 cpu64, Bound bound) {
  e.backends = {
      {"cpu-f32", Format::float32, order, [cpu32](const EntryProblem<P>& h) { return grad_output(cpu32(h.f32())); },
       [bound](const P& p) { return grad_output(bound(p, bilevel_arithmetic_cpu(Format::float32))); }},
      {"cpu-f64", Format::float64, order, [cpu64](const EntryProblem<P>& h) { return grad_output(cpu64(h.f64())); },
       [bound](const P& p) { return grad_output(bound(p, bilevel_arithmetic_cpu(Format::float64))); }},
  };
  e.any_order_bound = [bound](const P& p, Format compute, double ulps) {
    return grad_output(bound(p, bilevel_arithmetic_any_order(compute, ulps)));
  };
}

std::unique_ptr<Algorithm> logistic_entry(order::Method method) {
  using P = LogisticProblem<double>;
  Entry<P> e;
  const char* names[] = {"exact_stored", "exact_recompute", "exact_forward"};
  const char* how[] = {"reverse mode over the stored trajectory", "reverse mode recomputing each w_j from w0",
                       "forward mode (dim tangents dw/dtheta)"};
  const int k = static_cast<int>(method);
  e.name = std::string("bilevel.logistic.") + names[k];
  e.spec_ref = "spec/bilevel.md [BILEVEL-LOGISTIC-DEF]";
  e.summary = std::string("hyperparameter gradient dM/dtheta of logistic regression with per-feature L2 "
                          "regularization exp(theta) through r gradient steps, by ") + how[k];
  e.inputs = logistic_inputs();
  e.outputs = {{"grad", "(dim)", "the hypergradient with respect to theta", false}};
  e.options = QuadraticFace::options();
  e.sizes = {"tiny", "small", "medium"};
  e.extra_sizes = {"bench"};
  const std::string stream = e.name + "/";
  e.generate = [stream](const std::string& size, Format format, std::uint64_t seed) {
    return generate_logistic(size_row(kRidgeSizes, size), format, seed, stream);
  };
  e.read = [](const InputReader& r) { return P(read_logistic(r)); };
  e.arrays = [](const P& p) { return logistic_arrays(p.in()); };
  e.oracle = [](const P& p) { return ExactArrays{{"grad", reference::logistic_hypergradient<mp_real>(p)}}; };
  const std::string order =
      std::string(kLogisticOrder) + "; " +
      (method == order::Method::forward
           ? "tangents Z e_t = Z e_t - alpha H(w_j) Z e_t, then - (alpha lambda_t) w_jt at t; grad_t = sum_k Z(k,t) a_k"
           : "a = X_val^T (sigmoid(X_val w_r) - y_val) / m; for j = r-1..0: mu -= (alpha lambda)(w_j a), "
             "a -= alpha H(w_j) a");
  logistic_backends(
      e, order, [method](const LogisticProblem<float>& p) { return cpu::logistic_hypergradient(p, method); },
      [method](const P& p) { return cpu::logistic_hypergradient(p, method); },
      [method](const P& p, const BilevelArithmetic& m) { return logistic_hypergradient_bound(p, method, m); });
  e.any_order_assumption =
      "the step Jacobians accumulated step by step, reverse (stored or recomputed) or forward; within a step any "
      "order of every sum, divisions by n and m or products with their reciprocals, exp and sigmoid within the "
      "given ulps, sigmoid' as s (1 - s) (not X^T diag(s') X formed first)";
  return make_entry(std::move(e));
}

std::unique_ptr<Algorithm> logistic_fom_entry() {
  using P = LogisticProblem<double>;
  Entry<P> e;
  e.name = "bilevel.logistic.fom";
  e.spec_ref = "spec/bilevel.md [BILEVEL-LOGISTIC-FOM]";
  e.summary = "first-order shortcut for the logistic hyperparameter problem: every dw_{j+1}/dw_j replaced by I, "
              "-alpha lambda o (sum_j w_j) o grad L_out(w_r), no Hessian-vector product";
  e.inputs = logistic_inputs();
  e.outputs = {{"grad", "(dim)", "the first-order estimate of dM/dtheta", false}};
  e.options = QuadraticFace::options();
  e.sizes = {"tiny", "small", "medium"};
  e.extra_sizes = {"bench"};
  e.generate = [](const std::string& size, Format format, std::uint64_t seed) {
    return generate_logistic(size_row(kRidgeSizes, size), format, seed, "bilevel.logistic.fom/");
  };
  e.read = [](const InputReader& r) { return P(read_logistic(r)); };
  e.arrays = [](const P& p) { return logistic_arrays(p.in()); };
  e.oracle = [](const P& p) { return ExactArrays{{"grad", reference::logistic_fom<mp_real>(p)}}; };
  logistic_backends(
      e, std::string(kLogisticOrder) + "; S = sum_j w_j (j order); grad = 0 - (alpha lambda)(S g), g = grad L_out(w_r)",
      [](const LogisticProblem<float>& p) { return cpu::logistic_fom(p); }, [](const P& p) { return cpu::logistic_fom(p); },
      [](const P& p, const BilevelArithmetic& m) { return logistic_fom_bound(p, m); });
  e.any_order_assumption =
      "the r inner steps in order; sums in any order (S over j too), / n or * fl(1/n), exp and sigmoid within the "
      "given ulps; (alpha lambda_k)(S_k g_k) associated so";
  return make_entry(std::move(e));
}

std::unique_ptr<Algorithm> logistic_ufom_entry() {
  using P = LogisticUfomProblem<double>;
  Entry<P> e;
  e.name = "bilevel.logistic.ufom";
  e.spec_ref = "spec/bilevel.md [BILEVEL-LOGISTIC-UFOM]";
  e.summary = "UFOM F + (xi/q)(E - F) of the logistic hyperparameter problem with the coin xi given; E by "
              "recomputation";
  e.inputs = logistic_inputs();
  e.inputs.push_back({"q", "()", "probability of the exact branch, 0 < q <= 1 (also --option q)", true});
  e.inputs.push_back({"xi", "()", "the coin, 0 or 1 (also --option xi)", true});
  e.outputs = {{"grad", "(dim)", "the UFOM estimate of dM/dtheta", false}};
  e.options = QuadraticFace::options();
  e.options.push_back({"q", "probability of the exact branch (required: file or option)", ""});
  e.options.push_back({"xi", "the coin, 0 or 1 (required: file or option)", ""});
  e.sizes = {"coin1", "coin0", "medium"};
  e.extra_sizes = {"bench"};
  e.generate = [](const std::string& size, Format format, std::uint64_t seed) {
    const RidgeSize& s = size_row(kRidgeSizes, size == "coin1" || size == "coin0" ? std::string("small") : size);
    const double q = size == "medium" ? 0.125 : 0.25;
    return P(generate_logistic(s, format, seed, "bilevel.logistic.ufom/"), round_to_format(q, format),
             size == "coin0" ? 0 : 1);
  };
  e.read = [](const InputReader& r) {
    const double q = r.real("q", std::numeric_limits<double>::quiet_NaN());
    if (std::isnan(q)) throw InvalidInput("q", "missing: give --option q=... or a 0-d array q");
    return P(LogisticProblem<double>(read_logistic(r)), q, static_cast<int>(r.required_integer("xi", 0, 1)));
  };
  e.arrays = [](const P& p) {
    Arrays a = logistic_arrays(p.problem().in());
    a["q"] = scalar(p.q());
    a["xi"] = scalar(p.xi());
    return a;
  };
  e.oracle = [](const P& p) { return ExactArrays{{"grad", reference::logistic_ufom<mp_real>(p)}}; };
  logistic_backends(
      e, std::string(kLogisticOrder) + "; F as bilevel.logistic.fom; xi = 1: E by recomputation, grad = F + fl(fl(E - F) / q)",
      [](const LogisticUfomProblem<float>& p) { return cpu::logistic_ufom(p); }, [](const P& p) { return cpu::logistic_ufom(p); },
      [](const P& p, const BilevelArithmetic& m) { return logistic_ufom_bound(p, m); });
  e.any_order_assumption =
      "F as bilevel.logistic.fom, E as bilevel.logistic.exact_* (reverse or forward); F + (E - F)/q with the "
      "division or a product with fl(1/q)";
  return make_entry(std::move(e));
}

std::unique_ptr<Algorithm> logistic_hvp_entry() {
  using P = HvpProblem<LogisticProblem<double>>;
  Entry<P> e;
  e.name = "bilevel.logistic.hvp";
  e.spec_ref = "spec/bilevel.md [BILEVEL-HVP-DEF]";
  e.summary = "Hessian-vector product of the logistic class's inner loss at w: X^T (sigmoid'(X w) o (X v)) / n + "
              "exp(theta) o v, without forming the Hessian";
  e.inputs = {{"X", "(n, dim)", "training inputs", false},
              {"theta", "(dim)", "log of the per-feature regularizers", false},
              {"w", "(dim)", "the point", false},
              {"v", "(dim)", "the vector", false}};
  e.sizes = {"tiny", "small", "medium"};
  e.extra_sizes = {"bench"};
  auto from_x = [](Tensor<double> X, Tensor<double> theta, Tensor<double> w, Tensor<double> v) {
    const Index n = X.extent(0);
    Tensor<double> Xv = X;
    return P(LogisticProblem<double>({std::move(X), Tensor<double>(Shape{n}, 0.0), std::move(Xv),
                                      Tensor<double>(Shape{n}, 0.0), std::move(w), std::move(theta), 0.0, 0}),
             std::move(v));
  };
  e.generate = [from_x](const std::string& size, Format format, std::uint64_t seed) {
    const HvpSize& s = size_row(kHvpSizes, size);
    const RidgeSize rs{s.name, s.n, 1, s.d, 0, 0.0};
    const LogisticProblem<double> p = generate_logistic(rs, format, seed, "bilevel.logistic.hvp/");
    return from_x(p.in().X, p.in().theta, normal_array(seed, "bilevel.logistic.hvp/w", {s.d}, format),
                  normal_array(seed, "bilevel.logistic.hvp/v", {s.d}, format));
  };
  e.read = [from_x](const InputReader& r) { return from_x(r.array("X"), r.array("theta"), r.array("w"), r.array("v")); };
  e.arrays = [](const P& p) {
    return Arrays{{"X", p.problem().in().X}, {"theta", p.problem().in().theta}, {"w", p.problem().in().w0}, {"v", p.v()}};
  };
  hvp_backends(e, "lambda = exp(theta); s_i = sigmoid(sum_k X_ik w_k); u_i = sum_k X_ik v_k; t_i = fl(fl(s_i fl(1 - s_i)) u_i); "
                  "g_k = sum_i X_ik t_i (i order) / n + lambda_k v_k");
  e.any_order_assumption =
      "X^T (s' o (X v)) as products with X (not the Hessian formed first); sums in any order; / n or * fl(1/n); "
      "exp and sigmoid within the given ulps; s' = s (1 - s)";
  return make_entry(std::move(e));
}

// ---- the MAML sinusoid class ----
struct MamlSize {
  const char* name;
  Index hidden, k_support, k_query, r;
  double alpha;
};
// The standard demo (higher's and learn2learn's): 1-40-40-1, K = 10 support and query points, one
// or a few inner SGD steps of 0.01; smaller widths for the defaults that judge with the affine form.
// The checked sizes are those the affine form judges in float32 ([BILEVEL-MAML-BOUND]); at h = 40
// core's Tracked alone leaves part of a float32 answer unjudged, so "standard" is an extra size.
constexpr MamlSize kMamlSizes[] = {{"tiny", 4, 5, 5, 1, 0.01},      {"small", 8, 5, 5, 3, 0.01},
                                   {"medium", 12, 5, 5, 1, 0.01},   {"standard", 40, 10, 10, 1, 0.01},
                                   {"bench", 40, 10, 10, 10, 0.01},
                                   // the memory table of spec/bilevel.md ("Memory and time against r", `touchstone bench`)
                                   {"r100", 40, 10, 10, 100, 0.01},   {"r300", 40, 10, 10, 300, 0.01},
                                   {"r1000", 40, 10, 10, 1000, 0.01}};

// [BILEVEL-MAML-TASKS] A task from named Philox streams keyed by the seed: amplitude U[0.1, 5],
// phase U[0, pi] ("task"), support and query x U[-5, 5] ("support", "query"), y = amplitude
// sin(x - phase); the initial weights as PyTorch's nn.Linear initializes them, weights and biases
// U(-1/sqrt(fan_in), 1/sqrt(fan_in)) ("init"). Every value rounded to the format.
MamlProblem<double> generate_maml(const MamlSize& s, Format format, std::uint64_t seed, const std::string& stream) {
  PhiloxStream task(seed, stream + "task"), sup(seed, stream + "support"), qry(seed, stream + "query"),
      init(seed, stream + "init");
  const double amplitude = task.next_uniform(0.1, 5.0), phase = task.next_uniform(0.0, 3.14159265358979323846);
  auto points = [&](PhiloxStream& g, Index k, Tensor<double>& x, Tensor<double>& y) {
    x = Tensor<double>(Shape{k});
    y = Tensor<double>(Shape{k});
    for (Index i = 0; i < k; ++i) {
      x[i] = round_to_format(g.next_uniform(-5.0, 5.0), format);
      y[i] = round_to_format(amplitude * std::sin(x[i] - phase), format);
    }
  };
  MamlInputs<double> in;
  points(sup, s.k_support, in.x_support, in.y_support);
  points(qry, s.k_query, in.x_query, in.y_query);
  const Index h = s.hidden;
  const reference::MlpLayout L(h);
  in.theta = Tensor<double>(Shape{mlp_parameter_count(h)});
  auto uniform = [&](Index from, Index count, double fan_in) {
    const double b = 1 / std::sqrt(fan_in);
    for (Index i = from; i < from + count; ++i) in.theta[i] = round_to_format(init.next_uniform(-b, b), format);
  };
  uniform(L.w1, h, 1);
  uniform(L.b1, h, 1);
  uniform(L.w2, h * h, static_cast<double>(h));
  uniform(L.b2, h, static_cast<double>(h));
  uniform(L.w3, h, static_cast<double>(h));
  uniform(L.b3, 1, static_cast<double>(h));
  in.alpha = round_to_format(s.alpha, format);
  in.r = s.r;
  return MamlProblem<double>(std::move(in));
}

// The MLP's parameters as PyTorch's Sequential(Linear(1, h), ReLU, Linear(h, h), ReLU, Linear(h, 1))
// names them ("0.weight" ... as W1, b1, W2, b2, W3, b3), and their flat order in MamlProblem.
struct MlpArray {
  const char* name;
  const char* shape;
  const char* what;
};
constexpr MlpArray kMlpArrays[] = {{"W1", "(h, 1)", "first layer's weight (Linear(1, h).weight)"},
                                   {"b1", "(h)", "first layer's bias"},
                                   {"W2", "(h, h)", "second layer's weight (Linear(h, h).weight, (out, in))"},
                                   {"b2", "(h)", "second layer's bias"},
                                   {"W3", "(1, h)", "output layer's weight (Linear(h, 1).weight)"},
                                   {"b3", "(1)", "output layer's bias"}};

// theta from the six arrays, each checked against its shape for the width h read from W1.
Tensor<double> flatten_mlp(const std::vector<Tensor<double>>& parts) {
  const Tensor<double>& w1 = parts[0];
  if (w1.rank() != 2 || w1.extent(1) != 1 || w1.extent(0) < 1 || w1.extent(0) > kMaxHidden)
    throw InvalidInput("W1", "expected (h, 1) with h in [1, 256], got shape " + w1.shape().str());
  const Index h = w1.extent(0);
  const std::vector<std::vector<Index>> shapes = {{h, 1}, {h}, {h, h}, {h}, {1, h}, {1}};
  std::vector<double> flat;
  for (std::size_t k = 0; k < parts.size(); ++k) {
    if (parts[k].shape().extents() != shapes[k])
      throw InvalidInput(kMlpArrays[k].name, std::string("expected ") + kMlpArrays[k].shape + " with h = " +
                                                 std::to_string(h) + ", got shape " + parts[k].shape().str());
    for (Index i = 0; i < parts[k].count(); ++i) flat.push_back(parts[k][i]);
  }
  return Tensor<double>(Shape{static_cast<Index>(flat.size())}, flat);
}
// The six arrays of flat parameters (or of a gradient) of width h, named with `prefix`.
template <class T>
Arrays split_mlp(const Tensor<T>& flat, Index h, const std::string& prefix) {
  const std::vector<std::vector<Index>> shapes = {{h, 1}, {h}, {h, h}, {h}, {1, h}, {1}};
  Arrays out;
  Index offset = 0;
  for (std::size_t k = 0; k < shapes.size(); ++k) {
    Shape shape(shapes[k]);
    Tensor<double> t(shape);
    for (Index i = 0; i < t.count(); ++i) t[i] = static_cast<double>(flat[offset + i]);
    offset += t.count();
    out[prefix + kMlpArrays[k].name] = std::move(t);
  }
  return out;
}
ExactArrays split_exact(const Tensor<mp_real>& flat, Index h) {
  const std::vector<std::vector<Index>> shapes = {{h, 1}, {h}, {h, h}, {h}, {1, h}, {1}};
  ExactArrays out;
  Index offset = 0;
  for (std::size_t k = 0; k < shapes.size(); ++k) {
    Tensor<mp_real> t{Shape(shapes[k])};
    for (Index i = 0; i < t.count(); ++i) t[i] = flat[offset + i];
    offset += t.count();
    out[std::string("grad_") + kMlpArrays[k].name] = std::move(t);
  }
  return out;
}

std::unique_ptr<Algorithm> maml_entry(const std::string& kind) {
  using P = MamlProblem<double>;
  Entry<P> e;
  e.name = "bilevel.maml." + kind;
  const bool fom = kind == "fom";
  const order::Method method = kind == "exact_recompute" ? order::Method::recompute
                               : kind == "exact_forward"  ? order::Method::forward
                                                          : order::Method::stored;
  const bool forward = method == order::Method::forward;
  e.spec_ref = fom       ? "spec/bilevel.md [BILEVEL-MAML-FOM]"
               : forward ? "spec/bilevel.md [BILEVEL-MAML-FORWARD]"
                         : "spec/bilevel.md [BILEVEL-MAML-DEF]";
  e.summary = fom ? "first-order MAML (learn2learn first_order=True, higher track_higher_grads=False) on sinusoid "
                    "regression with the MLP 1-h-h-1 (ReLU): grad L_query(phi_r)"
                  : std::string("exact MAML hypergradient on sinusoid regression with the MLP 1-h-h-1 (ReLU), by ") +
                        (method == order::Method::recompute ? "reverse mode recomputing each phi_j"
                         : forward ? "forward mode: dim = h^2 + 4h + 1 tangents (O(dim^2) memory, flat in r)"
                                   : "reverse mode over the stored trajectory");
  e.inputs = {{"x_support", "(K)", "the task's support inputs (inner loss)", false},
              {"y_support", "(K)", "the task's support targets", false},
              {"x_query", "(Kq)", "the task's query inputs (outer loss)", false},
              {"y_query", "(Kq)", "the task's query targets", false}};
  for (const MlpArray& m : kMlpArrays) e.inputs.push_back({m.name, m.shape, std::string("initial ") + m.what, false});
  e.inputs.push_back({"alpha", "()", "inner step size (also --option alpha)", true});
  e.inputs.push_back({"r", "()", "number of inner steps (also --option r)", true});
  for (const MlpArray& m : kMlpArrays)
    e.outputs.push_back({std::string("grad_") + m.name, m.shape,
                         std::string(fom ? "first-order MAML gradient" : "MAML hypergradient") + " for " + m.name, false});
  e.options = QuadraticFace::options();
  // Forward mode: float32's bound judges every element only where the affine form's cost allows it
  // for the dim tangents (tiny); small and medium are extra sizes ([BILEVEL-MAML-FORWARD]).
  if (method == order::Method::forward) {
    e.sizes = {"tiny"};
    e.extra_sizes = {"small", "medium", "standard", "bench", "r100", "r300", "r1000"};
  } else {
    e.sizes = {"tiny", "small", "medium"};
    e.extra_sizes = {"standard", "bench", "r100", "r300", "r1000"};
  }
  e.generate = [](const std::string& size, Format format, std::uint64_t seed) {
    return generate_maml(size_row(kMamlSizes, size), format, seed, "bilevel.maml/");
  };
  e.read = [](const InputReader& r) {
    const double alpha = r.real("alpha", std::numeric_limits<double>::quiet_NaN());
    if (std::isnan(alpha)) throw InvalidInput("alpha", "missing: give --option alpha=... or a 0-d array alpha");
    std::vector<Tensor<double>> parts;
    for (const MlpArray& m : kMlpArrays) parts.push_back(r.array(m.name));
    return P({r.array("x_support"), r.array("y_support"), r.array("x_query"), r.array("y_query"), flatten_mlp(parts),
              alpha, r.required_integer("r", 0, kMaxSteps)});
  };
  e.arrays = [](const P& p) {
    const auto& in = p.in();
    Arrays a = split_mlp(in.theta, p.hidden(), "");
    a["x_support"] = in.x_support;
    a["y_support"] = in.y_support;
    a["x_query"] = in.x_query;
    a["y_query"] = in.y_query;
    a["alpha"] = scalar(in.alpha);
    a["r"] = scalar(static_cast<double>(in.r));
    return a;
  };
  e.describe = [](const P& p) {
    return "h=" + std::to_string(p.hidden()) + " K=" + std::to_string(p.in().x_support.count()) +
           " r=" + std::to_string(p.steps());
  };
  if (fom)
    e.oracle = [](const P& p) { return split_exact(reference::maml_fom<mp_real>(p), p.hidden()); };
  else
    e.oracle = [](const P& p) { return split_exact(reference::maml_hypergradient<mp_real>(p), p.hidden()); };
  const std::string order =
      "per point: a1 = fl(W1 x) + b1, z = relu, a2 = sum_i W2 z1 (+ b2 last), out likewise, e = fl(2 fl(out - y)) / K; "
      "each gradient element one sum over the points in order; phi - fl(alpha g); " +
      std::string(fom       ? "grad = grad L_query(phi_r)"
                  : forward ? "before each inner step every tangent Z e_t = Z e_t - fl(alpha H(phi_j) Z e_t) (t in order), "
                              "H v as below; grad_t = sum_k Z(k, t) g_k in k order, g = grad L_query(phi_r)"
                            : "lambda = grad L_query(phi_r); lambda - fl(alpha H(phi_j) lambda), H v by forward then "
                              "backward tangents");
  e.backends = {
      {"cpu-f32", Format::float32, order,
       [fom, method](const EntryProblem<P>& h) {
         const MamlProblem<float>& p = h.f32();
         return split_mlp(fom ? cpu::maml_fom(p) : cpu::maml_hypergradient(p, method), p.hidden(), "grad_");
       },
       [fom, method](const P& p) {
         const auto m = bilevel_arithmetic_cpu(Format::float32);
         return split_mlp(fom ? maml_fom_bound(p, m) : maml_hypergradient_bound(p, method, m), p.hidden(), "grad_");
       }},
      {"cpu-f64", Format::float64, order,
       [fom, method](const EntryProblem<P>& h) {
         const MamlProblem<double>& p = h.f64();
         return split_mlp(fom ? cpu::maml_fom(p) : cpu::maml_hypergradient(p, method), p.hidden(), "grad_");
       },
       [fom, method](const P& p) {
         const auto m = bilevel_arithmetic_cpu(Format::float64);
         return split_mlp(fom ? maml_fom_bound(p, m) : maml_hypergradient_bound(p, method, m), p.hidden(), "grad_");
       }},
  };
  // [BILEVEL-CUDA] FOM and the exact hypergradient by recomputation on the device: order::Mlp's
  // operations in its order, so cpu-f32's bits and cpu-f32's bound.
  if (fom || method == order::Method::recompute)
    e.backends.push_back(
        {"cuda-f32", Format::float32,
         order + " (one block per task; threads over hidden units and parameter elements, each sum owned by one "
                 "thread in this order: cpu-f32's bits)",
         [fom](const EntryProblem<P>& h) {
           const MamlProblem<float>& p = h.f32();
           return split_mlp(fom ? cuda::maml_fom(p) : cuda::maml_exact_recompute(p), p.hidden(), "grad_");
         },
         [fom](const P& p) {
           const auto m = bilevel_arithmetic_cpu(Format::float32);
           return split_mlp(fom ? maml_fom_bound(p, m) : maml_hypergradient_bound(p, order::Method::recompute, m),
                            p.hidden(), "grad_");
         },
         [] { return touchstone::cuda::unavailable_reason(); }});
  e.any_order_bound = [fom, forward](const P& p, Format compute, double ulps) {
    const auto m = bilevel_arithmetic_any_order(compute, ulps);
    return split_mlp(fom       ? maml_fom_bound(p, m)
                     : forward ? maml_hypergradient_bound(p, order::Method::forward, m)
                               : maml_hypergradient_bound(p, m),
                     p.hidden(), "grad_");
  };
  e.any_order_assumption =
      std::string(forward ? "the inner steps in order, the Jacobian product accumulated reverse (stored or recomputed) "
                            "or forward (tangents); "
                          : "the inner steps and (exact) the backward steps in order, reverse accumulation; ") +
      "every sum (a layer's products "
      "and its bias, a gradient element's per-point terms, both product-rule terms of an HVP element) in any order; "
      "/ K or * fl(1/K); relu'(0) = 0";
  return make_entry(std::move(e));
}

}  // namespace
}  // namespace touchstone::bilevel

namespace touchstone {
void register_bilevel(Registry& registry) {
  registry.add(bilevel::exact_entry(bilevel::order::Method::stored));
  registry.add(bilevel::exact_entry(bilevel::order::Method::recompute));
  registry.add(bilevel::exact_entry(bilevel::order::Method::forward));
  registry.add(bilevel::fom_entry());
  registry.add(bilevel::ufom_entry());
  registry.add(bilevel::ufom_drawn_entry());
  registry.add(bilevel::ufom_adaptive_entry());
  registry.add(bilevel::ridge_entry(bilevel::order::Method::stored));
  registry.add(bilevel::ridge_entry(bilevel::order::Method::recompute));
  registry.add(bilevel::ridge_entry(bilevel::order::Method::forward));
  registry.add(bilevel::quadratic_hvp_entry());
  registry.add(bilevel::ridge_hvp_entry());
  registry.add(bilevel::logistic_entry(bilevel::order::Method::stored));
  registry.add(bilevel::logistic_entry(bilevel::order::Method::recompute));
  registry.add(bilevel::logistic_entry(bilevel::order::Method::forward));
  registry.add(bilevel::logistic_fom_entry());
  registry.add(bilevel::logistic_ufom_entry());
  registry.add(bilevel::logistic_hvp_entry());
  registry.add(bilevel::maml_entry("exact_stored"));
  registry.add(bilevel::maml_entry("exact_recompute"));
  registry.add(bilevel::maml_entry("exact_forward"));
  registry.add(bilevel::maml_entry("fom"));
}
}  // namespace touchstone
