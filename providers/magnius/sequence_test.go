package magnius_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/engine/enginetest"
	"github.com/paystate/paystate/providers/magnius"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
)

// snapshot is a Magnius webhook body. Empty fields are left out; amount < 0
// leaves amount out.
type snapshot struct {
	Type, ID, Status, Reason, Reference, LinkID, SubscriptionID, TransactionID string
	Amount                                                                     int64
}

func (s snapshot) body() []byte {
	m := map[string]any{"type": s.Type, "id": s.ID}
	add := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	add("status", s.Status)
	add("status_reason", s.Reason)
	add("merchant_reference", s.Reference)
	add("paymentlink_id", s.LinkID)
	add("subscription_id", s.SubscriptionID)
	add("transaction_id", s.TransactionID)
	if s.Amount >= 0 {
		m["amount"] = s.Amount
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

func txn(id, status string, amount int64) []byte {
	return snapshot{Type: "transaction", ID: id, Status: status, Amount: amount, Reference: "ORDER-" + id}.body()
}

func of(typ, id, status string) []byte {
	return snapshot{Type: typ, ID: id, Status: status, Amount: -1}.body()
}

func harness(t *testing.T) *enginetest.Harness {
	t.Helper()
	p, err := magnius.New(magnius.Config{})
	require.NoError(t, err)
	return enginetest.New(t, p)
}

// journal returns the journal of one aggregate.
func journal(t *testing.T, h *enginetest.Harness, kind sm.Kind, id string) []storage.JournalEntry {
	t.Helper()
	key := storage.AggregateKey{Provider: magnius.Name, Kind: string(kind), ID: id}
	entries, err := h.Store.Journal(t.Context(), &key, 0, 100)
	require.NoError(t, err)
	return entries
}

type step struct {
	body    []byte
	verdict sm.Verdict
	code    string // reason prefix
	state   sm.State
	skipped []string
}

func TestSequences(t *testing.T) {
	t.Parallel()
	type totals struct{ amount, authorized, captured int64 }
	cases := []struct {
		name   string
		kind   sm.Kind
		id     string
		steps  []step
		status string // provider status at the end
		totals totals
	}{
		{"transaction in order", sm.KindPayment, "t1", []step{
			{txn("t1", "INITIATED", 1000), sm.VerdictApplied, "", sm.Pending, nil},
			{txn("t1", "AUTHORIZED", 1000), sm.VerdictApplied, "", sm.Authorized, nil},
			{txn("t1", "SETTLEMENT_REQUESTED", 1000), sm.VerdictApplied, "", sm.CaptureRequested, nil},
			{txn("t1", "SETTLEMENT_COMPLETED", 1000), sm.VerdictApplied, "", sm.Captured, nil},
		}, "SETTLEMENT_COMPLETED", totals{1000, 1000, 1000}},
		{"settlement completed first, then the earlier snapshots are stale", sm.KindPayment, "t1", []step{
			{txn("t1", "SETTLEMENT_COMPLETED", 1000), sm.VerdictApplied, "jumped: passed through pending", sm.Captured, []string{"pending"}},
			{txn("t1", "INITIATED", 1000), sm.VerdictRejected, "stale", sm.Captured, nil},
			{txn("t1", "AUTHORIZED", 1000), sm.VerdictRejected, "stale", sm.Captured, nil},
			{txn("t1", "SETTLEMENT_REQUESTED", 1000), sm.VerdictRejected, "stale", sm.Captured, nil},
			{txn("t1", "PENDING", 1000), sm.VerdictRejected, "stale", sm.Captured, nil},
		}, "SETTLEMENT_COMPLETED", totals{1000, 1000, 1000}},
		{"authorized, then settlement completed skips the request", sm.KindPayment, "t1", []step{
			{txn("t1", "AUTHORIZED", 1000), sm.VerdictApplied, "jumped", sm.Authorized, []string{"pending"}},
			{txn("t1", "SETTLEMENT_COMPLETED", 1000), sm.VerdictApplied, "jumped: passed through capture_requested", sm.Captured, []string{"capture_requested"}},
			{txn("t1", "SETTLEMENT_REQUESTED", 1000), sm.VerdictRejected, "stale", sm.Captured, nil},
		}, "SETTLEMENT_COMPLETED", totals{1000, 1000, 1000}},
		{"settlement requested first still knows the authorised amount", sm.KindPayment, "t1", []step{
			{txn("t1", "SETTLEMENT_REQUESTED", 1000), sm.VerdictApplied, "jumped", sm.CaptureRequested, []string{"pending", "authorized"}},
			{txn("t1", "AUTHORIZED", 1000), sm.VerdictRejected, "stale", sm.CaptureRequested, nil},
			{txn("t1", "SETTLEMENT_COMPLETED", 1000), sm.VerdictApplied, "", sm.Captured, nil},
		}, "SETTLEMENT_COMPLETED", totals{1000, 1000, 1000}},
		{"settlement of less than authorised is a partial capture", sm.KindPayment, "t1", []step{
			{txn("t1", "AUTHORIZED", 1000), sm.VerdictApplied, "jumped", sm.Authorized, []string{"pending"}},
			{txn("t1", "SETTLEMENT_COMPLETED", 400), sm.VerdictApplied, "jumped", sm.PartiallyCaptured, []string{"capture_requested"}},
		}, "SETTLEMENT_COMPLETED", totals{1000, 1000, 400}},
		{"settlement above the authorisation is rejected", sm.KindPayment, "t1", []step{
			{txn("t1", "AUTHORIZED", 1000), sm.VerdictApplied, "", sm.Authorized, []string{"pending"}},
			{txn("t1", "SETTLEMENT_COMPLETED", 1500), sm.VerdictRejected, `amount: capture of 1500 requested, above authorized 1000 \(passing capture_requested\)`, sm.Authorized, nil},
		}, "AUTHORIZED", totals{1000, 1000, 0}},
		// SETTLEMENT_REQUESTED carries the amount to settle: it may not
		// exceed the authorisation and never replaces it.
		{"settlement requested above the authorisation is rejected", sm.KindPayment, "t1", []step{
			{txn("t1", "AUTHORIZED", 2500), sm.VerdictApplied, "", sm.Authorized, []string{"pending"}},
			{txn("t1", "SETTLEMENT_REQUESTED", 3000), sm.VerdictRejected, "amount: capture of 3000 requested, above authorized 2500$", sm.Authorized, nil},
			{txn("t1", "SETTLEMENT_COMPLETED", 3000), sm.VerdictRejected, `amount: capture of 3000 requested, above authorized 2500 \(passing capture_requested\)`, sm.Authorized, nil},
		}, "AUTHORIZED", totals{2500, 2500, 0}},
		{"settlement requested below the authorisation keeps it", sm.KindPayment, "t1", []step{
			{txn("t1", "AUTHORIZED", 2500), sm.VerdictApplied, "", sm.Authorized, []string{"pending"}},
			{txn("t1", "SETTLEMENT_REQUESTED", 2000), sm.VerdictApplied, "", sm.CaptureRequested, nil},
			{txn("t1", "SETTLEMENT_COMPLETED", 2000), sm.VerdictApplied, "", sm.PartiallyCaptured, nil},
		}, "SETTLEMENT_COMPLETED", totals{2500, 2500, 2000}},
		{"settlement without amount captures the authorisation", sm.KindPayment, "t1", []step{
			{txn("t1", "AUTHORIZED", 1000), sm.VerdictApplied, "", sm.Authorized, []string{"pending"}},
			{txn("t1", "SETTLEMENT_COMPLETED", -1), sm.VerdictApplied, "", sm.Captured, []string{"capture_requested"}},
		}, "SETTLEMENT_COMPLETED", totals{1000, 1000, 1000}},
		// amount is optional ("The item amount in cents") and is the
		// transaction's at every status: the first applied snapshot that
		// carries it gives the order its amount, whatever came before.
		{"authorized without amount, then settled: the settlement's amount is the order's", sm.KindPayment, "t1", []step{
			{txn("t1", "AUTHORIZED", -1), sm.VerdictApplied, "jumped", sm.Authorized, []string{"pending"}},
			{txn("t1", "SETTLEMENT_COMPLETED", 1000), sm.VerdictApplied, "jumped", sm.Captured, []string{"capture_requested"}},
		}, "SETTLEMENT_COMPLETED", totals{1000, 1000, 1000}},
		{"cancelled without amount, then settled late", sm.KindPayment, "t1", []step{
			{txn("t1", "CANCELLED", -1), sm.VerdictApplied, "jumped", sm.Cancelled, []string{"pending"}},
			{txn("t1", "SETTLEMENT_COMPLETED", 1500), sm.VerdictApplied, "", sm.Captured, nil},
		}, "SETTLEMENT_COMPLETED", totals{1500, 1500, 1500}},
		{"settlement requested without amount, then completed", sm.KindPayment, "t1", []step{
			{txn("t1", "SETTLEMENT_REQUESTED", -1), sm.VerdictApplied, "jumped", sm.CaptureRequested, []string{"pending", "authorized"}},
			{txn("t1", "SETTLEMENT_COMPLETED", 700), sm.VerdictApplied, "", sm.Captured, nil},
		}, "SETTLEMENT_COMPLETED", totals{700, 700, 700}},
		{"authorized without amount, settlement requested and completed with it", sm.KindPayment, "t1", []step{
			{txn("t1", "AUTHORIZED", -1), sm.VerdictApplied, "jumped", sm.Authorized, []string{"pending"}},
			{txn("t1", "SETTLEMENT_REQUESTED", 500), sm.VerdictApplied, "", sm.CaptureRequested, nil},
			{txn("t1", "SETTLEMENT_COMPLETED", 500), sm.VerdictApplied, "", sm.Captured, nil},
		}, "SETTLEMENT_COMPLETED", totals{500, 500, 500}},
		{"no outcome yet: the provider status moves, the state stays", sm.KindPayment, "t1", []step{
			{txn("t1", "INITIATED", 1000), sm.VerdictApplied, "", sm.Pending, nil},
			{txn("t1", "IN_PROGRESS", 1000), sm.VerdictApplied, "", sm.Pending, nil},
			{txn("t1", "PENDING", 1000), sm.VerdictApplied, "", sm.Pending, nil},
			{txn("t1", "PENDING", 1000), sm.VerdictDuplicate, "", sm.Pending, nil},
			{txn("t1", "INITIATED", 1000), sm.VerdictRejected, "stale", sm.Pending, nil},
		}, "PENDING", totals{1000, 0, 0}},
		// A status seen before is applied again when it is legal from
		// where the transaction is: the provider status follows the cycle.
		{"no outcome yet: PENDING and IN_PROGRESS cycle", sm.KindPayment, "t1", []step{
			{txn("t1", "PENDING", 1000), sm.VerdictApplied, "", sm.Pending, nil},
			{txn("t1", "IN_PROGRESS", 1000), sm.VerdictApplied, "", sm.Pending, nil},
			{txn("t1", "PENDING", 1000), sm.VerdictApplied, "", sm.Pending, nil},
			{txn("t1", "IN_PROGRESS", 1000), sm.VerdictApplied, "", sm.Pending, nil},
			{txn("t1", "IN_PROGRESS", 1000), sm.VerdictDuplicate, "", sm.Pending, nil},
		}, "IN_PROGRESS", totals{1000, 0, 0}},
		{"a late INITIATED is stale", sm.KindPayment, "t1", []step{
			{txn("t1", "IN_PROGRESS", 1000), sm.VerdictApplied, "", sm.Pending, nil},
			{txn("t1", "INITIATED", 1000), sm.VerdictRejected, "stale", sm.Pending, nil},
		}, "IN_PROGRESS", totals{1000, 0, 0}},
		{"declined", sm.KindPayment, "t1", []step{
			{txn("t1", "INITIATED", 1000), sm.VerdictApplied, "", sm.Pending, nil},
			{snapshot{Type: "transaction", ID: "t1", Status: "DECLINED", Reason: "Do not honor", Amount: 1000}.body(), sm.VerdictApplied, "", sm.Declined, nil},
			{txn("t1", "AUTHORIZED", 1000), sm.VerdictRejected, "stale", sm.Declined, nil},
		}, "DECLINED", totals{1000, 0, 0}},
		{"unknown, then resolved", sm.KindPayment, "t1", []step{
			{txn("t1", "UNKNOWN", 1000), sm.VerdictApplied, "jumped", sm.Unknown, []string{"pending"}},
			{txn("t1", "AUTHORIZED", 1000), sm.VerdictApplied, "", sm.Authorized, nil},
			{txn("t1", "UNKNOWN", 1000), sm.VerdictRejected, "stale", sm.Authorized, nil},
		}, "AUTHORIZED", totals{1000, 1000, 0}},
		{"unknown, then settled", sm.KindPayment, "t1", []step{
			{txn("t1", "PENDING", 1000), sm.VerdictApplied, "", sm.Pending, nil},
			{txn("t1", "UNKNOWN", 1000), sm.VerdictApplied, "", sm.Unknown, nil},
			{txn("t1", "SETTLEMENT_COMPLETED", 1000), sm.VerdictApplied, "", sm.Captured, nil},
		}, "SETTLEMENT_COMPLETED", totals{1000, 1000, 1000}},
		{"abandoned", sm.KindPayment, "t1", []step{
			{txn("t1", "IN_PROGRESS", 1000), sm.VerdictApplied, "", sm.Pending, nil},
			{txn("t1", "ABANDONED", 1000), sm.VerdictApplied, "", sm.Cancelled, nil},
			{txn("t1", "CANCELLED", 1000), sm.VerdictRejected, "stale", sm.Cancelled, nil},
		}, "ABANDONED", totals{1000, 0, 0}},
		// A settled transaction never fails afterwards (FAILED is not legal
		// from captured), so a SETTLEMENT_COMPLETED that arrives after
		// FAILED is the newer status: the settlement went through after
		// all, money moved, and it is applied rather than lost as stale.
		{"settlement failed, then completed", sm.KindPayment, "t1", []step{
			{txn("t1", "SETTLEMENT_REQUESTED", 1000), sm.VerdictApplied, "jumped", sm.CaptureRequested, []string{"pending", "authorized"}},
			{txn("t1", "FAILED", 1000), sm.VerdictApplied, "", sm.Failed, nil},
			{txn("t1", "SETTLEMENT_COMPLETED", 1000), sm.VerdictApplied, "", sm.Captured, nil},
			{txn("t1", "FAILED", 1000), sm.VerdictRejected, "stale", sm.Captured, nil},
		}, "SETTLEMENT_COMPLETED", totals{1000, 1000, 1000}},
		{"settlement failed, then completed for more than authorised", sm.KindPayment, "t1", []step{
			{txn("t1", "AUTHORIZED", 1000), sm.VerdictApplied, "jumped", sm.Authorized, []string{"pending"}},
			{txn("t1", "FAILED", 1000), sm.VerdictApplied, "", sm.Failed, nil},
			{txn("t1", "SETTLEMENT_COMPLETED", 1200), sm.VerdictRejected, "amount", sm.Failed, nil},
		}, "FAILED", totals{1000, 1000, 0}},
		// A consumer who left the payment flow may still pay (a bank
		// transfer completing late): the settlement is the newer status.
		{"abandoned, then settled late", sm.KindPayment, "t1", []step{
			{txn("t1", "PENDING", 1000), sm.VerdictApplied, "", sm.Pending, nil},
			{txn("t1", "ABANDONED", 1000), sm.VerdictApplied, "", sm.Cancelled, nil},
			{txn("t1", "SETTLEMENT_COMPLETED", 1000), sm.VerdictApplied, "", sm.Captured, nil},
			{txn("t1", "CANCELLED", 1000), sm.VerdictRejected, "stale", sm.Captured, nil},
		}, "SETTLEMENT_COMPLETED", totals{1000, 1000, 1000}},
		{"authorisation voided, then settled", sm.KindPayment, "t1", []step{
			{txn("t1", "AUTHORIZED", 1000), sm.VerdictApplied, "jumped", sm.Authorized, []string{"pending"}},
			{txn("t1", "AUTHORIZATION_VOIDED", 1000), sm.VerdictApplied, "", sm.Voided, nil},
			{txn("t1", "SETTLEMENT_COMPLETED", 1000), sm.VerdictApplied, "", sm.Captured, nil},
			{txn("t1", "AUTHORIZATION_VOIDED", 1000), sm.VerdictRejected, "stale", sm.Captured, nil},
		}, "SETTLEMENT_COMPLETED", totals{1000, 1000, 1000}},
		{"declined, then settled: the money is not hidden behind the decline", sm.KindPayment, "t1", []step{
			{txn("t1", "DECLINED", 1000), sm.VerdictApplied, "jumped", sm.Declined, []string{"pending"}},
			{txn("t1", "SETTLEMENT_COMPLETED", 1000), sm.VerdictApplied, "", sm.Captured, nil},
			{txn("t1", "DECLINED", 1000), sm.VerdictRejected, "stale", sm.Captured, nil},
		}, "SETTLEMENT_COMPLETED", totals{1000, 1000, 1000}},
		{"an undocumented transaction status is recorded", sm.KindPayment, "t1", []step{
			{txn("t1", "AUTHORIZED", 1000), sm.VerdictApplied, "", sm.Authorized, []string{"pending"}},
			{txn("t1", "PARTIALLY_REFUNDED", 1000), sm.VerdictRecorded, "unknown_event", sm.Authorized, nil},
		}, "AUTHORIZED", totals{1000, 1000, 0}},
		{"a transaction snapshot without status is recorded", sm.KindPayment, "t1", []step{
			{txn("t1", "INITIATED", 1000), sm.VerdictApplied, "", sm.Pending, nil},
			{txn("t1", "", 1000), sm.VerdictRecorded, "no_lifecycle", sm.Pending, nil},
		}, "INITIATED", totals{1000, 0, 0}},

		{"refund lifecycle", sm.KindRefund, "r1", []step{
			{of("refund", "r1", "PENDING"), sm.VerdictApplied, "", sm.Pending, nil},
			{of("refund", "r1", "HOLD"), sm.VerdictApplied, "", sm.OnHold, nil},
			{of("refund", "r1", "PROCESSED"), sm.VerdictApplied, "", sm.Succeeded, nil},
			{of("refund", "r1", "PROCESSED"), sm.VerdictDuplicate, "", sm.Succeeded, nil},
			{of("refund", "r1", "PENDING"), sm.VerdictRejected, "stale", sm.Succeeded, nil},
			{of("refund", "r1", "FAILED"), sm.VerdictRejected, "stale", sm.Succeeded, nil},
		}, "PROCESSED", totals{}},
		{"refund held, released, held again, processed", sm.KindRefund, "r1", []step{
			{of("refund", "r1", "PENDING"), sm.VerdictApplied, "", sm.Pending, nil},
			{of("refund", "r1", "HOLD"), sm.VerdictApplied, "", sm.OnHold, nil},
			{of("refund", "r1", "PENDING"), sm.VerdictApplied, "", sm.Pending, nil},
			{of("refund", "r1", "HOLD"), sm.VerdictApplied, "", sm.OnHold, nil},
			{of("refund", "r1", "PENDING"), sm.VerdictApplied, "", sm.Pending, nil},
			{of("refund", "r1", "PENDING"), sm.VerdictDuplicate, "", sm.Pending, nil},
			{of("refund", "r1", "PROCESSED"), sm.VerdictApplied, "", sm.Succeeded, nil},
			{of("refund", "r1", "PENDING"), sm.VerdictRejected, "stale", sm.Succeeded, nil},
			{of("refund", "r1", "HOLD"), sm.VerdictRejected, "stale", sm.Succeeded, nil},
		}, "PROCESSED", totals{}},
		{"refund first seen on hold, then released", sm.KindRefund, "r1", []step{
			{of("refund", "r1", "HOLD"), sm.VerdictApplied, "jumped", sm.OnHold, []string{"pending"}},
			{of("refund", "r1", "PENDING"), sm.VerdictApplied, "", sm.Pending, nil},
			{of("refund", "r1", "FAILED"), sm.VerdictApplied, "", sm.Failed, nil},
		}, "FAILED", totals{}},
		{"refund processed first", sm.KindRefund, "r1", []step{
			{snapshot{Type: "refund", ID: "r1", Status: "PROCESSED", Amount: 500}.body(), sm.VerdictApplied, "jumped", sm.Succeeded, []string{"pending"}},
			{snapshot{Type: "refund", ID: "r1", Status: "HOLD", Amount: 500}.body(), sm.VerdictRejected, "stale", sm.Succeeded, nil},
		}, "PROCESSED", totals{amount: 500}},
		{"refund on hold, unknown, failed", sm.KindRefund, "r1", []step{
			{of("refund", "r1", "HOLD"), sm.VerdictApplied, "jumped", sm.OnHold, []string{"pending"}},
			{of("refund", "r1", "UNKNOWN"), sm.VerdictApplied, "", sm.Unknown, nil},
			{of("refund", "r1", "PENDING"), sm.VerdictRejected, "stale", sm.Unknown, nil},
			{of("refund", "r1", "FAILED"), sm.VerdictApplied, "", sm.Failed, nil},
		}, "FAILED", totals{}},
		// A processed refund never fails afterwards, so PROCESSED after
		// FAILED is the newer status: the refund went through on a retry.
		{"refund failed, then processed", sm.KindRefund, "r1", []step{
			{of("refund", "r1", "PENDING"), sm.VerdictApplied, "", sm.Pending, nil},
			{of("refund", "r1", "FAILED"), sm.VerdictApplied, "", sm.Failed, nil},
			{of("refund", "r1", "PROCESSED"), sm.VerdictApplied, "", sm.Succeeded, nil},
			{of("refund", "r1", "FAILED"), sm.VerdictRejected, "stale", sm.Succeeded, nil},
		}, "PROCESSED", totals{}},
		{"refund cancelled, then processed", sm.KindRefund, "r1", []step{
			{of("refund", "r1", "PENDING"), sm.VerdictApplied, "", sm.Pending, nil},
			{of("refund", "r1", "CANCELLED"), sm.VerdictApplied, "", sm.Cancelled, nil},
			{of("refund", "r1", "PROCESSED"), sm.VerdictApplied, "", sm.Succeeded, nil},
			{of("refund", "r1", "CANCELLED"), sm.VerdictRejected, "stale", sm.Succeeded, nil},
		}, "PROCESSED", totals{}},

		// amount is "the item amount in cents" in every snapshot: a
		// refund or chargeback that states another amount has that amount
		// now. The aggregate takes it and the entry names the change.
		{"refund processed for less than pending said", sm.KindRefund, "r19", []step{
			{snapshot{Type: "refund", ID: "r19", Status: "PENDING", Amount: 100}.body(), sm.VerdictApplied, "$", sm.Pending, nil},
			{snapshot{Type: "refund", ID: "r19", Status: "PROCESSED", Amount: 80}.body(), sm.VerdictApplied, "amount changed from 100 to 80$", sm.Succeeded, nil},
			{snapshot{Type: "refund", ID: "r19", Status: "PENDING", Amount: 100}.body(), sm.VerdictRejected, "stale", sm.Succeeded, nil},
		}, "PROCESSED", totals{amount: 80}},
		{"refund snapshot without amount keeps the amount", sm.KindRefund, "r20", []step{
			{snapshot{Type: "refund", ID: "r20", Status: "PENDING", Amount: 100}.body(), sm.VerdictApplied, "$", sm.Pending, nil},
			{of("refund", "r20", "PROCESSED"), sm.VerdictApplied, "$", sm.Succeeded, nil},
		}, "PROCESSED", totals{amount: 100}},
		{"chargeback lost for less than opened", sm.KindChargeback, "c7", []step{
			{snapshot{Type: "chargeback", ID: "c7", Status: "OPEN", Amount: 100}.body(), sm.VerdictApplied, "$", sm.Open, nil},
			{snapshot{Type: "chargeback", ID: "c7", Status: "LOST", Amount: 60}.body(), sm.VerdictApplied, "amount changed from 100 to 60$", sm.Lost, nil},
		}, "LOST", totals{amount: 60}},
		{"chargeback lifecycle", sm.KindChargeback, "c1", []step{
			{snapshot{Type: "chargeback", ID: "c1", Status: "OPEN", Amount: 2500, Reason: "fraud"}.body(), sm.VerdictApplied, "", sm.Open, nil},
			{of("chargeback", "c1", "IN_DISPUTE"), sm.VerdictApplied, "", sm.InDispute, nil},
			{of("chargeback", "c1", "WON"), sm.VerdictApplied, "", sm.Won, nil},
		}, "WON", totals{amount: 2500}},
		{"chargeback decided first", sm.KindChargeback, "c1", []step{
			{of("chargeback", "c1", "LOST"), sm.VerdictApplied, "jumped: passed through open", sm.Lost, []string{"open"}},
			{of("chargeback", "c1", "OPEN"), sm.VerdictRejected, "stale", sm.Lost, nil},
			{of("chargeback", "c1", "LOST"), sm.VerdictDuplicate, "", sm.Lost, nil},
		}, "LOST", totals{}},
		// A decision challenged: IN_DISPUTE again, seen before, legal from
		// won, so applied; then decided again.
		{"chargeback re-enters IN_DISPUTE", sm.KindChargeback, "c1", []step{
			{of("chargeback", "c1", "OPEN"), sm.VerdictApplied, "", sm.Open, nil},
			{of("chargeback", "c1", "IN_DISPUTE"), sm.VerdictApplied, "", sm.InDispute, nil},
			{of("chargeback", "c1", "WON"), sm.VerdictApplied, "", sm.Won, nil},
			{of("chargeback", "c1", "IN_DISPUTE"), sm.VerdictApplied, "", sm.InDispute, nil},
			{of("chargeback", "c1", "IN_DISPUTE"), sm.VerdictDuplicate, "", sm.InDispute, nil},
			{of("chargeback", "c1", "OPEN"), sm.VerdictRejected, "stale", sm.InDispute, nil},
			{of("chargeback", "c1", "LOST"), sm.VerdictApplied, "", sm.Lost, nil},
		}, "LOST", totals{}},

		{"card link lifecycle", sm.KindLink, "l1", []step{
			{of("cardlink", "l1", "CREATED"), sm.VerdictApplied, "", sm.Created, nil},
			{of("cardlink", "l1", "INITIATED"), sm.VerdictApplied, "", sm.Initiated, nil},
			{of("cardlink", "l1", "DONE"), sm.VerdictApplied, "", sm.Done, nil},
			{of("cardlink", "l1", "EXPIRED"), sm.VerdictRejected, "stale", sm.Done, nil},
		}, "DONE", totals{}},
		{"card link paid first", sm.KindLink, "l1", []step{
			{of("cardlink", "l1", "DONE"), sm.VerdictApplied, "jumped: passed through created, initiated", sm.Done, []string{"created", "initiated"}},
			{of("cardlink", "l1", "CREATED"), sm.VerdictRejected, "stale", sm.Done, nil},
		}, "DONE", totals{}},
		{"card link expired unused", sm.KindLink, "l1", []step{
			{of("cardlink", "l1", "CREATED"), sm.VerdictApplied, "", sm.Created, nil},
			{of("cardlink", "l1", "EXPIRED"), sm.VerdictApplied, "", sm.Expired, nil},
			{of("cardlink", "l1", "INITIATED"), sm.VerdictRejected, "stale", sm.Expired, nil},
		}, "EXPIRED", totals{}},

		{"subscription lifecycle", sm.KindSubscription, "s1", []step{
			{of("subscription", "s1", "CREATED"), sm.VerdictApplied, "", sm.Created, nil},
			{of("subscription", "s1", "ACTIVE"), sm.VerdictApplied, "", sm.Active, nil},
			{of("subscription", "s1", "PAST_DUE"), sm.VerdictApplied, "", sm.PastDue, nil},
			{of("subscription", "s1", "COMPLETED"), sm.VerdictApplied, "", sm.Completed, nil},
			{of("subscription", "s1", "ACTIVE"), sm.VerdictRejected, "stale", sm.Completed, nil},
			{of("subscription", "s1", "CANCELLED"), sm.VerdictRejected, "stale", sm.Completed, nil},
		}, "COMPLETED", totals{}},
		// A recovery (ACTIVE again) has the same body as the first ACTIVE;
		// it is legal from past_due, so it is applied, and the cycle goes
		// round again. A retry while nothing changed is a duplicate.
		{"subscription recovery after a seen ACTIVE ends active", sm.KindSubscription, "s1", []step{
			{of("subscription", "s1", "ACTIVE"), sm.VerdictApplied, "jumped", sm.Active, []string{"created"}},
			{of("subscription", "s1", "ACTIVE"), sm.VerdictDuplicate, "", sm.Active, nil},
			{of("subscription", "s1", "PAST_DUE"), sm.VerdictApplied, "", sm.PastDue, nil},
			{of("subscription", "s1", "ACTIVE"), sm.VerdictApplied, "", sm.Active, nil},
			{of("subscription", "s1", "ACTIVE"), sm.VerdictDuplicate, "", sm.Active, nil},
			{of("subscription", "s1", "PAST_DUE"), sm.VerdictApplied, "", sm.PastDue, nil},
			{of("subscription", "s1", "PAST_DUE"), sm.VerdictDuplicate, "", sm.PastDue, nil},
			{of("subscription", "s1", "ACTIVE"), sm.VerdictApplied, "", sm.Active, nil},
		}, "ACTIVE", totals{}},
		// And the other side: an ACTIVE not seen before is taken as a
		// recovery, though it may be the first ACTIVE arriving late.
		{"subscription recovery", sm.KindSubscription, "s1", []step{
			{of("subscription", "s1", "CREATED"), sm.VerdictApplied, "", sm.Created, nil},
			{of("subscription", "s1", "PAST_DUE"), sm.VerdictApplied, "jumped: passed through active", sm.PastDue, []string{"active"}},
			{of("subscription", "s1", "ACTIVE"), sm.VerdictApplied, "", sm.Active, nil},
			{of("subscription", "s1", "CREATED"), sm.VerdictRejected, "stale", sm.Active, nil},
			{of("subscription", "s1", "EXPIRED"), sm.VerdictApplied, "", sm.Expired, nil},
			{of("subscription", "s1", "ACTIVE"), sm.VerdictRejected, "stale", sm.Expired, nil},
		}, "EXPIRED", totals{}},
		{"subscription ended is final", sm.KindSubscription, "s1", []step{
			{of("subscription", "s1", "CANCELLED"), sm.VerdictApplied, "jumped: passed through created", sm.Cancelled, []string{"created"}},
			{of("subscription", "s1", "ACTIVE"), sm.VerdictRejected, "stale", sm.Cancelled, nil},
			{of("subscription", "s1", "PAST_DUE"), sm.VerdictRejected, "stale", sm.Cancelled, nil},
		}, "CANCELLED", totals{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := harness(t)
			for i, s := range tc.steps {
				o := h.DeliverOne(s.body)
				require.Equal(t, s.verdict, o.Verdict, "step %d %s: %s", i+1, o.Event, o.Reason)
				require.Regexp(t, "^"+s.code, o.Reason, "step %d %s", i+1, o.Event)
				require.Equal(t, string(s.state), o.StateAfter, "step %d %s", i+1, o.Event)
			}
			a := h.Aggregate(tc.kind, tc.id)
			require.Equal(t, string(tc.steps[len(tc.steps)-1].state), a.State)
			require.Equal(t, tc.status, a.ProviderStatus)
			require.Empty(t, a.Currency, "Magnius sends no currency")
			require.Equal(t, tc.totals, totals{a.Amount, a.Authorized, a.Captured})

			// The journal records, per entry, the states a snapshot passed
			// through.
			entries := journal(t, h, tc.kind, tc.id)
			require.Len(t, entries, len(tc.steps))
			for i, e := range entries {
				require.Equal(t, tc.steps[i].skipped, e.Skipped, "entry %d %s", i+1, e.Event)
			}
			h.Verify()
		})
	}
}

func TestRetryIsADuplicateAndSurvivesRestart(t *testing.T) {
	t.Parallel()
	h := harness(t)
	body := txn("t2", "AUTHORIZED", 700)
	require.Equal(t, sm.VerdictApplied, h.DeliverOne(body).Verdict)
	require.Equal(t, sm.VerdictDuplicate, h.DeliverOne(body).Verdict)
	h.Restart()
	require.Equal(t, sm.VerdictDuplicate, h.DeliverOne(body).Verdict, "dedupe survives a restart")
	require.Equal(t, sm.VerdictApplied, h.DeliverOne(txn("t2", "SETTLEMENT_COMPLETED", 700)).Verdict, "the engine goes on after a restart")
	a := h.Aggregate(sm.KindPayment, "t2")
	require.Equal(t, int64(2), a.Version)
	require.Equal(t, string(sm.Captured), a.State)
	h.Verify()
}

// TestSameStatusDifferentBodyIsAConflict: the same (type, id, status) with
// a different body is not silently a duplicate.
func TestSameStatusDifferentBodyIsAConflict(t *testing.T) {
	t.Parallel()
	h := harness(t)
	require.Equal(t, sm.VerdictApplied, h.DeliverOne(txn("t3", "AUTHORIZED", 1000)).Verdict)
	for _, body := range [][]byte{
		txn("t3", "AUTHORIZED", 900),
		snapshot{Type: "transaction", ID: "t3", Status: "AUTHORIZED", Amount: 1000, Reference: "ORDER-t3", Reason: "re-sent"}.body(),
	} {
		o := h.DeliverOne(body)
		require.Equal(t, sm.VerdictRejected, o.Verdict)
		require.Regexp(t, "^conflict", o.Reason)
	}
	a := h.Aggregate(sm.KindPayment, "t3")
	require.Equal(t, int64(1000), a.Authorized)
	require.Equal(t, int64(1), a.Version)
	h.Verify()
}

// TestChargebackNeverGoesBackwards delivers every ordered pair of chargeback
// snapshots: the second is applied only when it lies ahead of the first.
func TestChargebackNeverGoesBackwards(t *testing.T) {
	t.Parallel()
	h := harness(t)
	rank := map[string]int{"OPEN": 0, "IN_DISPUTE": 1, "WON": 2, "LOST": 2, "CANCELLED": 2}
	n := 0
	for first, r1 := range rank {
		for second, r2 := range rank {
			if first == second {
				continue
			}
			n++
			id := "cb-" + first + "-" + second
			require.Equal(t, sm.VerdictApplied, h.DeliverOne(of("chargeback", id, first)).Verdict)
			o := h.DeliverOne(of("chargeback", id, second))
			// A decision can be challenged: IN_DISPUTE after WON or LOST
			// opens the dispute again.
			if r2 > r1 || (second == "IN_DISPUTE" && r1 == 2 && first != "CANCELLED") {
				require.Equal(t, sm.VerdictApplied, o.Verdict, "%s then %s", first, second)
				continue
			}
			require.Equal(t, sm.VerdictRejected, o.Verdict, "%s then %s: %s", first, second, o.Reason)
			require.Equal(t, string(h.Aggregate(sm.KindChargeback, id).State), o.StateAfter)
			require.Equal(t, o.StateBefore, o.StateAfter)
		}
	}
	require.Equal(t, 20, n)
	h.Verify()
}

func TestParents(t *testing.T) {
	t.Parallel()
	h := harness(t)
	cases := []struct {
		kind   sm.Kind
		id     string
		body   []byte
		parent storage.AggregateKey
	}{
		{sm.KindPayment, "t-sub", snapshot{Type: "transaction", ID: "t-sub", Status: "AUTHORIZED", Amount: 100, SubscriptionID: "s9", LinkID: "l9"}.body(),
			storage.AggregateKey{Provider: magnius.Name, Kind: "subscription", ID: "s9"}},
		{sm.KindPayment, "t-link", snapshot{Type: "transaction", ID: "t-link", Status: "AUTHORIZED", Amount: 100, LinkID: "l9"}.body(),
			storage.AggregateKey{Provider: magnius.Name, Kind: "link", ID: "l9"}},
		{sm.KindPayment, "t-alone", txn("t-alone", "AUTHORIZED", 100), storage.AggregateKey{}},
		{sm.KindRefund, "r-child", snapshot{Type: "refund", ID: "r-child", Status: "PENDING", Amount: 100, TransactionID: "t-link"}.body(),
			storage.AggregateKey{Provider: magnius.Name, Kind: "payment", ID: "t-link"}},
		{sm.KindRefund, "r-alone", of("refund", "r-alone", "PENDING"), storage.AggregateKey{}},
		{sm.KindChargeback, "c-child", snapshot{Type: "chargeback", ID: "c-child", Status: "OPEN", Amount: 100, TransactionID: "t-sub"}.body(),
			storage.AggregateKey{Provider: magnius.Name, Kind: "payment", ID: "t-sub"}},
		{sm.KindChargeback, "c-alone", of("chargeback", "c-alone", "OPEN"), storage.AggregateKey{}},
	}
	for _, tc := range cases {
		require.Equal(t, sm.VerdictApplied, h.DeliverOne(tc.body).Verdict, tc.id)
		require.Equal(t, tc.parent, h.Aggregate(tc.kind, tc.id).Parent, tc.id)
	}
	h.Verify()
}

// TestAnotherParentIsAConflict: transaction_id names a refund's or
// chargeback's payment, whose money it moves: a snapshot naming another
// payment than the one its refund has is conflicting data, rejected with
// the reason. subscription_id and paymentlink_id name "the subscription
// (paymentlink) used to create this transaction": a settlement naming
// another is still money that moved, applied, the first parent kept and
// the other named in the reason. One naming none or the same is decided
// as usual.
func TestAnotherParentIsAConflict(t *testing.T) {
	t.Parallel()
	h := harness(t)
	steps := []struct {
		body    []byte
		verdict sm.Verdict
		reason  string
	}{
		{snapshot{Type: "refund", ID: "r1", Status: "PENDING", Amount: 100, TransactionID: "t1"}.body(), sm.VerdictApplied, "$"},
		{snapshot{Type: "refund", ID: "r1", Status: "PROCESSED", Amount: 100, TransactionID: "t2"}.body(), sm.VerdictRejected,
			"conflict: names payment t2 as its parent; it belongs to payment t1$"},
		{snapshot{Type: "refund", ID: "r1", Status: "HOLD", Amount: 100}.body(), sm.VerdictApplied, "$"},
		{snapshot{Type: "refund", ID: "r1", Status: "PROCESSED", Amount: 100, TransactionID: "t1"}.body(), sm.VerdictApplied, "$"},

		{snapshot{Type: "transaction", ID: "t9", Status: "AUTHORIZED", Amount: 500, SubscriptionID: "s1"}.body(), sm.VerdictApplied, "jumped"},
		{snapshot{Type: "transaction", ID: "t9", Status: "SETTLEMENT_REQUESTED", Amount: 500, SubscriptionID: "s2"}.body(), sm.VerdictApplied,
			"names subscription s2 as its parent; keeps subscription s1$"},
		// The payment link it was created through as well: another
		// relation, not another subscription.
		{snapshot{Type: "transaction", ID: "t9", Status: "SETTLEMENT_COMPLETED", Amount: 500, LinkID: "l1"}.body(), sm.VerdictApplied, "$"},
	}
	for i, s := range steps {
		o := h.DeliverOne(s.body)
		require.Equal(t, s.verdict, o.Verdict, "step %d: %s", i+1, o.Reason)
		require.Regexp(t, "^"+s.reason, o.Reason, "step %d", i+1)
	}
	r := h.Aggregate(sm.KindRefund, "r1")
	require.Equal(t, storage.AggregateKey{Provider: magnius.Name, Kind: "payment", ID: "t1"}, r.Parent)
	require.Equal(t, string(sm.Succeeded), r.State)
	p := h.Aggregate(sm.KindPayment, "t9")
	require.Equal(t, storage.AggregateKey{Provider: magnius.Name, Kind: "subscription", ID: "s1"}, p.Parent)
	require.Equal(t, int64(500), p.Captured)
	h.Verify()
}

// TestRecordedTypes: types with no lifecycle and types Magnius may add are
// recorded, never transitioned, never an error.
func TestRecordedTypes(t *testing.T) {
	t.Parallel()
	h := harness(t)
	for _, body := range [][]byte{
		of("validationruleset", "v1", ""),
		of("validationruleset", "v2", "TRIGGERED"),
		of("report_generated", "rep1", ""),
		of("tag_rule_trigger", "tr1", ""),
		of("antifraudrule", "af1", "TRIGGERED"),
		of("payout", "p1", "PAID"),
	} {
		o := h.DeliverOne(body)
		require.Equal(t, sm.VerdictRecorded, o.Verdict, string(body))
		require.Equal(t, "no_lifecycle", o.Reason, string(body))
		require.Empty(t, o.Key.Kind)
		require.Empty(t, o.StateAfter)
	}
	// A retry of a recorded webhook is a duplicate.
	require.Equal(t, sm.VerdictDuplicate, h.DeliverOne(of("report_generated", "rep1", "")).Verdict)
	h.Verify()
}

// TestEveryFixtureGetsAVerdict sends every fixture to a fresh engine: each
// parses and gets the verdict its type calls for.
func TestEveryFixtureGetsAVerdict(t *testing.T) {
	t.Parallel()
	h := harness(t)
	files, err := fixtureFiles()
	require.NoError(t, err)
	for _, f := range files {
		o := h.DeliverOne(f.body)
		switch f.name {
		case "validationruleset", "report_generated":
			require.Equal(t, sm.VerdictRecorded, o.Verdict, f.name)
		default:
			require.Equal(t, sm.VerdictApplied, o.Verdict, "%s: %s", f.name, o.Reason)
		}
	}
	h.Verify()
}
