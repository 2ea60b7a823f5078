(** * SeqSumBound.v -- rounding-error bound of a sequential floating-point
    sum of inexact terms.

    Spec: spec/s4_identities.md, [S4-ID-CAUCHY-BOUND] (the accumulation of
    a Cauchy sum; the per-term error of a Cauchy term, one complex
    quotient, is ComplexPartBounds.v's [cdiv_part_bound]).  The same bound
    for any order of pairwise additions is TreeSum.v's [tree_sum_bound]
    (spec/core.md [CORE-TRACKED-SUM]).

    Terms t_i (exact), computed terms th_i (floats) with |th_i - t_i| <= e_i,
    partial sums s_0 = 0, s_k = fl(s_(k-1) + th_(k-1)); then

        |s_n - sum_(i<n) t_i| <= sum_(i<n) e_i
                                 + ((1+u)^(n-1) - 1) sum_(i<n) (|t_i| + e_i).

    The rounding model is Rounding.v's ([rnd], round to nearest even in
    FLT(emin, prec), unbounded exponent: no overflow).  A sum of two floats
    has no underflow error (Rounding.v [add_rel], from Flocq's
    [FLT_plus_error_N_ex]: a sum that small is exact), so no E term
    appears; the first addition 0 + th_0 is exact.

    Indexing: terms are numbered from 0 ([t 0] is the first term); [ssum f k]
    is f 0 + ... + f (k-1). *)

From Coq Require Import ZArith Reals Psatz.
From Flocq Require Import Core.
From Touchstone Require Import Rounding.

Open Scope R_scope.

(** Sum of the first k values of f (sequential, exact). *)
Fixpoint ssum (f : nat -> R) (k : nat) : R :=
  match k with
  | O => 0
  | S k' => ssum f k' + f k'
  end.

Lemma ssum_le : forall f g k, (forall i, f i <= g i) -> ssum f k <= ssum g k.
Proof.
  intros f g k H; induction k as [|k IH]; simpl; [lra|]. specialize (H k). lra.
Qed.

Lemma ssum_nonneg : forall f k, (forall i, 0 <= f i) -> 0 <= ssum f k.
Proof.
  intros f k H; induction k as [|k IH]; simpl; [lra|]. specialize (H k). lra.
Qed.

Lemma ssum_abs : forall f k, Rabs (ssum f k) <= ssum (fun i => Rabs (f i)) k.
Proof.
  intros f k; induction k as [|k IH]; simpl.
  - rewrite Rabs_R0; lra.
  - eapply Rle_trans; [apply Rabs_triang|]. lra.
Qed.

Lemma ssum_minus : forall f g k, ssum f k - ssum g k = ssum (fun i => f i - g i) k.
Proof. intros f g k; induction k as [|k IH]; simpl; lra. Qed.

(** (1+u)^m >= 1. *)
Lemma pow_1pu_ge1 : forall prec m, 1 <= (1 + u prec) ^ m.
Proof. intros; apply pow_R1_Rle; pose proof (u_pos prec); lra. Qed.

Section SeqSum.

Variables emin prec : Z.
Hypothesis Hprec : (0 < prec)%Z.

Local Notation u := (Rounding.u prec).
Local Notation rnd := (Rounding.rnd emin prec).
Local Notation format := (generic_format radix2 (FLT_exp emin prec)).

Let Hprec_inst : Prec_gt_0 prec := Hprec.
Existing Instance Hprec_inst.

(** Exact terms t, computed terms th (floats) with error bounds e. *)
Variables (t th e : nat -> R).
Hypothesis Hfmt : forall i, format (th i).
Hypothesis Herr : forall i, Rabs (th i - t i) <= e i.

(** Computed sequential sum: s_0 = 0, s_(k+1) = fl(s_k + th_k). *)
Fixpoint shat (k : nat) : R :=
  match k with
  | O => 0
  | S k' => rnd (shat k' + th k')
  end.

Lemma shat_format : forall k, format (shat k).
Proof. intros [|k]; simpl; [apply generic_format_0|apply (format_rnd emin prec Hprec)]. Qed.

(** Rounding part: the computed sum of the computed terms.
    |s_(m+1) - sum_(i<=m) th_i| <= ((1+u)^m - 1) sum_(i<=m) |th_i|. *)
Lemma shat_round_error : forall m,
  Rabs (shat (S m) - ssum th (S m))
    <= ((1 + u) ^ m - 1) * ssum (fun i => Rabs (th i)) (S m).
