// performer.gaussian_orthogonal_random_matrix (spec/performer.md [PERF-RF-ORTHO-DEF]): the entry's
// draws and oracle against reference/performer_random.hpp's random_projection at the same seed and
// stream, wrong conventions failing `diff`, and the input checks.
#include <gtest/gtest.h>

#include <Eigen/QR>

#include <cmath>
#include <functional>
#include <optional>
#include <string>

#include "../diff_verdict.hpp"
#include "builtin.hpp"
#include "cpu/orthogonal.hpp"
#include "cpu/performer_projection.hpp"
#include "touchstone/bounds/performer_bound.hpp"
#include "touchstone/core/entry.hpp"
#include "touchstone/core/errors.hpp"
#include "touchstone/core/mp.hpp"
#include "touchstone/core/random.hpp"
#include "touchstone/core/verdict.hpp"
#include "touchstone/reference/performer_projection.hpp"
#include "touchstone/reference/performer_random.hpp"

using namespace touchstone;
using namespace touchstone::performer;
using touchstone::test_support::diff_verdict;

namespace {

const char* const kEntry = "performer.gaussian_orthogonal_random_matrix";

std::string argument_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InvalidInput& e) {
    return e.argument();
  }
  return "(nothing thrown)";
}

// [PERF-RF-ORTHO]'s draws, written here from the spec: block k's G(a, b) is the stream's normal
// k d^2 + a d + b, the fresh g_j(t) normal ceil(m/d) d^2 + j d + t (scaling 0 only).
GaussianOrthogonalProblem<double> drawn(Index m, Index d, std::uint64_t seed, const std::string& stream, int scaling) {
  const PhiloxStream r(seed, stream);
  const Index nb = (m + d - 1) / d;
  Tensor<double> g(Shape{nb, d, d});
  for (Index k = 0; k < nb; ++k)
    for (Index a = 0; a < d; ++a)
      for (Index b = 0; b < d; ++b) g(k, a, b) = r.normal(static_cast<std::uint64_t>(k * d * d + a * d + b));
  std::optional<Tensor<double>> fresh;
  if (scaling == 0) {
    fresh = Tensor<double>(Shape{m, d});
    for (Index j = 0; j < m; ++j)
      for (Index t = 0; t < d; ++t) (*fresh)(j, t) = r.normal(static_cast<std::uint64_t>(nb * d * d + j * d + t));
  }
  return GaussianOrthogonalProblem<double>(std::move(g), std::move(fresh), m, scaling);
}

GaussianOrthogonalProblem<double> from_inputs(const Arrays& in) {
  std::optional<Tensor<double>> fresh;
  if (in.count("multiplier_gaussians")) fresh = in.at("multiplier_gaussians");
  return GaussianOrthogonalProblem<double>(in.at("unstructured_block"), std::move(fresh),
                                           static_cast<Index>(in.at("nb_rows")[0]), static_cast<int>(in.at("scaling")[0]));
}

double max_abs_diff(const Tensor<mp_real>& a, const Tensor<double>& b) {
  double e = 0;
  for (Index i = 0; i < a.count(); ++i) e = std::max(e, std::fabs(to_double(a[i] - mp_real(b[i]))));
  return e;
}

