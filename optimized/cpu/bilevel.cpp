// The bilevel family on the CPU: the sequences of order/bilevel_order.hpp on native floats (the MAML
// class through FastMlp, [BILEVEL-MAML-FAST-CPU]: the same roundings as order::Mlp, vectorized).
#include "bilevel.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>
#include <type_traits>

#include "common/native_arithmetic.hpp"

namespace touchstone::bilevel::cpu {
namespace {

// The order's arithmetic policy on T (optimized/common/native_arithmetic.hpp).
using cpu_common::NativeArithmetic;

// With the logistic class's sigmoid (elementary.hpp: evaluated from e^-|z|, rounded once).
template <class T>
struct LogisticArithmetic : NativeArithmetic<T> {
  static T sigmoid(T z) {
    if constexpr (std::is_same_v<T, float>) return elementary::sigmoid_f32(z);
    else return elementary::sigmoid_f64(z);
  }
  // [BILEVEL-MAML-RELU] relu'(a) = [a > 0] (0 at a = 0, PyTorch's threshold_backward).
  static T relu_mask(T a) { return a > T(0) ? T(1) : T(0); }
  static T masked(T m, T a) { return m != T(0) ? a : T(0); }
};

// 64 bytes of T as a GCC/clang vector: lane-wise operations, each the scalar operation's rounding.
template <class T>
struct LanesOf;
template <>
struct LanesOf<float> {
  typedef float type __attribute__((vector_size(64)));
};
template <>
struct LanesOf<double> {
  typedef double type __attribute__((vector_size(64)));
};

// [BILEVEL-MAML-FAST-CPU] The MAML class's passes on native floats: every value with the rounding
// sequence of order::Mlp::pass (order/bilevel_order.hpp), so the outputs equal that class's run on
// T bit for bit (tests/bilevel/maml_fast_test.cpp) and its bounds stay this code's. Only the loop
// nesting and the memory change; every sum still starts from 0 and adds its terms in the order's
// order:
//  - the points go in chunks of kChunk; for each point of a chunk the forward and backward values
//    (z1, z2, masks, e, da2, da1 and the HVP's tangents) are computed and kept;
//  - a layer's h sums (over i for a2 and rz2, over o for da1 and rda1) advance together, kBlock of
//    them held in registers while their terms are added in order, on copies of W2 (and v's W2)
//    padded to hp = h rounded up to kBlock, transposed for the sums over i; the padding lanes are
//    computed and dropped;
//  - then each parameter's sum over the chunk's points is advanced in point order in registers,
//    from the running total of the earlier chunks (0 before the first, as the order's sums start);
//  - the scratch is allocated once; the HVP pass skips the gradient's da1, which the order computes
//    there but never uses.
template <class T>
class FastMlp {
 public:
  using V = T;
  using Vec = std::vector<T>;
  static constexpr bool hvp_reads_phi = true;
  static constexpr Index kBlock = 64 / sizeof(T), kChunk = 16, kPoints = 4, kRows = 4;
  static_assert(kChunk % 4 == 0, "the output sums go four points at a time");
  static_assert(kPoints == 4, "sums() handles remainders of 1 to 3 points");
  explicit FastMlp(const MamlProblem<T>& p)
      : h_(p.hidden()), hp_((p.hidden() + kBlock - 1) / kBlock * kBlock), P_(p.dim()), alpha_(p.in().alpha),
        xs_(p.in().x_support.data(), p.in().x_support.data() + p.in().x_support.count()),
        ys_(p.in().y_support.data(), p.in().y_support.data() + p.in().y_support.count()),
        xq_(p.in().x_query.data(), p.in().x_query.data() + p.in().x_query.count()),
        yq_(p.in().y_query.data(), p.in().y_query.data() + p.in().y_query.count()) {
    const std::size_t h = static_cast<std::size_t>(h_), hp = static_cast<std::size_t>(hp_);
    const std::size_t chunk = static_cast<std::size_t>(kChunk) * hp;
    for (Vec* b : {&w2t_, &w2p_, &vw2t_, &vw2p_, &gW2_}) b->assign(h * hp, T(0));
    for (Vec* b : {&z1_, &m1_, &z2_, &m2_, &da2_, &da1_, &rz1_, &rz2_, &rda2_, &s_}) b->assign(chunk, T(0));
    for (Vec* b : {&gW1_, &gB1_, &gB2_, &gW3_}) b->assign(hp, T(0));
    e_.assign(static_cast<std::size_t>(kChunk), T(0));
    re_.assign(static_cast<std::size_t>(kChunk), T(0));
  }
  Index dim() const { return P_; }
  order::Counts& counts() { return counts_; }
  Vec outer_gradient(const Vec& phi) {
    ++counts_.outer_gradients;
    Vec out(static_cast<std::size_t>(P_));
    pass(phi.data(), nullptr, xq_, yq_, out.data());
    return out;
  }
  Vec inner_step(const Vec& phi) {
    ++counts_.inner_steps;
    Vec out(static_cast<std::size_t>(P_));
    pass(phi.data(), nullptr, xs_, ys_, out.data());
    for (Index k = 0; k < P_; ++k) out[k] = phi[k] - alpha_ * out[k];
    return out;
  }
  Vec hessian_product(const Vec& phi, const Vec& v) {
    Vec out(static_cast<std::size_t>(P_));
    pass(phi.data(), v.data(), xs_, ys_, out.data());
    return out;
  }
  Vec hvp_step(const Vec& phi, const Vec& v) {
    ++counts_.hvps;
    Vec out(static_cast<std::size_t>(P_));
    pass(phi.data(), v.data(), xs_, ys_, out.data());
    for (Index k = 0; k < P_; ++k) out[k] = v[k] - alpha_ * out[k];
    return out;
  }

