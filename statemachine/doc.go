// Package statemachine holds paystate's semantics: the canonical states of
// every aggregate kind, the declarative transition tables providers write,
// the builder that validates a table and runs it on github.com/looplab/fsm,
// and Decide, the pure function that turns (current state, amounts, event)
// into exactly one verdict.
//
// Tables are data so that a reader can see a provider's whole machine on one
// screen, so that start-up can reject a table with duplicate or unreachable
// edges, and so that the Mermaid diagrams in the docs come from the same
// rows the engine runs. Nothing here does I/O.
//
// Every table has a version, a hash of its content and of Rules (the
// revision of the code that reads tables). The engine records it on every
// verdict, so that when a table turns out to have been wrong the verdicts
// an older version decided can be found and decided again. An event an
// older version applied is never decided again: Honour works out what it
// did to the amounts, for a replay that follows the journal past it.
package statemachine
