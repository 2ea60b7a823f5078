(** * S4SumBound.v -- rounding-error bound of a sequential floating-point
    sum of inexact terms (the accumulation of a Cauchy sum), and of one part
    of a complex product.

    Spec: spec/s4_identities.md, [S4-ID-CAUCHY-BOUND]; spec/core.md,
    [CORE-TRACKED-CMUL].  At the end, [cdiv_part_bound]: one part of a
    textbook complex division, the per-term error of the Cauchy sum, in an
    explicit form.

    The Cauchy sum  sum_i v_i / (z - w_i)  of S4's kernel is computed term
    by term (each term a complex division, with its own error e_i from
    [CORE-TRACKED-CDIV], whose gamma_6 form is NOT proved here; the
    explicit form [cdiv_part_bound] below is) and accumulated
    sequentially, real and imaginary parts separately.  For one part: terms
    t_i (exact), computed terms th_i (floats) with |th_i - t_i| <= e_i,
    partial sums s_0 = 0, s_k = fl(s_(k-1) + th_(k-1)); then

        |s_n - sum_(i<n) t_i| <= sum_(i<n) e_i
                                 + ((1+u)^(n-1) - 1) sum_(i<n) (|t_i| + e_i).

    The rounding model is Rounding.v's ([rnd], round to nearest even in
    FLT(emin, prec), unbounded exponent: no overflow).  A sum of two floats
    has no underflow error (Flocq's [FLT_plus_error_N_ex]: a sum that small
    is exact), so no E term appears; the first addition 0 + th_0 is exact.

    Indexing: terms are numbered from 0 ([t 0] is the first term); [ssum f k]
    is f 0 + ... + f (k-1). *)

From Coq Require Import ZArith Reals Psatz.
From Flocq Require Import Core Relative Plus_error.
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

(** The sum of two floats rounds with a relative error only. *)
Lemma add_rel : forall x y, format x -> format y ->
  exists d, Rabs d <= u /\ rnd (x + y) = (x + y) * (1 + d).
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

Lemma format_rnd : forall x, format (rnd x).
Proof. intros x; apply generic_format_round; auto with typeclass_instances. Qed.

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
Proof. intros [|k]; simpl; [apply generic_format_0|apply format_rnd]. Qed.

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
    destruct (add_rel _ _ (shat_format (S m)) (Hfmt (S m))) as (d & Hd & Hr).
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

(** ** The gamma_6 form of one part of a complex quotient.

    Real-number algebra used below: with u <= 1/32 and the domain
    E <= u^2 D / 2, the explicit bound of [cdiv_part_bound] is at most
    gamma_6 S / D + 3 E / D + E, S = |ac| + |bd|. *)
Lemma gamma6_ge : forall u, 0 <= u -> 6 * u <= (1 + u) ^ 6 - 1.
Proof. intros u Hu. simpl. nra. Qed.

Lemma cdiv_algebra : forall u E S nabs D Dh Nabs : R,
  0 <= u <= / 32 -> 0 <= E -> 0 < D -> E <= u * u * D / 2 ->
  0 <= nabs <= S -> 0 <= Nabs ->
  D - (2 * u + u * u) * D - 2 * (1 + u) * E <= Dh ->
  Nabs <= (1 + (2 * u + u * u)) * S + 2 * (1 + u) * E ->
  0 < Dh /\
  u * (Nabs / Dh) + E + ((2 * u + u * u) * S + 2 * (1 + u) * E) / Dh
    + nabs * ((2 * u + u * u) * D + 2 * (1 + u) * E) / (D * Dh)
  <= ((1 + u) ^ 6 - 1) * S / D + 3 * E / D + E.