 private:
  // W (h x h, row-major) into p (rows padded to hp) and t (its transpose, rows padded to hp).
  void pad(const T* __restrict w, T* __restrict p, T* __restrict t) const {
    const Index h = h_, hp = hp_;
    for (Index o = 0; o < h; ++o)
      for (Index i = 0; i < h; ++i) p[o * hp + i] = w[o * h + i];
    for (Index i = 0; i < h; ++i)  // contiguous stores, strided loads
      for (Index o = 0; o < h; ++o) t[i * hp + o] = w[o * h + i];
  }
  // kBlock lanes of T (64 bytes: one AVX-512 register, two AVX2 ones); lane-wise + and * are the
  // scalar operations, one rounding each (no contraction: -ffp-contract=off); a scalar operand is
  // broadcast to every lane.
  using Lanes = typename LanesOf<T>::type;
  // Lanes by reference, never by value: a 64-byte vector argument or result has another ABI
  // without AVX-512 (-Wpsabi), though these calls are all inlined.
  static void load(Lanes& v, const T* p) { std::memcpy(&v, p, sizeof v); }
  static void store(T* p, const Lanes& v) { std::memcpy(p, &v, sizeof v); }

  // For each of the n points q of a chunk (u_q = u + q hp, w_q, out_q likewise):
  // out_q[b] = sum_j (a_j[b] u_q[j], then c_j[b] w_q[j]) for b in [0, hp), j = 0 .. h-1 in order,
  // from 0, a_j = a + j hp (c likewise); one product per j unless kTwo. kPoints points at a time,
  // so that their sums' chains of additions overlap.
  template <bool kTwo>
  void sums(const T* a, const T* u, const T* c, const T* w, T* out, Index n) const {
    Index q = 0;
    for (; q + kPoints <= n; q += kPoints) sums_of<kTwo, kPoints>(a, u + q * hp_, c, w + q * hp_, out + q * hp_);
    switch (n - q) {  // the remainder in one group too
      case 3: sums_of<kTwo, 3>(a, u + q * hp_, c, w + q * hp_, out + q * hp_); break;
      case 2: sums_of<kTwo, 2>(a, u + q * hp_, c, w + q * hp_, out + q * hp_); break;
      case 1: sums_of<kTwo, 1>(a, u + q * hp_, c, w + q * hp_, out + q * hp_); break;
      default: break;
    }
  }
  template <bool kTwo, Index kN>
  void sums_of(const T* a, const T* u, const T* c, const T* w, T* out) const {
    const Index h = h_, hp = hp_;
    for (Index blk = 0; blk < hp; blk += kBlock) {
      Lanes s[kN];
      for (Index q = 0; q < kN; ++q) s[q] = Lanes{};
      for (Index j = 0; j < h; ++j) {
        Lanes aj;
        load(aj, a + j * hp + blk);
        if constexpr (kTwo) {
          Lanes cj;
          load(cj, c + j * hp + blk);
          for (Index q = 0; q < kN; ++q) {
            const Lanes t = s[q] + aj * u[q * hp + j];
            s[q] = t + cj * w[q * hp + j];
          }
        } else {
          for (Index q = 0; q < kN; ++q) s[q] = s[q] + aj * u[q * hp + j];
        }
      }
      for (Index q = 0; q < kN; ++q) store(out + q * hp + blk, s[q]);
    }
  }
  // For the rows r < kR (g_r = g + r hp): g_r[b] += sum over the chunk's n points c in order of
  // (p_c[r] x_c[b], then q_c[r] y_c[b]) for b in [0, hp), x_c = x + c hp (y likewise), p_c = p + c ps
  // (q likewise); one product per point unless kTwo. Several rows at a time, so that their chains
  // of additions overlap.
  template <bool kTwo, Index kR = 1>
  void accumulate(T* g, Index n, const T* p, Index ps, const T* x, const T* q, Index qs, const T* y) const {
    const Index hp = hp_;
    for (Index blk = 0; blk < hp; blk += kBlock) {
      Lanes s[kR];
      for (Index r = 0; r < kR; ++r) load(s[r], g + r * hp + blk);
      for (Index c = 0; c < n; ++c) {
        Lanes xc;
        load(xc, x + c * hp + blk);
        if constexpr (kTwo) {
          Lanes yc;
          load(yc, y + c * hp + blk);
          for (Index r = 0; r < kR; ++r) {
            const Lanes t = s[r] + p[c * ps + r] * xc;
            s[r] = t + q[c * qs + r] * yc;
          }
        } else {
          for (Index r = 0; r < kR; ++r) s[r] = s[r] + p[c * ps + r] * xc;
        }
      }
      for (Index r = 0; r < kR; ++r) store(g + r * hp + blk, s[r]);
    }
  }
  // g[b] += sum over the chunk's n points in order of x_c[b] (x_c = x + c hp).
  void accumulate_plain(T* g, Index n, const T* x) const {
    const Index hp = hp_;
    for (Index blk = 0; blk < hp; blk += kBlock) {
      Lanes s, xc;
      load(s, g + blk);
      for (Index c = 0; c < n; ++c) {
        load(xc, x + c * hp + blk);
        s = s + xc;
      }
      store(g + blk, s);
    }
  }

