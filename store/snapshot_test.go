package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
)

// A snapshot taken while users are being created holds the users committed before it,
// opens as a store of the same schema version, and has no WAL.
func TestSnapshotToWhileWriting(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if err := s.CreateUser(ctx, &User{Email: fmt.Sprintf("u%d@example.com", i), Role: "viewer", Active: true}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 100; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_ = s.CreateUser(ctx, &User{Email: fmt.Sprintf("w%d@example.com", i), Role: "viewer", Active: true})
		}
	}()
	dst := filepath.Join(t.TempDir(), "snap.duckdb")
	err := s.SnapshotTo(ctx, dst)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dst + ".wal"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the snapshot has a WAL: %v", err)
	}
	if v, err := FileSchemaVersion(ctx, dst); err != nil || v != LatestVersion {
		t.Fatalf("snapshot schema version = %d, %v", v, err)
	}
	snap, err := Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	users, err := snap.ListUsers(ctx)
	if err != nil || len(users) < 5 {
		t.Fatalf("snapshot users = %d, %v", len(users), err)
	}
	if err := s.SnapshotTo(ctx, dst); err == nil {
		t.Error("a snapshot over an existing file was accepted")
	}
}

// TestSnapshotOfPostgresState checks that a snapshot of a PostgreSQL state is a DuckDB
// system database whose store answers exactly as the PostgreSQL store does, and that
// migrate-state's copy takes it back to an empty PostgreSQL database with the same answers.
func TestSnapshotOfPostgresState(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := newPgTestStore(t)
	populateState(t, src)
	want := stateAnswers(t, src)

	path := filepath.Join(t.TempDir(), "system.duckdb")
	if err := src.SnapshotTo(ctx, path); err != nil {
		t.Fatal(err)
	}
	if hasWAL(path) {
		t.Fatal("the snapshot has a WAL")
	}
	snap, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = snap.Close() })
	got := stateAnswers(t, snap)
	for name, w := range want {
		if !reflect.DeepEqual(got[name], w) {
			t.Errorf("%s differs in the snapshot:\npostgres %#v\nduckdb   %#v", name, w, got[name])
		}
	}

	back := newPgTestStore(t)
	if _, err := CopyState(ctx, snap, back); err != nil {
		t.Fatal(err)
	}
	again := stateAnswers(t, back)
	for name, w := range want {
		if !reflect.DeepEqual(again[name], w) {
			t.Errorf("%s differs after the snapshot went back to PostgreSQL", name)
		}
	}
	if err := src.SnapshotTo(ctx, path); err == nil {
		t.Fatal("a snapshot over an existing file was written")
	}
}
