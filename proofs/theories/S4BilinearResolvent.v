(** * S4BilinearResolvent.v -- for the bilinear discretization, the
    generating function's resolvent is a resolvent of the continuous A.

    Spec: spec/s4_identities.md, [S4-ID-GEN-TRUNC] (its bilinear form).

    With P = I - (Delta/2) A invertible, the bilinear discretization is
    Abar = P^-1 (I + (Delta/2) A) and Bbar = P^-1 Delta B.  For z with
    1 + z <> 0 and g(z) = (2/Delta)(1 - z)/(1 + z):

        I - z Abar = P^-1 (Delta (1+z)/2) (g(z) I - A),
        (I - z Abar)^-1 Bbar = (2/(1+z)) (g(z) I - A)^-1 B,

    so C~ (I - z Abar)^-1 Bbar = (2/(1+z)) C~ (g(z) - A)^-1 B: S4's DPLR kernel
    evaluates this resolvent of the continuous (diagonal-plus-low-rank) A
    by Woodbury [S4-ID-WOODBURY] and multiplies by 2/(1+z).  At z = -1 the
    factor and g are singular (S4 handles that node separately; not covered
    here).  Over any mathcomp field. *)

From mathcomp Require Import all_ssreflect all_algebra.

Set Implicit Arguments.
Unset Strict Implicit.
Unset Printing Implicit Defensive.

Import GRing.Theory.
Local Open Scope ring_scope.

Section BilinearResolvent.

Variable F : fieldType.
Variable n : nat.
Variables (A : 'M[F]_n.+1) (B : 'cV[F]_n.+1) (dt z : F).

Local Notation h := (dt / 2).
Local Notation P := (1%:M - h *: A).
Local Notation Abar := (invmx P *m (1%:M + h *: A)).
Local Notation Bbar := (invmx P *m (dt *: B)).
Local Notation g := (2 / dt * ((1 - z) / (1 + z))).
Local Notation c := (dt * (1 + z) / 2).

Hypothesis two_nz : (2 : F) != 0.
Hypothesis dt_nz : dt != 0.
Hypothesis z_nz : 1 + z != 0.
Hypothesis uP : P \in unitmx.

(** (a b / k) (k / a (y / b)) = y for nonzero a, b, k. *)
Lemma cancel3 (a b k y : F) : a != 0 -> b != 0 -> k != 0 -> a * b / k * (k / a * (y / b)) = y.
Proof.
move=> a0 b0 k0.
by rewrite !mulrA (mulfVK k0) [a * b]mulrC (mulfK a0) mulrAC mulfV // mul1r.
Qed.

Lemma cg : c * g = 1 - z.
Proof. exact: cancel3. Qed.

Lemma c2 : c * (2 / (1 + z)) = dt.
Proof. by rewrite !mulrA (mulfVK two_nz) (mulfK z_nz). Qed.

(** P (I - z Abar) = c (g I - A). *)
Lemma P_factor : P *m (1%:M - z *: Abar) = c *: (g%:M - A).
Proof.
rewrite mulmxBr mulmx1 -scalemxAr mulKVmx //.
rewrite scalerBr scale_scalar_mx cg.
have -> : c = h + z * h.
  by rewrite mulrDr mulr1 mulrDl [z * _]mulrA [z * dt]mulrC.
rewrite scalerDl -(scalerA z (dt / 2) A) scalerDr -[(1 - z)%:M]scalemx1 scalerBl scale1r.
rewrite !opprD !addrA; congr (_ + _).
by rewrite -!addrA; congr (_ + _); rewrite addrC.
Qed.

(** The rewriting of the discrete resolvent. *)
(* proves: S4-ID-GEN-TRUNC *)
Theorem bilinear_resolvent :
  (g%:M - A) \in unitmx ->
  (1%:M - z *: Abar) \in unitmx /\
  invmx (1%:M - z *: Abar) *m Bbar = (2 / (1 + z)) *: (invmx (g%:M - A) *m B).
Proof.
move=> uG.
have c_nz : c != 0 by rewrite !mulf_neq0 ?invr_eq0.
have Hf : 1%:M - z *: Abar = invmx P *m (c *: (g%:M - A)) by rewrite -P_factor mulKmx.
have uM : 1%:M - z *: Abar \in unitmx.
  by rewrite Hf unitmx_mul unitmx_inv uP unitmxZ ?unitfE.
split=> //.
set X := (2 / (1 + z)) *: (invmx (g%:M - A) *m B).
suff <- : (1%:M - z *: Abar) *m X = Bbar by rewrite mulKmx.
rewrite Hf /X -mulmxA; congr (_ *m _).
rewrite -scalemxAl -scalemxAr scalerA mulmxA mulmxV // mul1mx.
by rewrite c2.
Qed.

End BilinearResolvent.
