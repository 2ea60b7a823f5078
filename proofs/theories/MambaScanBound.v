(** * MambaScanBound.v -- rounding-error bounds of the sequential Mamba scan
    (fused multiply-add recurrence) and of the fma dot product of the output.

    Spec: spec/mamba.md, [MAMBA-SCAN-BOUND-STATE] and [MAMBA-SCAN-BOUND-DOT].
    bounds/src/mamba_bound.cpp evaluates, for the sequential fma model
    (k = 1, c = 1, c0 = 0, m = 1 in the spec's notation), exactly the
    recursions [Gm] and [Fm] below, from the magnitude and error bounds it
    computes for the inputs of each step ([state_bound_mag], [dot_bound_mag]);
    [G] and [F] are the same recursions with the exact magnitudes
    ([state_bound], [dot_bound]).  These theorems say that what the code
    evaluates really bounds the error, under the rounding model
    [CORE-ROUND-MODEL] (Rounding.v) and no overflow.  Each state step is
    one application of RoundOps.v [fma_bound_result_mag] with the result
    magnitude M = M(a_t) H_{t-1} + M(beta_t), for which the rounding term
    u (M + prop) is the code's g_step M(a_t) H_{t-1} + g_term M(beta_t) plus
    u prop (prop = the propagated error).

    Index convention (state bound).  The spec numbers steps t = 0..T-1 and
    the initial state h_{-1}.  Here every sequence is shifted by one so that
    index 0 is the initial state:
        Coq  [h 0]      = spec h_{-1} = h0,
        Coq  [h (S t)]  = spec h_t     (step t uses a t, beta t, ...),
    and likewise for [hh] (computed state), [H], [Hs] (magnitudes), [G],
    [Gm] (bounds).  So the spec statement "for t = 0..T-1,
    |h^_t - h_t| <= G_t" is [state_bound_mag] at n = t+1; n = 0 is the
    trivial initial case.

    Index convention (dot bound).  As in the spec: terms are numbered
    i = 1..N; [x 0], [c 0] are never used; s_0 = s^_0 = 0. *)

From Coq Require Import ZArith Reals Psatz.
From Touchstone Require Import Rounding RoundOps.

Open Scope R_scope.

Section StateBound.

Variables emin prec : Z.
Hypothesis Hprec : (0 < prec)%Z.

Local Notation u := (Rounding.u prec).
Local Notation E := (Rounding.E emin).
Local Notation rnd := (Rounding.rnd emin prec).

(** Exact data: decay factors a t, inputs beta t, initial state h0.
    Computed data: ah t, bh t, with error bounds Ea t, Eb t. *)
Variables (a beta ah bh Ea Eb : nat -> R) (h0 : R).

(** Exact recurrence h_t = a_t h_{t-1} + beta_t. *)
Fixpoint h (n : nat) : R :=
  match n with
  | O => h0
  | S t => a t * h t + beta t
  end.

(** Computed recurrence: one fused multiply-add (single rounding) per step,
    starting from the exact initial state. *)
Fixpoint hh (n : nat) : R :=
  match n with
  | O => h0
  | S t => rnd (ah t * hh t + bh t)
  end.

(** Magnitudes H_t = |a_t| H_{t-1} + |beta_t|, H_{-1} = |h0|. *)
Fixpoint H (n : nat) : R :=
  match n with
  | O => Rabs h0
  | S t => Rabs (a t) * H t + Rabs (beta t)
  end.

(** The bound evaluated by the C++ code:
    G_t = (1+u)(|a_t| + Ea_t) G_{t-1} + (u|a_t| + (1+u) Ea_t) H_{t-1}
          + u|beta_t| + (1+u) Eb_t + E,     G_{-1} = 0. *)
Fixpoint G (n : nat) : R :=
  match n with
  | O => 0
  | S t => (1 + u) * (Rabs (a t) + Ea t) * G t
           + (u * Rabs (a t) + (1 + u) * Ea t) * H t
           + u * Rabs (beta t) + (1 + u) * Eb t + E
  end.

(** |h_t| <= H_t. *)
Lemma state_magnitude : forall n, Rabs (h n) <= H n.
Proof.
  induction n as [|t IH]; simpl.
  - apply Rle_refl.
  - eapply Rle_trans; [apply Rabs_triang|]. rewrite Rabs_mult.
    apply Rplus_le_compat_r, Rmult_le_compat_l; [apply Rabs_pos|exact IH].
Qed.

(* proves: MAMBA-SCAN-BOUND-STATE *)
Theorem state_bound :
  forall n : nat,
  (forall t, (t < n)%nat ->
     Rabs (ah t - a t) <= Ea t /\ Rabs (bh t - beta t) <= Eb t) ->
  Rabs (hh n - h n) <= G n.
Proof.
  induction n as [|t IH]; intros Hin.
  - simpl. rewrite Rminus_diag_eq, Rabs_R0 by reflexivity. apply Rle_refl.
  - assert (IHt : Rabs (hh t - h t) <= G t)
      by (apply IH; intros; apply Hin; lia).
    destruct (Hin t (Nat.lt_succ_diag_r t)) as [Ha Hb].
    (* one fma step: x = a, y = h, z = beta with bounds
       Mx = |a|, Ex = Ea, My = H, Ey = G, Ez = Eb, and the result
       magnitude M = |a| H + |beta| = H (S t) *)
    pose proof (fma_bound_result_mag emin prec Hprec (a t) (ah t) (h t) (hh t)
                  (beta t) (bh t) (Rabs (a t)) (Ea t) (H t) (G t)
                  (Eb t) (H (S t)) (Rle_refl _) Ha
                  (state_magnitude t) IHt Hb (state_magnitude (S t))) as Hf.
    simpl in Hf |- *.
    eapply Rle_trans; [exact Hf|].
    (* the fma bound, expanded, is exactly G (S t) *)
    right. ring.
Qed.

(** ** The recursion the code evaluates: magnitude bounds instead of exact
    magnitudes.  [Ma t >= |a t|] and [Mb t >= |beta t|] are the code's M(a_t)
    and M(beta_t); [Hs] is any sequence with [Hs 0 >= |h0|] and
    [Hs (S t) >= Ma t * Hs t + Mb t] (the code's H, which adds 2^-1074 per
    step to stay above values that underflow in its double evaluation). *)
Variables (Ma Mb Hs : nat -> R).

(** G_t = (1+u)(M(a_t) + Ea_t) G_{t-1} + (u M(a_t) + (1+u) Ea_t) H_{t-1}
          + u M(beta_t) + (1+u) Eb_t + E,   G_{-1} = 0:
    bounds/src/mamba_bound.cpp's Gn with q_step = 1 + u, g_step = u,
    g_term = u, under = eta (and G_{-1} = g_init |h0| = 0). *)
Fixpoint Gm (n : nat) : R :=
  match n with
  | O => 0
  | S t => (1 + u) * (Ma t + Ea t) * Gm t
           + (u * Ma t + (1 + u) * Ea t) * Hs t
           + u * Mb t + (1 + u) * Eb t + E
  end.

(** The hypotheses of step t: magnitude bounds, the magnitude recursion,
    and the input error bounds. *)
Definition step_ok (t : nat) : Prop :=
  Rabs (a t) <= Ma t /\ Rabs (beta t) <= Mb t /\ Ma t * Hs t + Mb t <= Hs (S t) /\
  Rabs (ah t - a t) <= Ea t /\ Rabs (bh t - beta t) <= Eb t.

(** |h_t| <= Hs_t. *)
Lemma state_magnitude_mag :
  forall n, Rabs h0 <= Hs 0 -> (forall t, (t < n)%nat -> step_ok t) ->
  Rabs (h n) <= Hs n.
Proof.
  induction n as [|t IH]; intros H0 Hin; simpl; [exact H0|].
  assert (IHt : Rabs (h t) <= Hs t) by (apply IH; [exact H0|intros; apply Hin; lia]).
  destruct (Hin t (Nat.lt_succ_diag_r t)) as (Ha & Hb & Hrec & _).
  eapply Rle_trans; [apply Rabs_triang|]. rewrite Rabs_mult.
  assert (Rabs (a t) * Rabs (h t) <= Ma t * Hs t)
    by (apply Rmult_le_compat; auto using Rabs_pos).
  lra.
Qed.

(* proves: MAMBA-SCAN-BOUND-STATE *)
Theorem state_bound_mag :
  forall n : nat,
  Rabs h0 <= Hs 0 ->
  (forall t, (t < n)%nat -> step_ok t) ->
  Rabs (hh n - h n) <= Gm n.
Proof.
  induction n as [|t IH]; intros H0 Hin.
  - simpl. rewrite Rminus_diag_eq, Rabs_R0 by reflexivity. apply Rle_refl.
  - assert (Hin' : forall t', (t' < t)%nat -> step_ok t') by (intros; apply Hin; lia).
    assert (IHt : Rabs (hh t - h t) <= Gm t) by (apply IH; assumption).
    assert (Hh : Rabs (h t) <= Hs t) by (apply state_magnitude_mag; assumption).
    destruct (Hin t (Nat.lt_succ_diag_r t)) as (Ha & Hb & _ & Hea & Heb).
    (* the exact result's magnitude: |a h + beta| <= Ma Hs + Mb *)
    assert (HM : Rabs (a t * h t + beta t) <= Ma t * Hs t + Mb t).
    { eapply Rle_trans; [apply Rabs_triang|]. rewrite Rabs_mult.
      assert (Rabs (a t) * Rabs (h t) <= Ma t * Hs t)
        by (apply Rmult_le_compat; auto using Rabs_pos).
      lra. }
    (* one fma step: Mx = Ma, Ex = Ea, My = Hs, Ey = Gm, Ez = Eb,
       M = Ma Hs + Mb *)
    pose proof (fma_bound_result_mag emin prec Hprec (a t) (ah t) (h t) (hh t)
                  (beta t) (bh t) (Ma t) (Ea t) (Hs t) (Gm t)
                  (Eb t) (Ma t * Hs t + Mb t) Ha Hea Hh IHt Heb HM) as Hf.
    simpl.
    eapply Rle_trans; [exact Hf|].
    right. ring.
Qed.

End StateBound.

Section DotBound.

Variables emin prec : Z.
Hypothesis Hprec : (0 < prec)%Z.

Local Notation u := (Rounding.u prec).
Local Notation E := (Rounding.E emin).
Local Notation rnd := (Rounding.rnd emin prec).

(** Terms x_i c_i for i = 1..N (x_i: already computed values, c_i: any
    reals; both are taken as given, only the accumulation is analysed). *)
Variables x c : nat -> R.

(** Exact partial sums s_i = sum_{j<=i} x_j c_j. *)
Fixpoint s (i : nat) : R :=
  match i with
  | O => 0
  | S j => s j + x (S j) * c (S j)
  end.

(** Computed partial sums: s^_i = rnd(x_i c_i + s^_{i-1}), one fma each. *)
Fixpoint sh (i : nat) : R :=
  match i with
  | O => 0
  | S j => rnd (x (S j) * c (S j) + sh j)
  end.

(** Absolute sums S_i = sum_{j<=i} |x_j c_j|. *)
Fixpoint Sabs (i : nat) : R :=
  match i with
  | O => 0
  | S j => Sabs j + Rabs (x (S j) * c (S j))
  end.

(** Bound evaluated by the C++ code: F_0 = 0, F_i = (1+u) F_{i-1} + u S_i + E. *)
Fixpoint F (i : nat) : R :=
  match i with
  | O => 0
  | S j => (1 + u) * F j + u * Sabs (S j) + E
  end.

Lemma sum_magnitude : forall i, Rabs (s i) <= Sabs i.
Proof.
  induction i as [|j IH]; simpl.
  - rewrite Rabs_R0. apply Rle_refl.
  - eapply Rle_trans; [apply Rabs_triang|]. lra.
Qed.

(** One step: e_i <= (1+u) e_{i-1} + u S_i + E, with e_i = |s^_i - s_i|. *)
Lemma dot_step :
  forall j, Rabs (sh (S j) - s (S j))
            <= (1 + u) * Rabs (sh j - s j) + u * Sabs (S j) + E.
Proof.
  intros j.
  destruct (round_model emin prec Hprec (x (S j) * c (S j) + sh j))
    as (d & e & Hr & Hd & He & _).
  change (sh (S j)) with (rnd (x (S j) * c (S j) + sh j)).
  rewrite Hr.
  (* s^_i - s_i = (s^_{i-1} - s_{i-1})(1+d) + d s_i + e *)
  replace ((x (S j) * c (S j) + sh j) * (1 + d) + e - s (S j))
    with ((sh j - s j) * (1 + d) + d * s (S j) + e) by (simpl; ring).
  pose proof (u_nonneg prec) as Hu.
  assert (H1 : Rabs (1 + d) <= 1 + u).
  { eapply Rle_trans; [apply Rabs_triang|]. rewrite Rabs_R1. lra. }
  assert (H2 : Rabs (sh j - s j) * Rabs (1 + d) <= Rabs (sh j - s j) * (1 + u))
    by (apply Rmult_le_compat_l; [apply Rabs_pos|exact H1]).
  assert (H3 : Rabs d * Rabs (s (S j)) <= u * Sabs (S j))
    by (apply Rmult_le_compat; auto using Rabs_pos, sum_magnitude).
  eapply Rle_trans; [apply Rabs_triang|].
  eapply Rle_trans; [apply Rplus_le_compat_r, Rabs_triang|].
  rewrite !Rabs_mult. lra.
Qed.

(* proves: MAMBA-SCAN-BOUND-DOT *)
Theorem dot_bound : forall i : nat, Rabs (sh i - s i) <= F i.
Proof.
  induction i as [|j IH].
  - simpl. rewrite Rminus_0_r, Rabs_R0. apply Rle_refl.
  - eapply Rle_trans; [apply dot_step|].
    change (F (S j)) with ((1 + u) * F j + u * Sabs (S j) + E).
    pose proof (u_nonneg prec) as Hu.
    apply Rplus_le_compat_r, Rplus_le_compat_r, Rmult_le_compat_l; [lra|exact IH].
Qed.

(** ** The recursion the code evaluates: bounds [m i >= |x_i c_i|] on the
    terms (the code's (H_i + G_i)|C_i|, since |h^_i| <= H_i + G_i) in
    place of the exact term magnitudes. *)
Variable m : nat -> R.

(** Sb_i = sum_{j<=i} m_j (the code's S). *)
Fixpoint Sb (i : nat) : R :=
  match i with
  | O => 0
  | S j => Sb j + m (S j)
  end.

(** Fm_0 = 0, Fm_i = (1+u) Fm_{i-1} + u Sb_i + E: the code's fused-dot F. *)
Fixpoint Fm (i : nat) : R :=
  match i with
  | O => 0
  | S j => (1 + u) * Fm j + u * Sb (S j) + E
  end.

Lemma Sabs_le_Sb :
  forall i, (forall j, (1 <= j <= i)%nat -> Rabs (x j * c j) <= m j) -> Sabs i <= Sb i.
Proof.
  induction i as [|j IH]; intros Hm; simpl; [lra|].
  assert (Sabs j <= Sb j) by (apply IH; intros; apply Hm; lia).
  assert (Rabs (x (S j) * c (S j)) <= m (S j)) by (apply Hm; lia).
  lra.
Qed.

(* proves: MAMBA-SCAN-BOUND-DOT *)
Theorem dot_bound_mag :
  forall i : nat,
  (forall j, (1 <= j <= i)%nat -> Rabs (x j * c j) <= m j) ->
  Rabs (sh i - s i) <= Fm i.
Proof.
  induction i as [|j IH]; intros Hm.
  - simpl. rewrite Rminus_0_r, Rabs_R0. apply Rle_refl.
  - eapply Rle_trans; [apply dot_step|].
    change (Fm (S j)) with ((1 + u) * Fm j + u * Sb (S j) + E).
    pose proof (u_nonneg prec) as Hu.
    assert (IHj : Rabs (sh j - s j) <= Fm j) by (apply IH; intros; apply Hm; lia).
    assert (HS : Sabs (S j) <= Sb (S j)) by (apply Sabs_le_Sb; exact Hm).
    assert ((1 + u) * Rabs (sh j - s j) <= (1 + u) * Fm j)
      by (apply Rmult_le_compat_l; lra).
    assert (u * Sabs (S j) <= u * Sb (S j)) by (apply Rmult_le_compat_l; lra).
    lra.
Qed.

End DotBound.
