(** * S4BilinearDisk.v -- the bilinear (Tustin) discretization maps the open
    left half-plane into the open unit disk.

    Spec: spec/s4_identities.md, [S4-ID-BILINEAR-DISK].

    S4's bilinear discretization of a continuous mode lambda with step
    Delta > 0 is  lambda_bar = (1 + Delta lambda / 2) / (1 - Delta lambda / 2).
    If Re lambda < 0 the denominator is nonzero and |lambda_bar| < 1, so the
    powers lambda_bar^l of the discrete kernel decay; on the imaginary axis
    (Re lambda = 0) |lambda_bar| = 1.  Complex numbers are Coquelicot's
    [C = R * R]; the heart is the real identity
        |1 + Delta lambda/2|^2 - |1 - Delta lambda/2|^2 = 2 Delta Re lambda. *)

From Coq Require Import Reals Psatz.
From Coquelicot Require Import Complex.

Open Scope R_scope.

(** Numerator and denominator of the bilinear image of lambda. *)
Definition bil_num (dt : R) (lam : C) : C := Cplus 1 (Cmult (RtoC (dt / 2)) lam).
Definition bil_den (dt : R) (lam : C) : C := Cminus 1 (Cmult (RtoC (dt / 2)) lam).
Definition bilinear (dt : R) (lam : C) : C := Cdiv (bil_num dt lam) (bil_den dt lam).

Lemma bil_num_parts : forall dt a b,
  bil_num dt (a, b) = (1 + dt / 2 * a, dt / 2 * b).
Proof.
  intros dt a b. unfold bil_num, RtoC, Cplus, Cmult; simpl. f_equal; ring.
Qed.

Lemma bil_den_parts : forall dt a b,
  bil_den dt (a, b) = (1 - dt / 2 * a, - (dt / 2 * b)).
Proof.
  intros dt a b. unfold bil_den, Cminus, RtoC, Cplus, Copp, Cmult; simpl. f_equal; ring.
Qed.

(** The squared moduli differ by 2 Delta Re lambda. *)
Lemma bil_sq_diff : forall dt a b,
  (fst (bil_num dt (a, b)) ^ 2 + snd (bil_num dt (a, b)) ^ 2)
  - (fst (bil_den dt (a, b)) ^ 2 + snd (bil_den dt (a, b)) ^ 2) = 2 * dt * a.
Proof. intros dt a b. rewrite bil_num_parts, bil_den_parts; simpl. field. Qed.

(** For Re lambda <= 0 and Delta >= 0 the denominator has real part >= 1. *)
Lemma bil_den_nonzero : forall dt lam, 0 <= dt -> fst lam <= 0 -> bil_den dt lam <> 0.
Proof.
  intros dt [a b] Hdt Ha Heq. simpl in Ha.
  rewrite bil_den_parts in Heq. injection Heq as H1 _.
  assert (0 <= dt / 2 * - a) by (apply Rmult_le_pos; lra). lra.
Qed.

Lemma bil_den_pos : forall dt lam, 0 <= dt -> fst lam <= 0 -> 0 < Cmod (bil_den dt lam).
Proof. intros; apply Cmod_gt_0, bil_den_nonzero; assumption. Qed.

(* proves: S4-ID-BILINEAR-DISK *)
Theorem bilinear_num_lt_den : forall dt lam,
  0 < dt -> fst lam < 0 -> Cmod (bil_num dt lam) < Cmod (bil_den dt lam).
Proof.
  intros dt [a b] Hdt Ha. simpl in Ha. unfold Cmod.
  pose proof (bil_sq_diff dt a b) as Hd.
  apply sqrt_lt_1_alt. split.
  - apply Rplus_le_le_0_compat; apply pow2_ge_0.
  - assert (2 * dt * a < 0) by (assert (0 < dt * - a) by (apply Rmult_lt_0_compat; lra); lra).
    lra.
Qed.

(* proves: S4-ID-BILINEAR-DISK *)
Theorem bilinear_in_unit_disk : forall dt lam,
  0 < dt -> fst lam < 0 -> Cmod (bilinear dt lam) < 1.
Proof.
  intros dt lam Hdt Ha. unfold bilinear.
  assert (Hden := bil_den_nonzero dt lam (Rlt_le _ _ Hdt) (Rlt_le _ _ Ha)).
  assert (Hpos := bil_den_pos dt lam (Rlt_le _ _ Hdt) (Rlt_le _ _ Ha)).
  rewrite Cmod_div by exact Hden.
  apply (Rmult_lt_reg_r (Cmod (bil_den dt lam))); [exact Hpos|].
  unfold Rdiv. rewrite Rmult_assoc, Rinv_l, Rmult_1_r, Rmult_1_l by lra.
  apply bilinear_num_lt_den; assumption.
Qed.

(** Closed half-plane: |lambda_bar| <= 1, with equality on the imaginary axis. *)
(* proves: S4-ID-BILINEAR-DISK *)
Theorem bilinear_in_closed_disk : forall dt lam,
  0 <= dt -> fst lam <= 0 -> Cmod (bilinear dt lam) <= 1.
Proof.
  intros dt [a b] Hdt Ha. simpl in Ha. unfold bilinear.
  assert (Hden := bil_den_nonzero dt (a, b) Hdt Ha).
  assert (Hpos := bil_den_pos dt (a, b) Hdt Ha).
  rewrite Cmod_div by exact Hden.
  apply (Rmult_le_reg_r (Cmod (bil_den dt (a, b)))); [exact Hpos|].
  unfold Rdiv. rewrite Rmult_assoc, Rinv_l, Rmult_1_r, Rmult_1_l by lra.
  unfold Cmod. apply sqrt_le_1_alt.
  pose proof (bil_sq_diff dt a b) as Hd.
  assert (0 <= dt * - a) by (apply Rmult_le_pos; lra). lra.
Qed.

(* proves: S4-ID-BILINEAR-DISK *)
Theorem bilinear_on_circle : forall dt b,
  Cmod (bilinear dt (0, b)) = 1.
Proof.
  intros dt b. unfold bilinear.
  assert (Hden' : bil_den dt (0, b) <> 0).
  { rewrite bil_den_parts. intros Heq. injection Heq as H1 _. lra. }
  rewrite Cmod_div by exact Hden'.
  assert (Heq : Cmod (bil_num dt (0, b)) = Cmod (bil_den dt (0, b))).
  { unfold Cmod. f_equal. pose proof (bil_sq_diff dt 0 b). lra. }
  rewrite Heq. field. intros H0. apply Hden'. apply Cmod_eq_0. exact H0.
Qed.
