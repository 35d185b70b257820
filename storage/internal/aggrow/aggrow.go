// Package aggrow is the SQL of an aggregates row that both backends write
// alike: its columns and the upsert that replaces a stored row whole.
package aggrow

// Columns of the aggregates table, in each backend's scan order.
const Columns = `provider, kind, id, merchant_reference,
	parent_provider, parent_kind, parent_id, state, provider_status, currency,
	amount, authorized, captured, refunded, amounts_unknown, amount_known, captured_rest, refunded_rest,
	version, created_at, updated_at`

// Upsert follows the VALUES of an INSERT of Columns: a row already stored
// under the key is replaced by the new one, every column but the key.
const Upsert = `
	ON CONFLICT (provider, kind, id) DO UPDATE SET
		merchant_reference = excluded.merchant_reference,
		parent_provider = excluded.parent_provider,
		parent_kind = excluded.parent_kind,
		parent_id = excluded.parent_id,
		state = excluded.state,
		provider_status = excluded.provider_status,
		currency = excluded.currency,
		amount = excluded.amount,
		authorized = excluded.authorized,
		captured = excluded.captured,
		refunded = excluded.refunded,
		amounts_unknown = excluded.amounts_unknown,
		amount_known = excluded.amount_known,
		captured_rest = excluded.captured_rest,
		refunded_rest = excluded.refunded_rest,
		version = excluded.version,
		created_at = excluded.created_at,
		updated_at = excluded.updated_at`
