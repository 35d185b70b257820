// Package crashtest holds black-box fault tests of the real paystate
// binary. TestMain builds cmd/paystate into a temporary directory once;
// each test runs `paystate serve` on loopback ports with a data directory
// of its own, in development mode (credentials read from its
// dev-credentials.json) or from a config file, posts webhooks signed the
// way each provider signs them (package simulator), and then inspects the
// SQLite file, the API and everything the server wrote.
//
//   - TestCrash: SIGKILL once in each window of the commit path (the
//     binary is built with the crashpoints tag and stopped there by
//     PAYSTATE_CRASHPOINT), then at random moments, while webhooks of
//     every provider arrive, duplicated and out of order; afterwards every
//     acknowledged event is in the journal, no entry belongs to a body
//     that was never sent, each dedupe key has one first verdict, state
//     equals the journal's replay and the chain verifies.
//   - TestDuplicateStorm: each event delivered 5 times by 50 concurrent
//     senders: one first verdict each, every other delivery answered 200
//     duplicate, no transition twice.
//   - TestCardData: card numbers, security codes, track data and PIN
//     blocks injected into documented samples never reach the database
//     files, the logs or any API response.
//   - TestSecretsNeverLogged: no secret or authentication header value,
//     right or wrong, in the server's output.
//
// The short forms run in the default `go test ./...`; -crash.long runs the
// long ones (20 kills during 5 000 webhooks, 1 000 × 5 duplicates, 10 000
// card-data events). Every test logs its random seed; -crash.seed N (or
// PAYSTATE_CRASH_SEED=N) replays it. docs/reliability.md describes the
// guarantees these tests hold paystate to and the figures of the last long
// runs.
package crashtest
