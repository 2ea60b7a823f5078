// The Cauchy kernel's and its VJP's per-element bodies ([S4-CAUCHY-CUDA]; the order is documented
// in s4_cauchy.hpp): __host__ __device__ functions that the kernels (s4_cauchy.cu) run once per
// output element and that tests/s4/cauchy_test.cpp runs on the host, with the split float arrays
// both marshal from a problem. Plain C++ when not compiled by nvcc.
#pragma once

#include <vector>

#include "touchstone/reference/s4_problem.hpp"

#if defined(__CUDACC__)
#define TOUCHSTONE_S4_HD __host__ __device__
#else
#define TOUCHSTONE_S4_HD
#endif

namespace touchstone::s4::cuda {

// Split (re, im) float arrays: v, w (H, N); z (L,); dout (H, L).
struct CauchyView {
  const float *vr, *vi, *wr, *wi, *zr, *zi;
  const float *gr, *gi;  // dout, backward only
  long long H, N, L;
  bool halves;
};

// embed-begin cuda_cauchy_point
TOUCHSTONE_S4_HD inline void cauchy_point(const CauchyView& c, long long h, long long l, float* re, float* im) {
  float ar = 0.0f, ai = 0.0f;
  const float zr = c.zr[l], zi = c.zi[l];
  for (long long n = 0; n < c.N; ++n) {
    const long long i = h * c.N + n;
    const float vr = c.vr[i], vi = c.vi[i], wr = c.wr[i], wi = c.wi[i];
    const float x = zr - wr, d = zi - wi;
    const float den = x * x + d * d;
    ar += (vr * x + vi * d) / den;
    ai += (vi * x - vr * d) / den;
    if (c.halves) {
      const float d2 = zi + wi;
      const float den2 = x * x + d2 * d2;
      ar += (vr * x + (-vi) * d2) / den2;
      ai += ((-vi) * x - vr * d2) / den2;
    }
  }
  *re = ar;
  *im = ai;
}
// embed-end cuda_cauchy_point

// out: dv.re, dv.im, dw.re, dw.im of (h, n).
TOUCHSTONE_S4_HD inline void cauchy_backward_point(const CauchyView& c, long long h, long long n, float* out) {
  const long long i = h * c.N + n;
  const float vr = c.vr[i], vi = c.vi[i], wr = c.wr[i], wi = c.wi[i];
  float dvr = 0.0f, dvi = 0.0f, dwr = 0.0f, dwi = 0.0f;
  for (long long l = 0; l < c.L; ++l) {
    const float zr = c.zr[l], zi = c.zi[l];
    const float gr = c.gr[h * c.L + l], gi = c.gi[h * c.L + l];
    const float ar = zr - wr, ai = zi - wi;
    const float den = ar * ar + ai * ai;
    dvr += (gr * ar + gi * (-ai)) / den;
    dvi += (gi * ar - gr * (-ai)) / den;
    const float qr = ar * ar - ai * ai, qi = ar * ai + ai * ar;
    const float qden = qr * qr + qi * qi;
    const float sr = (vr * qr + vi * qi) / qden, si = (vi * qr - vr * qi) / qden;
    dwr += gr * sr - gi * (-si);
    dwi += gr * (-si) + gi * sr;
    if (c.halves) {
      const float bi = zi + wi;
      const float den2 = ar * ar + bi * bi;
      dvr += (gr * ar + (-gi) * bi) / den2;
      dvi += ((-gi) * ar - gr * bi) / den2;
      const float q2r = ar * ar - bi * bi, q2i = ar * bi + bi * ar;
      const float q2den = q2r * q2r + q2i * q2i;
      const float s2r = (vr * q2r + (-vi) * q2i) / q2den, s2i = ((-vi) * q2r - vr * q2i) / q2den;
      dwr += gr * s2r - (-gi) * s2i;
      dwi += gr * s2i + (-gi) * s2r;
    }
  }
  out[0] = dvr;
  out[1] = dvi;
  out[2] = dwr;
  out[3] = dwi;
}

// Split arrays of a problem, rounded to float (the inputs must be float values already).
struct CauchyHostArrays {
  std::vector<float> vr, vi, wr, wi, zr, zi, gr, gi;
  CauchyView view(const CauchyProblem& p) const {
    return {vr.data(), vi.data(), wr.data(), wi.data(), zr.data(), zi.data(), gr.data(), gi.data(),
            p.H, p.N, p.L, p.conj == Conj::halves};
  }
};
inline CauchyHostArrays host_arrays(const CauchyProblem& p, const std::vector<cdouble>* dout) {
  CauchyHostArrays a;
  auto sp = [](const std::vector<cdouble>& s, std::vector<float>& re, std::vector<float>& im) {
    for (const cdouble& z : s) re.push_back(static_cast<float>(z.real())), im.push_back(static_cast<float>(z.imag()));
  };
  sp(p.v, a.vr, a.vi);
  sp(p.w, a.wr, a.wi);
  sp(p.z, a.zr, a.zi);
  if (dout) sp(*dout, a.gr, a.gi);
  return a;
}


}  // namespace touchstone::s4::cuda