Proof.
  intros u E S nabs D Dh Nabs [Hu0 Hu1] HE HD HED [Hn0 HnS] HN0 HDh HN.
  set (g2 := 2 * u + u * u) in *.
  set (F := 2 * (1 + u) * E) in *.
  set (m := 1 - g2 - (1 + u) * (u * u)).
  assert (HF : F <= (1 + u) * (u * u) * D) by (unfold F; nra).
  assert (Hm : 9 / 10 <= m) by (unfold m, g2; nra).
  assert (HDhm : m * D <= Dh) by (unfold m; nra).
  assert (HDh0 : 0 < Dh) by nra.
  split; [exact HDh0|].
  set (g6 := (1 + u) ^ 6 - 1).
  assert (Hg6 : 6 * u <= g6) by (apply gamma6_ge; lra).
  assert (HS0 : 0 <= S) by lra.
  (* multiply through by D * Dh > 0 *)
  assert (HDD : 0 < D * Dh) by nra.
  apply (Rmult_le_reg_r (D * Dh)); [exact HDD|].
  replace ((u * (Nabs / Dh) + E + (g2 * S + F) / Dh + nabs * (g2 * D + F) / (D * Dh)) * (D * Dh))
    with (u * Nabs * D + E * D * Dh + (g2 * S + F) * D + nabs * (g2 * D + F)) by (field; lra).
  replace ((g6 * S / D + 3 * E / D + E) * (D * Dh))
    with ((g6 * S + 3 * E) * Dh + E * D * Dh) by (field; lra).
  (* the polynomial core *)
  set (K := u * (1 + g2) + 2 * g2 + (1 + u) * (u * u)).
  assert (HK1 : K <= 6 * u * m).
  { unfold K, m, g2.
    assert (0 <= u * u) by nra. assert (u * u <= u / 32) by nra.
    assert (0 <= u * u * u) by nra. assert (u * u * u <= u * u / 32) by nra.
    assert (0 <= u * u * u * u) by nra. nra. }
  assert (HK : K <= g6 * m).
  { eapply Rle_trans; [exact HK1|]. apply Rmult_le_compat_r; lra. }
  assert (HE3 : 2 * (1 + u) * (1 + u) <= 3 * m) by (unfold m, g2; nra).
  assert (L1 : u * Nabs * D <= u * ((1 + g2) * S + F) * D)
    by (apply Rmult_le_compat_r; [lra|apply Rmult_le_compat_l; lra]).
  assert (L2 : nabs * (g2 * D + F) <= S * (g2 * D + (1 + u) * (u * u) * D)).
  { assert (0 <= g2 * D) by (unfold g2; apply Rmult_le_pos; nra).
    assert (0 <= F) by (unfold F; nra).
    apply Rmult_le_compat; lra. }
  assert (R1 : (g6 * S + 3 * E) * (m * D) <= (g6 * S + 3 * E) * Dh).
  { apply Rmult_le_compat_l; [|exact HDhm]. nra. }
  assert (C1 : D * (S * K + F * (1 + u)) <= D * ((g6 * S + 3 * E) * m)).
  { apply Rmult_le_compat_l; [lra|].
    assert (S * K <= S * (g6 * m)) by (apply Rmult_le_compat_l; lra).
    assert (F * (1 + u) <= 3 * m * E) by (unfold F; nra).
    nra. }
  assert (Heq : u * ((1 + g2) * S + F) * D + (g2 * S + F) * D + S * (g2 * D + (1 + u) * (u * u) * D)
                = D * (S * K + F * (1 + u))) by (unfold K; ring).
  nra.
Qed.

(** ** One part of a complex product, [CORE-TRACKED-CMUL].

    Each part of x y = (a + i b)(c + i d) is a c - b d (real part) or
    a d + b c (imaginary part, the same with b d replaced by -(b c)),
    computed either as fl(fl(a c) - fl(b d)) (two products, one addition)
    or as fma(a, c, -fl(b d)) (one product, one fused multiply-add).  On the
    computed operands, either way,

       |computed - (a c - b d)| <= gamma_2 (|a c| + |b d|) + 2 (1 + u) E,

    gamma_2 = (1+u)^2 - 1: the bound core/tracked_complex.hpp [mul] uses per
    part (the propagated input error is added separately there, and the
    parts are combined into a modulus by sqrt 2). *)
Section CMul.

Variables emin prec : Z.
Hypothesis Hprec : (0 < prec)%Z.

Local Notation u := (Rounding.u prec).
Local Notation E := (Rounding.E emin).
Local Notation rnd := (Rounding.rnd emin prec).
Local Notation format := (generic_format radix2 (FLT_exp emin prec)).

Lemma sub_rel : forall x y, format x -> format y ->
  exists d, Rabs d <= u /\ rnd (x - y) = (x - y) * (1 + d).
Proof.
  intros x y Fx Fy. apply add_rel; [exact Hprec|exact Fx|].
  apply generic_format_opp, Fy.
Qed.

Lemma abs_1pd : forall X d, Rabs d <= u -> Rabs (X * (1 + d)) <= Rabs X * (1 + u).
Proof.
  intros X d Hd. rewrite Rabs_mult. apply Rmult_le_compat_l; [apply Rabs_pos|].
  eapply Rle_trans; [apply Rabs_triang|]. rewrite Rabs_R1. lra.
Qed.

Lemma abs_d : forall X d, Rabs d <= u -> Rabs (X * d) <= Rabs X * u.
Proof.
  intros X d Hd. rewrite Rabs_mult. apply Rmult_le_compat_l; [apply Rabs_pos|exact Hd].
