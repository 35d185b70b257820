package sqlite

import (
	"fmt"
	"strings"
	"time"

	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"github.com/paystate/paystate/storage"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/redact"
)

// TestWriteBodyDictionary writes the dictionaries into the directory
// PAYSTATE_WRITE_BODY_DICT names: v1.s2dict from the providers'
// documented samples (each redacted, then compacted, in path order), and
// payload-v1.s2dict from the same followed by payloadFields. The files
// are frozen once released (TestBodyDictionaryIsFrozen): this is how they
// were made, and how a v2 would be.
func TestWriteBodyDictionary(t *testing.T) {
	dir := os.Getenv("PAYSTATE_WRITE_BODY_DICT")
	if dir == "" {
		t.Skip("set PAYSTATE_WRITE_BODY_DICT to the directory to write")
	}
	files, err := filepath.Glob("../../providers/*/testdata/*.json")
	require.NoError(t, err)
	sort.Strings(files)
	var content []byte
	for _, f := range files {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		var buf bytes.Buffer
		body := redact.Body(raw)
		if json.Compact(&buf, body) == nil {
			body = buf.Bytes()
		}
		content = append(content, body...)
	}
	write := func(name string, d *s2.Dict) {
		require.NotNil(t, d)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), d.Bytes(), 0o644))
		sum := sha256.Sum256(d.Bytes())
		t.Logf("%s: %d bytes, sha256 %s", name, len(d.Bytes()), hex.EncodeToString(sum[:]))
	}
	require.LessOrEqual(t, len(content)+len(payloadFields), s2.MaxDictSize)
	write("v1.s2dict", s2.MakeDict(content, []byte(`{"`)))
	write("payload-v1.s2dict", s2.MakeDict(append(content, payloadFields...), []byte(`{"name":"`)))
}

// payloadFields are the members of the engine's payload (engine/payload.go)
// in its order, for payload-v1.s2dict.
const payloadFields = `{"name":"","provider_status":"","merchant_reference":"","parent_kind":"","parent_id":"","amount":0,"has_amount":true,"currency":"","occurred_at":"2025-01-01T00:00:00Z","record_only":true,"snapshot":true,"operation":true}`

func TestBodyDictionaryIsFrozen(t *testing.T) {
	for _, d := range []struct {
		file      string
		data      []byte
		sha256hex string
	}{{"v1.s2dict", bodyDictV1, bodyDictV1SHA256}, {"payload-v1.s2dict", payloadDictV1, payloadDictV1SHA256}} {
		sum := sha256.Sum256(d.data)
		require.Equal(t, d.sha256hex, hex.EncodeToString(sum[:]),
			"bodydict/%s changed: values stored with it would no longer decode; add a new one instead", d.file)
	}
}

func TestBodyRoundTrip(t *testing.T) {
	incompressible := make([]byte, 300)
	for i := range incompressible {
		incompressible[i] = byte(i*131 + i*i*7)
	}
	for _, b := range [][]byte{
		[]byte(`{"event":"AUTHORISED","order":{"reference":"REF-1","id":"o-1"}}`),
		{bodyS2, 2, 3},    // starts like a compressed body
		{bodyPlain, 1, 1}, // starts like a plain one
		[]byte("x"),
		incompressible,
	} {
		stored := encodeBody(b)
		require.LessOrEqual(t, len(stored), 1+len(b))
		got, err := decodeBody(layoutV1, stored)
		require.NoError(t, err)
		require.Equal(t, b, got)
	}
	require.Nil(t, encodeBody(nil))
	// A documented sample shape shrinks to well under half.
	body := []byte(`{"event":"CAPTURED","order":{"reference":"REF-bench-00000001","id":"bench-00000001","amount":{"currencyCode":"AED","value":10000}},"transaction":{"id":"txn-bench-00000001-CAPTURED","state":"CAPTURED","date":"2024-12-01T13:22:45Z"},"timestamp":"2024-12-01T13:22:45Z"}`)
	require.Less(t, len(encodeBody(body)), len(body)/2)
	// Layout 1 kept the payload as it is.
	p, err := decodePayload(layoutV1, []byte{bodyS2, 1})
	require.NoError(t, err)
	require.Equal(t, []byte{bodyS2, 1}, p)
	payload := benchPayload
	p, err = decodePayload(layoutV2, encodePayload(payload))
	require.NoError(t, err)
	require.Equal(t, payload, p)
	require.Less(t, len(encodePayload(payload)), len(payload)/2)
	_, err = decodeBody(3, []byte{1})
	require.Error(t, err, "a layout this binary does not know")
	_, err = decodeBody(layoutV1, []byte{9, 1})
	require.Error(t, err, "an encoding this binary does not know")
}