// How a user's code builds W from the same Gaussians: Householder QR in binary64 (Eigen, as LAPACK
// and jnp.linalg.qr / torch.linalg.qr do), with the conventions a writer may get wrong.
struct Convention {
  bool sign_fix = true;         // R's diagonal made positive (the peers leave LAPACK's signs)
  bool q_rows = false;          // the block's rows taken from Q's rows instead of its columns
  bool last_rows_last = false;  // the partial block keeps Q's last m - kd columns instead of its first
  int scaling = -1;             // the scaling applied (-1: the problem's; 0 without fresh Gaussians: none)
};
struct Built {
  Tensor<double> w;
  int negative_pivots = 0;  // how many R_ii < 0 the QR gave (what sign_fix changes)
};
Built householder(const GaussianOrthogonalProblem<double>& p, const Convention& c) {
  const Index m = p.nb_rows(), d = p.dim();
  Built out{Tensor<double>(Shape{m, d}), 0};
  for (Index k = 0; k < p.nb_blocks(); ++k) {
    Eigen::MatrixXd G(d, d);
    for (Index a = 0; a < d; ++a)
      for (Index b = 0; b < d; ++b) G(a, b) = p.blocks()(k, a, b);
    const Eigen::HouseholderQR<Eigen::MatrixXd> qr(G);
    Eigen::MatrixXd Q = qr.householderQ();
    for (Index i = 0; i < d; ++i)
      if (qr.matrixQR()(i, i) < 0) {
        ++out.negative_pivots;
        if (c.sign_fix) Q.col(i) = -Q.col(i);
      }
    const Index rows = std::min(d, m - k * d);
    for (Index i = 0; i < rows; ++i) {
      const Index src = c.last_rows_last ? d - rows + i : i;
      for (Index t = 0; t < d; ++t) out.w(k * d + i, t) = c.q_rows ? Q(src, t) : Q(t, src);
    }
  }
  const int scaling = c.scaling < 0 ? p.scaling() : c.scaling;
  for (Index j = 0; j < m; ++j) {
    double s = std::sqrt(static_cast<double>(d));
    if (scaling == 0 && !p.gaussians()) {
      s = 1;  // no fresh Gaussians given: the rows left at unit norm (the scaling forgotten)
    } else if (scaling == 0) {
      s = 0;
      for (Index t = 0; t < d; ++t) s += (*p.gaussians())(j, t) * (*p.gaussians())(j, t);
      s = std::sqrt(s);
    }
    for (Index t = 0; t < d; ++t) out.w(j, t) *= s;
  }
  return out;
}

Arrays rounded(const Tensor<double>& t, Format f) {
  Tensor<double> r(t.shape());
  for (Index i = 0; i < t.count(); ++i) r[i] = round_to_format(t[i], f);
  return {{"projection_matrix", r}};
}

}  // namespace

// covers: PERF-RF-ORTHO-DEF
// The entry's `generate` draws exactly [PERF-RF-ORTHO]'s Gaussians (written again above from the
// spec), and its MPFR oracle on them equals random_projection (Eigen's Householder QR in binary64,
// signs fixed) at the same seed and stream within 1e-12 (the binary64 QR's error at d <= 8); for
// m < d, m = d, partial last blocks, several blocks, both scalings. Taking Q's rows instead of its
// columns fails that same comparison, so it distinguishes the convention.
TEST(PerformerProjection, OracleEqualsRandomProjection) {
  const Algorithm& a = builtin_registry().get(kEntry);
  for (const char* size : {"one_block", "partial", "sqrt_d", "wide"})
    for (std::uint64_t seed : {0u, 5u}) {
      const Arrays in = a.generate(size, Format::float64, seed)->inputs();
      const GaussianOrthogonalProblem<double> p = from_inputs(in);
      const GaussianOrthogonalProblem<double> q = drawn(p.nb_rows(), p.dim(), seed, kEntry, p.scaling());
      for (Index i = 0; i < p.blocks().count(); ++i) ASSERT_EQ(p.blocks()[i], q.blocks()[i]) << size;
      ASSERT_EQ(p.gaussians().has_value(), q.gaussians().has_value());
      if (p.gaussians())
        for (Index i = 0; i < p.gaussians()->count(); ++i) ASSERT_EQ((*p.gaussians())[i], (*q.gaussians())[i]) << size;
    }
  struct Case {
    Index m, d;
    int scaling;
  };
  for (const Case c : {Case{3, 5, 0}, Case{4, 4, 0}, Case{6, 4, 0}, Case{6, 4, 1}, Case{20, 8, 0}, Case{17, 8, 1},
                       Case{1, 1, 0}, Case{9, 3, 1}})
    for (std::uint64_t seed : {1u, 42u}) {
      const std::string stream = "performer_projection_test";
      const GaussianOrthogonalProblem<double> p = drawn(c.m, c.d, seed, stream, c.scaling);
      const Tensor<mp_real> w = reference::gaussian_orthogonal_random_matrix<mp_real>(p);
      const Tensor<double> r = random_projection(c.m, c.d, seed, stream, ProjectionKind::orthogonal, c.scaling);
      EXPECT_LT(max_abs_diff(w, r), 1e-12) << c.m << " " << c.d << " " << c.scaling << " seed " << seed;
      if (c.d > 1) {
        Convention rows;
        rows.q_rows = true;
        EXPECT_GT(max_abs_diff(w, householder(p, rows).w), 1e-12) << c.m << " " << c.d;  // fails the comparison above
      }
    }
}

