(** * SeqSumModulus.v -- the sequential complex sum in modulus: the two
    parts' bounds of [seq_sum_bound] combine, by Minkowski's inequality,
    into the modulus bound the C++ code evaluates.

    Spec: spec/s4_identities.md, [S4-ID-CAUCHY-BOUND] (the modulus form of
    spec/core.md [CORE-TRACKED-CSUM], for the sequential order only).

    A complex Cauchy sum is accumulated part by part: the real parts with
    one sequential float sum, the imaginary parts with another.  If every
    computed term is within E_i of the exact term in modulus and every exact
    term has modulus at most M_i, then the computed sum is within

        sum_(i<n) E_i + gamma_(n-1) sum_(i<n) (M_i + E_i)

    of the exact sum in modulus (core/tracked_complex.hpp CTrackedSum, used
    by bounds/src/s4_bound.cpp for the Cauchy kernel, whose backends sum
    sequentially over the modes).  Moduli are Coquelicot's [Cmod (x, y)] =
    sqrt (x^2 + y^2). *)

From Coq Require Import ZArith Reals Psatz.
From Coquelicot Require Import Complex.
From Flocq Require Import Core.
From Touchstone Require Import Rounding SeqSumBound.

Open Scope R_scope.

Definition norm2 (x y : R) : R := Cmod (x, y).

Lemma norm2_nonneg : forall x y, 0 <= norm2 x y.
Proof. intros; apply Cmod_ge_0. Qed.

Lemma norm2_triangle : forall a b c d,
  norm2 (a + c) (b + d) <= norm2 a b + norm2 c d.
Proof.
  intros a b c d. unfold norm2.
  replace (a + c, b + d) with (Cplus (a, b) (c, d)) by reflexivity.
  apply Cmod_triangle.
Qed.

Lemma norm2_scale : forall k x y, 0 <= k -> norm2 (k * x) (k * y) = k * norm2 x y.
Proof.
  intros k x y Hk. unfold norm2, Cmod. simpl.
  replace ((k * x) * ((k * x) * 1) + (k * y) * ((k * y) * 1))
    with ((k * k) * (x * (x * 1) + y * (y * 1))) by ring.
  rewrite sqrt_mult_alt by nra. rewrite sqrt_square by lra. reflexivity.
Qed.

Lemma norm2_mono : forall x y x' y',
  0 <= x <= x' -> 0 <= y <= y' -> norm2 x y <= norm2 x' y'.
Proof.
  intros x y x' y' Hx Hy. unfold norm2, Cmod. simpl.
  apply sqrt_le_1_alt. nra.
Qed.

Lemma norm2_abs : forall x y, norm2 (Rabs x) (Rabs y) = norm2 x y.
Proof.
  intros x y. unfold norm2, Cmod. simpl. f_equal.
  rewrite !Rmult_1_r, <- !Rabs_mult.
  rewrite !Rabs_pos_eq; nra.
Qed.

(** A vector whose parts are bounded in absolute value by X and Y has
    modulus at most norm2 X Y. *)
Lemma norm2_bound : forall x y X Y,
  Rabs x <= X -> Rabs y <= Y -> norm2 x y <= norm2 X Y.
Proof.
  intros x y X Y Hx Hy. rewrite <- norm2_abs.
  apply norm2_mono; split; auto using Rabs_pos.
Qed.

