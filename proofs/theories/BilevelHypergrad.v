(** * BilevelHypergrad.v -- the unrolled inner loop, its exact hypergradient, FOM's bias, and the
    closed form for a quadratic inner loss.

    Spec: spec/bilevel.md, [BILEVEL-QUAD-CLOSED], [BILEVEL-FOM-BIAS].

    Inner loop (r steps of gradient descent with step alpha):
        phi_0 = theta,   phi_(j+1) = phi_j - alpha * grad L_j(phi_j).
    The step's Jacobian at phi_j is I - alpha H_j, H_j the Hessian of L_j at phi_j, so by the chain
    rule d phi_r / d theta = (I - alpha H_(r-1)) ... (I - alpha H_0), and the exact hypergradient
    of M(theta) = L_out(phi_r) is its transpose applied to g = grad L_out(phi_r):
        E = (d phi_r / d theta)^T g,            FOM:  F = g.
    Here the Hessians H_j and g are given (they are what the C++ evaluates at the iterates); the
    chain rule itself is analysis and is not re-proved: E is *defined* as the transposed Jacobian
    product applied to g.  For the quadratic inner loss the inner loop is affine, and its Jacobian
    is proved below to be (I - alpha A)^r (an affine map's derivative is its linear part).

    Vectors are columns 'cV_(n.+1) and matrices 'M_(n.+1) (mathcomp gives square matrices a ring
    structure, hence powers and products, for positive size; dimension 0 is trivial).  Scalars
    lie in any commutative ring (so any realFieldType, or the exact reals). *)

From mathcomp Require Import all_ssreflect ssralg matrix.

Set Implicit Arguments.
Unset Strict Implicit.
Unset Printing Implicit Defensive.

Import GRing.Theory.
Local Open Scope ring_scope.

Section InnerLoop.

Variable R : comRingType.
Variable n : nat.
Local Notation vec := 'cV[R]_n.+1.
Local Notation mat := 'M[R]_n.+1.

Variable alpha : R.

(** The inner loop for gradients grad j (of the inner loss L_j): phi_0 = theta,
    phi_(j+1) = phi_j - alpha grad_j(phi_j). *)
Fixpoint inner (grad : nat -> vec -> vec) (r : nat) (theta : vec) : vec :=
  match r with
  | 0 => theta
  | r'.+1 => let phi := inner grad r' theta in phi - alpha *: grad r' phi
  end.

(** ** The exact hypergradient and FOM's bias *)

Section Bias.

(** H j: the (symmetric) Hessian of L_j at phi_j; g: grad L_out(phi_r). *)
Variable H : nat -> mat.
Variable g : vec.

(** The Jacobian of step j, and d phi_r / d theta = J_(r-1) ... J_0 (chain rule). *)
Definition step_jac (j : nat) : mat := 1 - alpha *: H j.

Fixpoint loop_jac (r : nat) : mat :=
  match r with
  | 0 => 1
  | r'.+1 => step_jac r' *m loop_jac r'
  end.

(** The exact hypergradient (reverse mode through the loop) and the FOM estimate. *)
Definition exact_hg (r : nat) : vec := (loop_jac r)^T *m g.
Definition fom_hg : vec := g.

(** Reverse mode's recursion lambda_r = g, lambda_j = lambda_(j+1) - alpha H_j lambda_(j+1);
    rev_lambda r k is lambda_(r-k), so lambda_0 = rev_lambda r r. *)
Fixpoint rev_lambda (r k : nat) : vec :=
  match k with
  | 0 => g
  | k'.+1 => let l := rev_lambda r k' in l - alpha *: (H (r - k)%N *m l)
  end.

Hypothesis H_sym : forall j, (H j)^T = H j.

Lemma step_jac_sym (j : nat) : (step_jac j)^T = step_jac j.
Proof. by rewrite /step_jac linearB /= trmx1 linearZ /= H_sym. Qed.

(** (d phi_r / d theta)^T = (I - alpha H_0)(I - alpha H_1) ... (I - alpha H_(r-1)). *)
Lemma loop_jac_tr (r : nat) : (loop_jac r)^T = \prod_(j < r) (1 - alpha *: H j).
Proof.
elim: r => [|r IH] /=; first by rewrite big_ord0 trmx1.
by rewrite trmx_mul IH step_jac_sym big_ord_recr /= mulmxE.
Qed.

(** E = (I - alpha H_0)(I - alpha H_1) ... (I - alpha H_(r-1)) g (symmetric Hessians). *)
Lemma exact_hg_prod (r : nat) : exact_hg r = \prod_(j < r) (1 - alpha *: H j) *m g.
Proof. by rewrite /exact_hg loop_jac_tr. Qed.

(** Reverse mode computes E: lambda_0 = E. *)
Lemma rev_lambda_prod (r k : nat) :
  k <= r -> rev_lambda r k = \prod_(r - k <= j < r) (1 - alpha *: H j) *m g.
Proof.
elim: k => [|k IH] kr /=; first by rewrite subn0 big_geq // mul1mx.
rewrite IH ?(ltnW kr) //.
rewrite [in RHS]big_ltn; last by rewrite ltn_subrL /= (leq_ltn_trans (leq0n k) kr).
by rewrite subnSK // -mulmxE -mulmxA mulmxBl mul1mx scalemxAl.
Qed.

Lemma rev_lambda_exact (r : nat) : rev_lambda r r = exact_hg r.
Proof.
by rewrite rev_lambda_prod // subnn exact_hg_prod big_mkord.
Qed.

(* proves: BILEVEL-FOM-BIAS *)
(** FOM's bias: E - F = ((I - alpha H_0) ... (I - alpha H_(r-1)) - I) g. *)
Theorem fom_bias (r : nat) :
  exact_hg r - fom_hg = (\prod_(j < r) (1 - alpha *: H j) - 1) *m g.
Proof. by rewrite exact_hg_prod /fom_hg mulmxBl mul1mx. Qed.

End Bias.

(** ** The quadratic inner loss 1/2 (phi - c)^T A (phi - c): gradient A (phi - c) *)

Section Quadratic.

Variables (A : mat) (c : vec).

Definition quad_grad (j : nat) (phi : vec) : vec := A *m (phi - c).

Definition quad_inner (r : nat) (theta : vec) : vec := inner quad_grad r theta.

(* proves: BILEVEL-QUAD-CLOSED *)
(** phi_r - c = (I - alpha A)^r (theta - c). *)
Theorem quad_closed (r : nat) (theta : vec) :
  quad_inner r theta - c = (1 - alpha *: A) ^+ r *m (theta - c).
Proof.
elim: r => [|r IH] /=; first by rewrite expr0 mul1mx.
rewrite /quad_inner /= -/(quad_inner r theta) /quad_grad.
by rewrite addrAC IH exprS -mulmxE -mulmxA mulmxBl mul1mx scalemxAl.
Qed.

(** The loop is affine with linear part (I - alpha A)^r: so d phi_r / d theta = (I - alpha A)^r
    exactly, i.e. loop_jac with every H_j = A (the Hessian of the quadratic loss is A). *)
Lemma quad_affine (r : nat) (theta theta' : vec) :
  quad_inner r theta - quad_inner r theta' = (1 - alpha *: A) ^+ r *m (theta - theta').
Proof.
have -> : quad_inner r theta - quad_inner r theta'
           = (quad_inner r theta - c) - (quad_inner r theta' - c).
  by rewrite opprB addrA subrK.
by rewrite !quad_closed -mulmxBr opprB addrA subrK.
Qed.

Lemma quad_loop_jac (r : nat) : loop_jac (fun=> A) r = (1 - alpha *: A) ^+ r.
Proof. by elim: r => [|r IH] //=; rewrite IH exprS mulmxE /step_jac. Qed.

(** With the same quadratic as outer loss, g = grad L_out(phi_r) = A (phi_r - c). *)
Definition quad_g (r : nat) (theta : vec) : vec := A *m (quad_inner r theta - c).

(* proves: BILEVEL-FOM-BIAS *)
(** The quadratic class, A symmetric: F = A (I - alpha A)^r (theta - c) and
    E = (I - alpha A)^r A (I - alpha A)^r (theta - c). *)
Theorem quad_fom_exact (r : nat) (theta : vec) :
  A^T = A ->
  fom_hg (quad_g r theta) = A *m (1 - alpha *: A) ^+ r *m (theta - c) /\
  exact_hg (fun=> A) (quad_g r theta) r
    = (1 - alpha *: A) ^+ r *m A *m (1 - alpha *: A) ^+ r *m (theta - c).
Proof.
move=> Asym; split; first by rewrite /fom_hg /quad_g quad_closed mulmxA.
rewrite exact_hg_prod // prodr_const card_ord /quad_g quad_closed.
by rewrite !mulmxA.
Qed.

End Quadratic.

End InnerLoop.
