(** * BilevelRecompute.v -- reverse mode by recomputation equals reverse mode over the stored
    trajectory, and what recomputation costs.

    Spec: spec/bilevel.md, [BILEVEL-RECOMPUTE].

    Abstract setting (pure functions, no analysis): states lie in any type V; inner step j is
    U j : V -> V (phi_(j+1) = U j phi_j; a step that does not depend on j is the case U j = U);
    J j phi lambda stands for (dU_j/dphi at phi)^T lambda, the vector-Jacobian product of step j
    at phi; G phi_r = grad L_out(phi_r) starts the backward pass.  Reverse mode computes
        lambda_r = G phi_r,   lambda_j = J j phi_j lambda_(j+1)   (j = r-1, ..., 0),
    and returns lambda_0.  Two ways to get phi_j for the backward pass are compared:
      * stored: the forward pass appends phi_0 .. phi_(r-1) to a tape (O(r) memory) and the
        backward pass reads phi_j back from it;
      * recomputation: the backward pass recomputes phi_j = U_(j-1)(... U_0(theta)) from theta
        (O(1) states held), costing j applications of U for step j.
    Both return the same lambda_0 for every r; the recomputation applies U exactly
    r (forward, to reach phi_r) + r(r-1)/2 (backward: sum_(j<r) j) times, and J exactly r times. *)

From mathcomp Require Import all_ssreflect.

Set Implicit Arguments.
Unset Strict Implicit.
Unset Printing Implicit Defensive.

Section Recompute.

Variable V : Type.
Variable U : nat -> V -> V.
Variable J : nat -> V -> V -> V.
Variable G : V -> V.

(** phi_j from theta: U_(j-1) (... (U_0 theta)). *)
Fixpoint run (j : nat) (theta : V) : V :=
  match j with
  | 0 => theta
  | j'.+1 => U j' (run j' theta)
  end.

(** With a step that does not depend on j, phi_j = U^j(theta). *)
Lemma run_iter (U0 : V -> V) :
  (forall j, U j = U0) -> forall j theta, run j theta = iter j U0 theta.
Proof. by move=> e; elim=> [|j IH] theta //=; rewrite e IH. Qed.

(** The backward pass, given where phi_j comes from: back get k lam applies
    J (k-1) (get (k-1)), ..., J 0 (get 0) to lam, in that order. *)
Fixpoint back (get : nat -> V) (k : nat) (lam : V) : V :=
  match k with
  | 0 => lam
  | k'.+1 => back get k' (J k' (get k') lam)
  end.

(** The forward pass that stores the trajectory: it returns the tape [phi_0; ...; phi_(r-1)]
    and phi_r. *)
