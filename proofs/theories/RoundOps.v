(** * RoundOps.v -- forward error bounds for one rounded operation (fused
    multiply-add, multiply, add, a rounding of a computed value) with
    inexact inputs.

    Spec: spec/core.md, [CORE-ROUND-MUL], [CORE-ROUND-FMA] and
    [CORE-TRACKED-ADD].  These are the one-step propagation rules the C++
    bound code applies: each input is known through a magnitude bound M (on
    the exact value) and an error bound E (computed minus exact).  All
    results only use the rounding model [CORE-ROUND-MODEL] of Rounding.v.

    Two forms of the rounding term:

    - result-magnitude form ([fma_bound_result_mag], [mul_bound_result_mag],
      [add_bound_result_mag], [round_bound]): with M >= |exact result| (for
      example from an interval enclosure of the exact result) and prop the
      propagated input error (|computed argument - exact result| <= prop),
      the computed argument has magnitude <= M + prop, so the rounding
      adds at most u (M + prop) + E.  This is what core/tracked.hpp
      evaluates ([fma], [mul], [add], [round_to]).
    - operand form ([fma_bound], [mul_bound]): the same with
      M = Mx My + Mz, for which M + prop = (Mx+Ex)(My+Ey) + Mz + Ez; a
      corollary of the result-magnitude form.  This is what
      bounds/src/mamba_bound.cpp's [mul] evaluates.

    A sum of two floats has no underflow term (Rounding.v [add_rel]), so
    [add_bound_result_mag] has no E; it needs the computed operands to be
    floats of the format, which every computed value is.

    The scan-state bound [MAMBA-SCAN-BOUND-STATE] (MambaScanBound.v) is one
    application of [fma_bound_result_mag] per time step. *)

From Coq Require Import ZArith Reals Psatz.
From Flocq Require Import Core.
From Touchstone Require Import Rounding.

Open Scope R_scope.

(** Exact product error, first form: x^ y^ - x y = x^ (y^ - y) + y (x^ - x). *)
Lemma mul_err_split :
  forall x xh y yh : R,
  Rabs (xh * yh - x * y) <= Rabs xh * Rabs (yh - y) + Rabs y * Rabs (xh - x).
Proof.
  intros x xh y yh.
  replace (xh * yh - x * y) with (xh * (yh - y) + y * (xh - x)) by ring.
  rewrite <- !Rabs_mult. apply Rabs_triang.
Qed.

(** Product error in terms of magnitude/error bounds (no rounding yet). *)
Lemma mul_err_bound :
  forall x xh y yh Mx Ex My Ey : R,
  Rabs x <= Mx -> Rabs (xh - x) <= Ex ->
  Rabs y <= My -> Rabs (yh - y) <= Ey ->
  Rabs (xh * yh - x * y) <= Mx * Ey + Ex * My + Ex * Ey.
Proof.
  intros x xh y yh Mx Ex My Ey Hx Hex Hy Hey.
  (* x^ y^ - x y = x (y^ - y) + (x^ - x) y + (x^ - x)(y^ - y) *)
  replace (xh * yh - x * y)
    with (x * (yh - y) + (xh - x) * y + (xh - x) * (yh - y)) by ring.
  pose proof (Rabs_pos x). pose proof (Rabs_pos y).
  pose proof (Rabs_pos (xh - x)). pose proof (Rabs_pos (yh - y)).
  eapply Rle_trans; [apply Rabs_triang|].
  eapply Rle_trans; [apply Rplus_le_compat_r, Rabs_triang|].
  rewrite !Rabs_mult.
  repeat apply Rplus_le_compat; apply Rmult_le_compat; assumption.
Qed.

(** Magnitude of a perturbed value: |x^| <= M + E. *)
Lemma abs_approx_le :
  forall x xh M Er : R, Rabs x <= M -> Rabs (xh - x) <= Er -> Rabs xh <= M + Er.
Proof.
  intros x xh M Er Hx He.
  replace xh with (x + (xh - x)) by ring.
  eapply Rle_trans; [apply Rabs_triang|]. lra.
Qed.

Section RoundOps.

Variables emin prec : Z.
Hypothesis Hprec : (0 < prec)%Z.

Local Notation u := (Rounding.u prec).
Local Notation E := (Rounding.E emin).
Local Notation rnd := (Rounding.rnd emin prec).
Local Notation format := (generic_format radix2 (FLT_exp emin prec)).

(** The general step: an argument within [prop] of an exact value of
    magnitude at most [M] rounds to within prop + u (M + prop) + E of it. *)
