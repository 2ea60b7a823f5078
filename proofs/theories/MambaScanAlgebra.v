(** * MambaScanAlgebra.v -- exact algebra of the Mamba selective scan.

    Spec: spec/mamba.md, [MAMBA-SCAN-OP-ASSOC] and [MAMBA-SCAN-CHUNKED].

    The linear recurrence h_t = a_t h_{t-1} + b_t is summarised by pairs
    (A, B) acting on a state as h |-> A h + B.  Composing "first p, then q"
    gives the scan operator

        (a1, b1) o (a2, b2) = (a2 a1, a2 b1 + b2),

    which is associative with two-sided unit (1, 0); this is what licenses
    the chunked / parallel evaluation in the C++ code.  Everything here is
    over an arbitrary (not necessarily commutative) mathcomp [ringType], so
    it covers real and complex scans alike; commutativity is never used.

    The chunked theorem: for ANY split of the input into chunks (empty
    chunks and arbitrary sizes allowed), evaluating each chunk by applying
    its prefix summaries to the carried state, and carrying the chunk's full
    summary applied to the carried state, reproduces the sequential states
    exactly, and the final carry is the last sequential state. *)

From mathcomp Require Import all_ssreflect ssralg.

Set Implicit Arguments.
Unset Strict Implicit.
Unset Printing Implicit Defensive.

Import GRing.Theory.
Local Open Scope ring_scope.

Section ScanAlgebra.

Variable R : ringType.

(** The scan operator: (a1,b1) o (a2,b2) = (a2 a1, a2 b1 + b2). *)
Definition scan_op (p q : R * R) : R * R := (q.1 * p.1, q.1 * p.2 + q.2).

(** Its unit: the identity map h |-> 1 h + 0. *)
Definition scan_id : R * R := (1, 0).

(** Applying an operator (A, B) to a state h. *)
Definition apply_op (p : R * R) (h : R) : R := p.1 * h + p.2.

(* proves: MAMBA-SCAN-OP-ASSOC *)
Theorem scan_op_assoc : associative scan_op.
Proof.
  move=> [a1 b1] [a2 b2] [a3 b3]; rewrite /scan_op /=.
  by rewrite mulrA mulrDr addrA mulrA.
Qed.

(* proves: MAMBA-SCAN-OP-ASSOC *)
Theorem scan_id_left : left_id scan_id scan_op.
Proof. by move=> [a b]; rewrite /scan_op /= mulr1 mulr0 add0r. Qed.

(* proves: MAMBA-SCAN-OP-ASSOC *)
Theorem scan_id_right : right_id scan_id scan_op.
Proof. by move=> [a b]; rewrite /scan_op /= mul1r mul1r addr0. Qed.