Qed.

(** Two rounded values, subtracted and rounded: the rounding error of
    fl(fl(x) - fl(y)) against x - y, for any reals x, y. *)
Lemma diff2_bound : forall x y : R,
  Rabs (rnd (rnd x - rnd y) - (x - y))
    <= ((1 + u) ^ 2 - 1) * (Rabs x + Rabs y) + 2 * (1 + u) * E.
Proof.
  intros x0 y0.
  pose proof (u_pos prec) as Hu. pose proof (E_pos emin) as HE.
  destruct (sub_rel _ _ (format_rnd emin prec Hprec x0)
                        (format_rnd emin prec Hprec y0)) as (d3 & Hd3 & H3).
  rewrite H3.
  destruct (round_model emin prec Hprec x0) as (d1 & e1 & H1 & Hd1 & He1 & _).
  destruct (round_model emin prec Hprec y0) as (d2 & e2 & H2 & Hd2 & He2 & _).
  rewrite H1, H2.
  set (x := x0) in *. set (y := y0) in *.
  replace ((x * (1 + d1) + e1 - (y * (1 + d2) + e2)) * (1 + d3) - (x - y))
    with ((x * d1 + e1 - y * d2 - e2) * (1 + d3) + (x - y) * d3) by ring.
  assert (HX : Rabs (x * d1 + e1 - y * d2 - e2) <= u * (Rabs x + Rabs y) + 2 * E).
  { pose proof (abs_d x d1 Hd1). pose proof (abs_d y d2 Hd2).
    unfold Rminus.
    repeat (eapply Rle_trans; [apply Rabs_triang|]).
    rewrite !Rabs_Ropp.
    pose proof (Rabs_triang (x * d1) e1). pose proof (Rabs_triang (x * d1 + e1) (- (y * d2))).
    rewrite Rabs_Ropp in *. lra. }
  pose proof (abs_1pd (x * d1 + e1 - y * d2 - e2) d3 Hd3) as Ha.
  pose proof (abs_d (x - y) d3 Hd3) as Hb.
  assert (Hxy : Rabs (x - y) <= Rabs x + Rabs y).
  { unfold Rminus. eapply Rle_trans; [apply Rabs_triang|]. rewrite Rabs_Ropp. lra. }
  eapply Rle_trans; [apply Rabs_triang|].
  assert (Rabs (x * d1 + e1 - y * d2 - e2) * (1 + u)
          <= (u * (Rabs x + Rabs y) + 2 * E) * (1 + u)) by (apply Rmult_le_compat_r; lra).
  assert (Rabs (x - y) * u <= (Rabs x + Rabs y) * u) by (apply Rmult_le_compat_r; lra).
  simpl pow. nra.
Qed.

(* proves: CORE-TRACKED-CMUL *)
Theorem cmul_part_bound : forall a b c d : R,
  Rabs (rnd (rnd (a * c) - rnd (b * d)) - (a * c - b * d))
    <= ((1 + u) ^ 2 - 1) * (Rabs (a * c) + Rabs (b * d)) + 2 * (1 + u) * E.
Proof. intros a b c d; apply diff2_bound. Qed.

(** The same for a rounded sum fl(fl(x) + fl(y)) (round to nearest even is
    odd-symmetric: fl(-y) = -fl(y)). *)
Lemma sum2_bound : forall x y : R,
  Rabs (rnd (rnd x + rnd y) - (x + y))
    <= ((1 + u) ^ 2 - 1) * (Rabs x + Rabs y) + 2 * (1 + u) * E.
Proof.
  intros x y.
  assert (Hopp : rnd y = - rnd (- y)).
  { unfold Rounding.rnd. rewrite round_NE_opp. ring. }
  rewrite Hopp.
  replace (rnd x + - rnd (- y)) with (rnd x - rnd (- y)) by ring.
  replace (x + y) with (x - - y) by ring.
  rewrite <- (Rabs_Ropp y).
  apply diff2_bound.
Qed.

(* proves: CORE-TRACKED-CMUL *)
Theorem cmul_part_bound_fma : forall a b c d : R,
  Rabs (rnd (a * c - rnd (b * d)) - (a * c - b * d))
    <= ((1 + u) ^ 2 - 1) * (Rabs (a * c) + Rabs (b * d)) + 2 * (1 + u) * E.
