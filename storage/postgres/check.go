package postgres

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
)

// CheckDSN says whether dsn is a connection string Open can use, without
// connecting. Its error never repeats the string (which may hold a
// password).
func CheckDSN(dsn string) error {
	_, err := pgconn.ParseConfig(dsn)
	if err == nil {
		return nil
	}
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) && pe.Unwrap() != nil {
		return fmt.Errorf("not a PostgreSQL URL paystate can use: %w", pe.Unwrap())
	}
	return errors.New("not a PostgreSQL URL paystate can use: check its host, port and parameters")
}

// CheckSchema says whether name can be given to WithSchema.
func CheckSchema(name string) error {
	if !validText(name) {
		return fmt.Errorf("schema name: %w", ErrInvalidText)
	}
	if len(name) > maxIdentifierLen {
		return fmt.Errorf("schema name %q is longer than %d bytes", name, maxIdentifierLen)
	}
	return nil
}