(** The pair (scan_op, scan_id) is a monoid in mathcomp's sense. *)
Canonical scan_monoid := Monoid.Law scan_op_assoc scan_id_left scan_id_right.

(** Composition is "apply p, then q". *)
Lemma apply_op_comp p q h : apply_op (scan_op p q) h = apply_op q (apply_op p h).
Proof.
  case: p q => [a1 b1] [a2 b2]; rewrite /apply_op /scan_op /=.
  by rewrite mulrDr mulrA addrA.
Qed.

Lemma apply_op_id h : apply_op scan_id h = h.
Proof. by rewrite /apply_op /= mul1r addr0. Qed.

(** Summary (fold of the operator) of a list of pairs. *)
Definition summary (xs : seq (R * R)) : R * R := foldl scan_op scan_id xs.

(** Sequential recurrence from h: one state per element,
    h_t = a_t h_{t-1} + b_t. *)
Fixpoint states (h : R) (xs : seq (R * R)) : seq R :=
  if xs is p :: xs' then apply_op p h :: states (apply_op p h) xs' else [::].

(** Last sequential state (h itself when xs is empty). *)
Definition final_state (h : R) (xs : seq (R * R)) : R := last h (states h xs).

Lemma size_states h xs : size (states h xs) = size xs.
Proof. by elim: xs h => [|p xs IH] h //=; rewrite IH. Qed.

Lemma states_cat h xs ys :
  states h (xs ++ ys) = states h xs ++ states (final_state h xs) ys.
Proof.
  rewrite /final_state.
  by elim: xs h => [|p xs IH] h //=; rewrite IH.
Qed.

Lemma final_state_cat h xs ys :
  final_state h (xs ++ ys) = final_state (final_state h xs) ys.
Proof.
  (* after [last_cat] both sides are literally the same term *)
  by rewrite {1}/final_state states_cat last_cat.
Qed.

(** Folding from any accumulator q: the fold acts as q followed by the
    sequential recurrence. *)
Lemma apply_foldl q xs h :
  apply_op (foldl scan_op q xs) h = final_state (apply_op q h) xs.
Proof.
  rewrite /final_state.
  by elim: xs q h => [|p xs IH] q h //=; rewrite IH apply_op_comp.
Qed.

(** Corollary of [MAMBA-SCAN-CHUNKED]: the whole-list summary applied to h0
    is the last sequential state (h0 if the list is empty). *)
(* proves: MAMBA-SCAN-CHUNKED *)
Theorem apply_summary h0 xs : apply_op (summary xs) h0 = final_state h0 xs.
Proof. by rewrite /summary apply_foldl apply_op_id. Qed.

(** Folding from an accumulator q is q composed with the summary. *)
Lemma foldl_scan_op q ys : foldl scan_op q ys = scan_op q (summary ys).
Proof.
  rewrite /summary.
  elim: ys q => [|p ys IH] q /=; first by rewrite scan_id_right.
  by rewrite IH (IH (scan_op scan_id p)) scan_id_left scan_op_assoc.
Qed.

(** Summaries of consecutive pieces combine with the scan operator: this is
    what lets chunk summaries be computed independently (in parallel) and
    then combined by a scan over chunks. *)
(* proves: MAMBA-SCAN-CHUNKED *)
Theorem summary_cat xs ys :
  summary (xs ++ ys) = scan_op (summary xs) (summary ys).
Proof. by rewrite {1}/summary foldl_cat foldl_scan_op. Qed.

Lemma states_take h xs k : states h (take k xs) = take k (states h xs).
Proof.
  by elim: xs h k => [|p xs IH] h [|k] //=; rewrite IH.
Qed.

(** Prefix summaries of a chunk: summary of its first k elements,
    k = 1 .. size c. *)
Definition prefix_summaries (c : seq (R * R)) : seq (R * R) :=
  [seq summary (take k c) | k <- iota 1 (size c)].

(** States of one chunk: prefix summaries applied to the carried state. *)
Definition chunk_states (h : R) (c : seq (R * R)) : seq R :=
  [seq apply_op p h | p <- prefix_summaries c].

(** Carry for the next chunk: the chunk's full summary applied. *)
Definition chunk_carry (h : R) (c : seq (R * R)) : R := apply_op (summary c) h.

(** Chunked evaluation: returns the concatenated states and final carry. *)
Fixpoint chunked (h : R) (cs : seq (seq (R * R))) : seq R * R :=
  if cs is c :: cs' then
    let r := chunked (chunk_carry h c) cs' in (chunk_states h c ++ r.1, r.2)
  else ([::], h).

(** Within one chunk, the prefix-summary evaluation is the recurrence. *)
Lemma chunk_states_seq h c : chunk_states h c = states h c.
Proof.
  rewrite /chunk_states /prefix_summaries -map_comp.
  set s := states h c.
  have Hs : size s = size c by rewrite size_states.
  (* k-th entry (k >= 1) is the last state of the first k elements *)
  have -> : [seq (apply_op^~ h \o (fun k => summary (take k c))) k
            | k <- iota 1 (size c)]
            = [seq nth h s k | k <- iota 0 (size c)].
  { rewrite (iotaDl 1 0) -map_comp; apply/eq_in_map => k.
    rewrite mem_iota add0n => /andP [_ Hk] /=.
    rewrite apply_summary /final_state states_take.
    rewrite (last_nth h) size_takel; last by rewrite Hs add1n.
    by rewrite add1n /= nth_take ?ltnSn. }
  by rewrite -Hs -/(mkseq _ _) mkseq_nth.
Qed.

(* proves: MAMBA-SCAN-CHUNKED *)
Theorem chunked_correct h0 cs :
  (chunked h0 cs).1 = states h0 (flatten cs) /\
  (chunked h0 cs).2 = final_state h0 (flatten cs).
Proof.
  elim: cs h0 => [|c cs IH] h0 /=; first by [].
  have [-> ->] := IH (chunk_carry h0 c).
  by rewrite states_cat final_state_cat chunk_states_seq /chunk_carry apply_summary.
Qed.

(** The same statement phrased with an explicit input list xs. *)
(* proves: MAMBA-SCAN-CHUNKED *)
Corollary chunked_eq_sequential h0 xs cs :
  flatten cs = xs ->
  (chunked h0 cs).1 = states h0 xs /\ (chunked h0 cs).2 = last h0 (states h0 xs).
Proof. by move=> <-; exact: chunked_correct. Qed.

End ScanAlgebra.