Fixpoint forward (r : nat) (theta : V) : seq V * V :=
  match r with
  | 0 => ([::], theta)
  | r'.+1 => let (tape, phi) := forward r' theta in (rcons tape phi, U r' phi)
  end.

(** Stored reverse mode: phi_j read back from the tape. *)
Definition stored_reverse (r : nat) (theta : V) : V :=
  let (tape, phir) := forward r theta in back (fun j => nth theta tape j) r (G phir).

(** Reverse mode by recomputation: phi_r computed once, each phi_j recomputed from theta. *)
Definition recompute_reverse (r : nat) (theta : V) : V :=
  back (fun j => run j theta) r (G (run r theta)).

(** The same backward pass written as a right fold over a list of states (the tape). *)
Fixpoint fold_back (i : nat) (states : seq V) (lam : V) : V :=
  match states with
  | [::] => lam
  | phi :: rest => J i phi (fold_back i.+1 rest lam)
  end.

Lemma forward_spec (r : nat) (theta : V) :
  forward r theta = ([seq run j theta | j <- iota 0 r], run r theta).
Proof.
elim: r => [|r IH] //=; rewrite IH.
by rewrite -map_rcons -cats1 -(iotaD 0 r 1) addn1.
Qed.

Lemma back_ext (get get' : nat -> V) (k : nat) (lam : V) :
  (forall j, j < k -> get j = get' j) -> back get k lam = back get' k lam.
Proof.
elim: k lam => [|k IH] lam e //=.
by rewrite e // IH // => j jk; rewrite e // ltnW.
Qed.

Lemma fold_back_rcons (i : nat) (s : seq V) (phi lam : V) :
  fold_back i (rcons s phi) lam = fold_back i s (J (i + size s) phi lam).
Proof.
elim: s i => [|x s IH] i /=; first by rewrite addn0.
by rewrite IH addnS.
Qed.

(** The backward pass is the fold J 0 phi_0 (J 1 phi_1 (... (J (k-1) phi_(k-1) lam))). *)
Lemma back_fold (get : nat -> V) (k : nat) (lam : V) :
  back get k lam = fold_back 0 [seq get j | j <- iota 0 k] lam.
Proof.
elim: k lam => [|k IH] lam //.
rewrite [LHS]/= IH -[k.+1]addn1 iotaD map_cat /= cats1 fold_back_rcons size_map size_iota.
by rewrite add0n.
Qed.

(* proves: BILEVEL-RECOMPUTE *)
(** Reverse mode over the stored trajectory and reverse mode by recomputation return the same
    lambda_0, for every number r of inner steps and every theta. *)
Theorem stored_eq_recompute (r : nat) (theta : V) :
  stored_reverse r theta = recompute_reverse r theta.
Proof.
rewrite /stored_reverse /recompute_reverse forward_spec.
apply: back_ext => j jr.
by rewrite (nth_map 0) ?size_iota // nth_iota.
Qed.

(** Both are the chain J 0 phi_0 (J 1 phi_1 (... J (r-1) phi_(r-1) (G phi_r))). *)
Lemma recompute_chain (r : nat) (theta : V) :
  recompute_reverse r theta
  = fold_back 0 [seq run j theta | j <- iota 0 r] (G (run r theta)).
Proof. exact: back_fold. Qed.

(** ** Counting the applications of U and J in the recomputation *)

(** Counted versions: every application of U (resp. J) adds one to the first (resp. second)
    counter; the values computed are those of run, back and recompute_reverse (proved below). *)
Definition cstate : Type := V * (nat * nat).

Definition stepU (j : nat) (s : cstate) : cstate := (U j s.1, (s.2.1.+1, s.2.2)).

Fixpoint runc (j : nat) (theta : V) (cnt : nat * nat) : cstate :=
  match j with
  | 0 => (theta, cnt)
  | j'.+1 => stepU j' (runc j' theta cnt)
  end.

Fixpoint backc (theta : V) (k : nat) (lam : V) (cnt : nat * nat) : cstate :=
  match k with
  | 0 => (lam, cnt)
  | k'.+1 =>
      let s := runc k' theta cnt in                       (* recompute phi_(k-1) *)
      backc theta k' (J k' s.1 lam) (s.2.1, s.2.2.+1)     (* one J *)
  end.

Definition recompute_counted (r : nat) (theta : V) : cstate :=
  let s := runc r theta (0, 0) in backc theta r (G s.1) s.2.

Lemma runc_spec (j : nat) (theta : V) (u w : nat) :
  runc j theta (u, w) = (run j theta, (u + j, w)).
Proof. by elim: j => [|j IH] /=; rewrite ?addn0 // IH /stepU /= addnS. Qed.

Lemma backc_spec (theta : V) (k : nat) (lam : V) (u w : nat) :
  backc theta k lam (u, w) = (back (fun j => run j theta) k lam, (u + 'C(k, 2), w + k)).
Proof.
elim: k lam u w => [|k IH] lam u w /=; first by rewrite !addn0.
by rewrite runc_spec /= IH binS bin1 addSn addnS -addnA [k + _]addnC.
Qed.

(* proves: BILEVEL-RECOMPUTE *)
(** The recomputation returns recompute_reverse (= stored_reverse), applies J exactly r times and
    U exactly r(r-1)/2 + r times: r in the forward pass to reach phi_r, and sum_(j<r) j =
    'C(r, 2) = r(r-1)/2 in the backward pass (j applications to recompute phi_j from theta). *)
Theorem recompute_cost (r : nat) (theta : V) :
  recompute_counted r theta = (stored_reverse r theta, ((r * (r - 1))./2 + r, r)).
Proof.
rewrite /recompute_counted runc_spec /= backc_spec stored_eq_recompute.
by rewrite /recompute_reverse add0n subn1 -bin2 addnC.
Qed.

(** The backward pass alone: 'C(r, 2) = sum_(j < r) j applications of U. *)
Lemma recompute_backward_count (r : nat) (theta : V) (lam : V) :
  (backc theta r lam (0, 0)).2.1 = \sum_(0 <= j < r) j.
Proof. by rewrite backc_spec /= add0n triangular_sum. Qed.

End Recompute.