func TestHashValue(t *testing.T) {
	h := strings.Repeat("0123456789abcdef", 4)
	require.Equal(t, []byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}, hashValue(h).([]byte)[:8])
	for _, s := range []string{"", "sha-x", strings.ToUpper(h), h[:63] + "g", h[1:], h + "G"} {
		require.Equal(t, s, hashValue(s), "kept as text")
	}
	for _, s := range []string{h, h + "0", "ngenius:" + h, "p:" + h[:10] + h} {
		v, ok := hashValue(s).([]byte)
		require.True(t, ok, s)
		require.Len(t, v, len(s)-32)
		var back string
		require.NoError(t, hashText{&back}.Scan(v))
		require.Equal(t, s, back)
	}
}

// TestMigrateLayout0 builds a database as the schema before 0007 wrote
// it, entries and receipts included, and opens it with this binary: every
// row is rewritten in the current layout, in batches, reads back as the
// same entry, and the chain verifies as before.
func TestMigrateLayout0(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "paystate.db")
	db := rawDB(t, path, "_journal_mode=WAL")
	ms, err := migrations()
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, createMigrationsTable)
	require.NoError(t, err)
	for _, m := range ms {
		if m.Version >= 7 {
			break
		}
		_, err = db.ExecContext(ctx, m.SQL)
		require.NoError(t, err, m.Name)
		_, err = db.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, 0)`, m.Version, m.Name)
		require.NoError(t, err)
	}
	incompressible := make([]byte, 200)
	for i := range incompressible {
		incompressible[i] = byte(i*131 + i*i*7)
	}
	bodies := [][]byte{
		[]byte(`{"event":"AUTHORISED","order":{"reference":"REF-1","id":"o-1","amount":{"currencyCode":"AED","value":10000}}}`),
		nil,
		{bodyS2, 0x10, 0x20},
		incompressible,
		[]byte(`amount=10&status=paid`),
	}
	var want []storage.JournalEntry
	prev := storage.GenesisHash
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	for i, body := range bodies {
		sum := sha256.Sum256(body)
		e := storage.JournalEntry{
			Seq: int64(i + 1), Key: storage.AggregateKey{Provider: "p", Kind: "payment", ID: fmt.Sprintf("o-%d", i)},
			Event: "AUTHORISED", Verdict: "applied", StateBefore: "new", StateAfter: "authorized", VersionAfter: 1,
			DedupeKey: fmt.Sprintf("p:%d:%x", i, sha256.Sum256([]byte{byte(i)})), BodySHA256: hex.EncodeToString(sum[:]), RedactedBody: body,
			Payload: []byte(`{"name":"AUTHORISED"}`), ReceivedAt: at, OccurredAt: at, Actor: "webhook",
		}
		if i == 4 {
			e.BodySHA256 = "sha-not-hex" // a value only text can hold
			e.DedupeKey = "p:4"
			e.MachineVersion, e.RevisesSeq = "abc", 2
		}
		e.PrevHash = prev
		e.Hash = storage.EntryHash(&e, prev)
		prev = e.Hash
		_, err = db.ExecContext(ctx, `INSERT INTO journal (seq, provider, kind, aggregate_id, event, verdict, reason,
			state_before, state_after, version_after, dedupe_key, body_sha256, redacted_body, payload, received_at,
			occurred_at, resolves_seq, skipped, actor, machine_version, revises_seq, prev_hash, hash)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '[]', ?, ?, ?, ?, ?)`,
			e.Seq, e.Key.Provider, e.Key.Kind, e.Key.ID, e.Event, e.Verdict, e.Reason, e.StateBefore, e.StateAfter,
			e.VersionAfter, e.DedupeKey, e.BodySHA256, nilIfEmpty(e.RedactedBody), e.Payload, e.ReceivedAt.UnixMicro(),
			e.OccurredAt.UnixMicro(), 0, e.Actor, e.MachineVersion, e.RevisesSeq, e.PrevHash, e.Hash)
		require.NoError(t, err)
		_, err = db.ExecContext(ctx, `INSERT INTO receipts (provider, dedupe_key, seq, body_sha256) VALUES (?, ?, ?, ?)`,
			e.Key.Provider, e.DedupeKey, e.Seq, e.BodySHA256)
		require.NoError(t, err)
		e.RedactedBody = nilIfEmpty(e.RedactedBody)
		want = append(want, e)
	}
	_, err = db.ExecContext(ctx, `UPDATE chain_head SET seq = ?, hash = ?`, len(bodies), prev)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	// Two rows a batch: three transactions. After the first, as if the
	// process stopped there, rows of both layouts read and verify; the
	// next Open goes on from where it got.
	defer func(n int64) { rewriteBatchRows = n }(rewriteBatchRows)
	rewriteBatchRows = 2
	w, err := openWriter(path, defaultBusyTimeout)
	require.NoError(t, err)
	_, err = migrate(ctx, w)
	require.NoError(t, err)
	done, err := rewriteBatch(ctx, w)
	require.NoError(t, err)
	require.False(t, done)
	var next, layouts int64
	require.NoError(t, w.QueryRowContext(ctx, `SELECT next_seq FROM layout_rewrite`).Scan(&next))
	require.EqualValues(t, 3, next)
	require.NoError(t, w.QueryRowContext(ctx, `SELECT COUNT(DISTINCT layout) FROM journal`).Scan(&layouts))
	require.EqualValues(t, 2, layouts)
	require.NoError(t, w.Close())
	r, err := openReader(path, 1, defaultBusyTimeout)
	require.NoError(t, err)
	half := &Store{reader: r}
	mixed, err := half.Journal(ctx, nil, 0, 100)
	require.NoError(t, err)
	require.Equal(t, want, mixed)
	rep, err := storage.VerifyChain(ctx, half)
	require.NoError(t, err)
	require.True(t, rep.OK, rep.Problem)
	require.NoError(t, r.Close())

	s, err := Open(ctx, path)
	require.NoError(t, err)
	defer s.Close()
	var left int
	require.NoError(t, s.reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM layout_rewrite`).Scan(&left))
	require.Zero(t, left, "the rewrite finished")
	got, err := s.Journal(ctx, nil, 0, 100)
	require.NoError(t, err)
	require.Equal(t, want, got)
	rep, err = storage.VerifyChain(ctx, s)
	require.NoError(t, err)
	require.True(t, rep.OK, rep.Problem)
	var old int
	require.NoError(t, s.reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM journal WHERE layout <> ? OR typeof(hash) <> 'blob'`, JournalLayout).Scan(&old))
	require.Zero(t, old, "every row rewritten")
	var plain int
	require.NoError(t, s.reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM journal WHERE typeof(body_sha256) = 'text'`).Scan(&plain))
	require.Equal(t, 1, plain, "only the hash that is not hex stays text")
	rs, err := s.Receipts(ctx, storage.ReceiptKey{}, 100)
	require.NoError(t, err)
	require.Len(t, rs, len(want))
	for i, r := range rs {
		require.Equal(t, want[i].BodySHA256, r.BodySHA256)
	}
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		r, err := tx.Receipt(ctx, "p", want[0].DedupeKey)
		require.Equal(t, want[0].BodySHA256, r.BodySHA256)
		return err
	}))
}