Proof.
  intros a b c d.
  pose proof (u_pos prec) as Hu. pose proof (E_pos emin) as HE.
  destruct (round_model emin prec Hprec (b * d)) as (d2 & e2 & H2 & Hd2 & He2 & _).
  rewrite H2.
  destruct (round_model emin prec Hprec (a * c - (b * d * (1 + d2) + e2)))
    as (d3 & e3 & H3 & Hd3 & He3 & _).
  rewrite H3.
  set (x := a * c) in *. set (y := b * d) in *.
  replace ((x - (y * (1 + d2) + e2)) * (1 + d3) + e3 - (x - y))
    with ((x - y) * d3 - (y * d2 + e2) * (1 + d3) + e3) by ring.
  pose proof (abs_d (x - y) d3 Hd3) as Ha.
  pose proof (abs_1pd (y * d2 + e2) d3 Hd3) as Hb.
  pose proof (abs_d y d2 Hd2) as Hc.
  assert (Hxy : Rabs (x - y) <= Rabs x + Rabs y).
  { unfold Rminus. eapply Rle_trans; [apply Rabs_triang|]. rewrite Rabs_Ropp. lra. }
  assert (Hye : Rabs (y * d2 + e2) <= Rabs y * u + E).
  { eapply Rle_trans; [apply Rabs_triang|]. lra. }
  unfold Rminus at 1.
  eapply Rle_trans; [apply Rabs_triang|].
  eapply Rle_trans; [apply Rplus_le_compat_r, Rabs_triang|].
  rewrite Rabs_Ropp.
  assert (Rabs (y * d2 + e2) * (1 + u) <= (Rabs y * u + E) * (1 + u))
    by (apply Rmult_le_compat_r; lra).
  assert (Rabs (x - y) * u <= (Rabs x + Rabs y) * u) by (apply Rmult_le_compat_r; lra).
  pose proof (Rabs_pos x). pose proof (Rabs_pos y).
  simpl pow. nra.
Qed.

(** One part of the textbook complex quotient
    (a + ib)/(c + id) = ((ac + bd) + i(bc - ad)) / (c^2 + d^2), here the real
    part n / D with n = ac + bd, D = c^2 + d^2, computed as
    fl(Nh / Dh), Nh = fl(fl(ac) + fl(bd)), Dh = fl(fl(c c) + fl(d d)), on
    the computed operands.  An explicit bound, with no domain condition
    other than D > 0 and Dh > 0 (underflow included through E):

      |fl(Nh/Dh) - n/D| <= u |Nh/Dh| + E
                           + (gamma_2 (|ac| + |bd|) + 2(1+u)E) / Dh
                           + |n| (gamma_2 D + 2(1+u)E) / (D Dh).

    The imaginary part b c - a d is the same with (a, b) -> (b, -a).  This
    is the per-term error e_i of [S4-ID-CAUCHY-BOUND] in explicit form;
    the simplification to the gamma_6 form of spec/core.md
    [CORE-TRACKED-CDIV] (its domain conditions bound Dh below and the
    underflow terms against D) is on paper, not here. *)
(* proves: S4-ID-CAUCHY-BOUND *)
Theorem cdiv_part_bound : forall a b c d : R,
  let n := a * c + b * d in
  let D := c * c + d * d in
  let Nh := rnd (rnd (a * c) + rnd (b * d)) in
  let Dh := rnd (rnd (c * c) + rnd (d * d)) in
  0 < D -> 0 < Dh ->
  Rabs (rnd (Nh / Dh) - n / D)
    <= u * Rabs (Nh / Dh) + E
       + (((1 + u) ^ 2 - 1) * (Rabs (a * c) + Rabs (b * d)) + 2 * (1 + u) * E) / Dh
       + Rabs n * (((1 + u) ^ 2 - 1) * D + 2 * (1 + u) * E) / (D * Dh).