Lemma round_prop_bound :
  forall w wh M prop : R,
  Rabs w <= M -> Rabs (wh - w) <= prop ->
  Rabs (rnd wh - w) <= prop + u * (M + prop) + E.
Proof.
  intros w wh M prop Hw Hp.
  assert (Hwh := abs_approx_le _ _ _ _ Hw Hp).
  pose proof (round_abs_error_le emin prec Hprec _ _ Hwh) as Hr.
  replace (rnd wh - w) with ((rnd wh - wh) + (wh - w)) by ring.
  eapply Rle_trans; [apply Rabs_triang|]. lra.
Qed.

(** One more rounding of a computed value (core/tracked.hpp [round_to],
    the extra roundings and the storage rounding of
    bounds/src/mamba_bound.cpp): |rnd x^ - x| <= Ex + u (M + Ex) + E. *)
(* proves: CORE-ROUND-MODEL *)
Theorem round_bound :
  forall x xh M Ex : R,
  Rabs x <= M -> Rabs (xh - x) <= Ex ->
  Rabs (rnd xh - x) <= Ex + u * (M + Ex) + E.
Proof. intros; apply round_prop_bound; assumption. Qed.

(** fma, result-magnitude form: with |x y + z| <= M and
    prop = Mx Ey + Ex My + Ex Ey + Ez,
    |rnd(x^ y^ + z^) - (x y + z)| <= prop + u (M + prop) + E.
    (No bound on |z| is needed: M bounds the exact result.) *)
(* proves: CORE-ROUND-FMA *)
Theorem fma_bound_result_mag :
  forall x xh y yh z zh Mx Ex My Ey Ez M : R,
  Rabs x <= Mx -> Rabs (xh - x) <= Ex ->
  Rabs y <= My -> Rabs (yh - y) <= Ey ->
  Rabs (zh - z) <= Ez ->
  Rabs (x * y + z) <= M ->
  Rabs (rnd (xh * yh + zh) - (x * y + z))
    <= (Mx * Ey + Ex * My + Ex * Ey + Ez)
       + u * (M + (Mx * Ey + Ex * My + Ex * Ey + Ez)) + E.
Proof.
  intros x xh y yh z zh Mx Ex My Ey Ez M Hx Hex Hy Hey Hez HM.
  apply round_prop_bound; [exact HM|].
  replace (xh * yh + zh - (x * y + z)) with ((xh * yh - x * y) + (zh - z)) by ring.
  eapply Rle_trans; [apply Rabs_triang|].
  pose proof (mul_err_bound x xh y yh Mx Ex My Ey Hx Hex Hy Hey). lra.
Qed.

(** Product, result-magnitude form: with |x y| <= M and
    prop = Mx Ey + Ex My + Ex Ey,
    |rnd(x^ y^) - x y| <= prop + u (M + prop) + E. *)
(* proves: CORE-ROUND-MUL *)
Theorem mul_bound_result_mag :
  forall x xh y yh Mx Ex My Ey M : R,
  Rabs x <= Mx -> Rabs (xh - x) <= Ex ->
  Rabs y <= My -> Rabs (yh - y) <= Ey ->
  Rabs (x * y) <= M ->
  Rabs (rnd (xh * yh) - x * y)
    <= (Mx * Ey + Ex * My + Ex * Ey) + u * (M + (Mx * Ey + Ex * My + Ex * Ey)) + E.
Proof.
  intros x xh y yh Mx Ex My Ey M Hx Hex Hy Hey HM.
  (* a product is an fma with a zero addend known exactly *)
  assert (H0 : Rabs (0 - 0) <= 0) by (rewrite Rminus_0_r, Rabs_R0; lra).
  assert (HM0 : Rabs (x * y + 0) <= M) by (rewrite Rplus_0_r; exact HM).
  pose proof (fma_bound_result_mag x xh y yh 0 0 Mx Ex My Ey 0 M
                Hx Hex Hy Hey H0 HM0) as H.
  rewrite !Rplus_0_r in H. exact H.
Qed.

(** Sum of two computed floats, result-magnitude form, no underflow term:
    with |x + y| <= M,
    |rnd(x^ + y^) - (x + y)| <= (Ex + Ey) + u (M + (Ex + Ey)). *)
(* proves: CORE-TRACKED-ADD *)
Theorem add_bound_result_mag :
  forall x xh y yh Ex Ey M : R,
  format xh -> format yh ->
  Rabs (xh - x) <= Ex -> Rabs (yh - y) <= Ey ->
  Rabs (x + y) <= M ->
  Rabs (rnd (xh + yh) - (x + y)) <= (Ex + Ey) + u * (M + (Ex + Ey)).