// benchBody is shaped like the bench's N-Genius webhooks.
var benchBody = []byte(`{"event":"AUTHORISED","order":{"reference":"REF-bench-00000001","id":"bench-00000001","amount":{"currencyCode":"AED","value":10000}},"transaction":{"id":"txn-bench-00000001-AUTHORISED","state":"AUTHORISED","date":"2024-12-01T13:22:45Z"},"timestamp":"2024-12-01T13:22:45Z"}`)

// benchPayload is the engine's payload for benchBody.
var benchPayload = []byte(`{"name":"AUTHORISED","provider_status":"AUTHORISED","merchant_reference":"REF-bench-00000001","amount":10000,"has_amount":true,"currency":"AED","occurred_at":"2024-12-01T13:22:45Z"}`)

// BenchmarkLayout is what layout 2 adds to an append (encode: the body,
// the payload, three hashes and the dedupe key) and to reading an entry
// back (decode).
func BenchmarkLayout(b *testing.B) {
	h := strings.Repeat("5d41402abc4b2a76", 4)
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		var n int
		for b.Loop() {
			n += len(encodeBody(benchBody)) + len(encodePayload(benchPayload))
			_, _, _, _ = hashValue(h), hashValue(h), hashValue(h), hashValue("ngenius:"+h)
		}
		b.ReportMetric(float64(len(encodeBody(benchBody))+len(encodePayload(benchPayload))), "stored-bytes")
	})
	stored, storedPayload := encodeBody(benchBody), encodePayload(benchPayload)
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeBody(layoutV2, stored); err != nil {
				b.Fatal(err)
			}
			if _, err := decodePayload(layoutV2, storedPayload); err != nil {
				b.Fatal(err)
			}
			var s string
			_ = hashText{&s}.Scan([]byte(h[:32]))
		}
	})
}

