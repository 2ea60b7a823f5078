(** * ComplexPartBounds.v -- the rounding error of one part (real or
    imaginary) of a complex product and of a complex quotient, on computed
    operands.

    Spec: spec/core.md, [CORE-TRACKED-CMUL] and [CORE-TRACKED-CDIV];
    spec/s4_identities.md, [S4-ID-CAUCHY-BOUND] ([cdiv_part_bound]: one
    part of a textbook complex division, the per-term error of the Cauchy
    sum, in an explicit form).  ComplexOps.v combines these per-part
    bounds into the moduli core/tracked_complex.hpp evaluates.

    The rounding model is Rounding.v's ([rnd], round to nearest even in
    FLT(emin, prec), unbounded exponent: no overflow). *)

From Coq Require Import ZArith Reals Psatz.
From Flocq Require Import Core.
From Touchstone Require Import Rounding.

Open Scope R_scope.

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
  intros x y Fx Fy. apply (add_rel emin prec Hprec); [exact Fx|].
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