Proof.
  intros x xh y yh Ex Ey M Fx Fy Hex Hey HM.
  destruct (add_rel emin prec Hprec xh yh Fx Fy) as (d & Hd & Hr).
  rewrite Hr.
  assert (Hp : Rabs (xh + yh - (x + y)) <= Ex + Ey).
  { replace (xh + yh - (x + y)) with ((xh - x) + (yh - y)) by ring.
    eapply Rle_trans; [apply Rabs_triang|]. lra. }
  assert (Hs := abs_approx_le _ _ _ _ HM Hp).
  replace ((xh + yh) * (1 + d) - (x + y))
    with ((xh + yh - (x + y)) + d * (xh + yh)) by ring.
  eapply Rle_trans; [apply Rabs_triang|].
  rewrite Rabs_mult.
  assert (Rabs d * Rabs (xh + yh) <= u * (M + (Ex + Ey)))
    by (apply Rmult_le_compat; auto using Rabs_pos).
  lra.
Qed.

(** The difference, as core/tracked.hpp [sub] evaluates it (x - y as
    x + (-y)): the same bound. *)
(* proves: CORE-TRACKED-ADD *)
Corollary sub_bound_result_mag :
  forall x xh y yh Ex Ey M : R,
  format xh -> format yh ->
  Rabs (xh - x) <= Ex -> Rabs (yh - y) <= Ey ->
  Rabs (x - y) <= M ->
  Rabs (rnd (xh - yh) - (x - y)) <= (Ex + Ey) + u * (M + (Ex + Ey)).
Proof.
  intros x xh y yh Ex Ey M Fx Fy Hex Hey HM.
  assert (Fy' : format (- yh)) by (apply generic_format_opp; exact Fy).
  assert (Hey' : Rabs (- yh - - y) <= Ey).
  { replace (- yh - - y) with (- (yh - y)) by ring. rewrite Rabs_Ropp. exact Hey. }
  pose proof (add_bound_result_mag x xh (- y) (- yh) Ex Ey M Fx Fy' Hex Hey' HM) as H.
  exact H.
Qed.

(** fma, operand form: the corollary with M = Mx My + Mz, for which
    M + prop = (Mx + Ex)(My + Ey) + Mz + Ez. *)
(* proves: CORE-ROUND-FMA *)
Theorem fma_bound :
  forall x xh y yh z zh Mx Ex My Ey Mz Ez : R,
  Rabs x <= Mx -> Rabs (xh - x) <= Ex ->
  Rabs y <= My -> Rabs (yh - y) <= Ey ->
  Rabs z <= Mz -> Rabs (zh - z) <= Ez ->
  Rabs (rnd (xh * yh + zh) - (x * y + z))
    <= Mx * Ey + Ex * My + Ex * Ey + Ez
       + u * ((Mx + Ex) * (My + Ey) + Mz + Ez) + E.
Proof.
  intros x xh y yh z zh Mx Ex My Ey Mz Ez Hx Hex Hy Hey Hz Hez.
  assert (HM : Rabs (x * y + z) <= Mx * My + Mz).
  { eapply Rle_trans; [apply Rabs_triang|]. rewrite Rabs_mult.
    assert (Rabs x * Rabs y <= Mx * My) by (apply Rmult_le_compat; auto using Rabs_pos).
    lra. }
  eapply Rle_trans;
    [apply (fma_bound_result_mag x xh y yh z zh Mx Ex My Ey Ez (Mx * My + Mz));
     assumption|].
  right. ring.
Qed.

(** Product, operand form: the corollary with M = Mx My. *)
(* proves: CORE-ROUND-MUL *)
Theorem mul_bound :
  forall x xh y yh Mx Ex My Ey : R,
  Rabs x <= Mx -> Rabs (xh - x) <= Ex ->
  Rabs y <= My -> Rabs (yh - y) <= Ey ->
  Rabs (rnd (xh * yh) - x * y)
    <= Mx * Ey + Ex * My + Ex * Ey + u * ((Mx + Ex) * (My + Ey)) + E.
Proof.
  intros x xh y yh Mx Ex My Ey Hx Hex Hy Hey.
  assert (HM : Rabs (x * y) <= Mx * My)
    by (rewrite Rabs_mult; apply Rmult_le_compat; auto using Rabs_pos).
  eapply Rle_trans;
    [apply (mul_bound_result_mag x xh y yh Mx Ex My Ey (Mx * My)); assumption|].
  right. ring.
Qed.

End RoundOps.