// covers: PERF-RF-ORTHO-DEF PERF-RF-ORTHO-BOUND
// A user's projection judged by diff (the any-order bound, outputs stored in float32 or float64):
// the binary64 Householder build with the spec's conventions passes, stored either way; each wrong
// convention fails: R's diagonal left as LAPACK gives it (rows with R_ii < 0 negated; the test
// asserts there are some), Q's rows for its columns, scaling 1 where the problem says 0 (and, where
// it says 1, the rows left at unit norm), the partial block's last rows for its first, and one row negated in the
// otherwise correct W.
TEST(PerformerProjection, DiffFailsWrongConventions) {
  const Algorithm& a = builtin_registry().get(kEntry);
  for (const char* size : {"partial", "sqrt_d", "wide"})
    for (Format storage : {Format::float32, Format::float64}) {
      const Arrays in = a.generate(size, Format::float64, 3)->inputs();
      const GaussianOrthogonalProblem<double> p = from_inputs(in);
      auto verdict = [&](const Convention& c) { return diff_verdict(kEntry, in, rounded(householder(p, c).w, storage)); };
      EXPECT_EQ(verdict(Convention{}), Verdict::pass) << size;

      Convention lapack_signs;
      lapack_signs.sign_fix = false;
      ASSERT_GT(householder(p, lapack_signs).negative_pivots, 0) << size;
      EXPECT_EQ(verdict(lapack_signs), Verdict::fail) << size;
      Convention rows;
      rows.q_rows = true;
      EXPECT_EQ(verdict(rows), Verdict::fail) << size;
      Convention other_scaling;
      other_scaling.scaling = 1 - p.scaling();
      EXPECT_EQ(verdict(other_scaling), Verdict::fail) << size;
      Convention last;
      last.last_rows_last = true;
      ASSERT_NE(p.nb_rows() % p.dim(), 0) << size;  // every size here has a partial last block
      EXPECT_EQ(verdict(last), Verdict::fail) << size;

      Tensor<double> flipped = householder(p, Convention{}).w;
      for (Index t = 0; t < p.dim(); ++t) flipped(p.nb_rows() - 1, t) = -flipped(p.nb_rows() - 1, t);
      EXPECT_EQ(diff_verdict(kEntry, in, rounded(flipped, storage)), Verdict::fail) << size;
    }
}

