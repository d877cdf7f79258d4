package whatsapp

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/proto/waAdv"
	"go.mau.fi/whatsmeow/types"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const defaultTestDatabaseURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// testPostgresURL creates a database of its own for the calling test and
// returns its URL. whatsmeow looks its tables up across all schemas, so a
// schema per test would not isolate parallel tests; a database does. The
// server is required: without it the test fails, it does not skip.
func testPostgresURL(t *testing.T) string {
	t.Helper()
	base := os.Getenv("WACARD_TEST_DATABASE_URL")
	if base == "" {
		base = defaultTestDatabaseURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open Postgres %s: %v", base, err)
	}
	if err := admin.PingContext(ctx); err != nil {
		_ = admin.Close()
		t.Fatalf("Postgres is required for this test: set WACARD_TEST_DATABASE_URL (tried %s): %v", base, err)
	}

	var suffix [6]byte
	_, _ = rand.Read(suffix[:])
	name := "wacard_whatsapp_test_" + hex.EncodeToString(suffix[:])
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		_ = admin.Close()
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
		_ = admin.Close()
	})

	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse WACARD_TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// backend opens a fresh device store for one test.
type backend struct {
	name string
	open func(t *testing.T) *Store
}

var backends = []backend{
	{"sqlite", func(t *testing.T) *Store {
		return openTestStore(t, filepath.Join(t.TempDir(), "data"), "")
	}},
	{"postgres", func(t *testing.T) *Store {
		return openTestStore(t, "", testPostgresURL(t))
	}},
}

func openTestStore(t *testing.T, dataDir, databaseURL string) *Store {
	t.Helper()
	s, err := OpenStore(context.Background(), dataDir, databaseURL, nil)
	if err != nil {
		t.Fatalf("OpenStore: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// forEachBackend runs fn as a parallel subtest against each store backend.
func forEachBackend(t *testing.T, fn func(t *testing.T, s *Store)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, b.open(t))
		})
	}
}

// putTestDevice stores a device with made-up keys, as pairing would.
func putTestDevice(t *testing.T, s *Store, jid types.JID) {
	t.Helper()
	d := s.container.NewDevice()
	d.ID = &jid
	d.Account = &waAdv.ADVSignedDeviceIdentity{
		Details:             []byte{1},
		AccountSignatureKey: make([]byte, 32),
		AccountSignature:    make([]byte, 64),
		DeviceSignature:     make([]byte, 64),
	}
	if err := s.container.PutDevice(context.Background(), d); err != nil {
		t.Fatalf("PutDevice: %v", err)
	}
}

func TestOpenStoreEmpty(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *Store) {
		devices, err := s.Devices(context.Background())
		if err != nil {
			t.Fatalf("Devices: %v", err)
		}
		if len(devices) != 0 {
			t.Errorf("Devices = %v, want none", devices)
		}
	})
}

func TestOpenStoreSQLiteFile(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "nested", "data")
	ctx := context.Background()

	s, err := OpenStore(ctx, dataDir, "", nil)
	if err != nil {
		t.Fatalf("OpenStore: %v", err)
	}
	jid := types.NewADJID("15550001111", 0, 3)
	putTestDevice(t, s, jid)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	path := filepath.Join(dataDir, SQLiteFile)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("store file: %v", err)
	}

	// Reopening runs the upgrade again on an up-to-date schema and keeps data.
	s = openTestStore(t, dataDir, "")
	devices, err := s.Devices(ctx)
	if err != nil {
		t.Fatalf("Devices: %v", err)
	}
	if len(devices) != 1 || devices[0] != jid {
		t.Errorf("Devices = %v, want [%v]", devices, jid)
	}

	// The pragmas whatsmeow depends on are in effect on the store's connections.
	db, err := openSQLite(dataDir)
	if err != nil {
		t.Fatalf("openSQLite: %v", err)
	}
	defer db.Close()
	var fk int
	var journal string
	if err := db.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
		t.Fatalf("PRAGMA foreign_keys: %v", err)
	}
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&journal); err != nil {
		t.Fatalf("PRAGMA journal_mode: %v", err)
	}
	if fk != 1 || journal != "wal" {
		t.Errorf("foreign_keys=%d journal_mode=%q, want 1 and wal", fk, journal)
	}
}

func TestOpenStorePostgresReopen(t *testing.T) {
	t.Parallel()
	dbURL := testPostgresURL(t)
	ctx := context.Background()

	s, err := OpenStore(ctx, "", dbURL, nil)
	if err != nil {
		t.Fatalf("OpenStore: %v", err)
	}
	jid := types.NewADJID("15550002222", 0, 4)
	putTestDevice(t, s, jid)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = openTestStore(t, "", dbURL)
	devices, err := s.Devices(ctx)
	if err != nil {
		t.Fatalf("Devices: %v", err)
	}
	if len(devices) != 1 || devices[0] != jid {
		t.Errorf("Devices = %v, want [%v]", devices, jid)
	}
}

func TestOpenStoreErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if _, err := OpenStore(ctx, "", "", nil); err == nil {
		t.Error("OpenStore with neither data dir nor URL: want error")
	}
	// A file where the data directory should be.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenStore(ctx, file, "", nil); err == nil {
		t.Error("OpenStore with a file as data dir: want error")
	}
	if _, err := OpenStore(ctx, "", "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2", nil); err == nil {
		t.Error("OpenStore with an unreachable Postgres: want error")
	}
}
