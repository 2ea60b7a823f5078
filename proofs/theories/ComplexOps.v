(** * ComplexOps.v -- one rounded complex product and one rounded complex
    quotient, in modulus: the rules core/tracked_complex.hpp evaluates.

    Spec: spec/core.md, [CORE-TRACKED-CADD], [CORE-TRACKED-CMUL] and
    [CORE-TRACKED-CDIV]; used by spec/s4_identities.md
    [S4-ID-CAUCHY-BOUND] (each Cauchy term is one quotient).

    Complex numbers are Coquelicot's [C = R * R]; x^ = (a, b) and y^ = (c, d)
    are the computed operands, x and y the exact ones.  Every part is
    rounded on its own ([rnd] of Rounding.v):
      product:  (fl(fl(ac) - fl(bd)), fl(fl(ad) + fl(bc)))
      quotient: (fl(fl(fl(ac) + fl(bd)) / Dh), fl(fl(fl(bc) - fl(ad)) / Dh)),
                Dh = fl(fl(cc) + fl(dd)).
    The per-part rounding errors are ComplexPartBounds.v's; here they are
    combined into moduli ((|ac| + |bd|)^2 + (|ad| + |bc|)^2 <= 2 |x^|^2 |y^|^2, and
    |(F, F)| = sqrt 2 F) and the propagated input errors are added, giving
    exactly the formulas of [mul] and [div] in core/tracked_complex.hpp. *)

From Coq Require Import ZArith Reals Psatz.
From Coquelicot Require Import Complex.
From Flocq Require Import Core.
From Touchstone Require Import Rounding SeqSumBound SeqSumModulus ComplexPartBounds.

Open Scope R_scope.

(** (|ac| + |bd|)^2 + (|ad| + |bc|)^2 <= 2 (a^2 + b^2)(c^2 + d^2). *)
Lemma cross_bound : forall a b c d,
  norm2 (Rabs (a * c) + Rabs (b * d)) (Rabs (a * d) + Rabs (b * c))
    <= sqrt 2 * (norm2 a b * norm2 c d).
Proof.
  intros a b c d.
  rewrite <- (norm2_abs a b), <- (norm2_abs c d), !Rabs_mult.
  pose proof (Rabs_pos a) as Ha. pose proof (Rabs_pos b) as Hb.
  pose proof (Rabs_pos c) as Hc. pose proof (Rabs_pos d) as Hd.
  set (A := Rabs a) in *. set (B := Rabs b) in *.
  set (Cc := Rabs c) in *. set (Dd := Rabs d) in *.
  unfold norm2, Cmod; simpl. rewrite !Rmult_1_r.
  rewrite <- (sqrt_mult_alt (A * A + B * B)) by nra.
  rewrite <- sqrt_mult_alt by lra.
  apply sqrt_le_1_alt.
  pose proof (Rle_0_sqr (A - B)) as S1. pose proof (Rle_0_sqr (Cc - Dd)) as S2.
  unfold Rsqr in S1, S2.
  assert (H1 : 2 * (A * B) <= A * A + B * B) by nra.
  assert (H2 : 2 * (Cc * Dd) <= Cc * Cc + Dd * Dd) by nra.
  assert (H3 : (2 * (A * B)) * (2 * (Cc * Dd)) <= (A * A + B * B) * (Cc * Cc + Dd * Dd)).
  { apply Rmult_le_compat; try lra; apply Rmult_le_pos; try lra; apply Rmult_le_pos; lra. }
  idtac.
  replace (2 * ((A * A + B * B) * (Cc * Cc + Dd * Dd)))
    with ((A * A + B * B) * (Cc * Cc + Dd * Dd) + (A * A + B * B) * (Cc * Cc + Dd * Dd)) by ring.
  nra.
Qed.

(** Per-part bounds g S + F combine into g |(Sr, Si)| + sqrt 2 F. *)
Lemma part_to_modulus : forall rr ri Sr Si g F,
  0 <= g -> 0 <= F -> 0 <= Sr -> 0 <= Si ->
  Rabs rr <= g * Sr + F -> Rabs ri <= g * Si + F ->
  norm2 rr ri <= g * norm2 Sr Si + sqrt 2 * F.