// covers: PERF-RF-ORTHO-CPU PERF-RF-ORTHO-BOUND
// The CPU backends' W is each block's orthogonal::cpu::qf (the same bits) times the multiplier,
// and their bound is finite and not larger than the any-order bound; a W with one element moved by
// 4 bounds fails diff (the any-order bound is the judge) while the backend's own output passes.
TEST(PerformerProjection, CpuIsQfPerBlockWithinBound) {
  const Algorithm& a = builtin_registry().get(kEntry);
  const Arrays in = a.generate("wide", Format::float32, 2)->inputs();
  const GaussianOrthogonalProblem<double> p = from_inputs(in);
  const auto p32 = p.cast<float>();
  const Tensor<float> w = cpu::gaussian_orthogonal_random_matrix(p32);
  const Index d = p.dim();
  for (Index k = 0; k < p.nb_blocks(); ++k) {
    const Tensor<float> q = orthogonal::cpu::qf(p32.block_problem(k));
    for (Index i = 0; i < d && k * d + i < p.nb_rows(); ++i) {
      const Index j = k * d + i;
      float s = 0;
      for (Index t = 0; t < d; ++t) s += (*p32.gaussians())(j, t) * (*p32.gaussians())(j, t);
      s = std::sqrt(s);
      for (Index t = 0; t < d; ++t) ASSERT_EQ(w(j, t), s * q(t, i)) << j << " " << t;
    }
  }
  const Tensor<double> own = gaussian_orthogonal_bound(p, performer_arithmetic_cpu(Format::float32));
  const Tensor<double> any = gaussian_orthogonal_bound(p, performer_arithmetic_any_order(Format::float32, 1));
  for (Index i = 0; i < own.count(); ++i) {
    ASSERT_TRUE(std::isfinite(own[i]) && own[i] > 0);
    ASSERT_LE(own[i], any[i] * (1 + 1e-12));
  }
  Tensor<double> ours = as_double(w);
  EXPECT_EQ(diff_verdict(kEntry, in, {{"projection_matrix", ours}}), Verdict::pass);
  ours[5] += 4 * any[5];
  ours[5] = round_to_format(ours[5], Format::float32);
  EXPECT_EQ(diff_verdict(kEntry, in, {{"projection_matrix", ours}}), Verdict::fail);
}

// covers: PERF-RF-ORTHO-DEF
// Bad inputs are InvalidInput naming the argument.
TEST(PerformerProjection, InvalidInputNamesTheArgument) {
  const GaussianOrthogonalProblem<double> ok = drawn(6, 4, 0, "performer_projection_test", 0);
  const Tensor<double>& g = ok.blocks();
  const Tensor<double>& fresh = *ok.gaussians();
  using P = GaussianOrthogonalProblem<double>;
  EXPECT_EQ(argument_of([&] { P(g, fresh, 9, 0); }), "unstructured_block");  // 3 blocks needed
  EXPECT_EQ(argument_of([&] { P(Tensor<double>(Shape{2, 4, 3}), fresh, 6, 0); }), "unstructured_block");
  EXPECT_EQ(argument_of([&] { P(g, std::nullopt, 6, 0); }), "multiplier_gaussians");
  EXPECT_EQ(argument_of([&] { P(g, Tensor<double>(Shape{6, 3}, 1.0), 6, 0); }), "multiplier_gaussians");
  EXPECT_EQ(argument_of([&] { P(g, fresh, 6, 1); }), "multiplier_gaussians");  // unused with scaling 1
  EXPECT_EQ(argument_of([&] { P(g, fresh, 6, 2); }), "scaling");
  EXPECT_EQ(argument_of([&] { P(g, fresh, 0, 0); }), "nb_rows");
  Tensor<double> nan = g;
  nan[3] = std::nan("");
  EXPECT_EQ(argument_of([&] { P(nan, fresh, 6, 0); }), "unstructured_block");
  Tensor<double> zero_column = g;
  for (Index a = 0; a < 4; ++a) zero_column(1, a, 2) = 0;
  EXPECT_EQ(argument_of([&] { P(zero_column, fresh, 6, 0); }), "unstructured_block");
  // Two equal columns: rank deficient, found by the oracle.
  Tensor<double> equal_columns = g;
  for (Index a = 0; a < 4; ++a) equal_columns(0, a, 3) = equal_columns(0, a, 1);
  const P singular(equal_columns, fresh, 6, 0);
  EXPECT_EQ(argument_of([&] { reference::gaussian_orthogonal_random_matrix<mp_real>(singular); }), "unstructured_block");
  // Through the entry's reader: the options disagreeing with the file.
  const Algorithm& a = builtin_registry().get(kEntry);
  NpyMap files;
  files["unstructured_block"] = test_support::npy(g);
  files["multiplier_gaussians"] = test_support::npy(fresh);
  EXPECT_NO_THROW(a.from_arrays(files, {}));
  EXPECT_EQ(argument_of([&] { a.from_arrays(files, {{"nb_rows", "3"}}); }), "unstructured_block");
}

