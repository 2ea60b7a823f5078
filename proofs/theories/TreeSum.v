(** * TreeSum.v -- a floating-point sum in any order of pairwise
    additions: the bound of spec/core.md [CORE-TRACKED-SUM] (real) and
    [CORE-TRACKED-CSUM] (complex, in modulus).

    An order of pairwise additions of k terms is a binary tree with k
    leaves: a leaf is a computed term (a float), a node is the rounded sum
    of its two subtrees' computed values.  Sequential sums, pairwise
    (blocked) reductions, SIMD lanes combined at the end and parallel
    reductions are all such trees.  For terms t_i known through computed
    floats th_i with |th_i - t_i| <= E_i and |t_i| <= M_i:

        |value(T) - sum_(leaves) t_i|
            <= sum_(leaves) E_i + gamma_(k-1) sum_(leaves) (M_i + E_i),

    gamma_j = (1+u)^j - 1 (Higham, Accuracy and Stability, 2nd ed., 4.2,
    with this gamma).  The proof: a node's rounding is relative only (a sum
    of two floats, Flocq's [FLT_plus_error_N_ex], Rounding.v [add_rel]), and
    by induction the rounding part of a tree with k leaves is at most
    gamma_(k-1) sum |th_i|, since k_l, k_r <= k - 1.  The complex form sums
    the real and imaginary parts with the same tree and combines the parts
    by Minkowski's inequality. *)

From Coq Require Import ZArith Reals Psatz.
From Coquelicot Require Import Complex.
From Flocq Require Import Core.
From Touchstone Require Import Rounding SeqSumBound SeqSumModulus.

Open Scope R_scope.

(** Binary trees of additions over term indices. *)
Inductive tree : Type :=
  | Leaf : nat -> tree
  | Node : tree -> tree -> tree.

Fixpoint leaves (T : tree) : nat :=
  match T with
  | Leaf _ => 1
  | Node l r => leaves l + leaves r
  end.

(** Exact sum of f over the leaves (a leaf index used twice counts twice). *)
Fixpoint tsum (f : nat -> R) (T : tree) : R :=
  match T with
  | Leaf i => f i
  | Node l r => tsum f l + tsum f r
  end.

Lemma leaves_pos : forall T, (1 <= leaves T)%nat.
Proof. induction T; simpl; lia. Qed.

Lemma tsum_le : forall f g T, (forall i, f i <= g i) -> tsum f T <= tsum g T.
Proof. intros f g T H; induction T; simpl; [apply H|lra]. Qed.

Lemma tsum_nonneg : forall f T, (forall i, 0 <= f i) -> 0 <= tsum f T.
Proof. intros f T H; induction T; simpl; [apply H|lra]. Qed.

Lemma tsum_abs : forall f T, Rabs (tsum f T) <= tsum (fun i => Rabs (f i)) T.
Proof.
  intros f T; induction T; simpl; [lra|].
  eapply Rle_trans; [apply Rabs_triang|]. lra.
Qed.

Lemma tsum_minus : forall f g T, tsum f T - tsum g T = tsum (fun i => f i - g i) T.
Proof. intros f g T; induction T; simpl; lra. Qed.

Lemma tsum_affine : forall (e t : nat -> R) g T,
  tsum e T + g * tsum (fun i => t i + e i) T = tsum (fun i => e i + g * (t i + e i)) T.
Proof. intros e t g T; induction T as [|l IHl r IHr]; simpl; [ring|]. rewrite <- IHl, <- IHr. ring. Qed.

Lemma minkowski_tree : forall (a b : nat -> R) T,
  norm2 (tsum a T) (tsum b T) <= tsum (fun i => norm2 (a i) (b i)) T.
Proof.
  intros a b T; induction T; simpl; [lra|].
  eapply Rle_trans; [apply norm2_triangle|]. lra.
Qed.

Section TreeSum.

Variables emin prec : Z.
Hypothesis Hprec : (0 < prec)%Z.

Local Notation u := (Rounding.u prec).
Local Notation rnd := (Rounding.rnd emin prec).
Local Notation format := (generic_format radix2 (FLT_exp emin prec)).

(** Computed value of a tree over the computed terms th. *)
Fixpoint tval (th : nat -> R) (T : tree) : R :=
  match T with
  | Leaf i => th i
  | Node l r => rnd (tval th l + tval th r)
  end.

Lemma tval_format : forall th T, (forall i, format (th i)) -> format (tval th T).
Proof.
  intros th T H; destruct T; simpl; [apply H|apply format_rnd; exact Hprec].
Qed.

(** Rounding part: |value(T) - sum th| <= gamma_(k-1) sum |th|. *)
Lemma tval_round_error : forall th T, (forall i, format (th i)) ->
  Rabs (tval th T - tsum th T)
    <= ((1 + u) ^ (leaves T - 1) - 1) * tsum (fun i => Rabs (th i)) T.
Proof.
  intros th T Hf.
  pose proof (u_pos prec) as Hu.
  induction T as [i|l IHl r IHr]; simpl.
  - replace (th i - th i) with 0 by ring. rewrite Rabs_R0. simpl. lra.
  - destruct (add_rel emin prec Hprec _ _ (tval_format th l Hf) (tval_format th r Hf))
      as (d & Hd & Hr).
    rewrite Hr.
    pose proof (leaves_pos l) as Kl. pose proof (leaves_pos r) as Kr.
    set (el := tval th l - tsum th l) in *. set (er := tval th r - tsum th r) in *.
    set (Al := tsum (fun i => Rabs (th i)) l) in *. set (Ar := tsum (fun i => Rabs (th i)) r) in *.
    assert (HAl : 0 <= Al) by (apply tsum_nonneg; intros; apply Rabs_pos).
    assert (HAr : 0 <= Ar) by (apply tsum_nonneg; intros; apply Rabs_pos).
    set (k := (leaves l + leaves r)%nat).
    set (G := (1 + u) ^ (k - 1) - 1).
    (* the subtrees' gammas are at most gamma_(k-2) *)
    assert (Hmono : forall m, (m <= k - 2)%nat -> (1 + u) ^ m - 1 <= (1 + u) ^ (k - 2) - 1).
    { intros m Hm. apply Rplus_le_compat_r. apply Rle_pow; [lra|exact Hm]. }
    set (G2 := (1 + u) ^ (k - 2) - 1).
    assert (HG2 : 0 <= G2) by (unfold G2; pose proof (pow_1pu_ge1 prec (k - 2)); lra).
    assert (HGk : G = (1 + u) * G2 + u).
    { unfold G, G2. replace (k - 1)%nat with (S (k - 2)) by (unfold k; lia). simpl. ring. }
    assert (Hel : Rabs el <= G2 * Al).
    { eapply Rle_trans; [exact IHl|]. apply Rmult_le_compat_r; [exact HAl|].
      apply Hmono. unfold k; lia. }
    assert (Her : Rabs er <= G2 * Ar).
    { eapply Rle_trans; [exact IHr|]. apply Rmult_le_compat_r; [exact HAr|].
      apply Hmono. unfold k; lia. }
    replace ((tval th l + tval th r) * (1 + d) - (tsum th l + tsum th r))
      with (el + er + d * (tval th l + tval th r)) by (unfold el, er; ring).
    assert (Hmag : Rabs (tval th l + tval th r) <= Al + Ar + Rabs el + Rabs er).
    { replace (tval th l + tval th r) with (tsum th l + tsum th r + el + er) by (unfold el, er; ring).
      pose proof (tsum_abs th l) as T1. pose proof (tsum_abs th r) as T2.
      fold Al in T1. fold Ar in T2.
      pose proof (Rabs_triang (tsum th l + tsum th r + el) er).
      pose proof (Rabs_triang (tsum th l + tsum th r) el).
      pose proof (Rabs_triang (tsum th l) (tsum th r)).
      lra. }
    assert (Hdm : Rabs (d * (tval th l + tval th r)) <= u * (Al + Ar + Rabs el + Rabs er)).
    { rewrite Rabs_mult. apply Rmult_le_compat; auto using Rabs_pos. }
    pose proof (Rabs_triang (el + er) (d * (tval th l + tval th r))).
    pose proof (Rabs_triang el er).
    fold G. rewrite HGk.
    assert (u * Rabs el <= u * (G2 * Al)) by (apply Rmult_le_compat_l; lra).
    assert (u * Rabs er <= u * (G2 * Ar)) by (apply Rmult_le_compat_l; lra).
    nra.
Qed.

(** Real terms: [CORE-TRACKED-SUM] for every order of pairwise additions. *)
(* proves: CORE-TRACKED-SUM *)
Theorem tree_sum_bound : forall (t th Eb M : nat -> R) (T : tree),
  (forall i, format (th i)) ->
  (forall i, Rabs (th i - t i) <= Eb i) -> (forall i, Rabs (t i) <= M i) ->
  Rabs (tval th T - tsum t T)
    <= tsum Eb T + ((1 + u) ^ (leaves T - 1) - 1) * tsum (fun i => M i + Eb i) T.
Proof.
  intros t th Eb M T Hf HE HM.
  set (g := (1 + u) ^ (leaves T - 1) - 1).
  assert (Hg : 0 <= g) by (unfold g; pose proof (pow_1pu_ge1 prec (leaves T - 1)); lra).
  pose proof (tval_round_error th T Hf) as Hr. fold g in Hr.
  assert (Hprop : Rabs (tsum th T - tsum t T) <= tsum Eb T).
  { rewrite tsum_minus. eapply Rle_trans; [apply tsum_abs|]. apply tsum_le, HE. }
  assert (Hsize : tsum (fun i => Rabs (th i)) T <= tsum (fun i => M i + Eb i) T).
  { apply tsum_le; intros i. pose proof (HE i). pose proof (HM i).
    replace (th i) with (t i + (th i - t i)) by ring.
    eapply Rle_trans; [apply Rabs_triang|]. lra. }
  replace (tval th T - tsum t T) with ((tval th T - tsum th T) + (tsum th T - tsum t T)) by ring.
  eapply Rle_trans; [apply Rabs_triang|].
  assert (g * tsum (fun i => Rabs (th i)) T <= g * tsum (fun i => M i + Eb i) T)
    by (apply Rmult_le_compat_l; assumption).
  lra.
Qed.

(** Complex terms, both parts summed with the same tree: [CORE-TRACKED-CSUM]
    in modulus. *)
(* proves: CORE-TRACKED-CSUM *)
Theorem tree_csum_bound : forall (tr ti thr thi Eb M : nat -> R) (T : tree),
  (forall i, format (thr i)) -> (forall i, format (thi i)) ->
  (forall i, norm2 (thr i - tr i) (thi i - ti i) <= Eb i) ->
  (forall i, norm2 (tr i) (ti i) <= M i) ->
  norm2 (tval thr T - tsum tr T) (tval thi T - tsum ti T)
    <= tsum Eb T + ((1 + u) ^ (leaves T - 1) - 1) * tsum (fun i => M i + Eb i) T.
Proof.
  intros tr ti thr thi Eb M T Hfr Hfi HE HM.
  set (g := (1 + u) ^ (leaves T - 1) - 1).
  assert (Hg : 0 <= g) by (unfold g; pose proof (pow_1pu_ge1 prec (leaves T - 1)); lra).
  set (er := fun i => Rabs (thr i - tr i)).
  set (ei := fun i => Rabs (thi i - ti i)).
  assert (HMr : forall i, Rabs (tr i) <= Rabs (tr i)) by (intros; lra).
  pose proof (tree_sum_bound tr thr er (fun i => Rabs (tr i)) T Hfr (fun i => Rle_refl _) HMr) as Hr.
  pose proof (tree_sum_bound ti thi ei (fun i => Rabs (ti i)) T Hfi (fun i => Rle_refl _)
                (fun i => Rle_refl _)) as Hi.
  fold g in Hr, Hi.
  rewrite tsum_affine in Hr, Hi.
  eapply Rle_trans; [apply norm2_bound; eassumption|].
  eapply Rle_trans; [apply minkowski_tree|].
  rewrite tsum_affine.
  apply tsum_le; intros i.
  replace (er i + g * (Rabs (tr i) + er i)) with ((1 + g) * er i + g * Rabs (tr i)) by ring.
  replace (ei i + g * (Rabs (ti i) + ei i)) with ((1 + g) * ei i + g * Rabs (ti i)) by ring.
  eapply Rle_trans; [apply norm2_triangle|].
  rewrite !norm2_scale by lra. rewrite norm2_abs.
  unfold er, ei. rewrite norm2_abs.
  pose proof (HE i). pose proof (HM i).
  assert ((1 + g) * norm2 (thr i - tr i) (thi i - ti i) <= (1 + g) * Eb i)
    by (apply Rmult_le_compat_l; lra).
  assert (g * norm2 (tr i) (ti i) <= g * M i) by (apply Rmult_le_compat_l; lra).
  lra.
Qed.

End TreeSum.