Proof.
  intros rr ri Sr Si g F Hg HF HSr HSi Hr Hi.
  eapply Rle_trans; [apply norm2_bound; eassumption|].
  eapply Rle_trans; [apply norm2_triangle|].
  rewrite norm2_scale by lra.
  replace F with (F * 1) at 1 2 by ring.
  rewrite norm2_scale by lra.
  replace (norm2 1 1) with (sqrt 2).
  - lra.
  - unfold norm2, Cmod; simpl. f_equal. ring.
Qed.

Section ComplexOps.

Variables emin prec : Z.
Hypothesis Hprec : (0 < prec)%Z.

Local Notation u := (Rounding.u prec).
Local Notation E := (Rounding.E emin).
Local Notation rnd := (Rounding.rnd emin prec).

(** The computed product of computed operands, part by part. *)
Definition cmul_hat (x y : C) : C :=
  let '(a, b) := x in let '(c, d) := y in
  (rnd (rnd (a * c) - rnd (b * d)), rnd (rnd (a * d) + rnd (b * c))).

(** Rounding error of the product, in modulus: sqrt 2 gamma_2 |x^| |y^|
    + 3 sqrt 2 E (u <= 1/2). *)
Lemma cmul_round_modulus : forall x y : C,
  u <= / 2 ->
  Cmod (Cminus (cmul_hat x y) (Cmult x y))
    <= sqrt 2 * ((1 + u) ^ 2 - 1) * (Cmod x * Cmod y) + 3 * sqrt 2 * E.
Proof.
  intros [a b] [c d] Hu.
  pose proof (u_pos prec) as Hu0. pose proof (E_pos emin) as HE0.
  assert (Hs2 : 0 < sqrt 2) by (apply sqrt_lt_R0; lra).
  assert (Hg : 0 <= (1 + u) ^ 2 - 1) by (simpl; nra).
  change (Cmod (Cminus (cmul_hat (a, b) (c, d)) (Cmult (a, b) (c, d))))
    with (norm2 (rnd (rnd (a * c) - rnd (b * d)) - (a * c - b * d))
                (rnd (rnd (a * d) + rnd (b * c)) - (a * d + b * c))).
  pose proof (diff2_bound emin prec Hprec (a * c) (b * d)) as Hre.
  pose proof (sum2_bound emin prec Hprec (a * d) (b * c)) as Him.
  assert (HF : 0 <= 2 * (1 + u) * E) by nra.
  assert (HSr : 0 <= Rabs (a * c) + Rabs (b * d))
    by (apply Rplus_le_le_0_compat; apply Rabs_pos).
  assert (HSi : 0 <= Rabs (a * d) + Rabs (b * c))
    by (apply Rplus_le_le_0_compat; apply Rabs_pos).
  pose proof (part_to_modulus _ _ _ _ _ _ Hg HF HSr HSi Hre Him) as Hm.
  pose proof (cross_bound a b c d) as Hx.
  change (Cmod (a, b)) with (norm2 a b). change (Cmod (c, d)) with (norm2 c d).
  assert (((1 + u) ^ 2 - 1) * norm2 (Rabs (a * c) + Rabs (b * d)) (Rabs (a * d) + Rabs (b * c))
          <= ((1 + u) ^ 2 - 1) * (sqrt 2 * (norm2 a b * norm2 c d)))
    by (apply Rmult_le_compat_l; assumption).
  assert (H4 : sqrt 2 * (2 * (1 + u) * E) <= 3 * sqrt 2 * E).
  { replace (sqrt 2 * (2 * (1 + u) * E)) with ((sqrt 2 * E) * (2 * (1 + u))) by ring.
    replace (3 * sqrt 2 * E) with ((sqrt 2 * E) * 3) by ring.
    apply Rmult_le_compat_l; [apply Rmult_le_pos; lra|]. lra. }
  lra.
Qed.

(* proves: CORE-TRACKED-CMUL *)
Theorem cmul_tracked : forall (x xh y yh : C) (Mx Ex My Ey : R),
  u <= / 2 ->
  Cmod x <= Mx -> Cmod (Cminus xh x) <= Ex ->
  Cmod y <= My -> Cmod (Cminus yh y) <= Ey ->
  Cmod (Cminus (cmul_hat xh yh) (Cmult x y))
    <= (Mx * Ey + Ex * My + Ex * Ey)
       + sqrt 2 * ((1 + u) ^ 2 - 1) * ((Mx + Ex) * (My + Ey)) + 3 * sqrt 2 * E.