  // out = the gradient of the points' mean squared error at phi (v null), or H(phi) v.
  void pass(const T* __restrict phi, const T* __restrict v, const Vec& xs, const Vec& ys, T* __restrict out) {
    const Index h = h_, hp = hp_, K = static_cast<Index>(xs.size());
    const T* W1 = phi;
    const T* B1 = phi + h;
    const T* B2 = phi + 2 * h + h * h;
    const T* W3 = phi + 3 * h + h * h;
    const T B3 = phi[4 * h + h * h];
    const T* vW1 = v ? v : nullptr;
    const T* vB1 = v ? v + h : nullptr;
    const T* vB2 = v ? v + 2 * h + h * h : nullptr;
    const T* vW3 = v ? v + 3 * h + h * h : nullptr;
    T* w2t = w2t_.data();
    T* w2p = w2p_.data();
    T* vw2t = vw2t_.data();
    T* vw2p = vw2p_.data();
    pad(phi + 2 * h, w2p, w2t);
    if (v) pad(v + 2 * h, vw2p, vw2t);
    for (Vec* g : {&gW1_, &gB1_, &gB2_, &gW2_, &gW3_}) std::fill(g->begin(), g->end(), T(0));
    T gB3 = T(0);
    T* s = s_.data();  // the chunk's sums (kChunk x hp)
    const T count = static_cast<T>(static_cast<double>(K)), two = T(2);
    for (Index n0 = 0; n0 < K; n0 += kChunk) {
      const Index nc = std::min(kChunk, K - n0);
      // The chunk's points, stage by stage (each point's values in the order's sequence).
      const T* xc = xs.data() + n0;
      const T* yc = ys.data() + n0;
      T* z1 = z1_.data();
      T* m1 = m1_.data();
      T* z2 = z2_.data();
      T* m2 = m2_.data();
      T* da2 = da2_.data();
      T* d1 = da1_.data();  // da1, or rda1 for the HVP
      for (Index c = 0; c < nc; ++c)
        for (Index o = 0; o < h; ++o) {
          const T a1 = W1[o] * xc[c] + B1[o];
          m1[c * hp + o] = a1 > T(0) ? T(1) : T(0);
          z1[c * hp + o] = m1[c * hp + o] != T(0) ? a1 : T(0);
        }
      sums<false>(w2t, z1, nullptr, z1, s, nc);  // a2_o - b2_o = sum_i W2_oi z1_i
      for (Index c = 0; c < nc; ++c)
        for (Index o = 0; o < h; ++o) {
          const T a2 = s[c * hp + o] + B2[o];
          m2[c * hp + o] = a2 > T(0) ? T(1) : T(0);
          z2[c * hp + o] = m2[c * hp + o] != T(0) ? a2 : T(0);
        }
      // The outputs sum_i W3_i z2_i + b3, four points' sums together (a group past nc reads the
      // chunk's stale rows and is dropped).
      for (Index c0 = 0; c0 < nc; c0 += 4) {
        T so[4] = {T(0), T(0), T(0), T(0)};
        for (Index i = 0; i < h; ++i)
          for (Index q = 0; q < 4; ++q) so[q] = so[q] + W3[i] * z2[(c0 + q) * hp + i];
        for (Index q = 0; q < 4 && c0 + q < nc; ++q) e_[c0 + q] = (two * ((so[q] + B3) - yc[c0 + q])) / count;
      }
      for (Index c = 0; c < nc; ++c)
        for (Index i = 0; i < h; ++i) da2[c * hp + i] = m2[c * hp + i] != T(0) ? W3[i] * e_[c] : T(0);
      if (!v) {
        sums<false>(w2p, da2, nullptr, da2, s, nc);  // sum_o W2_oi da2_o
        for (Index c = 0; c < nc; ++c)
          for (Index i = 0; i < h; ++i) d1[c * hp + i] = m1[c * hp + i] != T(0) ? s[c * hp + i] : T(0);
      } else {
        T* rz1 = rz1_.data();
        T* rz2 = rz2_.data();
        T* rda2 = rda2_.data();
        for (Index c = 0; c < nc; ++c)
          for (Index o = 0; o < h; ++o)
            rz1[c * hp + o] = m1[c * hp + o] != T(0) ? vW1[o] * xc[c] + vB1[o] : T(0);
        sums<true>(vw2t, z1, w2t, rz1, s, nc);  // sum_i (vW2_oi z1_i, then W2_oi rz1_i)
        for (Index c = 0; c < nc; ++c)
          for (Index o = 0; o < h; ++o) {
            const T t = s[c * hp + o] + vB2[o];
            rz2[c * hp + o] = m2[c * hp + o] != T(0) ? t : T(0);
          }
        // sum_i (vW3_i z2_i, then W3_i rz2_i) + vb3, four points together as above.
        for (Index c0 = 0; c0 < nc; c0 += 4) {
          T sr[4] = {T(0), T(0), T(0), T(0)};
          for (Index i = 0; i < h; ++i)
            for (Index q = 0; q < 4; ++q) {
              const T t = sr[q] + vW3[i] * z2[(c0 + q) * hp + i];
              sr[q] = t + W3[i] * rz2[(c0 + q) * hp + i];
            }
          for (Index q = 0; q < 4 && c0 + q < nc; ++q) re_[c0 + q] = (two * (sr[q] + v[4 * h + h * h])) / count;
        }
        for (Index c = 0; c < nc; ++c)
          for (Index i = 0; i < h; ++i) {
            T t = T(0) + vW3[i] * e_[c];
            t = t + W3[i] * re_[c];
            rda2[c * hp + i] = m2[c * hp + i] != T(0) ? t : T(0);
          }
        sums<true>(vw2p, da2, w2p, rda2, s, nc);  // sum_o (vW2_oi da2_o, then W2_oi rda2_o)
        for (Index c = 0; c < nc; ++c)
          for (Index i = 0; i < h; ++i) d1[c * hp + i] = m1[c * hp + i] != T(0) ? s[c * hp + i] : T(0);
      }
      // Each parameter's sum over the chunk's points, in point order. The gradient adds per point
      // e, e z2_i, da2_o, da2_o z1_i, da1_i x, da1_i; the HVP re, (re z2_i, e rz2_i), rda2_o,
      // (rda2_o z1_i, da2_o rz1_i), rda1_i x, rda1_i.
      const T* e = e_.data();
      const T* re = re_.data();
      const T* d2 = v ? rda2_.data() : da2_.data();
      for (Index c = 0; c < nc; ++c) gB3 = gB3 + (v ? re[c] : e[c]);
      if (!v) accumulate<false>(gW3_.data(), nc, e, 1, z2_.data(), nullptr, 0, nullptr);
      else accumulate<true>(gW3_.data(), nc, re, 1, z2_.data(), e, 1, rz2_.data());
      accumulate_plain(gB2_.data(), nc, d2);
      auto rows = [&](auto kR, Index o) {
        constexpr Index R = decltype(kR)::value;
        if (!v) accumulate<false, R>(gW2_.data() + o * hp, nc, da2_.data() + o, hp, z1_.data(), nullptr, 0, nullptr);
        else accumulate<true, R>(gW2_.data() + o * hp, nc, rda2_.data() + o, hp, z1_.data(), da2_.data() + o, hp, rz1_.data());
      };
      Index o = 0;
      for (; o + kRows <= h; o += kRows) rows(std::integral_constant<Index, kRows>{}, o);
      for (; o < h; ++o) rows(std::integral_constant<Index, 1>{}, o);
      // gW1_i += d1_i x, gB1_i += d1_i.
      accumulate<false>(gW1_.data(), nc, xc, 1, d1, nullptr, 0, nullptr);
      accumulate_plain(gB1_.data(), nc, d1);
    }
    for (Index o = 0; o < h; ++o) {
      out[o] = gW1_[o];
      out[h + o] = gB1_[o];
      out[2 * h + h * h + o] = gB2_[o];
      out[3 * h + h * h + o] = gW3_[o];
      for (Index i = 0; i < h; ++i) out[2 * h + o * h + i] = gW2_[o * hp + i];
    }
    out[4 * h + h * h] = gB3;
  }

