package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// notifyChannel is the channel a commit that appends to the journal of
// schema announces itself on (NOTIFY is delivered when, and only if, the
// transaction commits). Schemas in one database have channels of their
// own.
func notifyChannel(schema string) string {
	return fmt.Sprintf("paystate_journal_%08x", uint32(migrateLockKey(schema)))
}

// Listen calls fn whenever any process commits journal entries to the
// store's schema, until ctx ends: replicas on one database learn of each
// other's commits within a round trip instead of at their next poll. It
// holds a connection of its own; when that connection is lost it
// reconnects (waiting up to 30 s between tries) and calls fn once on every
// (re)connection, since commits may have gone unannounced in between.
// Notifications are wake-ups, not data: a caller reads the journal from
// its own cursor, and keeps polling to close any gap. Only WithSchema
// among the options matters to it. It returns ctx's error.
func Listen(ctx context.Context, dsn string, fn func(), opts ...Option) error {
	cfg := newConfig(opts)
	pc, err := poolConfig(dsn, cfg, false)
	if err != nil {
		return err
	}
	listen := "LISTEN " + pgx.Identifier{notifyChannel(cfg.schema)}.Sanitize()
	wait := 100 * time.Millisecond
	for {
		conn, err := pgx.ConnectConfig(ctx, pc.ConnConfig)
		if err == nil {
			if _, err = conn.Exec(ctx, listen); err == nil {
				wait = 100 * time.Millisecond
				fn()
				for err == nil {
					if _, err = conn.WaitForNotification(ctx); err == nil {
						fn()
					}
				}
			}
			conn.Close(context.WithoutCancel(ctx))
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 30*time.Second)
	}
}