Proof.
  intros x xh y yh Mx Ex My Ey Hu Hx Hex Hy Hey.
  pose proof (u_pos prec) as Hu0.
  assert (Hs2 : 0 < sqrt 2) by (apply sqrt_lt_R0; lra).
  assert (Hg : 0 <= (1 + u) ^ 2 - 1) by (simpl; nra).
  (* |x^| <= Mx + Ex, |y^| <= My + Ey *)
  assert (Hxh : Cmod xh <= Mx + Ex).
  { replace xh with (Cplus x (Cminus xh x))
      by (apply injective_projections; simpl; ring).
    eapply Rle_trans; [apply Cmod_triangle|]. lra. }
  assert (Hyh : Cmod yh <= My + Ey).
  { replace yh with (Cplus y (Cminus yh y))
      by (apply injective_projections; simpl; ring).
    eapply Rle_trans; [apply Cmod_triangle|]. lra. }
  (* propagated: x^ y^ - x y = x (y^ - y) + (x^ - x) y + (x^ - x)(y^ - y) *)
  assert (Hprop : Cmod (Cminus (Cmult xh yh) (Cmult x y)) <= Mx * Ey + Ex * My + Ex * Ey).
  { replace (Cminus (Cmult xh yh) (Cmult x y))
      with (Cplus (Cplus (Cmult x (Cminus yh y)) (Cmult (Cminus xh x) y))
                  (Cmult (Cminus xh x) (Cminus yh y)))
      by (apply injective_projections; simpl; ring).
    eapply Rle_trans; [apply Cmod_triangle|].
    eapply Rle_trans; [apply Rplus_le_compat_r, Cmod_triangle|].
    rewrite !Cmod_mult.
    pose proof (Cmod_ge_0 x). pose proof (Cmod_ge_0 y).
    pose proof (Cmod_ge_0 (Cminus xh x)). pose proof (Cmod_ge_0 (Cminus yh y)).
    repeat apply Rplus_le_compat; apply Rmult_le_compat; assumption. }
  pose proof (cmul_round_modulus xh yh Hu) as Hr.
  replace (Cminus (cmul_hat xh yh) (Cmult x y))
    with (Cplus (Cminus (cmul_hat xh yh) (Cmult xh yh)) (Cminus (Cmult xh yh) (Cmult x y)))
    by (apply injective_projections; simpl; ring).
  eapply Rle_trans; [apply Cmod_triangle|].
  assert (Cmod xh * Cmod yh <= (Mx + Ex) * (My + Ey))
    by (apply Rmult_le_compat; auto using Cmod_ge_0).
  assert (sqrt 2 * ((1 + u) ^ 2 - 1) * (Cmod xh * Cmod yh)
          <= sqrt 2 * ((1 + u) ^ 2 - 1) * ((Mx + Ex) * (My + Ey)))
    by (apply Rmult_le_compat_l; [apply Rmult_le_pos; lra|assumption]).
  lra.
Qed.

(** The computed product of a computed complex operand and a computed real
    one, one product per part. *)
Definition cmul_real_hat (x : C) (y : R) : C :=
  let '(a, b) := x in (rnd (a * y), rnd (b * y)).

(** Complex times real, in modulus, the formula of core/tracked_complex.hpp
    [mul_real]: the propagated error Mx Ey + Ex My + Ex Ey, plus
    u |x^| |y^| + sqrt 2 E for the two roundings (one per part). *)
(* proves: CORE-TRACKED-CMUL *)
Theorem cmul_real_tracked : forall (x xh : C) (y yh Mx Ex My Ey : R),
  Cmod x <= Mx -> Cmod (Cminus xh x) <= Ex ->
  Rabs y <= My -> Rabs (yh - y) <= Ey ->
  Cmod (Cminus (cmul_real_hat xh yh) (Cmult x (RtoC y)))
    <= (Mx * Ey + Ex * My + Ex * Ey)
       + u * ((Mx + Ex) * (My + Ey)) + sqrt 2 * E.
