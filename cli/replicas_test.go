package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"da/cluster"
	"da/config"
	"da/store"
	"da/store/pgtest"
)

// With PostgreSQL state JWT_SECRET_KEY must be explicit; with DuckDB it may be generated.
func TestReplicaSecretsMustBeExplicit(t *testing.T) {
	if err := checkReplicaSecrets(&config.Config{DatabaseURL: "postgres://h/db"}); err == nil ||
		!strings.Contains(err.Error(), "JWT_SECRET_KEY must be set when DA_DATABASE_URL is set") {
		t.Fatalf("err = %v", err)
	}
	if err := checkReplicaSecrets(&config.Config{DatabaseURL: "postgres://h/db", JWTSecret: "s"}); err != nil {
		t.Fatal(err)
	}
	if err := checkReplicaSecrets(&config.Config{}); err != nil {
		t.Fatal(err)
	}
}

// A replica of another version refuses to migrate the schema under a live replica; it
// starts when nothing would change, when versions agree, or when the other one is gone.
func TestReplicaOfAnotherVersionRefusesToMigrate(t *testing.T) {
	url := pgtest.URL(t)
	ctx := context.Background()
	coord, err := cluster.NewPostgres(ctx, url, "new-one", cluster.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer coord.Close()
	// A fresh database: nothing to protect.
	if err := checkReplicaVersions(ctx, coord, "2.0"); err != nil {
		t.Fatalf("fresh database: %v", err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := coord.Pool().Exec(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec(`CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMP)`)
	exec(`INSERT INTO schema_version (version) VALUES (8)`)
	// Before version 9 there is no replicas table, so no replica to protect.
	if err := checkReplicaVersions(ctx, coord, "2.0"); err != nil {
		t.Fatalf("schema 8 without replicas: %v", err)
	}
	exec(`CREATE TABLE replicas (id VARCHAR PRIMARY KEY, version VARCHAR NOT NULL, started_at TIMESTAMP NOT NULL,
		heartbeat_at TIMESTAMP NOT NULL, generation BIGINT, is_leader BOOLEAN NOT NULL DEFAULT false, addr VARCHAR)`)
	now := time.Now().UTC()
	exec(`INSERT INTO replicas (id, version, started_at, heartbeat_at) VALUES ('old-one', '1.0', $1, $1)`, now)
	err = checkReplicaVersions(ctx, coord, "2.0")
	if err == nil || !strings.Contains(err.Error(), "replica old-one runs da 1.0") || !strings.Contains(err.Error(), "from version 8 to") {
		t.Fatalf("err = %v", err)
	}
	if err := checkReplicaVersions(ctx, coord, "1.0"); err != nil {
		t.Fatalf("same version: %v", err)
	}
	exec(`UPDATE replicas SET heartbeat_at = $1`, now.Add(-time.Minute))
	if err := checkReplicaVersions(ctx, coord, "2.0"); err != nil {
		t.Fatalf("the old replica is gone: %v", err)
	}
	exec(`UPDATE replicas SET heartbeat_at = $1`, now)
	exec(`INSERT INTO schema_version (version) VALUES ($1)`, store.LatestVersion)
	if err := checkReplicaVersions(ctx, coord, "2.0"); err != nil {
		t.Fatalf("nothing to migrate: %v", err)
	}
}
