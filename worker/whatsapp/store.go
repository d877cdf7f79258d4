// Package whatsapp is the layer between wacard's worker and whatsmeow: it
// opens whatsmeow's device store, pairs new devices, and runs one Session per
// logged-in device, reporting connection state and receipts as a small closed
// set of Events.
package whatsapp

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/types"
	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" database/sql driver
)

// SQLiteFile is the name of the device store inside the data directory when
// no database URL is configured.
const SQLiteFile = "whatsmeow.db"

// Store is whatsmeow's device store: the keys and sessions of every paired
// device, in SQLite or Postgres.
type Store struct {
	container *sqlstore.Container
	log       *slog.Logger
}

// OpenStore opens the device store and brings its schema up to date. With an
// empty databaseURL it uses the SQLite file SQLiteFile in dataDir (creating
// the directory); otherwise databaseURL is a Postgres URL.
//
// whatsmeow checks for its tables by name in every schema of a Postgres
// database, so give the store a database of its own, or at least one no other
// whatsmeow store shares.
func OpenStore(ctx context.Context, dataDir, databaseURL string, log *slog.Logger) (*Store, error) {
	log = orDiscard(log)
	setDeviceProps()

	var (
		db      *sql.DB
		dialect string
		err     error
	)
	if databaseURL == "" {
		db, err = openSQLite(dataDir)
		dialect = "sqlite3" // the dialect name whatsmeow's sqlstore expects
	} else {
		db, err = sql.Open("pgx", databaseURL)
		dialect = "postgres"
	}
	if err != nil {
		return nil, fmt.Errorf("whatsapp: open device store: %w", err)
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("whatsapp: open device store: %w", err)
	}

	container := sqlstore.NewWithDB(db, dialect, NewLogger(log).Sub("Database"))
	// Several processes (workers, `device login`) may start on one store at
	// once and race to create the schema; the loser fails ("already exists")
	// and, retried, finds the schema current.
	for attempt := 1; ; attempt++ {
		err := container.Upgrade(ctx)
		if err == nil {
			break
		}
		if attempt == 5 || ctx.Err() != nil {
			_ = container.Close()
			return nil, fmt.Errorf("whatsapp: upgrade device store: %w", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(attempt*200) * time.Millisecond):
		}
	}
	return &Store{container: container, log: log}, nil
}

// openSQLite opens dataDir/SQLiteFile with the pragmas whatsmeow needs:
// foreign keys (sqlstore refuses to upgrade without them), WAL so readers do
// not block the writer, a busy timeout instead of immediate SQLITE_BUSY, and
// immediate transactions so two writers queue rather than deadlock.
func openSQLite(dataDir string) (*sql.DB, error) {
	if dataDir == "" {
		return nil, errors.New("data directory is empty")
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	path, err := filepath.Abs(filepath.Join(dataDir, SQLiteFile))
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Set("_txlock", "immediate")
	dsn := url.URL{Scheme: "file", Path: filepath.ToSlash(path), RawQuery: q.Encode()}
	return sql.Open("sqlite", dsn.String())
}

var devicePropsOnce sync.Once

// setDeviceProps names the linked device "wacard" in the phone's list of
// linked devices. whatsmeow keeps these properties in package variables, so
// they are set once, before any client exists, rather than per store.
func setDeviceProps() {
	devicePropsOnce.Do(func() {
		store.SetOSInfo("wacard", [3]uint32{0, 1, 0})
	})
}

// Close closes the database. Close every Session first.
func (s *Store) Close() error {
	return s.container.Close()
}

// Container returns whatsmeow's store itself, for tests that create devices
// in it the way pairing would (internal/fakewa). The worker does not use it.
func (s *Store) Container() *sqlstore.Container { return s.container }

// Devices returns the JIDs of the devices paired in the store.
func (s *Store) Devices(ctx context.Context) ([]types.JID, error) {
	devices, err := s.container.GetAllDevices(ctx)
	if err != nil {
		return nil, fmt.Errorf("whatsapp: list devices: %w", err)
	}
	jids := make([]types.JID, 0, len(devices))
	for _, d := range devices {
		if d.ID != nil {
			jids = append(jids, *d.ID)
		}
	}
	return jids, nil
}
