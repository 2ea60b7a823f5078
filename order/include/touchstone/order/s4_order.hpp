// The operation sequence of the DPLR kernel's VJP on the CPU (spec/s4.md [S4-DPLR-VJP-CPU]),
// written once over an arithmetic policy: optimized/cpu/s4.cpp runs it with float or double
// complex arithmetic (the backend), bounds/src/s4_bound.cpp with error tracking
// ([S4-DPLR-VJP-BOUND]), so the bound is for exactly the backend's order. This is not the oracle:
// the oracle is reference::kernel_dplr_vjp (MPC), written independently from the spec's formulas.
//
// A policy provides a complex value type Z and
//   Z exact(cdouble), Z add(Z, Z), Z sub(Z, Z), Z mul(Z, Z) (two products and one addition per
//   part), Z div(Z, Z) (textbook, one division per part), Z conj(Z), Z re(Z) (the real part),
//   Z node_t(Z, Index k), Z node_g(Z, Index k) (the identity for the backend).
#pragma once

#include <vector>

#include "touchstone/reference/s4_problem.hpp"

namespace touchstone::s4::backward_core {

template <class Z>
struct ChannelGrads {
  std::vector<Z> Lambda, P, Q, B, C;  // per stored mode n, this channel's contribution
  Z step;
};

// embed-begin dplr_vjp_channel
// G[k]: ∂ℓ/∂K̂_k (already divided by L); tk[k]: the node values tan(πk/L) (unused at k = L/2).
template <class Ar>
ChannelGrads<typename Ar::Z> dplr_vjp_channel(Ar& ar, const DplrProblem& p, Index h,
                                              const std::vector<typename Ar::Z>& G,
                                              const std::vector<typename Ar::Z>& tk) {
  using Z = typename Ar::Z;
  const Index N = p.N, L = p.L;
  const bool halves = p.conj == Conj::halves;
  const Z zero = ar.exact({0, 0}), one = ar.exact({1, 0});
  const Z step = ar.exact({p.step_at(h), 0});
  const Z half_step = ar.div(step, ar.exact({2, 0}));
  const Z q = ar.div(ar.exact({2, 0}), step);
  std::vector<Z> lam, C, B, P, Q, v[4];
  for (Index n = 0; n < N; ++n) {
    lam.push_back(ar.exact(p.Lambda.at(h, n)));
    C.push_back(ar.exact(p.C.at(h, n)));
    B.push_back(ar.exact(p.B.at(h, n)));
    P.push_back(ar.exact(p.P.at(h, n)));
    Q.push_back(ar.exact(p.Q.at(h, n)));
    v[0].push_back(ar.mul(ar.conj(C[n]), B[n]));
    v[1].push_back(ar.mul(ar.conj(C[n]), P[n]));
    v[2].push_back(ar.mul(ar.conj(Q[n]), B[n]));
    v[3].push_back(ar.mul(ar.conj(Q[n]), P[n]));
  }
  std::vector<Z> Gv[4], gL(static_cast<std::size_t>(N), zero);
  for (auto& g : Gv) g.assign(static_cast<std::size_t>(N), zero);
  Z dstep = zero;
  std::vector<Z> R(N), Rc(N);
  for (Index k = 0; k < L; ++k) {
    if (L % 2 == 0 && 2 * k == L) {
      // K̂ = (Δ/2) Σ (v00 [+ conj v00]).
      const Z Gh = ar.mul(G[k], half_step), Gch = ar.mul(ar.conj(G[k]), half_step);
      Z s = zero;
      for (Index n = 0; n < N; ++n) {
        Gv[0][n] = ar.add(Gv[0][n], Gh);
        s = ar.add(s, v[0][n]);
        if (halves) {
          Gv[0][n] = ar.add(Gv[0][n], Gch);
          s = ar.add(s, ar.conj(v[0][n]));
        }
      }
      dstep = ar.add(dstep, ar.re(ar.div(ar.mul(ar.conj(G[k]), s), ar.exact({2, 0}))));
      continue;
    }
    // node_t / node_g return their argument unchanged (the bound's coherent analysis marks the
    // node's values there, [S4-DPLR-VJP-BOUND] (c)).
    const Z t = ar.node_t(tk[k], k);
    const Z gim = ar.mul(q, t);                            // real
    const Z I = ar.exact({0, 1});
    const Z g = ar.node_g(ar.mul(gim, I), k);              // i g: the parts swap
    const Z c = ar.add(one, ar.mul(t, I));                 // 1 + i t
    Z kk[4] = {zero, zero, zero, zero};
    for (Index n = 0; n < N; ++n) {
      R[n] = ar.div(one, ar.sub(g, lam[n]));
      if (halves) Rc[n] = ar.div(one, ar.sub(g, ar.conj(lam[n])));
      for (int a = 0; a < 4; ++a) {
        kk[a] = ar.add(kk[a], ar.mul(v[a][n], R[n]));
        if (halves) kk[a] = ar.add(kk[a], ar.mul(ar.conj(v[a][n]), Rc[n]));
      }
    }
    const Z D = ar.add(one, kk[3]);
    const Z cD = ar.div(c, D);
    const Z dk[4] = {c, ar.sub(zero, ar.mul(cD, kk[2])), ar.sub(zero, ar.mul(cD, kk[1])),
                     ar.div(ar.mul(cD, ar.mul(kk[1], kk[2])), D)};
    // ∂g/∂Δ = −g/Δ.
    const Z dgdstep = ar.sub(zero, ar.div(g, step));
    // Y = Σ_a dk_a ∂k_a/∂g, so that the node's dstep term is Re(conj(G) Y ∂g/∂Δ): the four
    // factors are combined before G enters (they cancel strongly for HiPPO).
    Z Y = zero;
    for (int a = 0; a < 4; ++a) {
      const Z Ga = ar.mul(G[k], ar.conj(dk[a]));
      Z dg = zero;
      for (Index n = 0; n < N; ++n) {
        const Z R2 = ar.mul(R[n], R[n]);
        const Z vR2 = ar.mul(v[a][n], R2);
        Gv[a][n] = ar.add(Gv[a][n], ar.mul(Ga, ar.conj(R[n])));
        gL[n] = ar.add(gL[n], ar.mul(Ga, ar.conj(vR2)));
        dg = ar.sub(dg, vR2);
        if (halves) {
          const Z Rc2 = ar.mul(Rc[n], Rc[n]);
          const Z cvRc2 = ar.mul(ar.conj(v[a][n]), Rc2);
          const Z Gac = ar.conj(Ga);
          Gv[a][n] = ar.add(Gv[a][n], ar.mul(Gac, Rc[n]));
          gL[n] = ar.add(gL[n], ar.mul(Gac, cvRc2));
          dg = ar.sub(dg, cvRc2);
        }
      }
      Y = ar.add(Y, ar.mul(dk[a], dg));
    }
    dstep = ar.add(dstep, ar.re(ar.mul(ar.mul(ar.conj(G[k]), Y), dgdstep)));
  }
  ChannelGrads<Z> out;
  out.Lambda = gL;
  out.step = dstep;
  for (Index n = 0; n < N; ++n) {
    out.B.push_back(ar.add(ar.mul(Gv[0][n], C[n]), ar.mul(Gv[2][n], Q[n])));
    out.P.push_back(ar.add(ar.mul(Gv[1][n], C[n]), ar.mul(Gv[3][n], Q[n])));
    out.C.push_back(ar.add(ar.mul(ar.conj(Gv[0][n]), B[n]), ar.mul(ar.conj(Gv[1][n]), P[n])));
    out.Q.push_back(ar.add(ar.mul(ar.conj(Gv[2][n]), B[n]), ar.mul(ar.conj(Gv[3][n]), P[n])));
  }
  return out;
}
// embed-end dplr_vjp_channel

}  // namespace touchstone::s4::backward_core
