(** * Orthogonal.v -- exact algebra of the orthogonal family: Householder
    reflections, the compact WY (CWY) and truncated CWY (T-CWY)
    parametrizations, and Givens rotations on disjoint index pairs.

    Spec: spec/orthogonal.md, [ORTH-HH-PROPS], [ORTH-CWY-ORTH],
    [ORTH-CWY-EQ-HH], [ORTH-TCWY-STIEFEL], [ORTH-GIVENS-COMMUTE],
    [ORTH-CAYLEY-DEF], [ORTH-CAYLEY-VJP-CPU].

    Vectors are mathcomp column vectors ['cV_n]; v^T v is the 1 x 1 matrix
    whose entry is [sqn v].  For v <> 0,

        H(v) = 1 - (2 / v^T v) v v^T                      ([hh])

    is symmetric, orthogonal and involutory ([hh_props]).  For unit vectors
    u_1 .. u_L, the columns of U (n x L),

        H(u_1) ... H(u_L) = 1 - U S^-1 U^T,   S = 1/2 I + striu(U^T U)

    ([cwy_eq_hh]); S is invertible ([cwyS_unit]) and S + S^T = U^T U
    ([cwyS_sym]); any invertible S with S + S^T = U^T U makes
    Q = 1 - U S^-1 U^T orthogonal ([cwy_orthogonal]).  The first M columns of
    an orthogonal matrix are orthonormal ([firstcols_orthonormal]), so T-CWY,
    [I_M; 0] - U S^-1 U_1^T with U_1 the first M rows of U, which is the first
    M columns of CWY's Q ([tcwy_firstcols]), lies on the Stiefel manifold
    ([tcwy_stiefel]).  Givens rotations on disjoint index pairs commute
    ([givens_commute]); each is orthogonal when c^2 + s^2 = 1
    ([givens_orthogonal]).  For nonzero, unnormalized v_1 .. v_L the CWY
    identity holds with U the normalized columns ([cwy_eq_hh_nonzero], over
    a real closed field for the square roots).

    Everything is exact algebra (the Householder, CWY-identity and T-CWY
    results over any mathcomp [realFieldType], i.e. any ordered field (Coq's R
    is one once given mathcomp's structures, e.g. by mathcomp-analysis's
    Rstruct, not installed here); [cwy_orthogonal] over any
    commutative ring with units; [firstcols_orthonormal] over any ring; the
    Givens results over any commutative ring); no axiom is used. *)

From mathcomp Require Import all_ssreflect all_algebra.

Set Implicit Arguments.
Unset Strict Implicit.
Unset Printing Implicit Defensive.

Import GRing.Theory Num.Theory.
Local Open Scope ring_scope.

(** An additive rearrangement used below. *)
Lemma subr_cancel3 (V : zmodType) (a x y : V) : a - x - (y - (x + y)) = a.
Proof. by rewrite opprB addrK subrK. Qed.

(** ** Householder reflections *)
Section Householder.

Variable R : realFieldType.
Variable n : nat.
Implicit Types (v : 'cV[R]_n).

(** v^T v, the squared Euclidean norm. *)
Definition sqn v : R := (v^T *m v) 0 0.

(** H(v) = 1 - (2 / v^T v) v v^T. *)
Definition hh v : 'M[R]_n := 1%:M - (2 / sqn v) *: (v *m v^T).

Lemma sqnE v : sqn v = \sum_i v i 0 ^+ 2.
Proof. by rewrite /sqn mxE; apply: eq_bigr => i _; rewrite !mxE expr2. Qed.

Lemma sqn_eq0 v : (sqn v == 0) = (v == 0).
Proof.
apply/eqP/eqP => [s0 | ->]; last by rewrite /sqn mulmx0 mxE.
apply/matrixP => i j; rewrite (ord1 j) [RHS]mxE.
apply/eqP; rewrite -sqrf_eq0; apply/eqP.
exact: (@psumr_eq0P _ _ xpredT (fun k => v k 0 ^+ 2) (fun k _ => sqr_ge0 _)
          (etrans (esym (sqnE v)) s0) i isT).
Qed.

Lemma trmx_mulv v : v^T *m v = (sqn v)%:M.
Proof. exact: mx11_scalar. Qed.

Lemma proj_sq v : (v *m v^T) *m (v *m v^T) = sqn v *: (v *m v^T).
Proof. by rewrite mulmxA -(mulmxA v) trmx_mulv mul_mx_scalar scalemxAl. Qed.

Lemma hh_sym v : (hh v)^T = hh v.
Proof. by rewrite /hh linearB /= trmx1 linearZ /= trmx_mul trmxK. Qed.

Lemma hh_invol v : v != 0 -> hh v *m hh v = 1%:M.
Proof.
rewrite -sqn_eq0 => s0; set c := 2 / sqn v; set P := v *m v^T.
rewrite /hh -/c -/P mulmxBl mul1mx mulmxBr mulmx1 -scalemxAl -scalemxAr.
rewrite proj_sq !scalerA.
have -> : c * c * sqn v = c + c by rewrite -mulrA /c divfK // mulr_natr mulr2n.
by rewrite scalerDl subr_cancel3.
Qed.

(* proves: ORTH-HH-PROPS *)
(** For v <> 0, H(v) is symmetric, orthogonal and involutory. *)
Theorem hh_props v :
  v != 0 ->
  [/\ (hh v)^T = hh v, (hh v)^T *m hh v = 1%:M & hh v *m hh v = 1%:M].
Proof. by move=> nz; rewrite hh_sym hh_invol. Qed.

(** H(v) v = -v and H(v) w = w for w orthogonal to v. *)
Lemma hh_v v : v != 0 -> hh v *m v = - v.
Proof.
rewrite -sqn_eq0 => s0.
rewrite /hh mulmxBl mul1mx -scalemxAl -mulmxA trmx_mulv mul_mx_scalar scalerA.
by rewrite divfK // scaler_nat mulr2n opprD addrA subrr add0r.
Qed.

Lemma hh_orth v (w : 'cV[R]_n) : v^T *m w = 0 -> hh v *m w = w.
Proof. by move=> vw; rewrite /hh mulmxBl mul1mx -scalemxAl -mulmxA vw mulmx0 scaler0 subr0. Qed.

Lemma sqn_ge0 v : 0 <= sqn v.
Proof. by rewrite sqnE sumr_ge0 // => i _; exact: sqr_ge0. Qed.

Lemma sqnZ (c : R) v : sqn (c *: v) = c ^+ 2 * sqn v.
Proof. by rewrite !sqnE mulr_sumr; apply: eq_bigr => i _; rewrite mxE exprMn. Qed.

(** Scale invariance: H(c v) = H(v) for c <> 0. *)
Lemma hhZ (c : R) v : c != 0 -> hh (c *: v) = hh v.
Proof.
move=> c0; rewrite /hh sqnZ.
have -> : (c *: v) *m (c *: v)^T = c ^+ 2 *: (v *m v^T).
  by rewrite [(c *: v)^T]linearZ /= -scalemxAl -scalemxAr scalerA expr2.
have [s0 | s0] := eqVneq (sqn v) 0.
  by rewrite s0 mulr0 invr0 mulr0 !scale0r.
have c2 : c ^+ 2 != 0 by rewrite expf_neq0.
by rewrite scalerA (mulrC (c ^+ 2)) invfM [2 * _]mulrA divfK.
Qed.

End Householder.

(** ** CWY: orthogonality from S + S^T = U^T U *)
Section CWYOrth.

Variable R : comUnitRingType.
Variables n L : nat.

(** Q = 1 - U S^-1 U^T. *)
Definition cwy (U : 'M[R]_(n, L)) (S : 'M[R]_L) : 'M[R]_n :=
  1%:M - U *m invmx S *m U^T.

(* proves: ORTH-CWY-ORTH *)
(** Any U (n x L) and any invertible S (L x L) with S + S^T = U^T U:
    Q = 1 - U S^-1 U^T satisfies Q^T Q = 1. *)
Theorem cwy_orthogonal (U : 'M[R]_(n, L)) (S : 'M[R]_L) :
  S \in unitmx -> S + S^T = U^T *m U -> (cwy U S)^T *m cwy U S = 1%:M.
Proof.
move=> uS hS; set W := invmx S.
have SW : S *m W = 1%:M by rewrite mulmxV.
have WS : W^T *m S^T = 1%:M by rewrite -trmx_mul SW trmx1.
set A := U *m W *m U^T; set B := U *m W^T *m U^T.
have AT : A^T = B by rewrite /A /B !trmx_mul trmxK mulmxA.
have BA : B *m A = A + B.
  rewrite /A /B !mulmxA -(mulmxA (U *m W^T)) -(mulmxA U) -hS.
  have K : W^T *m (S + S^T) *m W = W + W^T.
    by rewrite mulmxDr mulmxDl -mulmxA SW mulmx1 WS mul1mx addrC.
  by rewrite -(mulmxA U _ W) K mulmxDr mulmxDl.
have QT : (1%:M - A)^T = 1%:M - B by rewrite linearB /= trmx1 AT.
rewrite /cwy -/W -/A QT mulmxBl mul1mx mulmxBr mulmx1 BA.
exact: subr_cancel3.
Qed.

End CWYOrth.

(** ** The CWY identity *)
Section CWYIdentity.

Variable R : realFieldType.
Variable n : nat.

(** The strictly upper triangular part. *)
Definition striu m (A : 'M[R]_m) : 'M[R]_m :=
  \matrix_(i, j) if (i < j)%N then A i j else 0.

(** S = 1/2 I + striu(U^T U). *)
Definition cwyS L (U : 'M[R]_(n, L)) : 'M[R]_L := 2^-1%:M + striu (U^T *m U).

(** H(u_1) H(u_2) ... H(u_L), u_i the i-th column of U. *)
Definition hprod L (U : 'M[R]_(n, L)) : 'M[R]_n :=
  \big[mulmx/1%:M]_(i < L) hh (col i U).

Lemma ord_ltn_eqF m (i j : 'I_m) : (i < j)%N -> (i == j) = false.
Proof. exact: ltn_eqF. Qed.

Lemma ord_gtn_eqF m (i j : 'I_m) : (i < j)%N -> (j == i) = false.
Proof. exact: gtn_eqF. Qed.

Lemma striu_block m1 m2 (A : 'M[R]_m1) B C (D : 'M[R]_m2) :
  striu (block_mx A B C D) = block_mx (striu A) B 0 (striu D).
Proof.
apply/matrixP => i j; rewrite mxE.
case: (split_ordP i) => i' ->; case: (split_ordP j) => j' ->.
- by rewrite !block_mxEul mxE.
- by rewrite !block_mxEur /= (leq_trans (ltn_ord i') (leq_addr _ _)).
- rewrite !block_mxEdl mxE /= ltnNge (leq_trans (ltnW (ltn_ord j')) (leq_addr _ _)).
  by [].
- by rewrite !block_mxEdr mxE /= ltn_add2l.
Qed.

Lemma striu11 (A : 'M[R]_1) : striu A = 0.
Proof. by apply/matrixP => i j; rewrite (ord1 i) (ord1 j) !mxE. Qed.

Lemma invmx_ublock m1 m2 (A : 'M[R]_m1) (B : 'M[R]_(m1, m2)) (D : 'M[R]_m2) :
  A \in unitmx -> D \in unitmx ->
  invmx (block_mx A B 0 D) =
    block_mx (invmx A) (- (invmx A *m B *m invmx D)) 0 (invmx D).
Proof.
move=> uA uD; set X := block_mx (invmx A) _ 0 _.
have MX : block_mx A B 0 D *m X = 1%:M.
  rewrite mulmx_block !mul0mx !mulmx0 !addr0 add0r !mulmxV //.
  by rewrite mulmxN !mulmxA mulmxV // mul1mx addNr -scalar_mx_block.
have uM := (mulmx1_unit MX).1.
by rewrite -[X]mul1mx -(mulVmx uM) -mulmxA MX mulmx1.
Qed.

Lemma cwyS_cons L (u : 'cV[R]_n) (V : 'M[R]_(n, L)) :
  cwyS (row_mx u V) = block_mx 2^-1%:M (u^T *m V) 0 (cwyS V).
Proof.
rewrite /cwyS tr_row_mx mul_col_row striu_block striu11 (scalar_mx_block 1 L).
by rewrite add_block_mx addr0 !add0r.
Qed.

(** S is upper triangular with diagonal 1/2. *)
Lemma cwyS_triu L (U : 'M[R]_(n, L)) (i j : 'I_L) : (j < i)%N -> cwyS U i j = 0.
Proof. by move=> ji; rewrite !mxE (ord_gtn_eqF ji) ltnNge (ltnW ji) mulr0n addr0. Qed.

Lemma cwyS_diag L (U : 'M[R]_(n, L)) (i : 'I_L) : cwyS U i i = 2^-1.
Proof. by rewrite !mxE eqxx ltnn mulr1n addr0. Qed.

Lemma cwyS_unit L (U : 'M[R]_(n, L)) : cwyS U \in unitmx.
Proof.
rewrite -unitmx_tr unitmxE det_trig.
  rewrite unitfE; apply/prodf_neq0 => i _; rewrite mxE cwyS_diag.
  by rewrite invr_eq0 pnatr_eq0.
by apply/is_trig_mxP => i j ij; rewrite mxE cwyS_triu.
Qed.

(** With unit columns, S + S^T = U^T U (the hypothesis of [cwy_orthogonal]). *)
Lemma cwyS_sym L (U : 'M[R]_(n, L)) :
  (forall i, sqn (col i U) = 1) -> cwyS U + (cwyS U)^T = U^T *m U.
Proof.
move=> hU; set G := U^T *m U.
have GT i j : G j i = G i j.
  by rewrite /G !mxE; apply: eq_bigr => k _; rewrite !mxE mulrC.
have GD i : G i i = 1.
  by rewrite -(hU i) /G /sqn !mxE; apply: eq_bigr => k _; rewrite !mxE.
rewrite /cwyS -/G; clearbody G.
apply/matrixP => i j; rewrite !mxE.
case: (ltngtP i j) => [ij | ji | /val_inj eij].
- by rewrite (ord_ltn_eqF ij) (ord_gtn_eqF ij) !mulr0n !add0r addr0.
- by rewrite (ord_ltn_eqF ji) (ord_gtn_eqF ji) !mulr0n !add0r ?addr0 GT.
- by rewrite eij eqxx mulr1n !addr0 GD [RHS]splitr mul1r.
Qed.

Lemma col_cons0 L (u : 'cV[R]_n) (V : 'M[R]_(n, L)) :
  col ord0 (row_mx u V : 'M_(n, L.+1)) = u.
Proof.
rewrite (_ : ord0 = lshift L (0 : 'I_1)); last exact: val_inj.
apply: etrans (colKl _ u V) _.
by apply/matrixP => i j; rewrite (ord1 j) mxE.
Qed.

Lemma col_cons_lift L (u : 'cV[R]_n) (V : 'M[R]_(n, L)) i :
  col (lift ord0 i) (row_mx u V : 'M_(n, L.+1)) = col i V.
Proof.
apply/matrixP => a b; rewrite !mxE.
rewrite (_ : lift ord0 i = rshift 1 i); last exact: val_inj.
by rewrite (unsplitK (inr i : 'I_1 + 'I_L)).
Qed.

Lemma hprod_cons L (u : 'cV[R]_n) (V : 'M[R]_(n, L)) :
  hprod (row_mx u V) = hh u *m hprod V.
Proof.
rewrite /hprod big_ord_recl col_cons0; congr (_ *m _).
by apply: eq_bigr => i _; rewrite col_cons_lift.
Qed.

Lemma rearrange (V : zmodType) (a p q x : V) : a - x - (p - q) = a - (p + (- q + x)).
Proof.
rewrite opprB !opprD opprK -!addrA; congr (_ + _).
by rewrite addrCA [RHS]addrCA (addrC (- x)).
Qed.

(** One step of the induction: prepending a unit column u to V. *)
Lemma cwy_cons L (u : 'cV[R]_n) (V : 'M[R]_(n, L)) :
  sqn u = 1 ->
  hh u *m (1%:M - V *m invmx (cwyS V) *m V^T) =
  1%:M - row_mx u V *m invmx (cwyS (row_mx u V)) *m (row_mx u V)^T.
Proof.
move=> hu; have uA : (2^-1%:M : 'M[R]_1) \in unitmx.
  by rewrite unitmxE det_scalar1 unitfE invr_eq0 pnatr_eq0.
rewrite cwyS_cons (invmx_ublock _ uA (cwyS_unit V)) invmx_scalar invrK.
rewrite tr_row_mx mul_row_block mul_row_col !mulmx0 !addr0.
rewrite /hh hu divr1; set W := invmx (cwyS V).
rewrite mul_mx_scalar mul_scalar_mx !mulmxBl !mulmxBr mul1mx !mulmx1.
rewrite !mulmxDl !mulmxN !mulNmx -!scalemxAl -!scalemxAr !mulmxA.
rewrite -!scalemxAl ?mulmxA mul1mx.
exact: rearrange.
Qed.

(* proves: ORTH-CWY-EQ-HH *)
(** The CWY identity: for unit vectors u_1 .. u_L (the columns of U),
    H(u_1) ... H(u_L) = 1 - U S^-1 U^T with S = 1/2 I + striu(U^T U)
    (S is invertible: [cwyS_unit]). *)
Theorem cwy_eq_hh L (U : 'M[R]_(n, L)) :
  (forall i, sqn (col i U) = 1) ->
  hprod U = 1%:M - U *m invmx (cwyS U) *m U^T.
Proof.
elim: L U => [|L IH] U hU.
  by rewrite /hprod big_ord0 (thinmx0 U) !mul0mx subr0.
pose u := @lsubmx R n 1 L U; pose V := @rsubmx R n 1 L U.
have UE : U = row_mx u V by rewrite hsubmxK.
have hu : sqn u = 1.
  by have := hU ord0; rewrite UE col_cons0.
have hV i : sqn (col i V) = 1 by have := hU (lift ord0 i); rewrite UE col_cons_lift.
rewrite UE hprod_cons IH //; exact: cwy_cons.
Qed.

End CWYIdentity.

(** ** The CWY identity for nonzero (not normalized) vectors *)
Section CWYNonzero.

Variable R : rcfType.
Variable n : nat.

(** U = V with every column divided by its norm: u_i = v_i / sqrt(v_i^T v_i). *)
Definition normc L (V : 'M[R]_(n, L)) : 'M[R]_(n, L) :=
  V *m diag_mx (\row_i (Num.sqrt (sqn (col i V)))^-1).

Lemma col_normc L (V : 'M[R]_(n, L)) i :
  col i (normc V) = (Num.sqrt (sqn (col i V)))^-1 *: col i V.
Proof. by apply/matrixP => a b; rewrite /normc mul_mx_diag !mxE mulrC. Qed.

Lemma normc_unit L (V : 'M[R]_(n, L)) i : col i V != 0 -> sqn (col i (normc V)) = 1.
Proof.
rewrite -sqn_eq0 => s0.
by rewrite col_normc sqnZ exprVn sqr_sqrtr ?sqn_ge0 // mulVf.
Qed.

(* proves: ORTH-CWY-EQ-HH *)
(** The CWY identity as in the paper: for nonzero v_1 .. v_L (the columns of
    V), H(v_1) ... H(v_L) = 1 - U S^-1 U^T with U the normalized columns
    u_i = v_i / ||v_i|| and S = 1/2 I + striu(U^T U). *)
Theorem cwy_eq_hh_nonzero L (V : 'M[R]_(n, L)) :
  (forall i, col i V != 0) ->
  hprod V = 1%:M - normc V *m invmx (cwyS (normc V)) *m (normc V)^T.
Proof.
move=> hV; rewrite -cwy_eq_hh => [|i]; last exact: normc_unit.
apply: eq_bigr => i _; rewrite col_normc hhZ // invr_eq0 lt0r_neq0 //.
by rewrite sqrtr_gt0 lt0r sqn_eq0 hV sqn_ge0.
Qed.

End CWYNonzero.

(** ** The first M columns of an orthogonal matrix are orthonormal *)
Section Stiefel.

Variable R : ringType.
Variables (n M : nat) (leMn : (M <= n)%N).

(** The first M columns of Q (n x n). *)
Definition firstcols (Q : 'M[R]_n) : 'M[R]_(n, M) :=
  \matrix_(i, j) Q i (widen_ord leMn j).

(** The first M rows of U (n x L). *)
Definition firstrows L (U : 'M[R]_(n, L)) : 'M[R]_(M, L) :=
  \matrix_(i, j) U (widen_ord leMn i) j.

(* proves: ORTH-TCWY-STIEFEL *)
(** The first M columns of an orthogonal Q are orthonormal: Q_M^T Q_M = 1_M. *)
Theorem firstcols_orthonormal (Q : 'M[R]_n) :
  Q^T *m Q = 1%:M -> (firstcols Q)^T *m firstcols Q = 1%:M.
Proof.
move=> QQ; apply/matrixP => i j.
have := congr1 (fun A : 'M_n => A (widen_ord leMn i) (widen_ord leMn j)) QQ.
(* (widen_ord i == widen_ord j) and (i == j) are convertible *)
rewrite !mxE => <-.
by apply: eq_bigr => k _; rewrite !mxE.
Qed.

End Stiefel.

(** ** T-CWY is on the Stiefel manifold *)
Section TCWY.

Variable R : realFieldType.
Variables (n M : nat) (leMn : (M <= n)%N).

(** T-CWY: gamma(U) = [I_M; 0] - U S^-1 U_1^T (n x M), U_1 the first M rows
    of U, S = 1/2 I + striu(U^T U). *)
Definition tcwy L (U : 'M[R]_(n, L)) : 'M[R]_(n, M) :=
  firstcols leMn 1%:M - U *m invmx (cwyS U) *m (firstrows leMn U)^T.

(** T-CWY is the first M columns of CWY's Q = 1 - U S^-1 U^T ... *)
Lemma tcwy_firstcols L (U : 'M[R]_(n, L)) :
  tcwy U = firstcols leMn (1%:M - U *m invmx (cwyS U) *m U^T).
Proof.
apply/matrixP => i j; rewrite !mxE; congr (_ - _).
by apply: eq_bigr => k _; rewrite !mxE.
Qed.

(** ... hence, for unit columns, the first M columns of H(u_1) ... H(u_L). *)
Lemma tcwy_hprod L (U : 'M[R]_(n, L)) :
  (forall i, sqn (col i U) = 1) -> tcwy U = firstcols leMn (hprod U).
Proof. by move=> hU; rewrite tcwy_firstcols cwy_eq_hh. Qed.

(* proves: ORTH-TCWY-STIEFEL *)
(** For unit vectors u_1 .. u_L (the columns of U), T-CWY has orthonormal
    columns: gamma(U)^T gamma(U) = 1_M. *)
Theorem tcwy_stiefel L (U : 'M[R]_(n, L)) :
  (forall i, sqn (col i U) = 1) -> (tcwy U)^T *m tcwy U = 1%:M.
Proof.
move=> hU; rewrite tcwy_firstcols; apply: firstcols_orthonormal.
exact: (cwy_orthogonal (cwyS_unit U) (cwyS_sym hU)).
Qed.

End TCWY.

(** ** Givens rotations on disjoint pairs commute *)
Section Givens.

Variable R : comRingType.
Variable n : nat.
Implicit Types (i j k l : 'I_n) (c s : R).

(** G(i, j, c, s): the identity except (i,i) = (j,j) = c, (i,j) = s,
    (j,i) = -s (for i <> j; [givensE]).  With c = cos t, s = sin t it is
    exp(t E_ij), E_ij = e_i e_j^T - e_j e_i^T. *)
Definition givens i j c s : 'M[R]_n :=
  1%:M + ((c - 1) *: (delta_mx i i + delta_mx j j) + s *: (delta_mx i j - delta_mx j i)).

Local Ltac simp_giv :=
  rewrite /= ?(andbT, andbF, andTb, andFb) /=
    ?(mulr1n, mulr0n, oppr0, addr0, add0r, subr0, sub0r, mulr1, mulr0, mulrN1, subrr).

Lemma givensE i j c s a b : i != j ->
  givens i j c s a b =
    if (a == i) && (b == i) then c else
    if (a == j) && (b == j) then c else
    if (a == i) && (b == j) then s else
    if (a == j) && (b == i) then - s else
    (a == b)%:R.
Proof.
move=> ij; have ji : j != i by rewrite eq_sym.
rewrite !mxE.
have [ea | ai] := eqVneq a i; have [eb | bi] := eqVneq b i;
  have [ea' | aj] := eqVneq a j; have [eb' | bj] := eqVneq b j;
  try (by move: ij; rewrite -ea ea' eqxx); try (by move: ij; rewrite -eb eb' eqxx);
  try rewrite ea; try rewrite eb; try rewrite ea'; try rewrite eb';
  rewrite ?eqxx ?(negPf ij) ?(negPf ji) /=; simp_giv;
  rewrite ?(addrC 1) ?subrK //.
Qed.

Lemma commute_one_plus (A B : 'M[R]_n) :
  A *m B = 0 -> B *m A = 0 -> (1%:M + A) *m (1%:M + B) = (1%:M + B) *m (1%:M + A).
Proof.
move=> AB BA; rewrite !mulmxDl !mulmxDr !mul1mx !mulmx1 AB BA !addr0.
by rewrite -!addrA (addrC A).
Qed.

Lemma givens_part_mul i j k l c s c' s' :
  i != k -> i != l -> j != k -> j != l ->
  ((c - 1) *: (delta_mx i i + delta_mx j j) + s *: (delta_mx i j - delta_mx j i))
  *m ((c' - 1) *: (delta_mx k k + delta_mx l l) + s' *: (delta_mx k l - delta_mx l k))
  = 0 :> 'M[R]_n.
Proof.
move=> /negPf ik /negPf il /negPf jk /negPf jl.
rewrite mulmxDl !mulmxDr -!scalemxAl -!scalemxAr.
rewrite !(mulmxDl, mulmxDr, mulmxBl, mulmxBr, mulmxN, mulNmx) !mul_delta_mx_cond ik il jk jl !mulr0n.
by rewrite !(addr0, oppr0, scaler0).
Qed.

Lemma perm8 (V : zmodType) (o a b c d e f g h : V) :
  o + (a + b) + (c + d + ((e + f) + (g - h))) =
  o + (c + a + e - h + (d + b + f + g)).
Proof.
rewrite !addrA (addrAC _ c a) (addrAC _ d b) (addrAC _ (- h) b) (addrAC _ e b).
rewrite (addrAC _ c b) (addrAC _ (- h) d) (addrAC _ e d) (addrAC _ (- h) f).
by rewrite (addrAC _ (- h) g).
Qed.

Lemma pk_mul (P K : 'M[R]_n) (x y x' y' : R) :
  P *m P = P -> P *m K = K -> K *m P = K -> K *m K = - P ->
  (1%:M + (x *: P + y *: K)) *m (1%:M + (x' *: P + y' *: K)) =
  1%:M + ((x + x' + x * x' - y * y') *: P + (y + y' + x * y' + y * x') *: K).
Proof.
move=> PP PK KP KK.
rewrite !(mulmxDl, mulmxDr) !mul1mx !mulmx1 -!scalemxAl -!scalemxAr PP PK KP KK !scalerA.
rewrite scalerN !scalerDl scaleNr.
exact: perm8.
Qed.

(** The rotation block: G(i,j,c,s) = 1 + (c - 1) P + s K with P = e_i e_i^T + e_j e_j^T,
    K = e_i e_j^T - e_j e_i^T; for i <> j, P P = P, P K = K P = K, K K = -P. *)
Definition gP i j : 'M[R]_n := delta_mx i i + delta_mx j j.
Definition gK i j : 'M[R]_n := delta_mx i j - delta_mx j i.

Local Ltac delta_simp ij ji :=
  rewrite !(mulmxDl, mulmxDr, mulmxN, mulNmx) !mul_delta_mx_cond !eqxx
          ?(negPf ij) ?(negPf ji) !mulr1n !mulr0n ?oppr0 ?opprK ?opprD ?(addr0, add0r).

Lemma gPP i j : i != j -> gP i j *m gP i j = gP i j.
Proof.
move=> ij; have ji : j != i by rewrite eq_sym.
by rewrite /gP; delta_simp ij ji.
Qed.

Lemma gPK i j : i != j -> gP i j *m gK i j = gK i j.
Proof.
move=> ij; have ji : j != i by rewrite eq_sym.
by rewrite /gK /gP; delta_simp ij ji.
Qed.

Lemma gKP i j : i != j -> gK i j *m gP i j = gK i j.
Proof.
move=> ij; have ji : j != i by rewrite eq_sym.
by rewrite /gK /gP; delta_simp ij ji.
Qed.

Lemma gKK i j : i != j -> gK i j *m gK i j = - gP i j.
Proof.
move=> ij; have ji : j != i by rewrite eq_sym.
by rewrite /gK /gP; delta_simp ij ji.
Qed.

Lemma givens_tr i j c s : (givens i j c s)^T = 1%:M + ((c - 1) *: gP i j + (- s) *: gK i j).
Proof.
have PT : (gP i j)^T = gP i j by rewrite /gP linearD /= !trmx_delta.
have KT : (gK i j)^T = - gK i j by rewrite /gK linearB /= !trmx_delta opprB.
rewrite /givens -/(gP i j) -/(gK i j) linearD /= trmx1 linearD /= !linearZ /= PT KT.
by rewrite scalerN scaleNr.
Qed.

(** Givens rotations are orthogonal: c^2 + s^2 = 1, i <> j ==> G^T G = 1. *)
Lemma givens_orthogonal i j c s :
  i != j -> c ^+ 2 + s ^+ 2 = 1 -> (givens i j c s)^T *m givens i j c s = 1%:M.
Proof.
move=> ij h; rewrite givens_tr /givens -/(gP i j) -/(gK i j).
rewrite pk_mul ?gPP ?gPK ?gKP ?gKK //.
have h' : (c - 1) ^+ 2 + (c - 1) *+ 2 + s ^+ 2 = 0.
  move: h; rewrite -{1}(subrK 1 c) sqrrD1 addrAC => h.
  by apply: (addIr 1); rewrite add0r.
rewrite mulNr opprK -!expr2 -mulr2n (addrC ((c - 1) *+ 2)) h' scale0r add0r.
by rewrite addNr add0r mulNr (mulrC s) subrr scale0r addr0.
Qed.

(* proves: ORTH-GIVENS-COMMUTE *)
(** Givens rotations on disjoint index pairs {i,j} and {k,l} commute. *)
Theorem givens_commute i j k l c s c' s' :
  i != k -> i != l -> j != k -> j != l ->
  givens i j c s *m givens k l c' s' = givens k l c' s' *m givens i j c s.
Proof.
move=> ik il jk jl; apply: commute_one_plus; first exact: givens_part_mul.
by apply: givens_part_mul; rewrite eq_sym.
Qed.

End Givens.

(** ** The Cayley map: orthogonality and the factor of its VJP

    For a skew A, PyTorch's Cayley map solves M Q = P with M = 1 - A/2 and
    P = 1 + A/2 (expRNN's: M = 1 + A, P = 1 - A).  In both, M^T = P (A^T = -A),
    M and P commute (both are polynomials in A) and M + P = 2.  The first two
    make Q = M^-1 P orthogonal ([cayley_orthogonal]); the third gives
    1 + Q = 2 M^-1 ([cayley_one_plus]), which the cpu order of the VJP uses:
    Gamma = (1/2) M^-T G (1 + Q)^T = M^-T G M^-T.  Over any commutative ring
    with units, M and P assumed invertible. *)
Section Cayley.

Variable R : comUnitRingType.
Variable n : nat.

(* proves: ORTH-CAYLEY-DEF *)
Theorem cayley_orthogonal (M P : 'M[R]_n) :
  M^T = P -> M *m P = P *m M -> M \in unitmx -> P \in unitmx ->
  (invmx M *m P)^T *m (invmx M *m P) = 1%:M.
Proof.
move=> MT MP uM uP.
have PT : P^T = M by rewrite -MT trmxK.
rewrite trmx_mul trmx_inv PT MT.
have C : P *m invmx M = invmx M *m P.
  have E : invmx M *m (M *m P) *m invmx M = invmx M *m (P *m M) *m invmx M by rewrite MP.
  by move: E; rewrite !mulmxA mulVmx // mul1mx -!mulmxA mulmxV // mulmx1.
rewrite -C mulmxA -(mulmxA M) mulVmx // mulmx1 mulmxV //.
Qed.

(* proves: ORTH-CAYLEY-VJP-CPU *)
Theorem cayley_one_plus (M P : 'M[R]_n) :
  M \in unitmx -> M + P = 2%:M -> 1%:M + invmx M *m P = invmx M *m 2%:M.
Proof.
by move=> uM hMP; rewrite -hMP mulmxDr mulVmx.
Qed.

End Cayley.
