(** * BilevelUFOM.v -- the UFOM estimator is unbiased, and its second moment.

    Spec: spec/bilevel.md, [BILEVEL-UFOM-UNBIASED], [BILEVEL-UFOM-MOMENT].

    F is the first-order (FOM) hypergradient, E the exact one, both computed on the same sampled
    task; a coin xi in {0, 1} with P(xi = 1) = q gives the UFOM estimate
        ghat(xi) = F + (xi / q) (E - F).
    The expectation over the coin is (1 - q) ghat(0) + q ghat(1); these are exact identities in
    any field (so for mathcomp's realFieldType, and for the exact reals), conditional on the task.
    The only hypothesis is q <> 0 (the brief's q in (0, 1]; nothing else about q is used). *)

From mathcomp Require Import all_ssreflect ssralg matrix.

Set Implicit Arguments.
Unset Strict Implicit.
Unset Printing Implicit Defensive.

Import GRing.Theory.
Local Open Scope ring_scope.

Section UFOM.

Variable R : fieldType.

(** The UFOM estimate for coin value xi, for vectors of any shape (column 'cV_n = 'M_(n, 1),
    row 'rV_n = 'M_(1, n), or any matrix of parameters). *)
Definition ufom (m n : nat) (q xi : R) (F E : 'M[R]_(m, n)) : 'M[R]_(m, n) :=
  F + (xi / q) *: (E - F).

Lemma ufom0 (m n : nat) (q : R) (F E : 'M[R]_(m, n)) : ufom q 0 F E = F.
Proof. by rewrite /ufom mul0r scale0r addr0. Qed.

Lemma ufom1 (m n : nat) (q : R) (F E : 'M[R]_(m, n)) : ufom q 1 F E = F + q^-1 *: (E - F).
Proof. by rewrite /ufom mul1r. Qed.

(* proves: BILEVEL-UFOM-UNBIASED *)
(** E_xi[ghat] = (1 - q) ghat(0) + q ghat(1) = E, for q <> 0. *)
Theorem ufom_unbiased (m n : nat) (q : R) (F E : 'M[R]_(m, n)) :
  q != 0 -> (1 - q) *: ufom q 0 F E + q *: ufom q 1 F E = E.
Proof.
move=> q0; rewrite ufom0 ufom1 scalerDr scalerA mulfV // scale1r.
by rewrite addrA -scalerDl subrK scale1r addrC subrK.
Qed.

(** The same for column vectors, the brief's 'cV_n, stated separately for reference. *)
Corollary ufom_unbiased_cV (n : nat) (q : R) (F E : 'cV[R]_n) :
  q != 0 -> (1 - q) *: ufom q 0 F E + q *: ufom q 1 F E = E.
Proof. exact: ufom_unbiased. Qed.

(** The squared Euclidean norm |x|^2 = x^T x of a column vector (the 1 x 1 matrix's entry). *)
Definition sqnorm (n : nat) (x : 'cV[R]_n) : R := (x^T *m x) ord0 ord0.

Lemma sqnormE (n : nat) (x : 'cV[R]_n) : sqnorm x = \sum_(i < n) x i ord0 ^+ 2.
Proof. by rewrite /sqnorm mxE; apply: eq_bigr => i _; rewrite mxE expr2. Qed.

(** The scalar identity behind the second moment, one coordinate at a time. *)
Lemma ufom_moment_scalar (q f e : R) :
  q != 0 ->
  (1 - q) * f ^+ 2 + q * (f + q^-1 * (e - f)) ^+ 2 = e ^+ 2 + (q^-1 - 1) * (e - f) ^+ 2.
Proof.
move=> q0.
suff H (d : R) :
    (1 - q) * f ^+ 2 + q * (f + q^-1 * d) ^+ 2 = (f + d) ^+ 2 + (q^-1 - 1) * d ^+ 2.
  by rewrite H [f + _]addrC subrK.
rewrite !sqrrD mulrDr mulrDr mulrnAr (mulrCA q f (q^-1 * d)) mulVKf // exprMn.
rewrite (mulrA q (q^-1 ^+ 2)).
have -> : q * q^-1 ^+ 2 = q^-1 by rewrite expr2 mulrA mulfV // mul1r.
rewrite !mulrBl !mul1r.
rewrite -!addrA addKr; congr (_ + _).
by rewrite [d ^+ 2 + _]addrC addrNK.
Qed.

(* proves: BILEVEL-UFOM-MOMENT *)
(** E_xi |ghat|^2 = (1 - q)|ghat(0)|^2 + q |ghat(1)|^2 = |E|^2 + (1/q - 1)|E - F|^2, q <> 0. *)
Theorem ufom_second_moment (n : nat) (q : R) (F E : 'cV[R]_n) :
  q != 0 ->
  (1 - q) * sqnorm (ufom q 0 F E) + q * sqnorm (ufom q 1 F E)
  = sqnorm E + (1 / q - 1) * sqnorm (E - F).
Proof.
move=> q0; rewrite mul1r !sqnormE !mulr_sumr -!big_split /=.
apply: eq_bigr => i _.
by rewrite ufom0 ufom1 !mxE ufom_moment_scalar.
Qed.

(** The centred form: ghat - E = (1 - xi/q)(F - E), so the variance is (1/q - 1)|E - F|^2. *)
Lemma ufom_centred (m n : nat) (q xi : R) (F E : 'M[R]_(m, n)) :
  ufom q xi F E - E = (1 - xi / q) *: (F - E).
Proof.
by rewrite /ufom scalerBl scale1r -[E - F]opprB scalerN addrAC.
Qed.

End UFOM.
