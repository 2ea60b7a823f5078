// The declarative entry (core/entry.hpp): a toy algorithm, y = s * x (an elementwise scale),
// declared in ~40 lines as a family would, and driven through the Algorithm interface the CLI and
// the tests use: generation, reading a user's arrays (every reader rule, each shown to reject a
// wrong input by name), the float32 copy, the oracle at core's working precision and its
// verification, the backends and the bounds. The judging itself is core's (verdict tests).
// covers: CORE-ENTRY CORE-FILE-OPTION
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "touchstone/core/entry.hpp"
#include "touchstone/core/verdict.hpp"

using namespace touchstone;

namespace {

template <class T>
struct ScaleProblem {
  Tensor<T> x;  // (H, N)
  T s;
  Index repeat = 1;
  std::string mode = "plain";
  ScaleProblem(Tensor<T> x_, T s_, Index repeat_, std::string mode_)
      : x(std::move(x_)), s(s_), repeat(repeat_), mode(std::move(mode_)) {
    if (x.rank() != 2) throw InvalidInput("x", "expected (H, N)");
  }
  template <class U>
  ScaleProblem<U> cast() const {
    return ScaleProblem<U>(x.template cast<U>(), static_cast<U>(s), repeat, mode);
  }
};
using P = ScaleProblem<double>;

// A backend that can be told to be wrong: scale = 1.5 gives a wrong answer.
Arrays scaled(const Tensor<double>& x, double s, double wrong = 1.0) {
  Tensor<double> y(x.shape());
  for (Index i = 0; i < x.count(); ++i) y[i] = x[i] * s * wrong;
  return {{"y", y}};
}

std::unique_ptr<Algorithm> toy_entry(double backend_error = 1.0) {
  Entry<P> e;
  e.name = "toy.scale";
  e.spec_ref = "tests/core/entry_test.cpp";
  e.summary = "y = s x";
  e.inputs = {{"x", "(H, N) | (N,)", "values", false},
              {"s", "()", "the scale (also --option s)", true},
              {"repeat", "()", "an integer option", true},
              {"mode", "()", "a word option", true},
              {"flag", "()", "a flag", true}};
  e.outputs = {{"y", "(H, N)", "s x", false}};
  e.options = {{"s", "scale", "(required)"}, {"repeat", "count", "1"}, {"mode", "plain | fancy", "plain"},
               {"flag", "a flag", "false"}};
  e.sizes = {"tiny"};
  e.generate = [](const std::string&, Format, std::uint64_t seed) {
    Tensor<double> x(Shape{2, 3});
    for (Index i = 0; i < x.count(); ++i) x[i] = 0.25 * static_cast<double>(i + seed);
    return P(std::move(x), 3.0, 1, "plain");
  };
  e.read = [](const InputReader& r) {
    const Index H = r.find_dim("H").value_or(1);
    if (r.flag("flag", false) && r.dim("N") < 2) throw InvalidInput("flag", "needs N >= 2");
    return P(r.with_leading_axis("x", H, 2), static_cast<double>(r.required_integer("s", -100, 100)),
             r.integer("repeat", 1, 10, 1), r.choice("mode", {"plain", "fancy"}, "plain"));
  };
  e.arrays = [](const P& p) { return Arrays{{"x", p.x}, {"s", Tensor<double>(Shape{}, p.s)}}; };
  e.oracle = [](const P& p) {
    Tensor<mp_real> y(p.x.shape());
    for (Index i = 0; i < p.x.count(); ++i) y[i] = mp_real(p.x[i]) * mp_real(p.s);
    return ExactArrays{{"y", y}};
  };
  auto bound = [](const P& p) {
    Tensor<double> b(p.x.shape());
    for (Index i = 0; i < p.x.count(); ++i) b[i] = 0x1p-24 * std::fabs(p.x[i] * p.s) + 0x1p-149;
    return Arrays{{"y", b}};
  };
  e.backends = {{"cpu-f32", Format::float32, "one product",
                 [backend_error](const EntryProblem<P>& h) {
                   const auto& q = h.f32();
                   Arrays y = scaled(as_double(q.x), static_cast<double>(q.s), backend_error);
                   for (Index i = 0; i < y["y"].count(); ++i) y["y"][i] = static_cast<float>(y["y"][i]);
                   return y;
                 },
                 bound}};
  e.any_order_bound = [bound](const P& p, Format, double) { return bound(p); };
  return make_entry(std::move(e));
}

NpyArray array(Tensor<double> t) {
  NpyArray a;
  a.values = std::move(t);
  return a;
}

void expect_invalid(const std::function<void()>& f, const std::string& argument, const std::string& words = "") {
  try {
    f();
    FAIL() << "no InvalidInput for " << argument;
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.argument(), argument) << e.what();
    if (!words.empty()) EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(Entry, GeneratesDescribesAndRunsThroughTheAlgorithmInterface) {
  const auto a = toy_entry();
  EXPECT_EQ(a->name(), "toy.scale");
  const auto p = a->generate("tiny", Format::float32, 0);
  EXPECT_EQ(p->describe(), "H=2 N=3");  // derived from the declared dims
  EXPECT_EQ(p->input_format(), Format::float16);  // 0.25 k and 3 are float16 values
  expect_invalid([&] { a->generate("huge", Format::float32, 0); }, "size");
  const ExactArrays exact = a->reference(*p, 128);
  check_entry_outputs(*a, *p, exact);
  const BackendSpec& b = a->backends().at(0);
  EXPECT_EQ(verdict_of(judge_own_backend(b.run(*p), exact, b.bound(*p), b.format)), Verdict::pass);
  // A wrong backend fails through the same declaration.
  const auto wrong = toy_entry(1.5);
  const BackendSpec& w = wrong->backends().at(0);
  EXPECT_EQ(verdict_of(judge_own_backend(w.run(*p), exact, w.bound(*p), w.format)), Verdict::fail);
}

TEST(Entry, TheFloat32CopyRefusesInputsThatAreNotFloat32) {
  const auto a = toy_entry();
  NpyMap arrays{{"x", array(Tensor<double>(Shape{1, 2}, 0.1))}};  // 0.1 is not a float32
  const auto p = a->from_arrays(arrays, {{"s", "2"}});
  expect_invalid([&] { a->backends().at(0).run(*p); }, "inputs");
}

TEST(Entry, ReadsSharedLeadingAxesAndFileOrOptionScalars) {
  const auto a = toy_entry();
  NpyMap arrays{{"x", array(Tensor<double>(Shape{3}, 1.0))}, {"s", array(Tensor<double>(Shape{}, 4.0))}};
  const auto p = a->from_arrays(arrays, {{"s", "4"}, {"repeat", "3"}, {"mode", "fancy"}});
  EXPECT_EQ(p->inputs().at("x").shape(), (Shape{1, 3}));  // (N,) shared: H = 1
  EXPECT_EQ(p->inputs().at("s")[0], 4.0);
}

TEST(Entry, EveryReaderRuleRejectsAWrongInputByName) {
  const auto a = toy_entry();
  const NpyMap x{{"x", array(Tensor<double>(Shape{2, 3}, 1.0))}};
  auto with = [&](const std::string& name, double v) {
    NpyMap m = x;
    m[name] = array(Tensor<double>(Shape{}, v));
    return m;
  };
  expect_invalid([&] { a->from_arrays(x, {}); }, "s", "missing");
  expect_invalid([&] { a->from_arrays(x, {{"s", "2.5"}}); }, "s", "integer");
  expect_invalid([&] { a->from_arrays(x, {{"s", "1000"}}); }, "s", "-100 <= s <= 100");
  expect_invalid([&] { a->from_arrays(with("s", 2.5), {}); }, "s", "integer");
  expect_invalid([&] { a->from_arrays(with("s", 2), {{"s", "3"}}); }, "s", "the .npz array and --option disagree");
  expect_invalid([&] { a->from_arrays(x, {{"s", "2"}, {"repeat", "0"}}); }, "repeat");
  expect_invalid([&] { a->from_arrays(x, {{"s", "2"}, {"mode", "odd"}}); }, "mode", "plain");
  expect_invalid([&] { a->from_arrays(with("mode", 2), {{"s", "2"}}); }, "mode");
  expect_invalid([&] { a->from_arrays(with("mode", 1), {{"s", "2"}, {"mode", "plain"}}); }, "mode", "the .npz array and --option disagree");
  expect_invalid([&] { a->from_arrays(x, {{"s", "2"}, {"flag", "yes"}}); }, "flag");
  expect_invalid([&] { a->from_arrays(with("flag", 2), {{"s", "2"}}); }, "flag");
  expect_invalid([&] { a->from_arrays(with("flag", 1), {{"s", "2"}, {"flag", "false"}}); }, "flag", "the .npz array and --option disagree");
  expect_invalid([&] { a->from_arrays(x, {{"s", "2"}, {"unknown", "1"}}); }, "unknown");
  expect_invalid([&] { a->from_arrays(with("z", 1), {{"s", "2"}}); }, "z", "not an input");
  NpyMap narrow{{"x", array(Tensor<double>(Shape{1, 1}, 1.0))}};
  expect_invalid([&] { a->from_arrays(narrow, {{"s", "2"}, {"flag", "true"}}); }, "flag", "N >= 2");
  // And the accepted spellings are accepted.
  EXPECT_NO_THROW(a->from_arrays(with("mode", 1), {{"s", "2"}, {"mode", "fancy"}, {"flag", "1"}}));
}