Proof.
  pose proof (u_pos prec) as Hu.
  induction m as [|m IH].
  - simpl. rewrite Rplus_0_l. unfold Rounding.rnd.
    rewrite round_generic; [|auto with typeclass_instances|apply Hfmt].
    match goal with |- Rabs ?x <= _ => replace x with 0 by ring end.
    rewrite Rabs_R0; lra.
  - change (shat (S (S m))) with (rnd (shat (S m) + th (S m))).
    destruct (add_rel emin prec Hprec _ _ (shat_format (S m)) (Hfmt (S m))) as (d & Hd & Hr).
    rewrite Hr.
    set (err := shat (S m) - ssum th (S m)) in *.
    set (A := ssum (fun i => Rabs (th i)) (S m)) in *.
    set (g := (1 + u) ^ m) in *.
    assert (Hg : 1 <= g) by apply pow_1pu_ge1.
    assert (HA : 0 <= A) by (apply ssum_nonneg; intros; apply Rabs_pos).
    change (ssum th (S (S m))) with (ssum th (S m) + th (S m)).
    change (ssum (fun i => Rabs (th i)) (S (S m))) with (A + Rabs (th (S m))).
    replace ((shat (S m) + th (S m)) * (1 + d) - (ssum th (S m) + th (S m)))
      with (err + d * (shat (S m) + th (S m))) by (unfold err; ring).
    (* |s_(m+1) + th| <= A + |th| + |err| *)
    assert (Hmag : Rabs (shat (S m) + th (S m)) <= A + Rabs (th (S m)) + Rabs err).
    { replace (shat (S m) + th (S m)) with (ssum th (S m) + th (S m) + err)
        by (unfold err; ring).
      eapply Rle_trans; [apply Rabs_triang|].
      eapply Rle_trans; [apply Rplus_le_compat_r, Rabs_triang|].
      pose proof (ssum_abs th (S m)). unfold A. lra. }
    assert (Hdm : Rabs (d * (shat (S m) + th (S m)))
                  <= u * (A + Rabs (th (S m)) + Rabs err)).
    { rewrite Rabs_mult. apply Rmult_le_compat; auto using Rabs_pos. }
    pose proof (Rabs_triang err (d * (shat (S m) + th (S m)))) as Ht.
    pose proof (Rabs_pos (th (S m))) as Hth.
    (* (1+u)|err| + u (A + |th|) <= (1+u)(g-1) A + u (A + |th|)
       <= ((1+u) g - 1)(A + |th|) *)
    assert (Hstep : (1 + u) * Rabs err + u * (A + Rabs (th (S m)))
                    <= ((1 + u) * g - 1) * (A + Rabs (th (S m)))).
    { assert ((1 + u) * Rabs err <= (1 + u) * ((g - 1) * A))
        by (apply Rmult_le_compat_l; lra).
      assert (0 <= (1 + u) * g - 1 - u) by nra.
      assert (0 <= ((1 + u) * g - 1 - u) * Rabs (th (S m))) by (apply Rmult_le_pos; lra).
      nra. }
    simpl pow. fold g. lra.
Qed.

(* proves: S4-ID-CAUCHY-BOUND *)
Theorem seq_sum_bound : forall n,
  Rabs (shat n - ssum t n)
    <= ssum e n + ((1 + u) ^ (n - 1) - 1) * ssum (fun i => Rabs (t i) + e i) n.
Proof.
  intros n.
  assert (He : forall i, 0 <= e i) by (intros i; eapply Rle_trans; [apply Rabs_pos|apply Herr]).
  assert (Hprop : Rabs (ssum th n - ssum t n) <= ssum e n).
  { rewrite ssum_minus. eapply Rle_trans; [apply ssum_abs|]. apply ssum_le, Herr. }
  assert (Hsize : ssum (fun i => Rabs (th i)) n <= ssum (fun i => Rabs (t i) + e i) n).
  { apply ssum_le; intros i. pose proof (Herr i) as H. replace (th i) with (t i + (th i - t i)) by ring. eapply Rle_trans; [apply Rabs_triang|]. lra. }
  destruct n as [|m].
  - simpl. rewrite Rminus_0_r, Rabs_R0. lra.
  - replace (S m - 1)%nat with m by lia.
    pose proof (shat_round_error m) as Hr.
    assert (Hg : 0 <= (1 + u) ^ m - 1) by (pose proof (pow_1pu_ge1 prec m); lra).
    replace (shat (S m) - ssum t (S m))
      with ((shat (S m) - ssum th (S m)) + (ssum th (S m) - ssum t (S m))) by ring.
    eapply Rle_trans; [apply Rabs_triang|].
    assert (((1 + u) ^ m - 1) * ssum (fun i => Rabs (th i)) (S m)
            <= ((1 + u) ^ m - 1) * ssum (fun i => Rabs (t i) + e i) (S m))
      by (apply Rmult_le_compat_l; assumption).
    lra.
Qed.

End SeqSum.