Proof.
  intros x [a b] y yh Mx Ex My Ey Hx Hex Hy Hey.
  pose proof (u_pos prec) as Hu0. pose proof (E_pos emin) as HE0.
  assert (Hxh : Cmod (a, b) <= Mx + Ex).
  { replace (a, b) with (Cplus x (Cminus (a, b) x))
      by (apply injective_projections; simpl; ring).
    eapply Rle_trans; [apply Cmod_triangle|]. lra. }
  assert (Hyh : Rabs yh <= My + Ey).
  { replace yh with (y + (yh - y)) by ring.
    eapply Rle_trans; [apply Rabs_triang|]. lra. }
  (* rounding part: per part |rnd v - v| <= u |v| + E *)
  assert (Hr : Cmod (Cminus (cmul_real_hat (a, b) yh) (Cmult (a, b) (RtoC yh)))
               <= u * (Cmod (a, b) * Rabs yh) + sqrt 2 * E).
  { change (Cmod (Cminus (cmul_real_hat (a, b) yh) (Cmult (a, b) (RtoC yh))))
      with (norm2 (rnd (a * yh) - (a * yh - b * 0)) (rnd (b * yh) - (a * 0 + b * yh))).
    replace (a * yh - b * 0) with (a * yh) by ring.
    replace (a * 0 + b * yh) with (b * yh) by ring.
    pose proof (round_abs_error emin prec Hprec (a * yh)) as Ha.
    pose proof (round_abs_error emin prec Hprec (b * yh)) as Hb.
    assert (HF : 0 <= E) by lra.
    pose proof (part_to_modulus _ _ (Rabs (a * yh)) (Rabs (b * yh)) u E
                  (Rlt_le _ _ Hu0) HF (Rabs_pos _) (Rabs_pos _) Ha Hb) as Hm.
    assert (Hn : norm2 (Rabs (a * yh)) (Rabs (b * yh)) = Cmod (a, b) * Rabs yh).
    { rewrite !Rabs_mult, (Rmult_comm (Rabs a)), (Rmult_comm (Rabs b)).
      rewrite norm2_scale by apply Rabs_pos. rewrite norm2_abs.
      change (norm2 a b) with (Cmod (a, b)). ring. }
    rewrite Hn in Hm. exact Hm. }
  (* propagated: x^ y^ - x y = x (y^ - y) + (x^ - x) y + (x^ - x)(y^ - y) *)
  assert (Hprop : Cmod (Cminus (Cmult (a, b) (RtoC yh)) (Cmult x (RtoC y)))
                  <= Mx * Ey + Ex * My + Ex * Ey).
  { replace (Cminus (Cmult (a, b) (RtoC yh)) (Cmult x (RtoC y)))
      with (Cplus (Cplus (Cmult x (RtoC (yh - y))) (Cmult (Cminus (a, b) x) (RtoC y)))
                  (Cmult (Cminus (a, b) x) (RtoC (yh - y))))
      by (apply injective_projections; simpl; ring).
    eapply Rle_trans; [apply Cmod_triangle|].
    eapply Rle_trans; [apply Rplus_le_compat_r, Cmod_triangle|].
    rewrite !Cmod_mult, !Cmod_R.
    pose proof (Cmod_ge_0 x). pose proof (Cmod_ge_0 (Cminus (a, b) x)).
    pose proof (Rabs_pos y). pose proof (Rabs_pos (yh - y)).
    repeat apply Rplus_le_compat; apply Rmult_le_compat; assumption. }
  replace (Cminus (cmul_real_hat (a, b) yh) (Cmult x (RtoC y)))
    with (Cplus (Cminus (cmul_real_hat (a, b) yh) (Cmult (a, b) (RtoC yh)))
                (Cminus (Cmult (a, b) (RtoC yh)) (Cmult x (RtoC y))))
    by (apply injective_projections; simpl; ring).
  eapply Rle_trans; [apply Cmod_triangle|].
  assert (Cmod (a, b) * Rabs yh <= (Mx + Ex) * (My + Ey))
    by (apply Rmult_le_compat; auto using Cmod_ge_0, Rabs_pos).
  assert (u * (Cmod (a, b) * Rabs yh) <= u * ((Mx + Ex) * (My + Ey)))
    by (apply Rmult_le_compat_l; lra).
  lra.
Qed.

(** The computed quotient of computed operands, part by part (the textbook
    formula). *)
Definition cdiv_hat (x y : C) : C :=
  let '(a, b) := x in let '(c, d) := y in
  let Dh := rnd (rnd (c * c) + rnd (d * d)) in
  (rnd (rnd (rnd (a * c) + rnd (b * d)) / Dh), rnd (rnd (rnd (b * c) - rnd (a * d)) / Dh)).

