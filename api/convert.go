package api

import (
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/paystate/paystate/proto/paystate/v1"
	"github.com/paystate/paystate/storage"
)

// enumValue maps a canonical name ("fraud_review") to its proto enum value
// by the naming rule the proto follows (PAYMENT_STATE_FRAUD_REVIEW).
func enumValue(values map[string]int32, prefix, name string) int32 {
	return values[prefix+strings.ToUpper(name)]
}

// enumNames is enumValue with the canonical (lower-case) names looked up
// in a map made once: a GetOrder spent about a microsecond building and
// upper-casing the name. Any other spelling takes enumValue's way.
type enumNames struct {
	values map[string]int32
	prefix string
	byName map[string]int32
}

func newEnumNames(values map[string]int32, prefix string) enumNames {
	byName := map[string]int32{}
	for k, v := range values {
		if rest, ok := strings.CutPrefix(k, prefix); ok {
			byName[strings.ToLower(rest)] = v
		}
	}
	return enumNames{values: values, prefix: prefix, byName: byName}
}

func (e enumNames) value(name string) int32 {
	if v, ok := e.byName[name]; ok {
		return v
	}
	return enumValue(e.values, e.prefix, name)
}

var (
	kindNames    = newEnumNames(pb.Kind_value, "KIND_")
	verdictNames = newEnumNames(pb.Verdict_value, "VERDICT_")
	stateNames   = newEnumNames(pb.PaymentState_value, "PAYMENT_STATE_")
)

func kindEnum(kind string) pb.Kind { return pb.Kind(kindNames.value(kind)) }

func verdictEnum(v string) pb.Verdict { return pb.Verdict(verdictNames.value(v)) }

func orderName(provider, id string) string { return "providers/" + provider + "/orders/" + id }

// orderAlloc is an order and its two times in one allocation, not three:
// a GetOrder's reply is built on every call.
type orderAlloc struct {
	order pb.Order
	times [2]timestamppb.Timestamp
}

func toOrder(a storage.Aggregate, pending int) *pb.Order {
	m := new(orderAlloc)
	m.order = pb.Order{
		Name:              orderName(a.Key.Provider, a.Key.ID),
		Provider:          a.Key.Provider,
		ProviderOrderId:   a.Key.ID,
		MerchantReference: a.MerchantReference,
		Kind:              kindEnum(a.Key.Kind),
		State:             pb.PaymentState(stateNames.value(a.State)),
		StateName:         a.State,
		ProviderStatus:    a.ProviderStatus,
		Currency:          a.Currency,
		AmountMinor:       a.Amount,
		AuthorizedMinor:   a.Authorized,
		CapturedMinor:     a.Captured,
		RefundedMinor:     a.Refunded,
		AmountsUnknown:    a.AmountsUnknown,
		AmountKnown:       a.AmountKnown,
		Version:           a.Version,
		PendingDeferred:   int32(pending),
		CreateTime:        tsIn(&m.times[0], a.CreatedAt),
		UpdateTime:        tsIn(&m.times[1], a.UpdatedAt),
	}
	return &m.order
}

func aggregateName(k storage.AggregateKey) string {
	if k == (storage.AggregateKey{}) {
		return ""
	}
	return "providers/" + k.Provider + "/aggregates/" + k.Kind + "/" + k.ID
}

func toAggregate(a storage.Aggregate, pending int) *pb.Aggregate {
	return &pb.Aggregate{
		Name:              aggregateName(a.Key),
		Provider:          a.Key.Provider,
		Kind:              kindEnum(a.Key.Kind),
		ProviderId:        a.Key.ID,
		MerchantReference: a.MerchantReference,
		Parent:            aggregateName(a.Parent),
		State:             a.State,
		ProviderStatus:    a.ProviderStatus,
		Currency:          a.Currency,
		AmountMinor:       a.Amount,
		AuthorizedMinor:   a.Authorized,
		CapturedMinor:     a.Captured,
		RefundedMinor:     a.Refunded,
		AmountsUnknown:    a.AmountsUnknown,
		AmountKnown:       a.AmountKnown,
		Version:           a.Version,
		PendingDeferred:   int32(pending),
		CreateTime:        ts(a.CreatedAt),
		UpdateTime:        ts(a.UpdatedAt),
	}
}

func toChildren(kids []storage.HeldAggregate) []*pb.Aggregate {
	out := make([]*pb.Aggregate, 0, len(kids))
	for _, k := range kids {
		out = append(out, toAggregate(k.Aggregate, k.Pending))
	}
	return out
}

func toEntry(e storage.JournalEntry, withBody bool) *pb.JournalEntry {
	out := &pb.JournalEntry{
		Sequence:         e.Seq,
		Provider:         e.Key.Provider,
		Kind:             kindEnum(e.Key.Kind),
		ProviderId:       e.Key.ID,
		Event:            e.Event,
		Verdict:          verdictEnum(e.Verdict),
		Reason:           e.Reason,
		StateBefore:      e.StateBefore,
		StateAfter:       e.StateAfter,
		VersionAfter:     e.VersionAfter,
		DedupeKey:        e.DedupeKey,
		BodySha256:       e.BodySHA256,
		ReceiveTime:      ts(e.ReceivedAt),
		OccurTime:        ts(e.OccurredAt),
		PrevHash:         e.PrevHash,
		Hash:             e.Hash,
		ResolvesSequence: e.ResolvesSeq,
		MachineVersion:   e.MachineVersion,
		RevisesSequence:  e.RevisesSeq,
		SkippedStates:    e.Skipped,
		Actor:            e.Actor,
	}
	if withBody {
		out.RedactedBody = string(e.RedactedBody)
	}
	return out
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// tsIn is ts written into p, which it returns (nil for the zero time).
func tsIn(p *timestamppb.Timestamp, t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	p.Seconds, p.Nanos = t.Unix(), int32(t.Nanosecond())
	return p
}

// ToSignedCheckpoint is c as the API carries it.
func ToSignedCheckpoint(c storage.Checkpoint) *pb.SignedCheckpoint {
	return &pb.SignedCheckpoint{Sequence: c.Head.Seq, Hash: c.Head.Hash, SignTime: timestamppb.New(c.SignedAt),
		KeyId: c.KeyID, PublicKey: c.PublicKey, Signature: c.Signature, TreeRoot: c.TreeRoot}
}

// FromSignedCheckpoint is c as package checkpoint checks it.
func FromSignedCheckpoint(c *pb.SignedCheckpoint) storage.Checkpoint {
	return storage.Checkpoint{Head: storage.ChainHead{Seq: c.GetSequence(), Hash: c.GetHash()},
		SignedAt: c.GetSignTime().AsTime(), KeyID: c.GetKeyId(), PublicKey: c.GetPublicKey(), Signature: c.GetSignature(),
		TreeRoot: c.GetTreeRoot()}
}
