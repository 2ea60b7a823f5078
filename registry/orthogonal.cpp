// The orthogonal entries (spec/orthogonal.md): orthogonal.householder_product (the ordered product
// of Householder reflections, formed sequentially), orthogonal.cwy (the same matrix by the compact
// WY form), orthogonal.cwy_apply (Q h or Q^T h without forming Q) and orthogonal.tcwy (the
// truncated CWY map onto the Stiefel manifold).
#include <cmath>
#include <limits>
#include <string>

#include "builtin.hpp"
#include "cpu/orthogonal.hpp"
#include "cuda/device.hpp"
#include "cuda/orthogonal.hpp"
#include "touchstone/bounds/orthogonal_bound.hpp"
#include "touchstone/bounds/orthogonal_polar_bound.hpp"
#include "touchstone/core/entry.hpp"
#include "touchstone/core/random.hpp"
#include "touchstone/reference/orthogonal.hpp"

namespace touchstone::orthogonal {
namespace {

Arrays one(const char* name, Tensor<double> t) { return {{name, std::move(t)}}; }

// cpu-f32 and cpu-f64 run the order header; their bounds run it over tracked values.
template <class P, class Run, class Bound>
void cpu_backends(Entry<P>& e, const std::string& order, const char* output, Run run, Bound bound) {
  e.backends = {
      {"cpu-f32", Format::float32, order, [=](const EntryProblem<P>& h) { return one(output, as_double(run(h.f32()))); },
       [=](const P& p) { return one(output, bound(p, OrthArithmetic{Format::float32, false})); }},
      {"cpu-f64", Format::float64, order, [=](const EntryProblem<P>& h) { return one(output, as_double(run(h.f64()))); },
       [=](const P& p) { return one(output, bound(p, OrthArithmetic{Format::float64, false})); }},
  };
  e.any_order_bound = [=](const P& p, Format compute, double) { return one(output, bound(p, OrthArithmetic{compute, true})); };
}

// [ORTH-CUDA] cuda-f32: cpu-f32's order run by the device's threads (`threads`, the stages of
// optimized/cuda/orthogonal.hpp), so cpu-f32's bits and cpu-f32's bound; unavailable (skipped, with
// the reason) where no device can run it. After cpu_backends.
template <class P, class Run>
void cuda_backend(Entry<P>& e, const char* output, const std::string& threads, Run run) {
  const std::string order = e.backends.front().order;  // cpu-f32's, as cpu_backends puts it first
  const auto bound = e.backends.front().bound;
  e.backends.push_back({"cuda-f32", Format::float32, order + "; on the device, " + threads + " (cpu-f32's bits)",
                        [=](const EntryProblem<P>& h) { return one(output, as_double(run(h.f32()))); }, bound,
                        [] { return touchstone::cuda::unavailable_reason(); }});
}

const ArraySpec kV{"V", "(L, N)", "the Householder vectors v_1..v_L as rows (nonzero)", false};

struct ReflectorSize {
  const char* name;
  Index L, N;
};
// One reflection; fewer than N; a square set; more reflections than dimensions (repeats allowed).
constexpr ReflectorSize kReflectorSizes[] = {{"one", 1, 4}, {"small", 4, 6}, {"square", 8, 8}, {"long", 12, 6}};
// `touchstone bench` only: N = L = 1024, issue 11's bench (bench/RESULTS.md, "Orthogonal, CPU: forming Q").
constexpr ReflectorSize kReflectorBench{"bench", 1024, 1024};

Entry<ReflectorProblem<double>> reflector_entry(const std::string& name) {
  using P = ReflectorProblem<double>;
  Entry<P> e;
  e.name = name;
  e.inputs = {kV};
  e.outputs = {{"Q", "(N, N)", "Q = H(v_1) H(v_2) ... H(v_L)", false}};
  e.sizes = size_names(kReflectorSizes);
  e.extra_sizes = {"bench"};
  e.generate = [name](const std::string& size, Format format, std::uint64_t seed) {
    const ReflectorSize& s = size_row(kReflectorSizes, kReflectorBench, size);
    return P(normal_array(seed, name + "/V", {s.L, s.N}, format));
  };
  e.read = [](const InputReader& r) { return P(r.array("V")); };
  e.arrays = [](const P& p) { return Arrays{{"V", p.v()}}; };
  return e;
}

// ---- orthogonal.householder_product ([ORTH-HH-DEF]) ----
std::unique_ptr<Algorithm> householder_product_entry() {
  using P = ReflectorProblem<double>;
  Entry<P> e = reflector_entry("orthogonal.householder_product");
  e.spec_ref = "spec/orthogonal.md [ORTH-HH-DEF]";
  e.summary = "the ordered product Q = H(v_1) ... H(v_L) of Householder reflections H(v) = I - 2 v v^T / |v|^2 (N x N)";
  e.oracle = [](const P& p) { return ExactArrays{{"Q", reference::householder_product<mp_real>(p)}}; };
  cpu_backends(e,
               "row r of Q: y = e_r; for i = 1..L: y -= fl(fl(2 / fl(v_i . v_i)) fl(y . v_i)) v_i, dots sequential",
               "Q", [](const auto& p) { return cpu::householder_product(p); }, &householder_product_bound);
  e.any_order_bound = [](const P& p, Format compute, double) {
    return one("Q", householder_product_any_algorithm_bound(p, compute));
  };
  e.any_order_assumption =
      "Q formed by sequential reflections or by the CWY form of orthogonal.cwy (normalize, Gram, triangular solve, "
      "product), every sum in any order, quotients or reciprocal products";
  return make_entry(std::move(e));
}

// ---- orthogonal.cwy ([ORTH-CWY-DEF]) ----
std::unique_ptr<Algorithm> cwy_entry() {
  using P = ReflectorProblem<double>;
  Entry<P> e = reflector_entry("orthogonal.cwy");
  e.spec_ref = "spec/orthogonal.md [ORTH-CWY-DEF]";
  e.summary = "the compact WY form Q = I - U^T S^-1 U, U the normalized v_i as rows, S = I/2 + striu(U U^T): "
              "equal to H(v_1) ... H(v_L) (N x N)";
  e.oracle = [](const P& p) { return ExactArrays{{"Q", reference::cwy<mp_real>(p)}}; };
  cpu_backends(e,
               "u_i = v_i / fl(sqrt(v_i . v_i)); s_ij = u_i . u_j; per column c: w = S^-1 u_:c by back substitution "
               "(subtractions in j order, then doubled); Q_rc = delta_rc - u_1r w_1 - ... in i order",
               "Q", [](const auto& p) { return cpu::cwy(p); }, &cwy_bound);
  cuda_backend(e, "Q", "one thread per vector (u_i), per (i, j) (S), per column (the substitution), per entry of Q",
               [](const ReflectorProblem<float>& p) { return cuda::cwy(p); });
  // [ORTH-CWY-EIGEN] Eigen's GEMM and TRSM, bounded by the any-order bound (their order is theirs).
  for (Format f : {Format::float32, Format::float64})
    e.backends.push_back(
        {f == Format::float32 ? "cpu-eigen-f32" : "cpu-eigen-f64", f,
         "Eigen: u_i = v_i / sqrt(v_i . v_i); S = I/2 + striu(U U^T) by GEMM; W = S^-1 U by TRSM; Q = I - U^T W by "
         "GEMM (sums in Eigen's blocked order, FMA where the CPU has it)",
         [f](const EntryProblem<P>& h) {
           return one("Q", f == Format::float32 ? as_double(cpu::cwy_eigen(h.f32())) : as_double(cpu::cwy_eigen(h.f64())));
         },
         [f](const P& p) { return one("Q", cwy_bound(p, OrthArithmetic{f, true})); }});
  e.any_order_assumption =
      "the CWY formulas as written (normalize, Gram, substitution with S, product), every sum in any order, "
      "quotients or reciprocal products";
  return make_entry(std::move(e));
}

// ---- orthogonal.tcwy ([ORTH-TCWY-DEF]) ----
struct StiefelSize {
  const char* name;
  Index M, N;
};
constexpr StiefelSize kStiefelSizes[] = {{"tiny", 2, 5}, {"small", 4, 10}, {"square", 6, 6}};
// Bench only (issue 13's table; not in check; spec [ORTH-BENCH-SIZES]): 128 vectors in 512 dimensions.
constexpr StiefelSize kStiefelBench{"bench", 128, 512};

std::unique_ptr<Algorithm> tcwy_entry() {
  using P = StiefelProblem<double>;
  Entry<P> e;
  e.name = "orthogonal.tcwy";
  e.spec_ref = "spec/orthogonal.md [ORTH-TCWY-DEF]";
  e.summary = "the truncated CWY map onto the Stiefel manifold: Omega = [I_M; 0] - U^T S^-1 U_1 (N x M) for M <= N "
              "vectors, the first M columns of CWY's Q";
  e.inputs = {{"V", "(M, N)", "the M <= N Householder vectors as rows (nonzero)", false}};
  e.outputs = {{"Omega", "(N, M)", "an N x M matrix with orthonormal columns", false}};
  e.sizes = size_names(kStiefelSizes);
  e.extra_sizes = {"bench"};
  e.generate = [](const std::string& size, Format format, std::uint64_t seed) {
    const StiefelSize& s = size_row(kStiefelSizes, kStiefelBench, size);
    return P(ReflectorProblem<double>(normal_array(seed, "orthogonal.tcwy/V", {s.M, s.N}, format)));
  };
  e.read = [](const InputReader& r) { return P(ReflectorProblem<double>(r.array("V"))); };
  e.arrays = [](const P& p) { return Arrays{{"V", p.v()}}; };
  e.oracle = [](const P& p) { return ExactArrays{{"Omega", reference::tcwy<mp_real>(p)}}; };
  cpu_backends(e, "CWY's order (orthogonal.cwy) for the first M columns only", "Omega",
               [](const auto& p) { return cpu::tcwy(p); }, &tcwy_bound);
  cuda_backend(e, "Omega", "one thread per vector (u_i), per (i, j) (S), per column (the substitution), per entry of Omega",
               [](const StiefelProblem<float>& p) { return cuda::tcwy(p); });
  e.any_order_assumption =
      "the T-CWY formulas as written (normalize, Gram, substitution with S, product), every sum in any order, "
      "quotients or reciprocal products";
  return make_entry(std::move(e));
}

// ---- orthogonal.cwy_apply ([ORTH-CWY-APPLY-DEF]) ----
struct ApplySize {
  const char* name;
  Index B, L, N;
  bool transpose;
};
constexpr ApplySize kApplySizes[] = {
    {"small", 3, 4, 6, false}, {"transpose", 3, 4, 6, true}, {"long", 2, 10, 6, false}, {"wide", 4, 5, 16, true}};
// `touchstone bench` only: 256 vectors, N = L = 1024 (issue 11's bench).
constexpr ApplySize kApplyBench{"bench", 256, 1024, 1024, false};

std::unique_ptr<Algorithm> cwy_apply_entry() {
  using P = ApplyProblem<double>;
  Entry<P> e;
  e.name = "orthogonal.cwy_apply";
  e.spec_ref = "spec/orthogonal.md [ORTH-CWY-APPLY-DEF]";
  e.summary = "y = Q h (or Q^T h) for a batch of vectors h, Q = H(v_1) ... H(v_L), by CWY without forming Q: "
              "u = U h, s = S^-1 u (S^-T u), y = h - U^T s";
  e.inputs = {kV,
              {"h", "(B, N)", "the vectors to apply Q to, as rows", false},
              {"transpose", "()", "1: apply Q^T (also --option transpose)", true}};
  e.outputs = {{"y", "(B, N)", "Q h (or Q^T h) for each row h", false}};
  e.options = {{"transpose", "apply Q^T instead of Q", "0"}};
  e.sizes = size_names(kApplySizes);
  e.extra_sizes = {"bench"};
  e.generate = [](const std::string& size, Format format, std::uint64_t seed) {
    const ApplySize& s = size_row(kApplySizes, kApplyBench, size);
    return P(ReflectorProblem<double>(normal_array(seed, "orthogonal.cwy_apply/V", {s.L, s.N}, format)),
             normal_array(seed, "orthogonal.cwy_apply/h", {s.B, s.N}, format), s.transpose);
  };
  e.read = [](const InputReader& r) {
    return P(ReflectorProblem<double>(r.array("V")), r.array("h"), r.flag("transpose", false));
  };
  e.arrays = [](const P& p) { return Arrays{{"V", p.v()}, {"h", p.h()}, {"transpose", scalar_array(p.transpose() ? 1 : 0)}}; };
  e.oracle = [](const P& p) { return ExactArrays{{"y", reference::cwy_apply<mp_real>(p)}}; };
  cpu_backends(e,
               "CWY's u_i and S; per row h: a_i = u_i . h sequential; s = S^-1 a (S^-T a) by substitution; "
               "y_k = h_k - u_1k s_1 - ... in i order",
               "y", [](const auto& p) { return cpu::cwy_apply(p); }, &cwy_apply_bound);
  e.any_order_assumption =
      "the CWY apply as written (normalize, Gram, u = U h, substitution with S, y = h - U^T s), every sum in any "
      "order, quotients or reciprocal products";
  return make_entry(std::move(e));
}

// ---- orthogonal.cwy_backward ([ORTH-CWY-VJP]) and orthogonal.tcwy_backward ([ORTH-TCWY-VJP]) ----
struct BackwardSize {
  const char* name;
  Index L, N;
};
constexpr BackwardSize kCwyBackwardSizes[] = {{"one", 1, 4}, {"small", 4, 6}, {"square", 6, 6}, {"long", 8, 5}};
constexpr BackwardSize kTcwyBackwardSizes[] = {{"tiny", 2, 5}, {"small", 4, 8}, {"square", 5, 5}};
// Bench only ([ORTH-BENCH-SIZES]): N = L = 128 (at the forward's old bench size 256 the oracle took over
// 40 CPU s); T-CWY's the forward's 128 x 512.
constexpr BackwardSize kCwyBackwardBench{"bench", 128, 128};
constexpr BackwardSize kTcwyBackwardBench{"bench", 128, 512};

template <class Table>
std::unique_ptr<Algorithm> backward_entry(bool stiefel, const Table& sizes, const BackwardSize& bench) {
  using P = CwyBackwardProblem<double>;
  const char* g = stiefel ? "dOmega" : "dQ";
  Entry<P> e;
  e.name = stiefel ? "orthogonal.tcwy_backward" : "orthogonal.cwy_backward";
  e.spec_ref = stiefel ? "spec/orthogonal.md [ORTH-TCWY-VJP]" : "spec/orthogonal.md [ORTH-CWY-VJP]";
  e.summary = stiefel ? "VJP of T-CWY with respect to V (dV from dOmega), through the normalization v -> v/|v|"
                      : "VJP of CWY with respect to V (dV from dQ), through the normalization v -> v/|v|";
  e.inputs = {stiefel ? ArraySpec{"V", "(M, N)", "the M <= N Householder vectors as rows (nonzero)", false} : kV,
              stiefel ? ArraySpec{g, "(N, M)", "cotangent of Omega", false} : ArraySpec{g, "(N, N)", "cotangent of Q", false}};
  e.outputs = {{"dV", stiefel ? "(M, N)" : "(L, N)", "gradient of V", false}};
  e.sizes = size_names(sizes);
  e.extra_sizes = {"bench"};
  const std::string stream = e.name;
  e.generate = [stiefel, sizes, bench, stream](const std::string& size, Format format, std::uint64_t seed) {
    const BackwardSize& s = size_row(sizes, bench, size);
    return P(ReflectorProblem<double>(normal_array(seed, stream + "/V", {s.L, s.N}, format)),
             normal_array(seed, stream + "/g", {s.N, stiefel ? s.L : s.N}, format), stiefel);
  };
  e.read = [stiefel, g](const InputReader& r) { return P(ReflectorProblem<double>(r.array("V")), r.array(g), stiefel); };
  e.arrays = [g](const P& p) { return Arrays{{"V", p.v()}, {g, p.g()}}; };
  e.oracle = [](const P& p) { return ExactArrays{{"dV", reference::cwy_vjp<mp_real>(p)}}; };
  cpu_backends(e,
               "CWY's factors; X1 = S^-1 (U1 G^T), Z = U G, X3 = S^-T Z, K = Z U1^T, P = striu(S^-T K S^-T) by "
               "substitutions; du = -X1 - X3 + (P + P^T) U in j order; dv = (du - u (u . du)) / |v|",
               "dV", [](const auto& p) { return cpu::cwy_vjp(p); }, &cwy_vjp_bound);
  cuda_backend(e, "dV",
               "one thread per vector (u_i), per (i, j) (S), per column of X1, of Z and X3, of T1, per row of P, per "
               "entry of dU, per row (u_i . du_i), per entry of dV",
               [](const CwyBackwardProblem<float>& p) { return cuda::cwy_vjp(p); });
  e.any_order_assumption =
      "the adjoint formulas of spec/orthogonal.md as written (substitutions with S, no explicit inverse), every sum in "
      "any order, quotients or reciprocal products";
  return make_entry(std::move(e));
}

// ---- orthogonal.householder_product_lapack ([ORTH-LAPACK-DEF]) ----
struct LapackSize {
  const char* name;
  Index m, n, k;
  bool free_tau;  // tau drawn in [-0.5, 2.5] (the product is not orthogonal) instead of 2 / |v|^2
};
constexpr LapackSize kLapackSizes[] = {
    {"square", 5, 5, 5, false}, {"tall", 8, 4, 4, false}, {"partial", 7, 5, 3, false}, {"free_tau", 6, 4, 4, true}};
// Bench only ([ORTH-BENCH-SIZES]): Q of a square 256 x 256 QR (all 256 reflectors), CWY's old bench size.
constexpr LapackSize kLapackBench{"bench", 256, 256, 256, false};

std::unique_ptr<Algorithm> householder_product_lapack_entry() {
  using P = LapackProblem<double>;
  Entry<P> e;
  e.name = "orthogonal.householder_product_lapack";
  e.spec_ref = "spec/orthogonal.md [ORTH-LAPACK-DEF]";
  e.summary = "torch.linalg.householder_product / LAPACK orgqr: the first n columns of H_1 ... H_k, "
              "H_i = I - tau_i v_i v_i^T, v_i = (0, .., 0, 1, A[i+1:, i]) (m x n)";
  e.inputs = {{"A", "(m, n)", "the reflectors below the diagonal (geqrf's output; the rest is ignored), m >= n", false},
              {"tau", "(k)", "the scalars tau_1..tau_k, k <= n", false}};
  e.outputs = {{"Q", "(m, n)", "the first n columns of H_1 ... H_k", false}};
  e.sizes = size_names(kLapackSizes);
  e.extra_sizes = {"bench"};
  e.generate = [](const std::string& size, Format format, std::uint64_t seed) {
    const LapackSize& s = size_row(kLapackSizes, kLapackBench, size);
    Tensor<double> a = normal_array(seed, "orthogonal.householder_product_lapack/A", {s.m, s.n}, format);
    PhiloxStream r(seed, "orthogonal.householder_product_lapack/tau");
    Tensor<double> tau(Shape{s.k});
    for (Index i = 0; i < s.k; ++i) {
      double vv = 1;
      for (Index j = i + 1; j < s.m; ++j) vv += a(j, i) * a(j, i);
      tau[i] = round_to_format(s.free_tau ? r.next_uniform(-0.5, 2.5) : 2 / vv, format);
    }
    return P(std::move(a), std::move(tau));
  };
  e.read = [](const InputReader& r) { return P(r.array("A"), r.array("tau")); };
  e.arrays = [](const P& p) { return Arrays{{"A", p.a()}, {"tau", p.tau()}}; };
  e.oracle = [](const P& p) { return ExactArrays{{"Q", reference::householder_product_lapack<mp_real>(p)}}; };
  cpu_backends(e,
               "column by column (dorg2r): y = e_c; for i = k..1: w = y_i + sum_j>i A_ji y_j in j order, "
               "t = fl(tau_i w), y_i -= t, y_j -= fl(t A_ji)",
               "Q", [](const auto& p) { return cpu::householder_product_lapack(p); }, &householder_product_lapack_bound);
  e.any_order_assumption =
      "the reflections applied to each column with H_k first, as LAPACK's unblocked dorg2r (dorgqr's blocked WY "
      "path, used from n = 128, is another order); every sum in any order";
  return make_entry(std::move(e));
}

// ---- orthogonal.cayley ([ORTH-CAYLEY-DEF]) ----
struct CayleySize {
  const char* name;
  Index n;
  double scale;  // A = scale (X - X^T), X standard normal
  CayleyConvention convention;
};
constexpr CayleySize kCayleySizes[] = {{"tiny", 2, 0.5, CayleyConvention::pytorch},
                                       {"small", 5, 0.5, CayleyConvention::pytorch},
                                       {"medium", 8, 0.5, CayleyConvention::pytorch},
                                       {"large_entries", 6, 3, CayleyConvention::pytorch},
                                       {"exprnn", 6, 0.5, CayleyConvention::exprnn}};
// Bench only ([ORTH-BENCH-SIZES]): n = 256, an orthogonal RNN's hidden size; scale 1/16 = 1/sqrt(n) keeps
// |A|_2 near the check sizes' (at 0.5 it would be about 8 times larger). Also the backward's.
constexpr CayleySize kCayleyBench{"bench", 256, 0.0625, CayleyConvention::pytorch};

std::unique_ptr<Algorithm> cayley_entry() {
  using P = CayleyProblem<double>;
  Entry<P> e;
  e.name = "orthogonal.cayley";
  e.spec_ref = "spec/orthogonal.md [ORTH-CAYLEY-DEF]";
  e.summary = "the Cayley map of the skew A = tril(X, -1) - tril(X, -1)^T: (I + A/2)(I - A/2)^-1 (PyTorch's orthogonal "
              "parametrization) or (I + A)^-1 (I - A) (expRNN, --option convention=exprnn)";
  e.inputs = {{"A", "(n, n)", "its strict lower triangle defines the skew A (a skew matrix is its own)", false},
              {"convention", "()", "0 pytorch, 1 exprnn (also --option convention)", true}};
  e.outputs = {{"Q", "(n, n)", "the orthogonal matrix", false}};
  e.options = {{"convention", "pytorch: (I + A/2)(I - A/2)^-1; exprnn: (I + A)^-1 (I - A)", "pytorch"}};
  e.sizes = size_names(kCayleySizes);
  e.extra_sizes = {"bench"};
  e.generate = [](const std::string& size, Format format, std::uint64_t seed) {
    const CayleySize& s = size_row(kCayleySizes, kCayleyBench, size);
    const Tensor<double> x = normal_array(seed, "orthogonal.cayley/X", {s.n, s.n}, format);
    Tensor<double> a(Shape{s.n, s.n}, 0.0);
    for (Index i = 0; i < s.n; ++i)
      for (Index k = i + 1; k < s.n; ++k) {
        a(i, k) = round_to_format(s.scale * (x(i, k) - x(k, i)), format);
        a(k, i) = -a(i, k);
      }
    return P(std::move(a), s.convention);
  };
  e.read = [](const InputReader& r) {
    const std::string c = r.choice("convention", {"pytorch", "exprnn"}, "pytorch");
    return P(r.array("A"), c == "exprnn" ? CayleyConvention::exprnn : CayleyConvention::pytorch);
  };
  e.arrays = [](const P& p) {
    return Arrays{{"A", p.a()}, {"convention", scalar_array(p.convention() == CayleyConvention::exprnn ? 1 : 0)}};
  };
  e.oracle = [](const P& p) { return ExactArrays{{"Q", reference::cayley<mp_real>(p)}}; };
  cpu_backends(e,
               "M Q = R by Gaussian elimination without pivoting (M = I - A/2, R = I + A/2; exprnn: M = I + A, "
               "R = I - A): l = m_ik / m_kk, row updates in k order; back substitution with the sums in j order",
               "Q", [](const auto& p) { return cpu::cayley(p); }, &cayley_bound);
  e.any_order_assumption =
      "Gaussian elimination of M without pivoting (M's symmetric part is I, so no pivot is small) and the back "
      "substitution with its sums in any order; a solver that pivots is covered only where it swaps no rows and "
      "applies the updates one step at a time (LAPACK's unblocked getf2), not blocked or recursive LU (getrf, "
      "getrf2, as torch.linalg.solve calls them), whose updates sum over several steps";
  return make_entry(std::move(e));
}

// ---- orthogonal.cayley_backward ([ORTH-CAYLEY-VJP]) ----
Tensor<double> skew_input(const CayleySize& s, std::uint64_t seed, const std::string& stream, Format format) {
  const Tensor<double> x = normal_array(seed, stream, {s.n, s.n}, format);
  Tensor<double> a(Shape{s.n, s.n}, 0.0);
  for (Index i = 0; i < s.n; ++i)
    for (Index k = i + 1; k < s.n; ++k) {
      a(i, k) = round_to_format(s.scale * (x(i, k) - x(k, i)), format);
      a(k, i) = -a(i, k);
    }
  return a;
}

// The forward's sizes but for large_entries at A = X - X^T: at 1.5 to 3 (X - X^T) the tracked bound of the
// two solves overstates the error by up to 1e3 to 3.5e3, at or below the tightness floor ([ORTH-CAYLEY-VJP-BOUND]).
constexpr CayleySize kCayleyBackwardSizes[] = {{"tiny", 2, 0.5, CayleyConvention::pytorch},
                                               {"small", 5, 0.5, CayleyConvention::pytorch},
                                               {"medium", 8, 0.5, CayleyConvention::pytorch},
                                               {"large_entries", 6, 1, CayleyConvention::pytorch},
                                               {"exprnn", 6, 0.5, CayleyConvention::exprnn}};

std::unique_ptr<Algorithm> cayley_backward_entry() {
  using P = CayleyBackwardProblem<double>;
  Entry<P> e;
  e.name = "orthogonal.cayley_backward";
  e.spec_ref = "spec/orthogonal.md [ORTH-CAYLEY-VJP]";
  e.summary = "VJP of orthogonal.cayley with respect to its parameter X (dA from dQ), through the skew construction "
              "A = tril(X, -1) - tril(X, -1)^T, as autograd of PyTorch's parametrization gives it";
  e.inputs = {{"A", "(n, n)", "the parameter X of orthogonal.cayley (its strict lower triangle defines the skew A)", false},
              {"dQ", "(n, n)", "cotangent of Q", false},
              {"convention", "()", "0 pytorch, 1 exprnn (also --option convention)", true}};
  e.outputs = {{"dA", "(n, n)", "gradient of X: zero on and above the diagonal", false}};
  e.options = {{"convention", "pytorch: (I + A/2)(I - A/2)^-1; exprnn: (I + A)^-1 (I - A)", "pytorch"}};
  e.sizes = size_names(kCayleyBackwardSizes);
  e.extra_sizes = {"bench"};
  e.generate = [](const std::string& size, Format format, std::uint64_t seed) {
    const CayleySize& s = size_row(kCayleyBackwardSizes, kCayleyBench, size);
    return P(CayleyProblem<double>(skew_input(s, seed, "orthogonal.cayley_backward/X", format), s.convention),
             normal_array(seed, "orthogonal.cayley_backward/dQ", {s.n, s.n}, format));
  };
  e.read = [](const InputReader& r) {
    const std::string c = r.choice("convention", {"pytorch", "exprnn"}, "pytorch");
    return P(CayleyProblem<double>(r.array("A"), c == "exprnn" ? CayleyConvention::exprnn : CayleyConvention::pytorch),
             r.array("dQ"));
  };
  e.arrays = [](const P& p) {
    return Arrays{{"A", p.a()}, {"dQ", p.g()}, {"convention", scalar_array(p.convention() == CayleyConvention::exprnn ? 1 : 0)}};
  };
  e.oracle = [](const P& p) { return ExactArrays{{"dA", reference::cayley_vjp<mp_real>(p)}}; };
  cpu_backends(e,
               "M = LU by elimination without pivoting (M = I - A/2 or I + A); per column: U^T w = g, L^T y = w, then "
               "per column of Y^T: L z' = y, U z = z', sums in j order; dA_ij = c (z_ji - z_ij) for i > j, c = 1 "
               "(pytorch) or -2 (exprnn)",
               "dA", [](const auto& p) { return cpu::cayley_vjp(p); }, &cayley_vjp_bound);
  e.any_order_assumption =
      "Gamma = c M^-T G M^-T by elimination of M without pivoting and "
      "substitutions, every sum in any order, quotients or reciprocal products; a solver that pivots is covered "
      "only where it swaps no rows and applies the updates one step at a time, not blocked or recursive LU";
  return make_entry(std::move(e));
}

// ---- orthogonal.matrix_exp ([ORTH-EXP-DEF]) and orthogonal.matrix_exp_backward ([ORTH-EXP-VJP]) ----
constexpr CayleySize kExpSizes[] = {{"tiny", 2, 0.5, CayleyConvention::pytorch},
                                    {"small", 5, 0.5, CayleyConvention::pytorch},
                                    {"medium", 8, 0.5, CayleyConvention::pytorch},
                                    {"large_entries", 6, 3, CayleyConvention::pytorch}};
// Bench only ([ORTH-BENCH-SIZES]): n = 64, scale 1/8 = 1/sqrt(n) as Cayley's: the degree-18 oracle at
// n = 128 took over 40 CPU s. Also the backward's.
constexpr CayleySize kExpBench{"bench", 64, 0.125, CayleyConvention::pytorch};
const ArraySpec kSkewX{"A", "(n, n)", "the parameter X: its strict lower triangle defines the skew A", false};

std::unique_ptr<Algorithm> matrix_exp_entry() {
  using P = SkewProblem<double>;
  Entry<P> e;
  e.name = "orthogonal.matrix_exp";
  e.spec_ref = "spec/orthogonal.md [ORTH-EXP-DEF]";
  e.summary = "exp(A) of the skew A = tril(X, -1) - tril(X, -1)^T, as PyTorch's orthogonal parametrization with "
              "orthogonal_map=matrix_exp forms it (n x n, in SO(n))";
  e.inputs = {kSkewX};
  e.outputs = {{"Q", "(n, n)", "the orthogonal matrix exp(A)", false}};
  e.sizes = size_names(kExpSizes);
  e.extra_sizes = {"bench"};
  e.generate = [](const std::string& size, Format format, std::uint64_t seed) {
    return P(skew_input(size_row(kExpSizes, kExpBench, size), seed, "orthogonal.matrix_exp/X", format));
  };
  e.read = [](const InputReader& r) { return P(r.array("A")); };
  e.arrays = [](const P& p) { return Arrays{{"A", p.a()}}; };
  e.oracle = [](const P& p) { return ExactArrays{{"Q", reference::matrix_exp<mp_real>(p)}}; };
  cpu_backends(e,
               "s least with ||A||_inf / 2^s <= 1, B = 2^-s A; Horner for the degree-18 Taylor polynomial: P = I, "
               "for j = 18..1: P = I + (B P) / j, products summed in l order; then s squarings",
               "Q", [](const auto& p) { return cpu::matrix_exp(p); }, &matrix_exp_bound);
  e.any_order_assumption =
      "scaling and squaring of the degree-18 Taylor polynomial by Horner with the scaling of ||A||_inf <= 1, every "
      "sum in any order, quotients or reciprocal products (torch.matrix_exp's degree and scaling are its own)";
  return make_entry(std::move(e));
}

std::unique_ptr<Algorithm> matrix_exp_backward_entry() {
  using P = ExpBackwardProblem<double>;
  Entry<P> e;
  e.name = "orthogonal.matrix_exp_backward";
  e.spec_ref = "spec/orthogonal.md [ORTH-EXP-VJP]";
  e.summary = "VJP of orthogonal.matrix_exp with respect to X (dA from dQ): the adjoint of the Frechet derivative "
              "L(A^T, dQ) through the skew construction, as autograd of PyTorch's parametrization gives it";
  e.inputs = {kSkewX, {"dQ", "(n, n)", "cotangent of Q", false}};
  e.outputs = {{"dA", "(n, n)", "gradient of X: zero on and above the diagonal", false}};
  e.sizes = size_names(kExpSizes);
  e.extra_sizes = {"bench"};
  e.generate = [](const std::string& size, Format format, std::uint64_t seed) {
    const CayleySize& s = size_row(kExpSizes, kExpBench, size);
    return P(SkewProblem<double>(skew_input(s, seed, "orthogonal.matrix_exp_backward/X", format)),
             normal_array(seed, "orthogonal.matrix_exp_backward/dQ", {s.n, s.n}, format));
  };
  e.read = [](const InputReader& r) { return P(SkewProblem<double>(r.array("A")), r.array("dQ")); };
  e.arrays = [](const P& p) { return Arrays{{"A", p.a()}, {"dQ", p.g()}}; };
  e.oracle = [](const P& p) { return ExactArrays{{"dA", reference::matrix_exp_vjp<mp_real>(p)}}; };
  cpu_backends(e,
               "the forward's scaling and Horner differentiated: B = 2^-s A^T, E = 2^-s dQ; P = I, D = 0, for "
               "j = 18..1: D = (E P + B D) / j, P = I + (B P) / j; s times D = P D + D P, P = P P; "
               "dA_ij = D_ij - D_ji for i > j",
               "dA", [](const auto& p) { return cpu::matrix_exp_vjp(p); }, &matrix_exp_vjp_bound);
  e.any_order_assumption =
      "the differentiated scaling and squaring of the degree-18 Taylor polynomial (Horner, ||A||_inf <= 1 after "
      "scaling), every sum in any order, quotients or reciprocal products (torch's backward exponentiates the "
      "2n x 2n block [[A^T, G], [0, A^T]] instead)";
  return make_entry(std::move(e));
}

// ---- orthogonal.qf ([ORTH-QR-DEF]) ----
struct QfSize {
  const char* name;
  Index m, n;
};
constexpr QfSize kQfSizes[] = {{"column", 6, 1}, {"tall", 8, 4}, {"square", 5, 5}, {"near_square", 7, 6}};
// Bench only ([ORTH-BENCH-SIZES]): the QR retraction on St(1024, 128). Also the backward's.
constexpr QfSize kQfBench{"bench", 1024, 128};

std::unique_ptr<Algorithm> qf_entry() {
  using P = QfProblem<double>;
  Entry<P> e;
  e.name = "orthogonal.qf";
  e.spec_ref = "spec/orthogonal.md [ORTH-QR-DEF]";
  e.summary = "the Q factor of the thin QR of Y (m x n, m >= n) with R's diagonal positive: the QR retraction "
              "qf(X + xi) for Y = X + xi (torch.linalg.qr's Q times sign(diag R))";
  e.inputs = {{"Y", "(m, n)", "a full-column-rank matrix, m >= n", false}};
  e.outputs = {{"Q", "(m, n)", "orthonormal columns, Y = Q R with R upper triangular, diag R > 0", false}};
  e.sizes = size_names(kQfSizes);
  e.extra_sizes = {"bench"};
  e.generate = [](const std::string& size, Format format, std::uint64_t seed) {
    const QfSize& s = size_row(kQfSizes, kQfBench, size);
    return P(normal_array(seed, "orthogonal.qf/Y", {s.m, s.n}, format));
  };
  e.read = [](const InputReader& r) { return P(r.array("Y")); };
  e.arrays = [](const P& p) { return Arrays{{"Y", p.y()}}; };
  e.oracle = [](const P& p) { return ExactArrays{{"Q", reference::qf<mp_real>(p)}}; };
  cpu_backends(e,
               "modified Gram-Schmidt: per column j, v = y_j; for i < j in order: r = q_i . v (k order), v -= r q_i; "
               "q_j = v / sqrt(v . v)",
               "Q", [](const auto& p) { return cpu::qf(p); }, &qf_bound);
  e.any_order_assumption =
      "modified Gram-Schmidt as written, every sum in any order, quotients or reciprocal products (Householder QR, "
      "as LAPACK and torch.linalg.qr compute it, is another algorithm)";
  return make_entry(std::move(e));
}

// ---- orthogonal.polar ([ORTH-POLAR-DEF]) ----
struct PolarSize {
  const char* name;
  Index n, m;
  double retraction;  // > 0: A = X + retraction * normal with X on the Stiefel manifold (a retraction step)
  double column_scale;  // column 0 scaled by this (conditioning)
};
constexpr PolarSize kPolarSizes[] = {{"column", 6, 1, 0, 1},         {"tall", 8, 4, 0, 1},
                                     {"square", 5, 5, 0, 1},         {"retraction", 9, 3, 0.1, 1},
                                     {"ill_conditioned", 6, 6, 0, 1e-3}};

// A full-rank A: normal, or a retraction step X + t xi from X on the Stiefel manifold; column 0 scaled.
PolarProblem<double> polar_problem(const PolarSize& s, Format format, std::uint64_t seed, const std::string& stream) {
  Tensor<double> a = normal_array(seed, stream + "/A", {s.n, s.m}, Format::float64);
  if (s.retraction > 0) {
    const Tensor<double> x = reference::qf<double>(QfProblem<double>(a));
    const Tensor<double> xi = normal_array(seed, stream + "/xi", {s.n, s.m}, Format::float64);
    for (Index i = 0; i < a.count(); ++i) a[i] = x[i] + s.retraction * xi[i];
  }
  for (Index i = 0; i < s.n; ++i) a(i, 0) *= s.column_scale;
  for (Index i = 0; i < a.count(); ++i) a[i] = round_to_format(a[i], format);
  return PolarProblem<double>(std::move(a));
}

// The cpu backend's polar factor of p in `compute`, as doubles.
Tensor<double> cpu_polar(const PolarProblem<double>& p, Format compute) {
  return compute == Format::float64 ? cpu::polar(p) : as_double(cpu::polar(p.cast<float>()));
}

// [ORTH-POLAR-BOUND] A backend's bound: the certificate of that backend's own result on p, the same
// bound for every element (an element's error is at most the Frobenius norm of the error).
Tensor<double> polar_bound(const PolarProblem<double>& p, Format compute) {
  return Tensor<double>(p.a().shape(), polar_certificate(p.a(), cpu_polar(p, compute)).bound);
}

// [ORTH-POLAR-VJP-BOUND] The certificate of the cpu backend's dA in `compute`, the same bound for every
// element. A backend's own bound evaluates it with the float64 polar factor (the most accurate at
// hand: the certificate is then close to the backend's actual error); `diff`'s tolerance
// (any_order) with the compute format's own factor, so that it also admits the VJP's sensitivity
// to a polar factor as far off as that format's certificate allows.
Tensor<double> polar_vjp_bound(const PolarBackwardProblem<double>& p, const OrthArithmetic& m) {
  const Tensor<double> da =
      m.compute == Format::float64 ? cpu::polar_vjp(p) : as_double(cpu::polar_vjp(p.cast<float>()));
  const Tensor<double> u = cpu_polar(p.forward(), m.any_order ? m.compute : Format::float64);
  return Tensor<double>(p.a().shape(), polar_vjp_certificate(p.a(), p.g(), da, u).bound);
}

std::unique_ptr<Algorithm> polar_entry() {
  using P = PolarProblem<double>;
  Entry<P> e;
  e.name = "orthogonal.polar";
  e.spec_ref = "spec/orthogonal.md [ORTH-POLAR-DEF]";
  e.summary = "the orthogonal polar factor Q = A (A^T A)^-1/2 = U V^T of a full-rank A (n x m, n >= m): the polar "
              "retraction polar(X + xi) of geotorch, geoopt and pymanopt";
  e.inputs = {{"A", "(n, m)", "a full-column-rank matrix, n >= m", false}};
  e.outputs = {{"Q", "(n, m)", "orthonormal columns with Q^T A symmetric positive definite", false}};
  e.sizes = size_names(kPolarSizes);
  e.generate = [](const std::string& size, Format format, std::uint64_t seed) {
    return polar_problem(size_row(kPolarSizes, size), format, seed, "orthogonal.polar");
  };
  e.read = [](const InputReader& r) { return P(r.array("A")); };
  e.arrays = [](const P& p) { return Arrays{{"A", p.a()}}; };
  e.oracle = [](const P& p) { return ExactArrays{{"Q", reference::polar<mp_real>(p)}}; };
  cpu_backends(e,
               "A scaled by 2^-e, modified Gram-Schmidt Q_r R (orthogonal.qf's order), Newton X <- (zeta X + X^-T/zeta)/2 "
               "on R with Frobenius scaling while the step is above 1e-2, Gauss-Jordan inverses, two steps past a "
               "relative step of sqrt(u); Q = Q_r X (bound: a certificate of the result)",
               "Q", [](const auto& p) { return cpu::polar(p); },
               [](const P& p, const OrthArithmetic& m) { return polar_bound(p, m.compute); });
  e.any_order_assumption =
      "touchstone's cpu algorithm in the compute format (modified Gram-Schmidt, then scaled Newton): the bound is the "
      "certified error of that computation on these inputs ([ORTH-POLAR-BOUND]); the polar factor is iterative and has "
      "no a-priori per-element bound, and another algorithm (U V^T of an SVD, Newton-Schulz, QDWH) may be as accurate "
      "and still exceed it";
  return make_entry(std::move(e));
}

// ---- orthogonal.polar_backward ([ORTH-POLAR-VJP-DEF]) ----
std::unique_ptr<Algorithm> polar_backward_entry() {
  using P = PolarBackwardProblem<double>;
  Entry<P> e;
  e.name = "orthogonal.polar_backward";
  e.spec_ref = "spec/orthogonal.md [ORTH-POLAR-VJP-DEF]";
  e.summary = "VJP of orthogonal.polar with respect to A: dA = dQ H^-1 - 2 A C with H = Q^T A and H C + C H = "
              "sym(Q^T dQ H^-1)";
  e.inputs = {{"A", "(n, m)", "a full-column-rank matrix, n >= m", false}, {"dQ", "(n, m)", "the cotangent of Q", false}};
  e.outputs = {{"dA", "(n, m)", "the gradient with respect to A", false}};
  e.sizes = {"column", "tall", "square", "retraction"};
  e.generate = [](const std::string& size, Format format, std::uint64_t seed) {
    const PolarSize& s = size_row(kPolarSizes, size);
    return P(polar_problem(s, format, seed, "orthogonal.polar_backward"),
             normal_array(seed, "orthogonal.polar_backward/dQ", {s.n, s.m}, format));
  };
  e.read = [](const InputReader& r) { return P(PolarProblem<double>(r.array("A")), r.array("dQ")); };
  e.arrays = [](const P& p) { return Arrays{{"A", p.a()}, {"dQ", p.g()}}; };
  e.oracle = [](const P& p) { return ExactArrays{{"dA", reference::polar_vjp<mp_real>(p)}}; };
  cpu_backends(e,
               "U from orthogonal.polar's cpu backend; H = sym(U^T A) = V diag(lambda) V^T (Eigen's symmetric "
               "eigensolver); dA = U V [(V^T (U^T dQ - dQ^T U) V)_ij / (lambda_i + lambda_j)] V^T + (dQ - U U^T dQ) H^-1 "
               "(bound: a certificate of the result)",
               "dA", [](const auto& p) { return cpu::polar_vjp(p); },
               &polar_vjp_bound);
  e.any_order_assumption =
      "touchstone's cpu algorithm in the compute format (its polar factor, then H's eigendecomposition): the bound is "
      "the certified error of that computation on these inputs ([ORTH-POLAR-VJP-BOUND]), charged with the certified "
      "error of its polar factor; autograd through an SVD or Newton iteration is another algorithm and may be as "
      "accurate and still exceed it";
  return make_entry(std::move(e));
}

// ---- orthogonal.riemannian_grad ([ORTH-RGRAD-DEF]), orthogonal.rgd_exp_step ([ORTH-RGD-EXP-DEF]) and
// orthogonal.rgd_cayley_step ([ORTH-RGD-CAYLEY-DEF]) ----
struct RiemannianSize {
  const char* name;
  Index N, M;
  double eta;
};
// O(d) at d = 2, 5, 8; a Stiefel point (N > M); a step whose exponential needs scaling (s > 0).
constexpr RiemannianSize kRiemannianSizes[] = {
    {"tiny", 2, 2, 0.3}, {"small", 5, 5, 0.1}, {"medium", 8, 8, 0.05}, {"stiefel", 7, 3, 0.1}, {"large_step", 6, 6, 1.0}};
// `touchstone bench` only: d = 1024 (the RGD-with-expm against matching-step comparison).
constexpr RiemannianSize kRiemannianBench{"bench", 1024, 1024, 0.01};
// orthogonal.riemannian_grad's bench ([ORTH-BENCH-SIZES]): d = 256 (at 512 the oracle took over 120 CPU s).
constexpr RiemannianSize kRiemannianGradBench{"bench", 256, 256, 0.01};

const ArraySpec kStiefelX{"X", "(N, M)", "the point: orthonormal columns to the format's rounding (N >= M; O(d): N = M)", false};
const ArraySpec kEuclideanG{"G", "(N, M)", "the Euclidean gradient df/dX at X", false};

// X: the Q factor of a normal N x M matrix (the oracle's qf in binary64), rounded to the format.
RiemannianProblem<double> riemannian_problem(const RiemannianSize& s, Format format, std::uint64_t seed,
                                             const std::string& stream) {
  Tensor<double> x = reference::qf<double>(QfProblem<double>(normal_array(seed, stream + "/Y", {s.N, s.M}, Format::float64)));
  for (Index i = 0; i < x.count(); ++i) x[i] = round_to_format(x[i], format);
  return RiemannianProblem<double>(std::move(x), normal_array(seed, stream + "/G", {s.N, s.M}, format));
}

std::unique_ptr<Algorithm> riemannian_grad_entry() {
  using P = RiemannianProblem<double>;
  Entry<P> e;
  e.name = "orthogonal.riemannian_grad";
  e.spec_ref = "spec/orthogonal.md [ORTH-RGRAD-DEF]";
  e.summary = "the Riemannian gradient on St(N, M) (O(d): N = M) under the Euclidean metric: Omega = (X^T G - G^T X) / 2 "
              "and grad = G - X sym(X^T G) (= X Omega on O(d))";
  e.inputs = {kStiefelX, kEuclideanG};
  e.outputs = {{"Omega", "(M, M)", "the skew part of X^T G", false},
               {"grad", "(N, M)", "the tangent projection of G", false}};
  e.sizes = size_names(kRiemannianSizes);
  e.extra_sizes = {"bench"};
  e.generate = [](const std::string& size, Format format, std::uint64_t seed) {
    const RiemannianSize& s = size_row(kRiemannianSizes, kRiemannianGradBench, size);
    return riemannian_problem(s, format, seed, "orthogonal.riemannian_grad");
  };
  e.read = [](const InputReader& r) { return P(r.array("X"), r.array("G")); };
  e.arrays = [](const P& p) { return Arrays{{"X", p.x()}, {"G", p.g()}}; };
  e.oracle = [](const P& p) {
    return ExactArrays{{"Omega", reference::riemannian_omega<mp_real>(p)}, {"grad", reference::riemannian_grad<mp_real>(p)}};
  };
  auto bound = [](const P& p, const OrthArithmetic& m) {
    RiemannianGradBound b = riemannian_grad_bound(p, m);
    return Arrays{{"Omega", std::move(b.omega)}, {"grad", std::move(b.grad)}};
  };
  const std::string order =
      "P = X^T G (sums in j order); omega_ik = fl(fl(p_ik - p_ki) / 2), omega_ki = -omega_ik; s_ik = fl(fl(p_ik + "
      "p_ki) / 2); grad_rk = g_rk - x_r0 s_0k - ... in i order";
  e.backends = {
      {"cpu-f32", Format::float32, order,
       [](const EntryProblem<P>& h) {
         auto r = cpu::riemannian_grad(h.f32());
         return Arrays{{"Omega", as_double(r.omega)}, {"grad", as_double(r.grad)}};
       },
       [bound](const P& p) { return bound(p, OrthArithmetic{Format::float32, false}); }},
      {"cpu-f64", Format::float64, order,
       [](const EntryProblem<P>& h) {
         auto r = cpu::riemannian_grad(h.f64());
         return Arrays{{"Omega", as_double(r.omega)}, {"grad", as_double(r.grad)}};
       },
       [bound](const P& p) { return bound(p, OrthArithmetic{Format::float64, false}); }},
  };
  e.any_order_bound = [bound](const P& p, Format compute, double) { return bound(p, OrthArithmetic{compute, true}); };
  e.any_order_assumption = "the formulas as written (P = X^T G once, then its skew and symmetric parts), every sum in any order";
  return make_entry(std::move(e));
}

std::unique_ptr<Algorithm> rgd_step_entry(Retraction retraction) {
  using P = RgdStepProblem<double>;
  const bool ex = retraction == Retraction::exp;
  Entry<P> e;
  e.name = ex ? "orthogonal.rgd_exp_step" : "orthogonal.rgd_cayley_step";
  e.spec_ref = ex ? "spec/orthogonal.md [ORTH-RGD-EXP-DEF]" : "spec/orthogonal.md [ORTH-RGD-CAYLEY-DEF]";
  e.summary = ex ? "one Riemannian gradient step with the exponential map: X+ = X exp(-eta Omega), Omega = (X^T G - G^T X) / 2"
                 : "one Riemannian gradient step with the Cayley retraction: X+ = X (I - eta Omega / 2)(I + eta Omega / 2)^-1, "
                   "Omega = (X^T G - G^T X) / 2 (PyTorch's Cayley convention at A = -eta Omega)";
  e.inputs = {kStiefelX, kEuclideanG, {"eta", "()", "the step size (also --option eta)", true}};
  e.outputs = {{"X_next", "(N, M)", "the point after the step", false}};
  e.options = {{"eta", "the step size", "(required)"}};
  e.sizes = size_names(kRiemannianSizes);
  e.extra_sizes = {"bench"};
  const std::string stream = e.name;
  e.generate = [stream, retraction](const std::string& size, Format format, std::uint64_t seed) {
    const RiemannianSize& s = size_row(kRiemannianSizes, kRiemannianBench, size);
    return P(riemannian_problem(s, format, seed, stream), round_to_format(s.eta, format), retraction);
  };
  e.read = [retraction](const InputReader& r) {
    const double eta = r.real("eta", std::numeric_limits<double>::quiet_NaN());
    if (std::isnan(eta)) throw InvalidInput("eta", "missing: give --option eta=... or a 0-d array eta");
    return P(RiemannianProblem<double>(r.array("X"), r.array("G")), eta, retraction);
  };
  e.arrays = [](const P& p) { return Arrays{{"X", p.x()}, {"G", p.g()}, {"eta", scalar_array(p.eta())}}; };
  e.oracle = [](const P& p) { return ExactArrays{{"X_next", reference::rgd_step<mp_real>(p)}}; };
  cpu_backends(e,
               ex ? "Omega as orthogonal.riemannian_grad; a_ik = -fl(eta omega_ik); exp(A) as orthogonal.matrix_exp "
                    "(Horner, degree 18) with s from the inputs (|eta| max_i sum_k (|X^T| |G| + |G^T| |X|)_ik / 2); "
                    "X+ = X exp(A), sums in i order"
                  : "Omega as orthogonal.riemannian_grad; a_ik = -fl(eta omega_ik); Q = cay(A) as orthogonal.cayley "
                    "(elimination without pivoting); X+ = X Q, sums in i order",
               "X_next", [](const auto& p) { return cpu::rgd_step(p); }, &rgd_step_bound);
  e.any_order_assumption =
      ex ? "Omega, then exp(-eta Omega) by the degree-18 Taylor polynomial (Horner) with the inputs' scaling, then X "
           "times it, every sum in any order, quotients or reciprocal products"
         : "Omega, then the Cayley map by elimination without pivoting, then X times it, every sum in any order, "
           "quotients or reciprocal products";
  return make_entry(std::move(e));
}

// ---- orthogonal.matching_step ([ORTH-MATCH-STEP-DEF]) and orthogonal.matching_flow ([ORTH-FLOW-DEF]) ----
struct MatchingSize {
  const char* name;
  Index N, M;
  double eta;
  Index round;
};
// Even d (a perfect matching), odd d (one index idle), a Stiefel point, d = 2 (one pair, R = 1).
constexpr MatchingSize kMatchingSizes[] = {
    {"tiny", 2, 2, 0.3, 0}, {"small", 6, 6, 0.05, 2}, {"odd", 5, 5, 0.05, 3}, {"stiefel", 7, 4, 0.1, 1}};
// `touchstone bench` only: d = 1024, as the RGD steps' bench size.
constexpr MatchingSize kMatchingBench{"bench", 1024, 1024, 0.01, 0};

std::unique_ptr<Algorithm> matching_step_entry() {
  using P = MatchingStepProblem<double>;
  Entry<P> e;
  e.name = "orthogonal.matching_step";
  e.spec_ref = "spec/orthogonal.md [ORTH-MATCH-STEP-DEF]";
  e.summary = "one stochastic matching-flow step X+ = X exp(-eta R Omega|_M): Omega = (X^T G - G^T X) / 2 restricted to "
              "round `round` of the round-robin schedule of the M columns, R = the number of rounds (M - 1, or M for odd "
              "M), applied as the matching's commuting Givens rotations";
  e.inputs = {kStiefelX, kEuclideanG, {"eta", "()", "the step size (also --option eta)", true},
              {"round", "()", "the matching: a round of the schedule, 0 <= round < R (also --option round)", true}};
  e.outputs = {{"X_next", "(N, M)", "the point after the step (only the matched columns change)", false}};
  e.options = {{"eta", "the step size", "(required)"}, {"round", "the round of the schedule", "(required)"}};
  e.sizes = size_names(kMatchingSizes);
  e.extra_sizes = {"bench"};
  e.generate = [](const std::string& size, Format format, std::uint64_t seed) {
    const MatchingSize& s = size_row(kMatchingSizes, kMatchingBench, size);
    return P(riemannian_problem({s.name, s.N, s.M, s.eta}, format, seed, "orthogonal.matching_step"),
             round_to_format(s.eta, format), s.round);
  };
  e.read = [](const InputReader& r) {
    const double eta = r.real("eta", std::numeric_limits<double>::quiet_NaN());
    if (std::isnan(eta)) throw InvalidInput("eta", "missing: give --option eta=... or a 0-d array eta");
    return P(RiemannianProblem<double>(r.array("X"), r.array("G")), eta, r.required_integer("round", 0, kMaxExtent));
  };
  e.arrays = [](const P& p) {
    return Arrays{{"X", p.x()}, {"G", p.g()}, {"eta", scalar_array(p.eta())}, {"round", scalar_array(static_cast<double>(p.round()))}};
  };
  e.oracle = [](const P& p) { return ExactArrays{{"X_next", reference::matching_step<mp_real>(p)}}; };
  cpu_backends(e,
               "per pair (i, j) of the round: a = x_:i . g_:j, b = g_:i . x_:j (k order), theta = -fl(fl(eta R) "
               "fl(fl(a - b) / 2)), c, s = glibc cos, sin (binary64, rounded to float32 for cpu-f32); x_ri = fl(fl(c x_ri) "
               "- fl(s x_rj)), x_rj = fl(fl(s x_ri) + fl(c x_rj))",
               "X_next", [](const auto& p) { return cpu::matching_step(p); }, &matching_step_bound);
  cuda_backend(e, "X_next",
               "one thread per pair (theta), cos and sin on the host (glibc's, as cpu-f32), one thread per (row, pair) "
               "(the rotation)",
               [](const MatchingStepProblem<float>& p) { return cuda::matching_step(p); });
  e.any_order_bound = [](const P& p, Format compute, double ulps) {
    return one("X_next", matching_step_bound(p, OrthArithmetic{compute, true, ulps}));
  };
  e.any_order_assumption =
      "Omega's matched entries, then each pair's rotation by cos and sin of theta (any order of the sums, of the "
      "pairs and of the rows)";
  return make_entry(std::move(e));
}

struct FlowSize {
  const char* name;
  Index N, M, K;
  double eta;
  Index steps, reproject;
};
// One step; a short trajectory; odd d; a re-projection by qf after 2 steps; 16 steps. The tracked
// per-element bound grows about 1.5x per step here and about 400x (float32) per re-projection
// ([ORTH-FLOW-BOUND]); the normwise one ([ORTH-FLOW-NORMWISE]) about 1.035x per step, which keeps
// err/bound above the tightness floor (1e-3) to T = 16 (1.4e-3 to 5.7e-3 over seeds 0 to 5), not much
// beyond: the long runs are bench/orthogonal_drift's.
constexpr FlowSize kFlowSizes[] = {{"one", 4, 4, 4, 0.02, 1, 0},
                                   {"short", 6, 6, 6, 0.01, 4, 0},
                                   {"odd", 5, 5, 5, 0.01, 4, 0},
                                   {"reproject", 6, 6, 6, 0.01, 2, 2},
                                   {"long", 6, 6, 6, 0.01, 16, 0}};
// Bench only ([ORTH-BENCH-SIZES]): d = K = 128, 4 steps (at d = 256 the oracle took over 40 CPU s).
constexpr FlowSize kFlowBench{"bench", 128, 128, 128, 0.01, 4, 0};

std::unique_ptr<Algorithm> matching_flow_entry() {
  using P = FlowProblem<double>;
  Entry<P> e;
  e.name = "orthogonal.matching_flow";
  e.spec_ref = "spec/orthogonal.md [ORTH-FLOW-DEF]";
  e.summary = "T steps of the stochastic matching flow on f(X) = |A X - Y|_F^2 / 2 from X0, the rounds drawn from "
              "schedule_seed (Philox), optionally re-projected by qf every `reproject` steps: the oracle follows the "
              "exact trajectory";
  e.inputs = {{"X0", "(N, M)", "the starting point (N >= M)", false},
              {"A", "(K, N)", "the quadratic's matrix", false},
              {"Y", "(K, M)", "the quadratic's target", false},
              {"eta", "()", "the step size (also --option eta)", true},
              {"steps", "()", "the number of steps T (also --option steps)", true},
              {"schedule_seed", "()", "the seed of the rounds' draws (also --option schedule_seed)", true},
              {"reproject", "()", "re-project by qf every this many steps, 0: never (also --option reproject)", true}};
  e.outputs = {{"X", "(N, M)", "the point after T steps", false}};
  e.options = {{"eta", "the step size", "(required)"},
               {"steps", "the number of steps", "(required)"},
               {"schedule_seed", "the seed of the rounds", "0"},
               {"reproject", "re-project every k steps (0: never)", "0"}};
  e.sizes = size_names(kFlowSizes);
  e.extra_sizes = {"bench"};
  e.generate = [](const std::string& size, Format format, std::uint64_t seed) {
    const FlowSize& s = size_row(kFlowSizes, kFlowBench, size);
    const RiemannianProblem<double> start =
        riemannian_problem({s.name, s.N, s.M, s.eta}, format, seed, "orthogonal.matching_flow");
    Tensor<double> a = normal_array(seed, "orthogonal.matching_flow/A", {s.K, s.N}, format);
    for (Index i = 0; i < a.count(); ++i) a[i] = round_to_format(a[i] / std::sqrt(static_cast<double>(s.K)), format);
    return P(start.x(), std::move(a), normal_array(seed, "orthogonal.matching_flow/Y", {s.K, s.M}, format),
             round_to_format(s.eta, format), s.steps, seed, s.reproject);
  };
  e.read = [](const InputReader& r) {
    const double eta = r.real("eta", std::numeric_limits<double>::quiet_NaN());
    if (std::isnan(eta)) throw InvalidInput("eta", "missing: give --option eta=... or a 0-d array eta");
    return P(r.array("X0"), r.array("A"), r.array("Y"), eta, r.required_integer("steps", 0, kMaxFlowSteps),
             static_cast<std::uint64_t>(r.integer("schedule_seed", 0, Index{1} << 53, 0)),
             r.integer("reproject", 0, kMaxFlowSteps, 0));
  };
  e.arrays = [](const P& p) {
    return Arrays{{"X0", p.x0()},
                  {"A", p.a()},
                  {"Y", p.y()},
                  {"eta", scalar_array(p.eta())},
                  {"steps", scalar_array(static_cast<double>(p.steps()))},
                  {"schedule_seed", scalar_array(static_cast<double>(p.seed()))},
                  {"reproject", scalar_array(static_cast<double>(p.reproject()))}};
  };
  e.oracle = [](const P& p) { return ExactArrays{{"X", reference::matching_flow<mp_real>(p)}}; };
  cpu_backends(e,
               "per step: r = A X - Y (n order, then y), G = A^T r (k order), orthogonal.matching_step's order on the "
               "round drawn; every `reproject` steps X = qf(X) by orthogonal.qf's modified Gram-Schmidt",
               "X", [](const auto& p) { return cpu::matching_flow(p); }, &matching_flow_bound);
  e.any_order_bound = [](const P& p, Format compute, double ulps) {
    return one("X", matching_flow_bound(p, OrthArithmetic{compute, true, ulps}));
  };
  e.any_order_assumption =
      "the flow's steps in order, each as orthogonal.matching_step's any-order bound, G = A^T (A X - Y) with its sums "
      "in any order, qf by modified Gram-Schmidt";
  return make_entry(std::move(e));
}

// ---- orthogonal.qf_backward ([ORTH-QR-VJP]) ----
// n up to 4: the tracked bound of modified Gram-Schmidt and the substitution loosens with n (err/bound
// 1.4e-3 at 7 x 6, at the tightness floor; [ORTH-QR-VJP-BOUND]).
constexpr QfSize kQfBackwardSizes[] = {{"column", 6, 1}, {"tall", 8, 4}, {"square", 4, 4}, {"narrow", 10, 3}};
std::unique_ptr<Algorithm> qf_backward_entry() {
  using P = QfBackwardProblem<double>;
  Entry<P> e;
  e.name = "orthogonal.qf_backward";
  e.spec_ref = "spec/orthogonal.md [ORTH-QR-VJP]";
  e.summary = "VJP of orthogonal.qf (the QR retraction's Q, R's diagonal positive) with respect to Y: dY = (dQ - Q S) R^-T, "
              "S the upper triangle of Q^T dQ mirrored";
  e.inputs = {{"Y", "(m, n)", "a full-column-rank matrix, m >= n", false}, {"dQ", "(m, n)", "cotangent of Q", false}};
  e.outputs = {{"dY", "(m, n)", "gradient of Y", false}};
  e.sizes = size_names(kQfBackwardSizes);
  e.extra_sizes = {"bench"};
  e.generate = [](const std::string& size, Format format, std::uint64_t seed) {
    const QfSize& s = size_row(kQfBackwardSizes, kQfBench, size);
    return P(QfProblem<double>(normal_array(seed, "orthogonal.qf_backward/Y", {s.m, s.n}, format)),
             normal_array(seed, "orthogonal.qf_backward/dQ", {s.m, s.n}, format));
  };
  e.read = [](const InputReader& r) { return P(QfProblem<double>(r.array("Y")), r.array("dQ")); };
  e.arrays = [](const P& p) { return Arrays{{"Y", p.y()}, {"dQ", p.g()}}; };
  e.oracle = [](const P& p) { return ExactArrays{{"dY", reference::qf_vjp<mp_real>(p)}}; };
  cpu_backends(e,
               "modified Gram-Schmidt's Q and R (orthogonal.qf); b_ij = q_:i . g_:j (i <= j, k order), S = B's upper "
               "triangle mirrored; w = g_r: - Q_r: S in i order; R x^T = w^T by back substitution (k order)",
               "dY", [](const auto& p) { return cpu::qf_vjp(p); }, &qf_vjp_bound);
  e.any_order_assumption =
      "modified Gram-Schmidt, then (G - Q S) R^-T by substitution as written, every sum in any order, quotients or "
      "reciprocal products";
  return make_entry(std::move(e));
}

}  // namespace
}  // namespace touchstone::orthogonal

