(** * S4GenTrunc.v -- the truncated generating function of an SSM kernel.

    Spec: spec/s4_identities.md, [S4-ID-GEN-TRUNC].

    The discrete SSM kernel is K_l = C A^l B (l = 0..L-1, A = Abar the
    discretized state matrix, B = Bbar, C = Cbar).  Its generating function
    truncated at L terms is

        sum_(l < L) K_l z^l = C (I - z^L A^L) (I - z A)^-1 B

    whenever I - z A is invertible.  At an L-th root of unity (z^L = 1) this is
    Ctilde (I - z A)^-1 B with Ctilde = C (I - A^L), which is what S4's DPLR
    kernel evaluates at the L roots of unity before its inverse FFT.

    Everything holds over any commutative ring with units (mathcomp
    [comUnitRingType]), hence over the complex numbers; matrices are
    (n+1) x (n+1) so that they form a ring (state size n+1 >= 1).  The core
    is the telescoping identity (sum_(l<L) z^l A^l)(I - z A) = I - z^L A^L,
    which needs no inverse at all. *)

From mathcomp Require Import all_ssreflect all_algebra.

Set Implicit Arguments.
Unset Strict Implicit.
Unset Printing Implicit Defensive.

Import GRing.Theory.
Local Open Scope ring_scope.

Section GenTrunc.

Variable R : comUnitRingType.
Variable n : nat.
Local Notation M := 'M[R]_n.+1.

(** The truncated geometric series of z A. *)
Definition geom (A : M) (z : R) (L : nat) : M := \sum_(l < L) (z ^+ l) *: A ^+ l.

(* proves: S4-ID-GEN-TRUNC *)
Theorem geom_telescope (A : M) (z : R) (L : nat) :
  geom A z L *m (1%:M - z *: A) = 1%:M - (z ^+ L) *: A ^+ L.
Proof.
rewrite mulmxE /geom; elim: L => [|L IH].
  by rewrite big_ord0 mul0r expr0 scale1r subrr.
rewrite big_ord_recr /= mulrDl IH mulrBr mulr1.
rewrite -scalerAl -scalerAr scalerA -exprSr -exprSr.
by rewrite addrA subrK.
Qed.

(** With I - z A invertible, the truncated series is (I - z^L A^L)(I - z A)^-1. *)
Lemma geom_closed (A : M) (z : R) (L : nat) :
  (1%:M - z *: A) \in unitmx ->
  geom A z L = (1%:M - (z ^+ L) *: A ^+ L) *m invmx (1%:M - z *: A).
Proof. by move=> uA; rewrite -geom_telescope mulmxK. Qed.

(** The kernel's generating function, as 1 x 1 matrices:
    sum_(l<L) z^l (C A^l B) = C (I - z^L A^L) (I - z A)^-1 B. *)
(* proves: S4-ID-GEN-TRUNC *)
Theorem gen_trunc (A : M) (C : 'rV[R]_n.+1) (B : 'cV[R]_n.+1) (z : R) (L : nat) :
  (1%:M - z *: A) \in unitmx ->
  \sum_(l < L) (z ^+ l) *: (C *m A ^+ l *m B)
    = C *m (1%:M - (z ^+ L) *: A ^+ L) *m invmx (1%:M - z *: A) *m B.
Proof.
move=> uA; rewrite -(mulmxA C) -geom_closed // /geom.
rewrite mulmx_sumr mulmx_suml; apply: eq_bigr => l _.
by rewrite -scalemxAr scalemxAl.
Qed.

(** At an L-th root of unity z (z^L = 1): the generating function is
    Ctilde (I - z A)^-1 B with Ctilde = C (I - A^L). *)
(* proves: S4-ID-GEN-TRUNC *)
Corollary gen_trunc_root (A : M) (C : 'rV[R]_n.+1) (B : 'cV[R]_n.+1) (z : R) (L : nat) :
  z ^+ L = 1 -> (1%:M - z *: A) \in unitmx ->
  \sum_(l < L) (z ^+ l) *: (C *m A ^+ l *m B)
    = (C *m (1%:M - A ^+ L)) *m invmx (1%:M - z *: A) *m B.
Proof. by move=> zL uA; rewrite gen_trunc // zL scale1r. Qed.

End GenTrunc.
