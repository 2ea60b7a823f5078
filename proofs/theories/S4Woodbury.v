(** * S4Woodbury.v -- the Woodbury identity for a diagonal-plus-low-rank
    matrix, and the rank-1 resolvent formula of S4's DPLR kernel.

    Spec: spec/s4_identities.md, [S4-ID-WOODBURY].

    For D invertible (n x n), U (n x r), V (r x n) with W = I + V D^-1 U
    invertible (r x r):

        (D + U V)^-1 = D^-1 - D^-1 U W^-1 V D^-1.

    S4 applies it at every root of unity to the resolvent of the DPLR state
    matrix, D = g(z) - Lambda diagonal, with a rank-1 (or rank-r) correction:
    then C R B is assembled from the four "Cauchy" sums C D^-1 B, C D^-1 P,
    Q D^-1 B, Q D^-1 P, which for diagonal D are sums sum_i x_i y_i / d_i
    ([cauchy_form]).  Everything holds over any commutative ring with units
    (mathcomp [comUnitRingType]), hence over the complex numbers; D need not
    be diagonal for the identity itself. *)

From mathcomp Require Import all_ssreflect all_algebra.

Set Implicit Arguments.
Unset Strict Implicit.
Unset Printing Implicit Defensive.

Import GRing.Theory.
Local Open Scope ring_scope.

Section Woodbury.

Variable R : comUnitRingType.

