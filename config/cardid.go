package config

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/paystate/paystate/internal/keyfile"
)

// CardIDKeyFile is where a key for identifiers that hold a card number is
// generated inside the data dir when card_id_key_file is not set.
const CardIDKeyFile = "card-id.key"

// minCardIDKey is the shortest key accepted: 32 bytes, the size of the
// HMAC-SHA256 output.
const minCardIDKey = 32

// CardIDKey returns the key that masks identifiers holding a card number
// (redact.IDKey): the contents of card_id_key_file, or of
// DataDir/card-id.key, generated (64 hex digits, mode 0600) on first use.
// Every process on one database must use the same key, or the same
// identifier would name different aggregates on different replicas: on
// PostgreSQL, outside development mode, card_id_key_file is required.
func (c Config) CardIDKey() ([]byte, error) {
	path := c.CardIDKeyFile
	if path == "" {
		if c.Store != "" && !c.Dev {
			return nil, errors.New("config: card_id_key_file must be set on PostgreSQL: every replica needs the same key for identifiers that hold a card number (see README, Card data)")
		}
		path = filepath.Join(c.DataDir, CardIDKeyFile)
		if err := createKeyFile(path); err != nil {
			return nil, err
		}
	}
	return readCardIDKey(path)
}

// CheckCardIDKey is CardIDKey without its side effect: it reads the key
// file serve would use, and finds no fault with a generated one that does
// not exist yet (serve creates it).
func (c Config) CheckCardIDKey() error {
	path := c.CardIDKeyFile
	if path == "" {
		if c.Store != "" && !c.Dev {
			_, err := c.CardIDKey()
			return err
		}
		path = filepath.Join(c.DataDir, CardIDKeyFile)
		if _, err := os.Stat(path); err != nil {
			// Serve generates it; a data_dir it cannot be made in is a
			// problem of data_dir's.
			return nil
		}
	}
	_, err := readCardIDKey(path)
	return err
}

func readCardIDKey(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: card_id_key_file: %w", err)
	}
	key := []byte(strings.TrimSpace(string(raw)))
	if len(key) < minCardIDKey {
		return nil, fmt.Errorf("config: card_id_key_file %s holds %d bytes; want at least %d random bytes (for example 64 hex digits)", path, len(key), minCardIDKey)
	}
	return key, nil
}

// createKeyFile writes 32 random bytes, hex, to path unless it exists.
func createKeyFile(path string) error {
	err := keyfile.CreateOnce(path, func() ([]byte, error) {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		return []byte(hex.EncodeToString(b) + "\n"), nil
	})
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}