// covers: PERF-RF-IID-DEF PERF-RF-IID-CPU PERF-RF-IID-BOUND
// performer.iid_projection: `generate` draws [PERF-RF-IID]'s normals j d + t, and the oracle equals
// random_projection(iid, scaling 1) at the same seed and stream within 1e-13 (scaling 0 is not).
// diff passes a binary64 rescaling stored in float32 and fails the unscaled draw (scaling 0), rows rescaled to norm 1,
// norms taken over columns instead of rows, and one element off by 4 bounds; the CPU backend's
// output passes. Bad input is InvalidInput naming gaussians.
TEST(PerformerProjection, IidProjection) {
  const char* const entry = "performer.iid_projection";
  const Algorithm& a = builtin_registry().get(entry);
  for (const char* size : {"tiny", "small", "tall", "one_dim"})
    for (std::uint64_t seed : {0u, 9u}) {
      const Arrays in = a.generate(size, Format::float64, seed)->inputs();
      const Tensor<double>& g = in.at("gaussians");
      const Index m = g.extent(0), d = g.extent(1);
      const PhiloxStream r(seed, entry);
      for (Index i = 0; i < g.count(); ++i) ASSERT_EQ(g[i], r.normal(static_cast<std::uint64_t>(i)));
      const Tensor<mp_real> w = reference::iid_projection<mp_real>(IidProjectionProblem<double>(g));
      EXPECT_LT(max_abs_diff(w, random_projection(m, d, seed, entry, ProjectionKind::iid, 1)), 1e-13) << size;
      EXPECT_GT(max_abs_diff(w, random_projection(m, d, seed, entry, ProjectionKind::iid, 0)), 1e-13) << size;
    }
  const Arrays in = a.generate("small", Format::float32, 4)->inputs();
  const Tensor<double>& g = in.at("gaussians");
  const Index m = g.extent(0), d = g.extent(1);
  auto scaled = [&](bool by_row, double target) {
    Tensor<double> w(g.shape());
    for (Index j = 0; j < m; ++j)
      for (Index t = 0; t < d; ++t) {
        double n = 0;
        if (by_row)
          for (Index u = 0; u < d; ++u) n += g(j, u) * g(j, u);
        else
          for (Index u = 0; u < m; ++u) n += g(u, t) * g(u, t);
        w(j, t) = g(j, t) * target / std::sqrt(n);
      }
    return w;
  };
  const double root_d = std::sqrt(static_cast<double>(d));
  EXPECT_EQ(diff_verdict(entry, in, rounded(scaled(true, root_d), Format::float32)), Verdict::pass);
  EXPECT_EQ(diff_verdict(entry, in, {{"projection_matrix", g}}), Verdict::fail);
  EXPECT_EQ(diff_verdict(entry, in, rounded(scaled(true, 1), Format::float32)), Verdict::fail);
  EXPECT_EQ(diff_verdict(entry, in, rounded(scaled(false, root_d), Format::float32)), Verdict::fail);
  const IidProjectionProblem<double> p(g);
  Tensor<double> ours = as_double(cpu::iid_projection(p.cast<float>()));
  EXPECT_EQ(diff_verdict(entry, in, {{"projection_matrix", ours}}), Verdict::pass);
  const Tensor<double> any = iid_projection_bound(p, performer_arithmetic_any_order(Format::float32, 1));
  ours[7] = round_to_format(ours[7] + 4 * any[7], Format::float32);
  EXPECT_EQ(diff_verdict(entry, in, {{"projection_matrix", ours}}), Verdict::fail);

  Tensor<double> bad = g;
  for (Index t = 0; t < d; ++t) bad(2, t) = 0;
  EXPECT_EQ(argument_of([&] { IidProjectionProblem<double>{bad}; }), "gaussians");
  bad = g;
  bad[0] = std::nan("");
  EXPECT_EQ(argument_of([&] { IidProjectionProblem<double>{bad}; }), "gaussians");
  EXPECT_EQ(argument_of([&] { IidProjectionProblem<double>{Tensor<double>(Shape{2, 2, 2}, 1.0)}; }), "gaussians");
}
