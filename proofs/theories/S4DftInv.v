(** * S4DftInv.v -- inversion of the discrete Fourier transform on the L-th
    roots of unity.

    Spec: spec/s4_identities.md, [S4-ID-DFT-INV].

    S4 evaluates the kernel's truncated generating function at the L points
    z = w^k (k = 0..L-1, w a primitive L-th root of unity, w = exp(-2 pi i/L)
    in the peers), i.e. the DFT  Khat_k = sum_(j<L) K_j w^(j k), and recovers
    the kernel by the inverse DFT  K_l = (1/L) sum_(k<L) Khat_k w^(-l k).
    This file proves that the inverse really inverts, over any field in
    which L is nonzero (the complex numbers for the peers, whatever the
    choice of primitive root): the orthogonality
        sum_(k<L) w^(j k) w^(-l k) = L [j = l]      (j, l < L)
    is a geometric sum of x = w^j / w^l, and x <> 1 for j <> l because w is
    primitive. *)

From mathcomp Require Import all_ssreflect all_algebra.

Set Implicit Arguments.
Unset Strict Implicit.
Unset Printing Implicit Defensive.

Import GRing.Theory.
Local Open Scope ring_scope.

Section DftInv.

Variable F : fieldType.
Variable L : nat.
Variable w : F.
Hypothesis prim : L.-primitive_root w.

Lemma L_gt0 : (0 < L)%N.
Proof. exact: prim_order_gt0 prim. Qed.

Lemma w_neq0 : w != 0.
Proof.
apply/negP => /eqP w0; move: (prim_expr_order prim).
rewrite w0 expr0n eqn0Ngt L_gt0 /= => /eqP.
by rewrite eq_sym oner_eq0.
Qed.

(** One term of the orthogonality sum is a power of x = w^j / w^l. *)
Lemma term_geom (j l k : nat) :
  w ^+ (j * k) * w^-1 ^+ (l * k) = (w ^+ j / w ^+ l) ^+ k.
Proof. by rewrite !exprM exprMn exprVn. Qed.

(* proves: S4-ID-DFT-INV *)
Theorem dft_orthogonality (j l : 'I_L) :
  \sum_(k < L) w ^+ (j * k) * w^-1 ^+ (l * k) = (L%:R) * (j == l)%:R.
Proof.
under eq_bigr => k _ do rewrite term_geom.
have [<-|njl] := eqVneq j l.
  rewrite mulfV ?expf_neq0 ?w_neq0 //.
  by under eq_bigr => k _ do rewrite expr1n; rewrite sumr_const card_ord mulr1.
rewrite mulr0; set x := w ^+ j / w ^+ l.
have wl0 : w ^+ l != 0 by rewrite expf_neq0 ?w_neq0.
have x1 : x != 1.
  apply/eqP => /(congr1 (fun y => y * w ^+ l)); rewrite mulfVK // mul1r => /eqP.
  rewrite (eq_prim_root_expr prim) !modn_small ?ltn_ord // => /eqP /val_inj.
  by move/eqP: njl.
have xL : x ^+ L = 1.
  by rewrite /x exprMn exprVn -!exprM !(mulnC _ L) !exprM (prim_expr_order prim) !expr1n invr1 mulr1.
have := subrX1 x L; rewrite xL subrr => /esym /eqP.
by rewrite mulf_eq0 subr_eq0 (negbTE x1) /= => /eqP.
Qed.

(* proves: S4-ID-DFT-INV *)
Theorem dft_inv (a : 'I_L -> F) (l : 'I_L) :
  (L%:R : F) != 0 ->
  ((L%:R)^-1 * \sum_(k < L) ((\sum_(j < L) a j * w ^+ (j * k)) * w^-1 ^+ (l * k)))%R
    = a l.
Proof.
move=> L0.
under eq_bigr => k _ do rewrite mulr_suml.
rewrite exchange_big /=.
under eq_bigr => j _ do under eq_bigr => k _ do rewrite -mulrA.
under eq_bigr => j _ do rewrite -mulr_sumr dft_orthogonality.
rewrite (bigD1 l) //= big1 ?addr0; last by move=> j /negbTE ->; rewrite mulr0n !mulr0.
by rewrite eqxx mulr1n mulr1 mulrCA mulVf // mulr1.
Qed.

End DftInv.