Proof.
  intros a b c d n D Nh Dh HD HDh.
  pose proof (round_abs_error emin prec Hprec (Nh / Dh)) as Hq.
  pose proof (sum2_bound (a * c) (b * d)) as HN. fold n Nh in HN.
  pose proof (sum2_bound (c * c) (d * d)) as HDe. fold D Dh in HDe.
  assert (Hsq : Rabs (c * c) + Rabs (d * d) = D).
  { unfold D. rewrite !Rabs_pos_eq; [ring| |]; nra. }
  rewrite Hsq in HDe.
  replace (rnd (Nh / Dh) - n / D)
    with ((rnd (Nh / Dh) - Nh / Dh) + (Nh - n) / Dh + n * (D - Dh) / (D * Dh))
    by (field; lra).
  eapply Rle_trans; [apply Rabs_triang|].
  eapply Rle_trans; [apply Rplus_le_compat_r, Rabs_triang|].
  assert (H2 : Rabs ((Nh - n) / Dh)
               <= (((1 + u) ^ 2 - 1) * (Rabs (a * c) + Rabs (b * d)) + 2 * (1 + u) * E) / Dh).
  { unfold Rdiv. rewrite Rabs_mult, (Rabs_pos_eq (/ Dh)) by (apply Rlt_le, Rinv_0_lt_compat, HDh).
    apply Rmult_le_compat_r; [apply Rlt_le, Rinv_0_lt_compat, HDh|exact HN]. }
  assert (H3 : Rabs (n * (D - Dh) / (D * Dh))
               <= Rabs n * (((1 + u) ^ 2 - 1) * D + 2 * (1 + u) * E) / (D * Dh)).
  { assert (HDD : 0 < D * Dh) by (apply Rmult_lt_0_compat; assumption).
    unfold Rdiv. rewrite !Rabs_mult, (Rabs_pos_eq (/ (D * Dh)))
      by (apply Rlt_le, Rinv_0_lt_compat, HDD).
    apply Rmult_le_compat_r; [apply Rlt_le, Rinv_0_lt_compat, HDD|].
    apply Rmult_le_compat_l; [apply Rabs_pos|].
    rewrite <- Rabs_Ropp. replace (- (D - Dh)) with (Dh - D) by ring. exact HDe. }
  lra.
Qed.

(** The form spec/core.md [CORE-TRACKED-CDIV] states per part: inside the
    domain |y^|^2 = D >= 2E/u^2 (core/tracked_complex.hpp [div] requires
    a lower bound yl of |y^| with yl^2 (1 - 4u) >= 2 eta / u^2, eta = E, so
    D >= yl^2 >= 2E/u^2) and for u <= 1/32 (prec >= 5),

      |fl(Nh/Dh) - n/D| <= gamma_6 (|ac| + |bd|)/D + 3E/D + E,

    which is at most what [div] adds per part before the modulus factor
    sqrt 2 (gamma_6 (|a c| + |b d|)/|y^|^2, 3 eta/|y^|^2 and 2 eta). *)
(* proves: CORE-TRACKED-CDIV *)
Theorem cdiv_part_bound_gamma6 : forall a b c d : R,
  let n := a * c + b * d in
  let D := c * c + d * d in
  let Nh := rnd (rnd (a * c) + rnd (b * d)) in
  let Dh := rnd (rnd (c * c) + rnd (d * d)) in
  u <= / 32 -> 0 < D -> E <= u * u * D / 2 ->
  Rabs (rnd (Nh / Dh) - n / D)
    <= ((1 + u) ^ 6 - 1) * (Rabs (a * c) + Rabs (b * d)) / D + 3 * E / D + E.
Proof.
  intros a b c d n D Nh Dh Hu HD HED.
  pose proof (u_pos prec) as Hu0. pose proof (E_pos emin) as HE0.
  set (S := Rabs (a * c) + Rabs (b * d)).
  pose proof (sum2_bound (a * c) (b * d)) as HN. fold n Nh S in HN.
  pose proof (sum2_bound (c * c) (d * d)) as HDe. fold D Dh in HDe.
  assert (Hsq : Rabs (c * c) + Rabs (d * d) = D).
  { unfold D. rewrite !Rabs_pos_eq; [ring| |]; nra. }
  rewrite Hsq in HDe.
  assert (Hg2 : (1 + u) ^ 2 - 1 = 2 * u + u * u) by (simpl; ring).
  rewrite Hg2 in HN, HDe.
  assert (HDlow : D - (2 * u + u * u) * D - 2 * (1 + u) * E <= Dh).
  { rewrite Rabs_minus_sym in HDe. pose proof (Rle_abs (D - Dh)). lra. }
  assert (Hn : Rabs n <= S).
  { unfold n, S. apply Rabs_triang. }
  assert (HNh : Rabs Nh <= (1 + (2 * u + u * u)) * S + 2 * (1 + u) * E).
  { replace Nh with (n + (Nh - n)) by ring.
    eapply Rle_trans; [apply Rabs_triang|]. lra. }
  destruct (cdiv_algebra u E S (Rabs n) D Dh (Rabs Nh)) as [HDh0 Hal];
    try assumption; try lra; try (split; [apply Rabs_pos|exact Hn]); try apply Rabs_pos.
  eapply Rle_trans; [apply cdiv_part_bound; assumption|].
  fold n Nh Dh S. rewrite Hg2.
  replace (Rabs (Nh / Dh)) with (Rabs Nh / Dh).
  - fold D. lra.
  - unfold Rdiv. rewrite Rabs_mult, Rabs_inv, (Rabs_pos_eq Dh) by lra. reflexivity.
Qed.

End CMul.
