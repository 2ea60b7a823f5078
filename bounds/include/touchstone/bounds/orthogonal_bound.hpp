// A-priori per-element error bounds of the orthogonal family (spec/orthogonal.md
// [ORTH-BOUND-CPU], [ORTH-BOUND-ANY]): the sequences of order/orthogonal_order.hpp run over tracked
// values (core/tracked.hpp), sequentially for touchstone's CPU backends, with every reduction in any
// order (and division or reciprocal-multiply) for `diff`. +inf where an intermediate may overflow
// the compute format or a divisor's range reaches 0 (outside the bound's domain).
#pragma once

#include <vector>

#include "touchstone/bounds/tracked_policy.hpp"
#include "touchstone/core/formats.hpp"
#include "touchstone/core/tracked.hpp"
#include "touchstone/core/tensor.hpp"
#include "touchstone/reference/orthogonal_problem.hpp"

namespace touchstone::orthogonal {

// [ORTH-TRACKED-SQRT] fl(sqrt(x^)) for a tracked x (IEEE's correctly rounded square root).
Tracked tracked_sqrt(const Tracked& x, const Rounding& r);

struct OrthArithmetic {
  Format compute = Format::float32;
  bool any_order = false;  // every sum in any order; a quotient also as a product by the reciprocal
  double elementary_ulps = 0;  // sin and cos within the larger of this and the backends' own ulps
};

Tensor<double> householder_product_bound(const ReflectorProblem<double>& p, const OrthArithmetic& m);
// [ORTH-HH-ROWNORM] E_L >= ||row r of Q^ - row r of Q||_2 for every row of the sequential product
// in `compute` (any summation order), +inf outside its domain; the a-priori anchor of
// [ORTH-ORTH-TABLE].
double householder_rownorm_bound(const ReflectorProblem<double>& p, Format compute);
// [ORTH-BOUND-ANY] For householder_product's `diff`: the larger of the any-order bounds of the
// sequential product and of CWY, so either algorithm is covered.
Tensor<double> householder_product_any_algorithm_bound(const ReflectorProblem<double>& p, Format compute);
Tensor<double> cwy_bound(const ReflectorProblem<double>& p, const OrthArithmetic& m);
Tensor<double> tcwy_bound(const StiefelProblem<double>& p, const OrthArithmetic& m);
Tensor<double> cwy_apply_bound(const ApplyProblem<double>& p, const OrthArithmetic& m);
// [ORTH-LAPACK-BOUND] The LAPACK convention's order (no orthogonality is assumed: tau is free).
Tensor<double> householder_product_lapack_bound(const LapackProblem<double>& p, const OrthArithmetic& m);
// [ORTH-LAPACK-NORMWISE] Per column c, a bound on ||column c of Q^ - column c of Q||_2 for the
// column-by-column order with its sums in any order (so on each of its elements), +inf outside its
// domain (a magnitude along the way may exceed the format's range, or an input is not a value of
// `compute`). householder_product_lapack_bound takes it per element where smaller.
std::vector<double> householder_product_lapack_normwise(const LapackProblem<double>& p, Format compute);
// [ORTH-CAYLEY-BOUND] The Cayley map's elimination order over tracked values, per element the
// smaller of that and [ORTH-CAYLEY-NORMWISE].
Tensor<double> cayley_bound(const CayleyProblem<double>& p, const OrthArithmetic& m);
// [ORTH-CAYLEY-NORMWISE] (bounds/src/orthogonal_cayley_bound.cpp) One bound on every element's
// error of the elimination order in `compute`, the substitution's sums in any order and each
// quotient a division or a product with the reciprocal: ||q^_c - q_c||_2 for every column c. +inf
// outside its domain (an input not a value of `compute`, or the growth too large to prove).
double cayley_normwise_bound(const CayleyProblem<double>& p, Format compute);
// s >= ||S||_2 for an n x n matrix S (row-major): the 2^(J+1)-th root of ||(S^T S)^(2^J)||_inf, its
// binary64 rounding bounded (J = 6), or the Frobenius norm where smaller. +inf for a non-finite entry.
double spectral_norm_upper(const std::vector<double>& s, Index n);
// [ORTH-EXP-BOUND] [ORTH-EXP-VJP-BOUND] The exponential's orders over tracked values, with the
// Taylor truncation as an error of the method ([ORTH-EXP-TRUNC]).
Tensor<double> matrix_exp_bound(const SkewProblem<double>& p, const OrthArithmetic& m);
Tensor<double> matrix_exp_vjp_bound(const ExpBackwardProblem<double>& p, const OrthArithmetic& m);
// [ORTH-QR-BOUND] Modified Gram-Schmidt's order over tracked values.
Tensor<double> qf_bound(const QfProblem<double>& p, const OrthArithmetic& m);
// The tracked values of that order's Q (m x n, row-major), for an order that continues from them
// (performer.gaussian_orthogonal_random_matrix scales them, [PERF-RF-ORTHO-BOUND]).
std::vector<bounds::TV> qf_tracked(const QfProblem<double>& p, const OrthArithmetic& m);
// [ORTH-CAYLEY-VJP-BOUND] The Cayley VJP's order over tracked values.
Tensor<double> cayley_vjp_bound(const CayleyBackwardProblem<double>& p, const OrthArithmetic& m);
// [ORTH-CWY-NORMWISE] The enclosure Z >= |S'^-1| (L x L, row-major) the normwise CWY bound uses, for
// every S' within the tracked ranges of S's entries at `compute` (the exact S and the computed one);
// empty where it cannot be established (rho >= 1/2 or a tracked entry outside its domain).
std::vector<double> cwy_inverse_enclosure(const ReflectorProblem<double>& p, Format compute);
// [ORTH-VJP-BOUND] The VJP's order (CWY or T-CWY).
Tensor<double> cwy_vjp_bound(const CwyBackwardProblem<double>& p, const OrthArithmetic& m);
// [ORTH-CWY-SOLVE-COLUMNS] For tests: the tracked values of the outputs of cwy_columns (`columns`: v
// L x N, its first C columns; row-major N x C), cwy_apply (`apply`: h = `second`, B x N; B x N) or
// cwy_vjp (`vjp`: G = `second`, N x C; L x N) as the bounds compute them: with the array paths
// (`arrays`, what the bounds run), with the order header's loops (`loops`), or with the array paths'
// row sums keeping the wrong sums (`wrong_row_sums`: a control that must differ).
enum class CwyRun { columns, apply, vjp };
enum class CwyPaths { arrays, loops, wrong_row_sums };
std::vector<bounds::TV> cwy_tracked_outputs(CwyRun run, CwyPaths paths, const OrthArithmetic& m, const Tensor<double>& v,
                                            const Tensor<double>& second, Index C, bool transpose);

// [ORTH-RGRAD-BOUND] The Riemannian gradient's order (Omega and grad) over tracked values.
struct RiemannianGradBound {
  Tensor<double> omega, grad;
};
RiemannianGradBound riemannian_grad_bound(const RiemannianProblem<double>& p, const OrthArithmetic& m);
// [ORTH-RGD-BOUND] One RGD step's order (exp or Cayley) over tracked values.
Tensor<double> rgd_step_bound(const RgdStepProblem<double>& p, const OrthArithmetic& m);

// [ORTH-MATCH-BOUND] One matching step's order; [ORTH-FLOW-BOUND] the flow's T steps.
Tensor<double> matching_step_bound(const MatchingStepProblem<double>& p, const OrthArithmetic& m);
Tensor<double> matching_flow_bound(const FlowProblem<double>& p, const OrthArithmetic& m);
// [ORTH-FLOW-NORMWISE] e_T >= ||X^_T - X_T||_F, the computed flow's Frobenius distance from the exact
// trajectory after T steps (any order of the sums, sin and cos within the larger of the backends' and
// m.elementary_ulps; re-projections through the tracked qf); +inf outside its domain (an input that is
// not a value of m.compute, a possible overflow, a qf whose norm may reach 0). matching_flow_bound
// takes it per element where smaller.
double matching_flow_normwise_bound(const FlowProblem<double>& p, const OrthArithmetic& m);

// [ORTH-QR-VJP-BOUND] The QR VJP's order over tracked values.
Tensor<double> qf_vjp_bound(const QfBackwardProblem<double>& p, const OrthArithmetic& m);

}  // namespace touchstone::orthogonal
