(** * PerformerPrefix.v -- exact algebra of linear (Performer) attention.

    Spec: spec/performer.md, [PERF-ID-CAUSAL], [PERF-ID-REASSOC], [PERF-ID-SUBTRACT],
    [PERF-ID-SLICES], [PERF-ID-POSITIVE].

    Positions are natural numbers; a query q i and a key k j are feature vectors, functions of the
    feature index f < m into a commutative ring R; a value v j lies in any R-module V (a row of
    values, or R itself for the renormalizer). The prefix state after position i is
        P i f = sum_(j < i.+1) k j f *: v j,
    the paper's G^PS_i (eq. 11) one feature row at a time; the total over L positions is the
    bidirectional (K')^T V. The theorems say that the prefix-sum and the reassociated forms are the
    masked quadratic forms exactly, that a state recovered by subtraction from a later one is the
    earlier state exactly (in exact arithmetic: the float error is the bound's business), that
    evaluating slice by slice with the carried state gives the same states for any split (SLiM),
    and that FAVOR+ features are positive. *)

From mathcomp Require Import all_ssreflect ssralg.
From Coq Require Import Reals Lra.

Set Implicit Arguments.
Unset Strict Implicit.
Unset Printing Implicit Defensive.

Import GRing.Theory.
Local Open Scope ring_scope.

Section LinearAttention.

Variable R : comRingType.
Variable V : lmodType R.
Variable m : nat.
Variables (q k : nat -> 'I_m -> R) (v : nat -> V).

(** The feature dot product q . k. *)
Definition dot (a b : 'I_m -> R) : R := \sum_(f < m) a f * b f.

(** The state summed over the positions j < n: sum_j k_j v_j^T, one feature row f at a time. *)
Definition state (n : nat) (f : 'I_m) : V := \sum_(j < n) k j f *: v j.

(** The numerator read from a state: q^T P = sum_f q_f P_f. *)
Definition read (a : 'I_m -> R) (P : 'I_m -> V) : V := \sum_(f < m) a f *: P f.

(** The masked quadratic form: sum over the positions j < n of (q . k_j) v_j. *)
Definition quadratic (a : 'I_m -> R) (n : nat) : V := \sum_(j < n) dot a (k j) *: v j.

Lemma read_state (a : 'I_m -> R) (n : nat) : read a (state n) = quadratic a n.
Proof.
  rewrite /read /state /quadratic /dot.
  under eq_bigr do rewrite scaler_sumr.
  rewrite exchange_big /=; apply: eq_bigr => j _.
  rewrite scaler_suml; apply: eq_bigr => f _.
  by rewrite scalerA.
Qed.

(* proves: PERF-ID-CAUSAL *)
(** Causal linear attention by prefix sums is the masked quadratic form (the diagonal included):
    q_i^T P_i = sum_(j <= i) (q_i . k_j) v_j. *)
Theorem causal_prefix_is_masked_form (i : nat) :
  read (q i) (state i.+1) = \sum_(j < i.+1) dot (q i) (k j) *: v j.
Proof. exact: read_state. Qed.

(* proves: PERF-ID-REASSOC *)
(** Bidirectional reassociation: Q'((K')^T V) row i equals ((Q'(K')^T) V) row i. *)
Theorem bidirectional_reassociation (L i : nat) :
  read (q i) (state L) = \sum_(j < L) dot (q i) (k j) *: v j.
Proof. exact: read_state. Qed.

(* proves: PERF-ID-SUBTRACT *)
(** Recovering the previous state by subtraction is exact: P_(i-1) = P_i - k_i v_i^T. *)
Theorem state_by_subtraction (i : nat) (f : 'I_m) :
  state i f = state i.+1 f - k i f *: v i.
Proof. by rewrite /state big_ord_recr /= addrK. Qed.

(** ... and so is every earlier state, recovered from any later one. *)
Theorem state_by_subtractions (i n : nat) (f : 'I_m) :
  state i f = state (i + n) f - \sum_(i <= j < i + n) k j f *: v j.
Proof.
  rewrite /state -!(big_mkord xpredT (fun j => k j f *: v j)).
  by rewrite (big_cat_nat _ _ _ (leq0n i) (leq_addr n i)) /= addrK.
Qed.

(* proves: PERF-ID-SLICES *)
(** Slice by slice (SLiM): for any slice boundary s <= n, the state after n positions is the
    state carried into the slice plus the slice's own sum; by induction on the slices this holds
    for any slicing. *)
Theorem state_by_slices (s n : nat) (f : 'I_m) :
  s <= n -> state n f = state s f + \sum_(s <= j < n) k j f *: v j.
Proof.
  move=> le_sn; rewrite /state -!(big_mkord xpredT (fun j => k j f *: v j)).
  by rewrite (big_cat_nat _ _ _ (leq0n s) le_sn).
Qed.

(** Any list of slice sizes: the carried state after the slices is the full state. *)
Fixpoint carry (start : nat) (sizes : seq nat) (P : 'I_m -> V) : 'I_m -> V :=
  if sizes is c :: rest then
    carry (start + c) rest (fun f => P f + \sum_(start <= j < start + c) k j f *: v j)
  else P.

(* proves: PERF-ID-SLICES *)
Theorem carry_is_state (sizes : seq nat) (start : nat) (P : 'I_m -> V) (f : 'I_m) :
  (forall g, P g = state start g) -> carry start sizes P f = state (start + sumn sizes) f.
Proof.
  elim: sizes start P => [|c rest IH] start P hP /=; first by rewrite addn0 hP.
  rewrite IH ?addnA // => g.
  by rewrite hP (state_by_slices g (leq_addr c start)).
Qed.

End LinearAttention.

(* proves: PERF-ID-POSITIVE *)
(** FAVOR+ features are positive: r (exp a + eps) > 0 for r > 0 and eps >= 0. *)
Theorem favor_plus_positive (r a eps : R) :
  (0 < r)%R -> (0 <= eps)%R -> (0 < r * (exp a + eps))%R.
Proof.
  move=> hr he; apply: Rmult_lt_0_compat => //.
  have := exp_pos a; lra.
Qed.