(** A right inverse of a square matrix is its inverse. *)
Lemma invmx_right (n : nat) (A B : 'M[R]_n) : A *m B = 1%:M -> invmx A = B.
Proof.
move=> AB; have [uA _] := mulmx1_unit AB.
by rewrite -[invmx A]mulmx1 -AB mulKmx.
Qed.

Variables n r : nat.
Variables (D : 'M[R]_n) (U : 'M[R]_(n, r)) (V : 'M[R]_(r, n)).

Local Notation Di := (invmx D).
Local Notation W := (1%:M + V *m Di *m U).

Lemma woodbury_right :
  D \in unitmx -> W \in unitmx ->
  (D + U *m V) *m (Di - Di *m U *m invmx W *m V *m Di) = 1%:M.
Proof.
move=> uD uW.
have H1 : (D + U *m V) *m Di = 1%:M + U *m (V *m Di).
  by rewrite mulmxDl mulmxV // mulmxA.
have H2 : (D + U *m V) *m (Di *m U) = U *m W.
  by rewrite mulmxA H1 mulmxDl mul1mx mulmxDr mulmx1 !mulmxA.
have -> : Di *m U *m invmx W *m V *m Di = (Di *m U) *m (invmx W *m (V *m Di)).
  by rewrite !mulmxA.
rewrite mulmxBr H1 (mulmxA (D + U *m V)) H2 -(mulmxA U) mulKVmx //.
by rewrite addrK.
Qed.

(* proves: S4-ID-WOODBURY *)
Theorem woodbury :
  D \in unitmx -> W \in unitmx ->
  invmx (D + U *m V) = Di - Di *m U *m invmx W *m V *m Di.
Proof. by move=> uD uW; apply: invmx_right; apply: woodbury_right. Qed.

(** D + U V is then invertible. *)
Corollary woodbury_unit :
  D \in unitmx -> W \in unitmx -> D + U *m V \in unitmx.
Proof. by move=> uD uW; case: (mulmx1_unit (woodbury_right uD uW)). Qed.

End Woodbury.

Section RankOne.

Variable R : comUnitRingType.
Variable n : nat.
Variables (D : 'M[R]_n) (P : 'cV[R]_n) (Q : 'rV[R]_n) (C : 'rV[R]_n) (B : 'cV[R]_n).

Local Notation Di := (invmx D).

Lemma mx11_sub (X Y : 'M[R]_1) : (X - Y) 0 0 = X 0 0 - Y 0 0.
Proof. by rewrite !mxE. Qed.

Lemma scalar11 (a : R) : (a%:M : 'M[R]_1) 0 0 = a.
Proof. by rewrite mxE eqxx mulr1n. Qed.

Lemma mx11_mul (X Y : 'M[R]_1) : (X *m Y) 0 0 = X 0 0 * Y 0 0.
Proof. by rewrite mxE big_ord1. Qed.

(** S4's form (DPLR state matrix Lambda - P Q^H, resolvent of
    g - Lambda + P Q^H = D + P Q^H):
    C (D + P Q)^-1 B = C D^-1 B - (C D^-1 P) (1 + Q D^-1 P)^-1 (Q D^-1 B),
    in scalars (1 x 1 matrices are scalars: [x 0 0]). *)
(* proves: S4-ID-WOODBURY *)
Theorem resolvent_rank1_plus :
  D \in unitmx -> (1 + (Q *m Di *m P) 0 0) \is a GRing.unit ->
  (C *m invmx (D + P *m Q) *m B) 0 0
    = (C *m Di *m B) 0 0
      - (C *m Di *m P) 0 0 * (Q *m Di *m B) 0 0 / (1 + (Q *m Di *m P) 0 0).
Proof.
move=> uD us.
have W00 : (1%:M + Q *m Di *m P) 0 0 = 1 + (Q *m Di *m P) 0 0.
  by rewrite !mxE eqxx mulr1n.
have Wsc : 1%:M + Q *m Di *m P = (1 + (Q *m Di *m P) 0 0)%:M.
  by rewrite {1}[1%:M + _]mx11_scalar W00.
have uW : 1%:M + Q *m Di *m P \in unitmx by rewrite Wsc unitmxE det_scalar1.
rewrite woodbury // mulmxBr mulmxBl mx11_sub.
have -> : C *m (Di *m P *m invmx (1%:M + Q *m Di *m P) *m Q *m Di) *m B
          = (C *m Di *m P) *m invmx (1%:M + Q *m Di *m P) *m (Q *m Di *m B).
  by rewrite !mulmxA.
by rewrite !mx11_mul Wsc invmx_scalar scalar11 mulrAC.
Qed.

End RankOne.

(** The form of the issue's statement, R = (D - P Q^H)^-1:
    C R B = C D^-1 B + (C D^-1 P)(Q D^-1 B) / (1 - Q D^-1 P). *)
(* proves: S4-ID-WOODBURY *)
Theorem resolvent_rank1_minus (R : comUnitRingType) (n : nat) (D : 'M[R]_n)
    (P : 'cV[R]_n) (Q C : 'rV[R]_n) (B : 'cV[R]_n) :
  let Di := invmx D in
  D \in unitmx -> (1 - (Q *m Di *m P) 0 0) \is a GRing.unit ->
  (C *m invmx (D - P *m Q) *m B) 0 0
    = (C *m Di *m B) 0 0
      + (C *m Di *m P) 0 0 * (Q *m Di *m B) 0 0 / (1 - (Q *m Di *m P) 0 0).
Proof.
move=> Di uD us.
have := @resolvent_rank1_plus R n D P (- Q) C B uD.
have opp00 : forall X : 'M[R]_1, (- X) 0 0 = - X 0 0 by move=> X; rewrite mxE.
by rewrite !mulmxN !mulNmx !opp00 mulrN mulNr opprK; apply.
Qed.


(** The Cauchy form: for a diagonal D = diag(d) with every d_i a unit,
    X D^-1 Y = sum_i X_i Y_i / d_i.  In S4, d_i = g(z) - lambda_i, so the
    four sums of [resolvent_rank1_plus] are Cauchy sums
    sum_i x_i y_i / (g(z) - lambda_i). *)
Section CauchyForm.

Variable R : comUnitRingType.
Variable n : nat.

Lemma diag_mul_inv (d : 'rV[R]_n) :
  (forall i, d 0 i \is a GRing.unit) ->
  diag_mx d *m diag_mx (\row_i (d 0 i)^-1) = 1%:M.
Proof.
move=> ud; apply/matrixP => i j.
rewrite mul_diag_mx !mxE.
have [->|nij] := eqVneq i j; first by rewrite !mulr1n mulrV.
by rewrite !mulr0n mulr0.
Qed.

Lemma invmx_diag (d : 'rV[R]_n) :
  (forall i, d 0 i \is a GRing.unit) ->
  invmx (diag_mx d) = diag_mx (\row_i (d 0 i)^-1).
Proof. by move=> ud; apply: invmx_right; apply: diag_mul_inv. Qed.

Lemma unitmx_diag (d : 'rV[R]_n) :
  (forall i, d 0 i \is a GRing.unit) -> diag_mx d \in unitmx.
Proof. by move=> ud; case: (mulmx1_unit (diag_mul_inv ud)). Qed.

(* proves: S4-ID-WOODBURY *)
Theorem cauchy_form (d : 'rV[R]_n) (X : 'rV[R]_n) (Y : 'cV[R]_n) :
  (forall i, d 0 i \is a GRing.unit) ->
  (X *m invmx (diag_mx d) *m Y) 0 0 = \sum_i X 0 i * Y i 0 / d 0 i.
Proof.
move=> ud; rewrite invmx_diag // mul_mx_diag mxE.
by apply: eq_bigr => i _; rewrite !mxE mulrAC.
Qed.

(** The DPLR resolvent term at one root of unity, all in Cauchy sums:
    with D = diag(d) (d_i = g(z) - lambda_i) and rank-1 correction P Q,
    C (D + P Q)^-1 B = k(C,B) - k(C,P) k(Q,B) / (1 + k(Q,P)),
    k(X,Y) = sum_i X_i Y_i / d_i. *)
(* proves: S4-ID-WOODBURY *)
Theorem dplr_resolvent_cauchy (d : 'rV[R]_n) (P : 'cV[R]_n) (Q C : 'rV[R]_n)
    (B : 'cV[R]_n) :
  (forall i, d 0 i \is a GRing.unit) ->
  let k := fun (X : 'rV[R]_n) (Y : 'cV[R]_n) => \sum_i X 0 i * Y i 0 / d 0 i in
  (1 + k Q P) \is a GRing.unit ->
  (C *m invmx (diag_mx d + P *m Q) *m B) 0 0
    = k C B - k C P * k Q B / (1 + k Q P).
Proof.
move=> ud k us.
have uD := unitmx_diag ud.
rewrite resolvent_rank1_plus //; last by rewrite cauchy_form.
by rewrite !cauchy_form.
Qed.

End CauchyForm.
