(** * Assumptions.v -- the single place for named, unproved assumptions.

    Every fact the touchstone proofs rely on without proof must be declared
    here, as an axiom or parameter with a comment saying what it is, why it
    is believed, and which spec ID (spec/core.md, spec/mamba.md) depends on
    it.  proofs/check.sh rejects every command that assumes instead of
    proving (its list is in check.sh) in every other file of theories/, so
    this file is the complete list.

    At present NO assumption is needed: every theorem is proved from the
    Coq standard library (including the axioms of its classical real
    numbers), mathcomp and Flocq.  check.sh prints, via Print Assumptions,
    the standard-library axioms each tagged theorem uses.

    This file is therefore intentionally empty of declarations. *)