  Index h_, hp_, P_;
  T alpha_;
  Vec xs_, ys_, xq_, yq_;
  Vec w2t_, w2p_, vw2t_, vw2p_, z1_, m1_, z2_, m2_, da2_, da1_, rz1_, rz2_, rda2_, s_, gW1_, gB1_, gB2_, gW2_, gW3_, e_, re_;
  order::Counts counts_;
};

// The MAML class on `Cls`: FastMlp (the backends) or order::Mlp over the policy (namespace generic).
template <class T, bool fast, class Body>
Tensor<T> run_maml(const MamlProblem<T>& p, order::Counts* counts, const Body& body) {
  LogisticArithmetic<T> ar;
  using Cls = std::conditional_t<fast, FastMlp<T>, order::Mlp<LogisticArithmetic<T>>>;
  Cls cls = [&] {
    if constexpr (fast) return Cls(p);
    else return Cls(ar, p.template cast<double>());
  }();
  const std::vector<T> theta = order::initial(ar, p.dim(), [&](Index i) { return static_cast<double>(p.in().theta[i]); });
  std::vector<T> g = body(ar, cls, theta);
  if (counts) *counts = cls.counts();
  return Tensor<T>(Shape{p.dim()}, std::move(g));
}
template <class T, bool fast = true>
Tensor<T> maml_exact_t(const MamlProblem<T>& p, Method m, order::Counts* c) {
  return run_maml<T, fast>(p, c, [&](auto& ar, auto& cls, const std::vector<T>& theta) {
    switch (m) {
      case Method::recompute: return order::exact_recompute(cls, theta, p.steps());
      case Method::forward: return order::exact_forward(ar, cls, theta, p.steps());
      case Method::stored: break;
    }
    return order::exact_stored(cls, theta, p.steps());
  });
}
template <class T, bool fast = true>
Tensor<T> maml_fom_t(const MamlProblem<T>& p, order::Counts* c) {
  return run_maml<T, fast>(p, c, [&](auto&, auto& cls, const std::vector<T>& theta) { return order::fom(cls, theta, p.steps()); });
}

template <class T, class Body>
Tensor<T> run_logistic(const LogisticProblem<T>& p, order::Counts* counts, const Body& body) {
  LogisticArithmetic<T> ar;
  const RidgeProblem<double> p64 = p.template cast<double>();
  order::Logistic<LogisticArithmetic<T>> cls(ar, p64);
  const std::vector<T> w0 = order::initial(ar, p.dim(), [&](Index i) { return static_cast<double>(p.in().w0[i]); });
  std::vector<T> g = body(ar, cls, w0);
  if (counts) *counts = cls.counts();
  return Tensor<T>(Shape{p.dim()}, std::move(g));
}

template <class T>
Tensor<T> logistic_hvp_t(const HvpProblem<LogisticProblem<T>>& h) {
  LogisticArithmetic<T> ar;
  const RidgeProblem<double> p64 = h.problem().template cast<double>();
  order::Logistic<LogisticArithmetic<T>> cls(ar, p64);
  const Index d = h.problem().dim();
  const std::vector<T> v = order::initial(ar, d, [&](Index i) { return static_cast<double>(h.v()[i]); });
  const std::vector<T> w = order::initial(ar, d, [&](Index i) { return static_cast<double>(h.problem().in().w0[i]); });
  return Tensor<T>(Shape{d}, cls.hessian_product(w, v));
}

template <class T, class Body>
Tensor<T> run(const QuadraticProblem<T>& p, order::Counts* counts, const Body& body) {
  const auto& in = p.in();
  NativeArithmetic<T> ar;
  order::Quadratic<NativeArithmetic<T>> cls(
      ar, p.dim(), [&](Index i, Index k) { return static_cast<double>(in.A(i, k)); },
      [&](Index i) { return static_cast<double>(in.c[i]); }, static_cast<double>(in.alpha), order::Form::plain);
  const std::vector<T> theta = order::initial(ar, p.dim(), [&](Index i) { return static_cast<double>(in.theta[i]); });
  std::vector<T> g = body(ar, cls, theta);
  if (counts) *counts = cls.counts();
  return Tensor<T>(Shape{p.dim()}, std::move(g));
}

template <class T>
Tensor<T> exact_t(const QuadraticProblem<T>& p, Method m, order::Counts* counts) {
  return run(p, counts, [&](auto& ar, auto& cls, const std::vector<T>& theta) {
    switch (m) {
      case Method::stored: return order::exact_stored(cls, theta, p.steps());
      case Method::recompute: return order::exact_recompute(cls, theta, p.steps());
      case Method::forward: return order::exact_forward(ar, cls, theta, p.steps());
    }
    return order::exact_stored(cls, theta, p.steps());
  });
}

template <class T>
Tensor<T> fom_t(const QuadraticProblem<T>& p, order::Counts* counts) {
  return run(p, counts, [&](auto&, auto& cls, const std::vector<T>& theta) { return order::fom(cls, theta, p.steps()); });
}

template <class T>
Tensor<T> ufom_t(const UfomProblem<T>& u, order::Counts* counts) {
  return run(u.quad(), counts, [&](auto& ar, auto& cls, const std::vector<T>& theta) {
    return order::ufom(ar, cls, theta, u.quad().steps(), static_cast<double>(u.q()), u.xi());
  });
}

// [BILEVEL-UFOM-ADAPTIVE-CPU] sqrt (IEEE, correctly rounded), min, max and the comparison.
template <class T>
struct AdaptiveArithmetic : NativeArithmetic<T> {
  static T sqrt(T a) { return std::sqrt(a); }
  static T min(T a, T b) { return b < a ? b : a; }
  template <class Then, class Otherwise>
  static T at_least(T a, T b, const Then& then, const Otherwise& otherwise) {
    return a >= b ? then() : otherwise();
  }
};

template <class T>
AdaptiveUfomResult<T> ufom_adaptive_t(const AdaptiveUfomProblem<T>& a, order::Counts* counts) {
  const UfomProblem<T>& u = a.ufom();
  const auto& in = u.quad().in();
  AdaptiveArithmetic<T> ar;
  order::Quadratic<AdaptiveArithmetic<T>> cls(
      ar, u.quad().dim(), [&](Index i, Index k) { return static_cast<double>(in.A(i, k)); },
      [&](Index i) { return static_cast<double>(in.c[i]); }, static_cast<double>(in.alpha), order::Form::plain);
  const std::vector<T> theta = order::initial(ar, u.quad().dim(), [&](Index i) { return static_cast<double>(in.theta[i]); });
  auto est = order::ufom_adaptive_estimate(ar, cls, theta, u.quad().steps(), static_cast<double>(u.q()), u.xi());
  if (counts) *counts = cls.counts();
  AdaptiveUfomResult<T> out;
  out.grad = Tensor<T>(Shape{u.quad().dim()}, std::move(est.grad));
  out.q_next = u.q();
  out.ema_v2_next = a.ema_v2();
  out.ema_d2_next = a.ema_d2();
  if (u.xi() == 0) {
    if (a.exact_steps() > 0) {
      const T c = order::bias_correction(ar, a.exact_steps());
      out.v2 = ar.div(out.ema_v2_next, c);
      out.d2 = ar.div(out.ema_d2_next, c);
    }
    return out;
  }
  const auto s = order::adaptive_state(ar, est.v2_sample, est.d2_sample, static_cast<double>(a.ema_v2()),
                                       static_cast<double>(a.ema_d2()), a.exact_steps(), u.quad().steps());
  out.q_next = s.q_next;
  out.ema_v2_next = s.ema_v2;
  out.ema_d2_next = s.ema_d2;
  out.v2 = s.v2;
  out.d2 = s.d2;
  return out;
}

template <class T>
Tensor<T> ridge_t(const RidgeProblem<T>& p, Method m, order::Counts* counts) {
  NativeArithmetic<T> ar;
  const RidgeProblem<double> p64 = p.template cast<double>();
  order::Ridge<NativeArithmetic<T>> cls(ar, p64);
  const std::vector<T> w0 = order::initial(ar, p.dim(), [&](Index i) { return static_cast<double>(p.in().w0[i]); });
  std::vector<T> g = order::ridge_exact(ar, cls, w0, p.steps(), m);
  if (counts) *counts = cls.counts();
  return Tensor<T>(Shape{p.dim()}, std::move(g));
}

template <class T>
Tensor<T> quadratic_hvp_t(const HvpProblem<QuadraticProblem<T>>& h) {
  NativeArithmetic<T> ar;
  const auto& in = h.problem().in();
  order::Quadratic<NativeArithmetic<T>> cls(
      ar, h.problem().dim(), [&](Index i, Index k) { return static_cast<double>(in.A(i, k)); },
      [&](Index i) { return static_cast<double>(in.c[i]); }, 0.0, order::Form::plain);
  const std::vector<T> v = order::initial(ar, h.problem().dim(), [&](Index i) { return static_cast<double>(h.v()[i]); });
  return Tensor<T>(Shape{h.problem().dim()}, cls.hessian_product(v));
}

template <class T>
Tensor<T> ridge_hvp_t(const HvpProblem<RidgeProblem<T>>& h) {
  NativeArithmetic<T> ar;
  order::Ridge<NativeArithmetic<T>> cls(ar, h.problem().template cast<double>());
  const std::vector<T> v = order::initial(ar, h.problem().dim(), [&](Index i) { return static_cast<double>(h.v()[i]); });
  return Tensor<T>(Shape{h.problem().dim()}, cls.hessian_product(v));
}

}  // namespace

Tensor<float> hvp(const HvpProblem<QuadraticProblem<float>>& p) { return quadratic_hvp_t(p); }
Tensor<double> hvp(const HvpProblem<QuadraticProblem<double>>& p) { return quadratic_hvp_t(p); }
Tensor<float> hvp(const HvpProblem<RidgeProblem<float>>& p) { return ridge_hvp_t(p); }
Tensor<double> hvp(const HvpProblem<RidgeProblem<double>>& p) { return ridge_hvp_t(p); }

Tensor<float> hvp(const HvpProblem<LogisticProblem<float>>& p) { return logistic_hvp_t(p); }
Tensor<double> hvp(const HvpProblem<LogisticProblem<double>>& p) { return logistic_hvp_t(p); }

Tensor<float> logistic_hypergradient(const LogisticProblem<float>& p, Method m, order::Counts* c) {
  return run_logistic(p, c, [&](auto& ar, auto& cls, const auto& w0) { return order::ridge_exact(ar, cls, w0, p.steps(), m); });
}
Tensor<double> logistic_hypergradient(const LogisticProblem<double>& p, Method m, order::Counts* c) {
  return run_logistic(p, c, [&](auto& ar, auto& cls, const auto& w0) { return order::ridge_exact(ar, cls, w0, p.steps(), m); });
}
Tensor<float> logistic_fom(const LogisticProblem<float>& p, order::Counts* c) {
  return run_logistic(p, c, [&](auto& ar, auto& cls, const auto& w0) { return order::theta_fom(ar, cls, w0, p.steps()); });
}
Tensor<double> logistic_fom(const LogisticProblem<double>& p, order::Counts* c) {
  return run_logistic(p, c, [&](auto& ar, auto& cls, const auto& w0) { return order::theta_fom(ar, cls, w0, p.steps()); });
}
Tensor<float> logistic_ufom(const LogisticUfomProblem<float>& u, order::Counts* c) {
  return run_logistic(u.problem(), c, [&](auto& ar, auto& cls, const auto& w0) {
    return order::theta_ufom(ar, cls, w0, u.problem().steps(), static_cast<double>(u.q()), u.xi());
  });
}
Tensor<double> logistic_ufom(const LogisticUfomProblem<double>& u, order::Counts* c) {
  return run_logistic(u.problem(), c, [&](auto& ar, auto& cls, const auto& w0) {
    return order::theta_ufom(ar, cls, w0, u.problem().steps(), u.q(), u.xi());
  });
}

Tensor<float> maml_hypergradient(const MamlProblem<float>& p, Method m, order::Counts* c) { return maml_exact_t(p, m, c); }
Tensor<double> maml_hypergradient(const MamlProblem<double>& p, Method m, order::Counts* c) { return maml_exact_t(p, m, c); }
Tensor<float> maml_fom(const MamlProblem<float>& p, order::Counts* c) { return maml_fom_t(p, c); }
Tensor<double> maml_fom(const MamlProblem<double>& p, order::Counts* c) { return maml_fom_t(p, c); }

namespace generic {
Tensor<float> maml_hypergradient(const MamlProblem<float>& p, Method m, order::Counts* c) {
  return maml_exact_t<float, false>(p, m, c);
}
Tensor<double> maml_hypergradient(const MamlProblem<double>& p, Method m, order::Counts* c) {
  return maml_exact_t<double, false>(p, m, c);
}
Tensor<float> maml_fom(const MamlProblem<float>& p, order::Counts* c) { return maml_fom_t<float, false>(p, c); }
Tensor<double> maml_fom(const MamlProblem<double>& p, order::Counts* c) { return maml_fom_t<double, false>(p, c); }
}  // namespace generic

Tensor<float> ridge_hypergradient(const RidgeProblem<float>& p, Method m, order::Counts* c) { return ridge_t(p, m, c); }
Tensor<double> ridge_hypergradient(const RidgeProblem<double>& p, Method m, order::Counts* c) { return ridge_t(p, m, c); }

Tensor<float> exact_hypergradient(const QuadraticProblem<float>& p, Method m, order::Counts* c) { return exact_t(p, m, c); }
Tensor<double> exact_hypergradient(const QuadraticProblem<double>& p, Method m, order::Counts* c) { return exact_t(p, m, c); }
Tensor<float> fom(const QuadraticProblem<float>& p, order::Counts* c) { return fom_t(p, c); }
Tensor<double> fom(const QuadraticProblem<double>& p, order::Counts* c) { return fom_t(p, c); }
AdaptiveUfomResult<float> ufom_adaptive(const AdaptiveUfomProblem<float>& p, order::Counts* c) {
  return ufom_adaptive_t(p, c);
}
AdaptiveUfomResult<double> ufom_adaptive(const AdaptiveUfomProblem<double>& p, order::Counts* c) {
  return ufom_adaptive_t(p, c);
}
Tensor<float> ufom(const UfomProblem<float>& p, order::Counts* c) { return ufom_t(p, c); }
Tensor<double> ufom(const UfomProblem<double>& p, order::Counts* c) { return ufom_t(p, c); }

}  // namespace touchstone::bilevel::cpu
