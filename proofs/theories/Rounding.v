(** * Rounding.v -- the floating-point rounding model used by every bound.

    Spec: spec/core.md, [CORE-ROUND-MODEL] (and the helper bounds
    [CORE-ROUND-MUL], [CORE-ROUND-FMA]).

    The C++ error bounds never reason about bits; they only use the
    "standard model with underflow": for the binary format with precision
    [prec] and minimal exponent [emin] (FLT format, radix 2; binary32 is
    prec = 24, emin = -149, binary64 is prec = 53, emin = -1074), rounding
    to nearest, ties to even, satisfies

        rnd x = x (1 + d) + e,   |d| <= u = 2^-prec,  |e| <= E = 2^(emin-1),
                                 d * e = 0.

    This file restates Flocq's [error_N_FLT] (Flocq/Prop/Relative.v, which
    is stated with /2 * bpow (-prec+1) and /2 * bpow emin for an arbitrary
    tie-breaking rule) in exactly these terms, and derives the absolute
    form |rnd x - x| <= u |x| + E.  Overflow is outside the model: Flocq's
    [round] is the unbounded-exponent rounding, so the C++ side must check
    separately that no intermediate overflows (see spec/core.md).

    At the end, two facts about floats (values in the format): a rounded
    value is one ([format_rnd]), and the rounded sum of two floats has a
    relative error only, no underflow term ([add_rel], from Flocq's
    [FLT_plus_error_N_ex]: a sum that small is exact). *)

From Coq Require Import ZArith Reals Psatz.
From Flocq Require Import Core Relative Plus_error.

Open Scope R_scope.

(** Unit roundoff u = 2^-prec and the underflow (absolute) error bound
    E = 2^(emin-1), i.e. half the smallest positive subnormal. *)
Definition u (prec : Z) : R := bpow radix2 (- prec).
Definition E (emin : Z) : R := bpow radix2 (emin - 1).

(** Round to nearest, ties to even, in FLT(emin, prec) radix 2. *)
Definition rnd (emin prec : Z) (x : R) : R :=
  round radix2 (FLT_exp emin prec) ZnearestE x.

Lemma u_pos : forall prec, 0 < u prec.
Proof. intros; apply bpow_gt_0. Qed.

Lemma E_pos : forall emin, 0 < E emin.
Proof. intros; apply bpow_gt_0. Qed.

Lemma u_nonneg : forall prec, 0 <= u prec.
Proof. intros; apply Rlt_le, u_pos. Qed.

Lemma E_nonneg : forall emin, 0 <= E emin.
Proof. intros; apply Rlt_le, E_pos. Qed.

(** The constants for the two IEEE formats the C++ code uses (by
    computation; 2^-24 ~ 5.96e-8, 2^-150 ~ 7.0e-46, 2^-53 ~ 1.11e-16,
    2^-1075 ~ 2.47e-324). *)
Lemma u_binary32 : u 24 = / IZR (2 ^ 24).
Proof. reflexivity. Qed.
Lemma E_binary32 : E (-149) = / IZR (2 ^ 150).
Proof. reflexivity. Qed.
Lemma u_binary64 : u 53 = / IZR (2 ^ 53).
Proof. reflexivity. Qed.
Lemma E_binary64 : E (-1074) = / IZR (2 ^ 1075).
Proof. reflexivity. Qed.

(** Flocq's constants are the same numbers as ours: /2 * 2^(1-prec) = 2^-prec
    and /2 * 2^emin = 2^(emin-1). *)
Lemma half_bpow_succ : forall e : Z, / 2 * bpow radix2 (e + 1) = bpow radix2 e.
Proof.
  intros e. rewrite bpow_plus_1. simpl (IZR (radix_val radix2)). field.
Qed.

Lemma u_flocq : forall prec, / 2 * bpow radix2 (- prec + 1) = u prec.
Proof. intros; unfold u; apply half_bpow_succ. Qed.

Lemma E_flocq : forall emin, / 2 * bpow radix2 emin = E emin.
Proof.
  intros emin. unfold E.
  replace emin with ((emin - 1) + 1)%Z at 1 by ring.
  apply half_bpow_succ.
Qed.

(* proves: CORE-ROUND-MODEL *)
Theorem round_model :
  forall (emin prec : Z), (0 < prec)%Z ->
  forall x : R, exists d e : R,
    rnd emin prec x = x * (1 + d) + e /\
    Rabs d <= u prec /\ Rabs e <= E emin /\ d * e = 0.
Proof.
  intros emin prec Hprec x.
  destruct (error_N_FLT radix2 emin prec Hprec (fun z => negb (Z.even z)) x)
    as (d & e & Hd & He & Hde & Hr).
  exists d, e.
  rewrite <- u_flocq, <- E_flocq.
  unfold rnd. repeat split; assumption.
Qed.

(* proves: CORE-ROUND-MODEL *)
Corollary round_abs_error :
  forall (emin prec : Z), (0 < prec)%Z ->
  forall x : R, Rabs (rnd emin prec x - x) <= u prec * Rabs x + E emin.
Proof.
  intros emin prec Hprec x.
  destruct (round_model emin prec Hprec x) as (d & e & Hr & Hd & He & _).
  rewrite Hr.
  replace (x * (1 + d) + e - x) with (d * x + e) by ring.
  eapply Rle_trans; [apply Rabs_triang|].
  rewrite Rabs_mult.
  apply Rplus_le_compat; [|exact He].
  apply Rmult_le_compat_r; [apply Rabs_pos|exact Hd].
Qed.

(** Convenient weaker form used by the bounds: the rounding error of a
    value whose magnitude is bounded by M is at most u M + E. *)
Lemma round_abs_error_le :
  forall (emin prec : Z), (0 < prec)%Z ->
  forall x M : R, Rabs x <= M ->
  Rabs (rnd emin prec x - x) <= u prec * M + E emin.
Proof.
  intros emin prec Hprec x M HM.
  eapply Rle_trans; [apply round_abs_error; exact Hprec|].
  apply Rplus_le_compat_r, Rmult_le_compat_l; [apply u_nonneg|exact HM].
Qed.

(** ** Floats and sums of floats. *)
Section Sums.

Variables emin prec : Z.
Hypothesis Hprec : (0 < prec)%Z.

Let Hprec_inst : Prec_gt_0 prec := Hprec.
Existing Instance Hprec_inst.

Local Notation format := (generic_format radix2 (FLT_exp emin prec)).

(** A rounded value is a float. *)
Lemma format_rnd : forall x, format (rnd emin prec x).
Proof. intros x; apply generic_format_round; auto with typeclass_instances. Qed.

(** The sum of two floats rounds with a relative error only:
    rnd (x + y) = (x + y)(1 + d), |d| <= u (no underflow term). *)
Lemma add_rel : forall x y, format x -> format y ->
  exists d, Rabs d <= u prec /\ rnd emin prec (x + y) = (x + y) * (1 + d).
Proof.
  intros x y Fx Fy.
  destruct (FLT_plus_error_N_ex radix2 emin prec (fun z => negb (Z.even z)) x y Fx Fy)
    as (d & Hd & Hr).
  exists d; split; [|exact Hr].
  rewrite <- u_flocq. unfold u_ro in Hd.
  set (v := / 2 * bpow radix2 (- prec + 1)) in *.
  assert (0 < v) by (unfold v; apply Rmult_lt_0_compat; [lra|apply bpow_gt_0]).
  eapply Rle_trans; [exact Hd|].
  apply (Rmult_le_reg_r (1 + v)); [lra|].
  unfold Rdiv; rewrite Rmult_assoc, Rinv_l by lra. nra.
Qed.

End Sums.