Lemma cdiv_parts : forall a b c d, c * c + d * d <> 0 ->
  Cdiv (a, b) (c, d) = ((a * c + b * d) / (c * c + d * d), (b * c - a * d) / (c * c + d * d)).
Proof.
  intros a b c d HD.
  assert (HD' : c * (c * 1) + d * (d * 1) <> 0) by (rewrite !Rmult_1_r; exact HD).
  unfold Cdiv, Cinv, Cmult; simpl. f_equal; field; first [exact HD | exact HD'].
Qed.

Lemma cmod_sq : forall c d, Cmod (c, d) * Cmod (c, d) = c * c + d * d.
Proof.
  intros c d. unfold Cmod; simpl. rewrite sqrt_sqrt by nra. ring.
Qed.

(** Rounding error of the quotient, in modulus, inside the domain
    |y^|^2 >= 2E/u^2 (u <= 1/32): sqrt 2 gamma_6 |x^|/|y^| + sqrt 2 (3E/|y^|^2 + E). *)
Lemma cdiv_round_modulus : forall x y : C,
  u <= / 32 -> 0 < Cmod y -> E <= u * u * (Cmod y * Cmod y) / 2 ->
  Cmod (Cminus (cdiv_hat x y) (Cdiv x y))
    <= sqrt 2 * ((1 + u) ^ 6 - 1) * Cmod x / Cmod y
       + sqrt 2 * (3 * E / (Cmod y * Cmod y) + E).
Proof.
  intros [a b] [c d] Hu Hy HED.
  pose proof (u_pos prec) as Hu0. pose proof (E_pos emin) as HE0.
  assert (Hs2 : 0 < sqrt 2) by (apply sqrt_lt_R0; lra).
  set (N2 := Cmod (c, d)) in *.
  assert (HDsq : N2 * N2 = c * c + d * d) by apply cmod_sq.
  set (D := c * c + d * d) in *.
  assert (HD : 0 < D) by (rewrite <- HDsq; nra).
  rewrite HDsq in HED |- *.
  rewrite cdiv_parts by (change (c * c + d * d) with D; lra). fold D.
  set (g6 := (1 + u) ^ 6 - 1).
  assert (Hg6 : 0 <= g6) by (unfold g6; pose proof (pow_1pu_ge1 prec 6); lra).
  (* the two parts *)
  pose proof (cdiv_part_bound_gamma6 emin prec Hprec a b c d Hu HD HED) as Hre.
  pose proof (cdiv_part_bound_gamma6 emin prec Hprec b (- a) c d Hu HD HED) as Him.
  cbv zeta in Hre, Him. fold D g6 in Hre, Him.
  assert (Hopp : rnd (- a * d) = - rnd (a * d)).
  { replace (- a * d) with (- (a * d)) by ring. unfold Rounding.rnd. apply round_NE_opp. }
  rewrite Hopp in Him.
  replace (rnd (b * c) + - rnd (a * d)) with (rnd (b * c) - rnd (a * d)) in Him by ring.
  replace (b * c + - a * d) with (b * c - a * d) in Him by ring.
  replace (Rabs (- a * d)) with (Rabs (a * d)) in Him
    by (replace (- a * d) with (- (a * d)) by ring; rewrite Rabs_Ropp; reflexivity).
  change (Cmod (Cminus (rnd (rnd (rnd (a * c) + rnd (b * d)) / rnd (rnd (c * c) + rnd (d * d))),
                        rnd (rnd (rnd (b * c) - rnd (a * d)) / rnd (rnd (c * c) + rnd (d * d))))
                       ((a * c + b * d) / D, (b * c - a * d) / D)))
    with (norm2 (rnd (rnd (rnd (a * c) + rnd (b * d)) / rnd (rnd (c * c) + rnd (d * d)))
                 - (a * c + b * d) / D)
                (rnd (rnd (rnd (b * c) - rnd (a * d)) / rnd (rnd (c * c) + rnd (d * d)))
                 - (b * c - a * d) / D)).
  set (Sr := Rabs (a * c) + Rabs (b * d)) in *.
  set (Si := Rabs (b * c) + Rabs (a * d)) in *.
  set (F := 3 * E / D + E).
  assert (HF : 0 <= F) by (unfold F; apply Rplus_le_le_0_compat; [|lra];
                           unfold Rdiv; apply Rmult_le_pos; [lra|apply Rlt_le, Rinv_0_lt_compat, HD]).
  assert (Hgd : 0 <= g6 / D) by (unfold Rdiv; apply Rmult_le_pos; [lra|apply Rlt_le, Rinv_0_lt_compat, HD]).
  assert (Hre' : Rabs (rnd (rnd (rnd (a * c) + rnd (b * d)) / rnd (rnd (c * c) + rnd (d * d)))
                       - (a * c + b * d) / D) <= g6 / D * Sr + F).
  { replace (g6 / D * Sr) with (g6 * Sr / D) by (field; lra). unfold F. lra. }
  assert (Him' : Rabs (rnd (rnd (rnd (b * c) - rnd (a * d)) / rnd (rnd (c * c) + rnd (d * d)))
                       - (b * c - a * d) / D) <= g6 / D * Si + F).
  { replace (g6 / D * Si) with (g6 * Si / D) by (field; lra). unfold F. lra. }
  assert (HSr : 0 <= Sr) by (apply Rplus_le_le_0_compat; apply Rabs_pos).
  assert (HSi : 0 <= Si) by (apply Rplus_le_le_0_compat; apply Rabs_pos).
  eapply Rle_trans; [apply (part_to_modulus _ _ _ _ _ _ Hgd HF HSr HSi Hre' Him')|].
  pose proof (cross_bound a b c d) as Hx.
  replace (Rabs (a * d) + Rabs (b * c)) with Si in Hx by (unfold Si; ring).
  change (norm2 c d) with N2 in Hx. change (Cmod (a, b)) with (norm2 a b).
  assert (Hstep : g6 / D * norm2 Sr Si <= g6 / D * (sqrt 2 * (norm2 a b * N2)))
    by (apply Rmult_le_compat_l; assumption).
  replace (g6 / D * (sqrt 2 * (norm2 a b * N2))) with (sqrt 2 * g6 * norm2 a b / N2) in Hstep.
  - unfold F in *. lra.
  - rewrite <- HDsq. field. lra.