namespace touchstone {
void register_orthogonal(Registry& r) {
  r.add(orthogonal::householder_product_entry());
  r.add(orthogonal::cwy_entry());
  r.add(orthogonal::householder_product_lapack_entry());
  r.add(orthogonal::cwy_apply_entry());
  r.add(orthogonal::tcwy_entry());
  r.add(orthogonal::backward_entry(false, orthogonal::kCwyBackwardSizes, orthogonal::kCwyBackwardBench));
  r.add(orthogonal::backward_entry(true, orthogonal::kTcwyBackwardSizes, orthogonal::kTcwyBackwardBench));
  r.add(orthogonal::cayley_entry());
  r.add(orthogonal::cayley_backward_entry());
  r.add(orthogonal::matrix_exp_entry());
  r.add(orthogonal::matrix_exp_backward_entry());
  r.add(orthogonal::qf_entry());
  r.add(orthogonal::qf_backward_entry());
  r.add(orthogonal::polar_entry());
  r.add(orthogonal::polar_backward_entry());
  r.add(orthogonal::riemannian_grad_entry());
  r.add(orthogonal::rgd_step_entry(orthogonal::Retraction::exp));
  r.add(orthogonal::rgd_step_entry(orthogonal::Retraction::cayley));
  r.add(orthogonal::matching_step_entry());
  r.add(orthogonal::matching_flow_entry());
}
}  // namespace touchstone