// A body and payload encoded before the transaction (storage.Encoder) are
// written as given when they encode exactly the entry's fields in this
// store's format, and ignored otherwise: the store then encodes the field
// itself. What reads back, and so the chain, is the same either way.
func TestAppendUsesItsOwnEncodingOnly(t *testing.T) {
	t.Parallel()
	s, _ := openTestStore(t)
	ctx := t.Context()
	body := []byte(`{"eventName":"CAPTURED","order":{"reference":"abc123xyz","amount":{"currencyCode":"AED","value":10000}}}`)
	payload := []byte(`{"name":"CAPTURED","amount":10000,"has_amount":true,"currency":"AED"}`)
	// Stored plain where the store would compress: a value the store
	// would not have made itself, so the test sees which one was written.
	plain := func(b []byte) []byte { return append([]byte{bodyPlain}, b...) }
	require.NotEqual(t, plain(body), encodeBody(body))
	require.NotEqual(t, plain(payload), encodePayload(payload))
	own := func(format string, of []byte) *storage.Encoded {
		return &storage.Encoded{Format: format, Of: of, Stored: plain(of)}
	}
	for _, c := range []struct {
		name                        string
		encBody, encPayload         *storage.Encoded
		wantBodyCol, wantPayloadCol []byte
	}{
		{"none", nil, nil, encodeBody(body), encodePayload(payload)},
		{"from the store's encoder", s.EncodeBody(body), s.EncodePayload(payload), encodeBody(body), encodePayload(payload)},
		{"own format, exactly the fields", own(bodyFormat, body), own(payloadFormat, payload), plain(body), plain(payload)},
		{"another format", own("other", body), own(bodyFormat, payload), encodeBody(body), encodePayload(payload)},
		{"of other values", own(bodyFormat, payload), own(payloadFormat, body), encodeBody(body), encodePayload(payload)},
		{"of a value since changed", own(bodyFormat, body[:10]), own(payloadFormat, nil), encodeBody(body), encodePayload(payload)},
	} {
		e := storage.JournalEntry{Key: storage.AggregateKey{Provider: "p"}, Event: c.name, RedactedBody: body, Payload: payload,
			EncodedBody: c.encBody, EncodedPayload: c.encPayload}
		require.NoError(t, s.Update(ctx, func(tx storage.Tx) error { return tx.Append(ctx, &e) }), c.name)
		var bodyCol, payloadCol []byte
		require.NoError(t, s.writer.QueryRowContext(ctx, `SELECT redacted_body, payload FROM journal WHERE seq = ?`, e.Seq).
			Scan(&bodyCol, &payloadCol))
		require.Equal(t, c.wantBodyCol, bodyCol, c.name)
		require.Equal(t, c.wantPayloadCol, payloadCol, c.name)
		got, err := s.Journal(ctx, nil, e.Seq-1, 1)
		require.NoError(t, err)
		require.Equal(t, body, got[0].RedactedBody, c.name)
		require.Equal(t, payload, got[0].Payload, c.name)
		require.Nil(t, got[0].EncodedBody)
	}
	rep, err := storage.VerifyChain(ctx, s)
	require.NoError(t, err)
	require.True(t, rep.OK, rep.Problem)
}
