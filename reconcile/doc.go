// Package reconcile brings aggregates back in line with their provider
// when webhooks were lost. N-Genius sends each event once and never
// retries; Magnius sends only ids and statuses. So, in the background, the
// reconciler finds aggregates that have stood still in a non-terminal state
// for longer than a minimum age, or whose deferred events expired (their
// predecessor never came), asks the provider where they stand
// (providers.StatusFetcher), and feeds the answer through the same engine
// and machines as a webhook, recorded with actor "reconciler".
//
// # Finding candidates
//
// The reconciler reads nothing but the journal, through the read side every
// backend implements (storage.Reader.Journal): at start it reads the journal
// from the beginning, then only what was appended since its last pass, and
// keeps in memory, for each aggregate of a provider it can ask, the state
// after the newest entry and when that entry was received. Terminal states
// (no edge leaves them) are dropped, and so is an aggregate that has not
// moved for longer than the maximum age. Memory is therefore bounded by the
// aggregates that were active within the maximum age; the start-up read is
// one pass over the journal.
//
// # Asking and applying
//
// An aggregate is checked when it has stood still for the minimum age; if
// the provider agrees with paystate, the next check waits twice as long
// (min_age, 2·min_age, 4·min_age, ...) until the maximum age. An expired
// deferred event makes its aggregate due at once. The provider's answer is
// a list of events from a new aggregate to its current status; the
// reconciler takes the first one that the machine would apply from the
// aggregate's current state and that changes it, submits it through the
// engine, reads the aggregate again and repeats, so that only what paystate
// lacks is submitted and every verdict is the engine's own.
//
// # Several replicas
//
// Every replica that has the provider's API credentials runs a reconciler;
// two reconcilers submitting the same answer produce a duplicate verdict,
// never a second transition. Give the credentials to one replica only to
// avoid asking the provider twice.
package reconcile
