(** * RoundOps.v -- forward error bounds for one rounded multiply and one
    fused multiply-add with inexact inputs.

    Spec: spec/core.md, [CORE-ROUND-MUL] and [CORE-ROUND-FMA].  These are
    the one-step "interval-like" propagation rules the C++ bound code
    applies: each input is known through a magnitude bound M (on the exact
    value) and an error bound E (computed minus exact).  Both results only
    use the rounding model [CORE-ROUND-MODEL] of Rounding.v.

    The scan-state bound [MAMBA-SCAN-BOUND-STATE] (MambaScanBound.v) is one
    application of [fma_bound] per time step. *)

From Coq Require Import ZArith Reals Psatz.
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
  (* magnitude of the exact argument of the rounding *)
  assert (Hxh := abs_approx_le _ _ _ _ Hx Hex).
  assert (Hyh := abs_approx_le _ _ _ _ Hy Hey).
  assert (Hzh := abs_approx_le _ _ _ _ Hz Hez).
  assert (Harg : Rabs (xh * yh + zh) <= (Mx + Ex) * (My + Ey) + Mz + Ez).
  { eapply Rle_trans; [apply Rabs_triang|]. rewrite Rabs_mult.
    assert (Rabs xh * Rabs yh <= (Mx + Ex) * (My + Ey)).
    { apply Rmult_le_compat; auto using Rabs_pos. }
    lra. }
  (* split: rounding error + propagated input error *)
  replace (rnd (xh * yh + zh) - (x * y + z))
    with ((rnd (xh * yh + zh) - (xh * yh + zh))
          + ((xh * yh - x * y) + (zh - z))) by ring.
  eapply Rle_trans; [apply Rabs_triang|].
  pose proof (round_abs_error_le emin prec Hprec _ _ Harg) as Hr.
  pose proof (mul_err_bound x xh y yh Mx Ex My Ey Hx Hex Hy Hey) as Hm.
  pose proof (Rabs_triang (xh * yh - x * y) (zh - z)).
  lra.
Qed.

(* proves: CORE-ROUND-MUL *)
Theorem mul_bound :
  forall x xh y yh Mx Ex My Ey : R,
  Rabs x <= Mx -> Rabs (xh - x) <= Ex ->
  Rabs y <= My -> Rabs (yh - y) <= Ey ->
  Rabs (rnd (xh * yh) - x * y)
    <= Mx * Ey + Ex * My + Ex * Ey + u * ((Mx + Ex) * (My + Ey)) + E.
Proof.
  intros x xh y yh Mx Ex My Ey Hx Hex Hy Hey.
  (* a product is an fma with a zero addend known exactly *)
  assert (H0 : Rabs 0 <= 0) by (rewrite Rabs_R0; lra).
  assert (H0' : Rabs (0 - 0) <= 0) by (rewrite Rminus_0_r, Rabs_R0; lra).
  pose proof (fma_bound x xh y yh 0 0 Mx Ex My Ey 0 0 Hx Hex Hy Hey H0 H0') as H.
  rewrite !Rplus_0_r in H. exact H.
Qed.

End RoundOps.