Qed.

(* proves: CORE-TRACKED-CDIV *)
Theorem cdiv_tracked : forall (x xh y yh : C) (Mx Ex My_low Ey : R),
  u <= / 32 ->
  Cmod x <= Mx -> Cmod (Cminus xh x) <= Ex ->
  My_low <= Cmod y -> Cmod (Cminus yh y) <= Ey ->
  0 < My_low - Ey -> E <= u * u * ((My_low - Ey) * (My_low - Ey)) / 2 ->
  Cmod (Cminus (cdiv_hat xh yh) (Cdiv x y))
    <= (Ex * My_low + Mx * Ey) / (My_low * (My_low - Ey))
       + sqrt 2 * ((1 + u) ^ 6 - 1) * (Mx + Ex) / (My_low - Ey)
       + sqrt 2 * (3 * E / ((My_low - Ey) * (My_low - Ey)) + 2 * E).
Proof.
  intros x xh y yh Mx Ex My_low Ey Hu Hx Hex Hy Hey Hyl HED.
  pose proof (u_pos prec) as Hu0. pose proof (E_pos emin) as HE0.
  assert (Hs2 : 0 < sqrt 2) by (apply sqrt_lt_R0; lra).
  set (yl := My_low - Ey) in *.
  assert (HEy : 0 <= Ey) by (eapply Rle_trans; [apply Cmod_ge_0|exact Hey]).
  assert (HEx : 0 <= Ex) by (eapply Rle_trans; [apply Cmod_ge_0|exact Hex]).
  assert (HMx : 0 <= Mx) by (eapply Rle_trans; [apply Cmod_ge_0|exact Hx]).
  assert (HMy : 0 < My_low) by (unfold yl in Hyl; lra).
  (* |y^| >= yl > 0 *)
  assert (Hyh : yl <= Cmod yh).
  { assert (Cmod y <= Cmod yh + Cmod (Cminus yh y)).
    { replace y with (Cplus yh (Copp (Cminus yh y))) at 1
        by (apply injective_projections; simpl; ring).
      eapply Rle_trans; [apply Cmod_triangle|]. rewrite Cmod_opp. lra. }
    unfold yl. lra. }
  assert (Hxh : Cmod xh <= Mx + Ex).
  { replace xh with (Cplus x (Cminus xh x)) by (apply injective_projections; simpl; ring).
    eapply Rle_trans; [apply Cmod_triangle|]. lra. }
  assert (Hyh0 : 0 < Cmod yh) by lra.
  assert (Hy0 : 0 < Cmod y) by lra.
  assert (HED' : E <= u * u * (Cmod yh * Cmod yh) / 2).
  { eapply Rle_trans; [exact HED|].
    assert (yl * yl <= Cmod yh * Cmod yh) by (apply Rmult_le_compat; lra).
    assert (0 <= u * u) by nra. nra. }
  pose proof (cdiv_round_modulus xh yh Hu Hyh0 HED') as Hr.
  (* propagated: x^/y^ - x/y = (x^ - x)/y^ + x (y - y^)/(y y^) *)
  assert (Hyh_nz : yh <> RtoC 0) by (intros H0; rewrite H0, Cmod_0 in Hyh0; lra).
  assert (Hy_nz : y <> RtoC 0) by (intros H0; rewrite H0, Cmod_0 in Hy0; lra).
  assert (Hprop : Cmod (Cminus (Cdiv xh yh) (Cdiv x y))
                  <= (Ex * My_low + Mx * Ey) / (My_low * yl)).
  { replace (Cminus (Cdiv xh yh) (Cdiv x y))
      with (Cplus (Cdiv (Cminus xh x) yh) (Cdiv (Cmult x (Cminus y yh)) (Cmult y yh)))
      by (field; split; assumption).
    eapply Rle_trans; [apply Cmod_triangle|].
    rewrite !Cmod_div, Cmod_mult, Cmod_mult by (try apply Cmult_neq_0; assumption).
    replace (Cmod (Cminus y yh)) with (Cmod (Cminus yh y))
      by (rewrite <- Cmod_opp; f_equal; apply injective_projections; simpl; ring).
    assert (T1 : Cmod (Cminus xh x) / Cmod yh <= Ex / yl).
    { unfold Rdiv. apply Rmult_le_compat; try lra.
      - apply Cmod_ge_0.
      - apply Rlt_le, Rinv_0_lt_compat; lra.
      - apply Rinv_le_contravar; lra. }
    assert (T2 : Cmod x * Cmod (Cminus yh y) / (Cmod y * Cmod yh) <= Mx * Ey / (My_low * yl)).
    { unfold Rdiv. apply Rmult_le_compat.
      - apply Rmult_le_pos; apply Cmod_ge_0.
      - apply Rlt_le, Rinv_0_lt_compat; nra.
      - apply Rmult_le_compat; auto using Cmod_ge_0.
      - apply Rinv_le_contravar; [nra|]. apply Rmult_le_compat; lra. }
    replace ((Ex * My_low + Mx * Ey) / (My_low * yl)) with (Ex / yl + Mx * Ey / (My_low * yl))
      by (field; lra).
    lra. }
  replace (Cminus (cdiv_hat xh yh) (Cdiv x y))
    with (Cplus (Cminus (cdiv_hat xh yh) (Cdiv xh yh)) (Cminus (Cdiv xh yh) (Cdiv x y)))
    by (apply injective_projections; simpl; ring).
  eapply Rle_trans; [apply Cmod_triangle|].
  (* the rounding part against yl *)
  assert (R1 : sqrt 2 * ((1 + u) ^ 6 - 1) * Cmod xh / Cmod yh
               <= sqrt 2 * ((1 + u) ^ 6 - 1) * (Mx + Ex) / yl).
  { assert (Hg6 : 0 <= (1 + u) ^ 6 - 1) by (pose proof (pow_1pu_ge1 prec 6); lra).
    unfold Rdiv. apply Rmult_le_compat.
    - apply Rmult_le_pos; [apply Rmult_le_pos; lra|apply Cmod_ge_0].
    - apply Rlt_le, Rinv_0_lt_compat; lra.
    - apply Rmult_le_compat_l; [apply Rmult_le_pos; lra|exact Hxh].
    - apply Rinv_le_contravar; lra. }
  assert (R2 : 3 * E / (Cmod yh * Cmod yh) <= 3 * E / (yl * yl)).
  { unfold Rdiv. apply Rmult_le_compat_l; [lra|].
    apply Rinv_le_contravar; [nra|]. apply Rmult_le_compat; lra. }
  assert (R3 : sqrt 2 * (3 * E / (Cmod yh * Cmod yh) + E)
               <= sqrt 2 * (3 * E / (yl * yl) + 2 * E))
    by (apply Rmult_le_compat_l; lra).
  lra.
Qed.

(** The computed sum of computed operands whose parts are floats. *)
Definition cadd_hat (x y : C) : C :=
  let '(a, b) := x in let '(c, d) := y in (rnd (a + c), rnd (b + d)).

Local Notation format := (generic_format radix2 (FLT_exp emin prec)).

(* proves: CORE-TRACKED-CADD *)
Theorem cadd_tracked : forall (x xh y yh : C) (Mx Ex My Ey : R),
  format (fst xh) -> format (snd xh) -> format (fst yh) -> format (snd yh) ->
  Cmod x <= Mx -> Cmod (Cminus xh x) <= Ex ->
  Cmod y <= My -> Cmod (Cminus yh y) <= Ey ->
  Cmod (Cminus (cadd_hat xh yh) (Cplus x y))
    <= Ex + Ey + u * (Mx + My + Ex + Ey).
Proof.
  intros x [a b] y [c d] Mx Ex My Ey Fa Fb Fc Fd Hx Hex Hy Hey.
  simpl in Fa, Fb, Fc, Fd.
  pose proof (u_pos prec) as Hu0.
  destruct (add_rel emin prec Hprec a c Fa Fc) as (d1 & Hd1 & H1).
  destruct (add_rel emin prec Hprec b d Fb Fd) as (d2 & Hd2 & H2).
  (* rounding part: each part within u |part|, so within u |x^ + y^| in modulus *)
  assert (Hr : Cmod (Cminus (cadd_hat (a, b) (c, d)) (Cplus (a, b) (c, d)))
               <= u * Cmod (Cplus (a, b) (c, d))).
  { change (Cmod (Cminus (cadd_hat (a, b) (c, d)) (Cplus (a, b) (c, d))))
      with (norm2 (rnd (a + c) - (a + c)) (rnd (b + d) - (b + d))).
    change (Cmod (Cplus (a, b) (c, d))) with (norm2 (a + c) (b + d)).
    rewrite H1, H2.
    replace ((a + c) * (1 + d1) - (a + c)) with (d1 * (a + c)) by ring.
    replace ((b + d) * (1 + d2) - (b + d)) with (d2 * (b + d)) by ring.
    rewrite <- (norm2_abs (a + c) (b + d)).
    rewrite <- (norm2_scale u (Rabs (a + c)) (Rabs (b + d))) by lra.
    apply norm2_bound; rewrite Rabs_mult;
      apply Rmult_le_compat_r; auto using Rabs_pos. }
  assert (Hsum : Cmod (Cplus (a, b) (c, d)) <= Mx + My + Ex + Ey).
  { replace (Cplus (a, b) (c, d))
      with (Cplus (Cplus x y) (Cplus (Cminus (a, b) x) (Cminus (c, d) y)))
      by (apply injective_projections; simpl; ring).
    eapply Rle_trans; [apply Cmod_triangle|].
    pose proof (Cmod_triangle x y). pose proof (Cmod_triangle (Cminus (a, b) x) (Cminus (c, d) y)).
    lra. }
  assert (Hprop : Cmod (Cminus (Cplus (a, b) (c, d)) (Cplus x y)) <= Ex + Ey).
  { replace (Cminus (Cplus (a, b) (c, d)) (Cplus x y))
      with (Cplus (Cminus (a, b) x) (Cminus (c, d) y))
      by (apply injective_projections; simpl; ring).
    eapply Rle_trans; [apply Cmod_triangle|]. lra. }
  replace (Cminus (cadd_hat (a, b) (c, d)) (Cplus x y))
    with (Cplus (Cminus (cadd_hat (a, b) (c, d)) (Cplus (a, b) (c, d)))
                (Cminus (Cplus (a, b) (c, d)) (Cplus x y)))
    by (apply injective_projections; simpl; ring).
  eapply Rle_trans; [apply Cmod_triangle|].
  assert (u * Cmod (Cplus (a, b) (c, d)) <= u * (Mx + My + Ex + Ey))
    by (apply Rmult_le_compat_l; lra).
  lra.
Qed.

End ComplexOps.