(** Minkowski's inequality for finite sums. *)
Lemma minkowski : forall (a b : nat -> R) n,
  norm2 (ssum a n) (ssum b n) <= ssum (fun i => norm2 (a i) (b i)) n.
Proof.
  intros a b n. induction n as [|n IH]; simpl.
  - unfold norm2. replace (0, 0) with (RtoC 0) by reflexivity. rewrite Cmod_0. lra.
  - eapply Rle_trans; [apply norm2_triangle|]. lra.
Qed.

Lemma ssum_affine : forall (e t : nat -> R) g n,
  ssum e n + g * ssum (fun i => t i + e i) n = ssum (fun i => e i + g * (t i + e i)) n.
Proof. intros e t g n. induction n as [|n IH]; simpl; [ring|]. rewrite <- IH. ring. Qed.

Section ComplexSum.

Variables emin prec : Z.
Hypothesis Hprec : (0 < prec)%Z.

Local Notation u := (Rounding.u prec).
Local Notation format := (generic_format radix2 (FLT_exp emin prec)).

(** Exact terms (tr i, ti i), computed terms (thr i, thi i), floats, with
    modulus error at most Eb i and exact modulus at most M i. *)
Variables (tr ti thr thi Eb M : nat -> R).
Hypothesis Hfr : forall i, format (thr i).
Hypothesis Hfi : forall i, format (thi i).
Hypothesis HE : forall i, norm2 (thr i - tr i) (thi i - ti i) <= Eb i.
Hypothesis HM : forall i, norm2 (tr i) (ti i) <= M i.

(* proves: S4-ID-CAUCHY-BOUND *)
Theorem seq_csum_bound : forall n,
  norm2 (shat emin prec thr n - ssum tr n) (shat emin prec thi n - ssum ti n)
    <= ssum Eb n + ((1 + u) ^ (n - 1) - 1) * ssum (fun i => M i + Eb i) n.
Proof.
  intros n.
  set (g := (1 + u) ^ (n - 1) - 1).
  assert (Hg : 0 <= g) by (unfold g; pose proof (pow_1pu_ge1 prec (n - 1)); lra).
  set (er := fun i => Rabs (thr i - tr i)).
  set (ei := fun i => Rabs (thi i - ti i)).
  pose proof (seq_sum_bound emin prec Hprec tr thr er Hfr (fun i => Rle_refl _) n) as Hr.
  pose proof (seq_sum_bound emin prec Hprec ti thi ei Hfi (fun i => Rle_refl _) n) as Hi.
  fold g in Hr, Hi.
  (* per part: a sum of nonnegative per-term quantities *)
  set (ar := fun i => er i + g * (Rabs (tr i) + er i)).
  set (ai := fun i => ei i + g * (Rabs (ti i) + ei i)).
  assert (Sr : ssum er n + g * ssum (fun i => Rabs (tr i) + er i) n = ssum ar n)
    by (unfold ar; apply ssum_affine).
  assert (Si : ssum ei n + g * ssum (fun i => Rabs (ti i) + ei i) n = ssum ai n)
    by (unfold ai; apply ssum_affine).
  rewrite Sr in Hr. rewrite Si in Hi.
  eapply Rle_trans; [apply norm2_bound; eassumption|].
  eapply Rle_trans; [apply minkowski|].
  (* per term: norm2 (ar i) (ai i) <= Eb i + g (M i + Eb i) *)
  assert (Hterm : forall i, norm2 (ar i) (ai i) <= Eb i + g * (M i + Eb i)).
  { intros i. unfold ar, ai.
    replace (er i + g * (Rabs (tr i) + er i)) with ((1 + g) * er i + g * Rabs (tr i)) by ring.
    replace (ei i + g * (Rabs (ti i) + ei i)) with ((1 + g) * ei i + g * Rabs (ti i)) by ring.
    eapply Rle_trans; [apply norm2_triangle|].
    rewrite !norm2_scale by lra. rewrite norm2_abs.
    unfold er, ei. rewrite norm2_abs.
    pose proof (HE i). pose proof (HM i).
    assert ((1 + g) * norm2 (thr i - tr i) (thi i - ti i) <= (1 + g) * Eb i)
      by (apply Rmult_le_compat_l; lra).
    assert (g * norm2 (tr i) (ti i) <= g * M i) by (apply Rmult_le_compat_l; lra).
    lra. }
  eapply Rle_trans; [apply ssum_le; exact Hterm|].
  rewrite <- ssum_affine. unfold g. lra.
Qed.

End ComplexSum.
