package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/scs/postgresstore"
	"github.com/google/uuid"
)

func mustCreateUser(t *testing.T, s *Store, u *User) *User {
	t.Helper()
	if err := s.CreateUser(context.Background(), u); err != nil {
		t.Fatalf("CreateUser(%s): %v", u.Email, err)
	}
	return u
}

func TestCreateUserDefaults(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		t.Parallel()
		ctx := context.Background()
		s := open(t)
		before := time.Now().UTC()
		u := mustCreateUser(t, s, &User{Email: "  Alice@Example.COM "})

		id, err := uuid.Parse(u.ID)
		if err != nil || id.Version() != 4 || len(u.ID) != 36 {
			t.Errorf("generated id %q is not a canonical UUIDv4 (%v)", u.ID, err)
		}
		if u.Email != "alice@example.com" || u.Role != DefaultRole || !u.Active {
			t.Errorf("created user = %+v", u)
		}
		if u.CreatedAt.Location() != time.UTC || u.CreatedAt.Before(before.Truncate(time.Microsecond)) || !u.UpdatedAt.Equal(u.CreatedAt) {
			t.Errorf("CreatedAt = %v, UpdatedAt = %v", u.CreatedAt, u.UpdatedAt)
		}
		got, err := s.GetUserByID(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, u) {
			t.Errorf("read back\n %+v\nwant\n %+v", got, u)
		}
		// Empty optional fields are NULL in the database, as the original wrote them.
		var nulls int
		err = s.DB.QueryRow(`SELECT count(*) FROM users WHERE id = ? AND name IS NULL AND password_hash IS NULL
		AND setup_token IS NULL AND setup_token_created IS NULL AND reset_token IS NULL`, u.ID).Scan(&nulls)
		if err != nil || nulls != 1 {
			t.Errorf("optional columns not NULL: %d, %v", nulls, err)
		}
	})
}

func TestCreateUserRoundTripsAllFields(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		t.Parallel()
		ctx := context.Background()
		s := open(t)
		berlin := time.FixedZone("CET", 3600)
		setup := time.Date(2026, 3, 4, 5, 6, 7, 123456789, berlin)
		reset := time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)
		u := mustCreateUser(t, s, &User{
			ID: "fixed-id", Email: "b@example.com", Name: "Bob", Role: "viewer",
			PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$x$y", SetupToken: "st", SetupTokenCreated: &setup,
			ResetToken: "rt", ResetTokenCreated: &reset, Active: false,
		})
		got, err := s.GetUserByID(ctx, "fixed-id")
		if err != nil {
			t.Fatal(err)
		}
		wantSetup := setup.UTC().Truncate(time.Microsecond)
		if got.Name != "Bob" || got.Role != "viewer" || got.PasswordHash != u.PasswordHash ||
			got.SetupToken != "st" || got.ResetToken != "rt" || !got.Active ||
			got.SetupTokenCreated == nil || !got.SetupTokenCreated.Equal(wantSetup) ||
			got.SetupTokenCreated.Location() != time.UTC ||
			got.ResetTokenCreated == nil || !got.ResetTokenCreated.Equal(reset) {
			t.Errorf("read back %+v (setup %v)", got, got.SetupTokenCreated)
		}
		// Stored naive UTC: 05:06:07 CET is 04:06:07.
		var stored string
		if err := s.DB.QueryRow("SELECT setup_token_created::VARCHAR FROM users WHERE id = 'fixed-id'").Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if stored != "2026-03-04 04:06:07.123456" {
			t.Errorf("stored setup_token_created = %q", stored)
		}
	})
}

func TestCreateUserErrors(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		t.Parallel()
		ctx := context.Background()
		s := open(t)
		mustCreateUser(t, s, &User{ID: "u1", Email: "taken@example.com"})
		tests := []struct {
			name     string
			user     User
			conflict bool
		}{
			{"same email", User{Email: "taken@example.com"}, true},
			{"email differs in case and spaces", User{Email: " TAKEN@example.com"}, true},
			{"same id", User{ID: "u1", Email: "other@example.com"}, true},
			{"empty email", User{Email: "  "}, false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				u := tt.user
				err := s.CreateUser(ctx, &u)
				if err == nil {
					t.Fatal("CreateUser succeeded")
				}
				if errors.Is(err, ErrConflict) != tt.conflict {
					t.Errorf("err = %v, ErrConflict wanted: %v", err, tt.conflict)
				}
			})
		}
		if n, err := s.CountUsers(ctx); err != nil || n != 1 {
			t.Errorf("CountUsers = %d, %v; want 1", n, err)
		}
	})
}

func TestGetUser(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		t.Parallel()
		ctx := context.Background()
		s := open(t)
		alice := mustCreateUser(t, s, &User{Email: "alice@example.com"})
		tests := []struct {
			name    string
			get     func() (*User, error)
			wantID  string
			wantErr error
		}{
			{"by id", func() (*User, error) { return s.GetUserByID(ctx, alice.ID) }, alice.ID, nil},
			{"by id missing", func() (*User, error) { return s.GetUserByID(ctx, "nope") }, "", ErrNotFound},
			{"by email", func() (*User, error) { return s.GetUserByEmail(ctx, "alice@example.com") }, alice.ID, nil},
			{"by email upper case", func() (*User, error) { return s.GetUserByEmail(ctx, "ALICE@Example.Com") }, alice.ID, nil},
			{"by email with spaces", func() (*User, error) { return s.GetUserByEmail(ctx, "  alice@example.com\t") }, alice.ID, nil},
			{"by email missing", func() (*User, error) { return s.GetUserByEmail(ctx, "bob@example.com") }, "", ErrNotFound},
			{"by email prefix is not a match", func() (*User, error) { return s.GetUserByEmail(ctx, "alice@example") }, "", ErrNotFound},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				u, err := tt.get()
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if err == nil && u.ID != tt.wantID {
					t.Errorf("got user %s, want %s", u.ID, tt.wantID)
				}
				if err != nil && u != nil {
					t.Errorf("got a user with an error")
				}
			})
		}
	})
}

func TestListAndCountUsers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		t.Parallel()
		ctx := context.Background()
		s := open(t)
		users, err := s.ListUsers(ctx)
		if err != nil || len(users) != 0 {
			t.Fatalf("empty ListUsers = %v, %v", users, err)
		}
		for _, e := range []string{"carol@example.com", "Alice@example.com", "bob@example.com"} {
			mustCreateUser(t, s, &User{Email: e})
		}
		users, err = s.ListUsers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var emails []string
		for _, u := range users {
			emails = append(emails, u.Email)
		}
		if want := []string{"alice@example.com", "bob@example.com", "carol@example.com"}; !slices.Equal(emails, want) {
			t.Errorf("ListUsers emails = %v, want %v", emails, want)
		}
		if n, err := s.CountUsers(ctx); err != nil || n != 3 {
			t.Errorf("CountUsers = %d, %v", n, err)
		}
	})
}

func TestUpdateUser(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		t.Parallel()
		ctx := context.Background()
		s := open(t)
		mustCreateUser(t, s, &User{Email: "other@example.com"})
		u := mustCreateUser(t, s, &User{Email: "a@example.com", Name: "A", SetupToken: "tok"})
		created := u.CreatedAt

		// The same columns twice in a row, each time with new values: DuckDB
		// rewrites rows with a changed UNIQUE column as delete + insert.
		for i, change := range []struct{ email, role, hash string }{
			{"b@example.com", "admin", "h1"},
			{"C@Example.com", "viewer", "h2"},
			{"c@example.com", "viewer", "h2"}, // no change at all
			{"a@example.com", "km_admin", "h3"},
		} {
			prev := u.UpdatedAt
			u.Email, u.Role, u.PasswordHash = change.email, change.role, change.hash
			if err := s.UpdateUser(ctx, u); err != nil {
				t.Fatalf("update %d: %v", i, err)
			}
			got, err := s.GetUserByID(ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Email != NormalizeEmail(change.email) || got.Role != change.role || got.PasswordHash != change.hash ||
				got.Name != "A" || got.SetupToken != "tok" || !got.CreatedAt.Equal(created) || got.UpdatedAt.Before(prev) {
				t.Errorf("after update %d: %+v", i, got)
			}
			if !reflect.DeepEqual(got, u) {
				t.Errorf("after update %d the struct and the row differ:\n %+v\n %+v", i, u, got)
			}
		}

		// Deactivate, clear the setup token, set a reset token.
		now := time.Now()
		u.Active, u.SetupToken, u.ResetToken, u.ResetTokenCreated = false, "", "rt", &now
		if err := s.UpdateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		got, _ := s.GetUserByID(ctx, u.ID)
		if got.Active || got.SetupToken != "" || got.ResetToken != "rt" || got.ResetTokenCreated == nil {
			t.Errorf("after deactivation: %+v", got)
		}

		tests := []struct {
			name    string
			user    User
			wantErr error
		}{
			{"missing id", User{ID: "nope", Email: "n@example.com"}, ErrNotFound},
			{"taken email", User{ID: u.ID, Email: "other@example.com"}, ErrConflict},
			{"taken email other case", User{ID: u.ID, Email: "OTHER@example.com "}, ErrConflict},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				v := tt.user
				if err := s.UpdateUser(ctx, &v); !errors.Is(err, tt.wantErr) {
					t.Errorf("err = %v, want %v", err, tt.wantErr)
				}
			})
		}
		if err := s.UpdateUser(ctx, &User{ID: u.ID, Email: ""}); err == nil {
			t.Error("update to an empty email succeeded")
		}
		if got, _ := s.GetUserByID(ctx, u.ID); got.Email != "a@example.com" {
			t.Errorf("failed updates changed the user: %+v", got)
		}
	})
}

func TestDeleteUser(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		t.Parallel()
		ctx := context.Background()
		s := open(t)
		u := mustCreateUser(t, s, &User{Email: "a@example.com"})
		keep := mustCreateUser(t, s, &User{Email: "b@example.com"})
		if err := s.DeleteUser(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetUserByID(ctx, u.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("get after delete: %v", err)
		}
		if err := s.DeleteUser(ctx, u.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("second delete: %v", err)
		}
		if _, err := s.GetUserByID(ctx, keep.ID); err != nil {
			t.Errorf("other user gone: %v", err)
		}
		// The email is free again.
		mustCreateUser(t, s, &User{Email: "a@example.com"})
	})
}

func TestUsersConcurrent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		t.Parallel()
		ctx := context.Background()
		s := open(t)
		shared := mustCreateUser(t, s, &User{Email: "shared@example.com"})
		const workers, perWorker = 8, 5

		var wg sync.WaitGroup
		errs := make(chan error, workers*perWorker*8)
		for w := range workers {
			wg.Go(func() {
				for i := range perWorker {
					u := &User{Email: fmt.Sprintf("w%d-u%d@example.com", w, i), Role: "analyst"}
					if err := s.CreateUser(ctx, u); err != nil {
						errs <- fmt.Errorf("create: %w", err)
						continue
					}
					if got, err := s.GetUserByID(ctx, u.ID); err != nil || got.Email != u.Email {
						errs <- fmt.Errorf("get by id: %v %v", got, err)
					}
					if got, err := s.GetUserByEmail(ctx, u.Email); err != nil || got.ID != u.ID {
						errs <- fmt.Errorf("get by email: %v %v", got, err)
					}
					for round := range 2 {
						u.Email = fmt.Sprintf("w%d-u%d-r%d@example.com", w, i, round)
						u.Role, u.PasswordHash = "admin", fmt.Sprint("hash", round)
						if err := s.UpdateUser(ctx, u); err != nil {
							errs <- fmt.Errorf("update own: %w", err)
						}
					}
					// Everybody writes the same row: DuckDB reports write-write
					// conflicts, which writeTx retries.
					su := *shared
					su.Name, su.PasswordHash = fmt.Sprint("w", w), fmt.Sprint("h", w, i)
					if err := s.UpdateUser(ctx, &su); err != nil {
						errs <- fmt.Errorf("update shared: %w", err)
					}
					if _, err := s.CountUsers(ctx); err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if n, err := s.CountUsers(ctx); err != nil || n != workers*perWorker+1 {
			t.Errorf("CountUsers = %d, %v; want %d", n, err, workers*perWorker+1)
		}
		users, err := s.ListUsers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range users {
			if u.ID != shared.ID && (u.Role != "admin" || u.PasswordHash != "hash1") {
				t.Errorf("user %s missed an update: %+v", u.Email, u)
			}
		}
	})
}

func TestSessionsTableWorksWithSCSPostgresStore(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		t.Parallel()
		s := open(t)
		ps := postgresstore.NewWithCleanupInterval(s.DB, 0)

		if err := ps.Commit("tok", []byte("one"), time.Now().Add(time.Hour)); err != nil {
			t.Fatalf("Commit: %v", err)
		}
		// Upsert: same token, new data and expiry (an indexed column).
		if err := ps.Commit("tok", []byte("two"), time.Now().Add(2*time.Hour)); err != nil {
			t.Fatalf("second Commit: %v", err)
		}
		if err := ps.Commit("old", []byte("gone"), time.Now().Add(-time.Minute)); err != nil {
			t.Fatalf("Commit expired: %v", err)
		}
		b, found, err := ps.Find("tok")
		if err != nil || !found || string(b) != "two" {
			t.Errorf("Find = %q, %v, %v", b, found, err)
		}
		if _, found, err := ps.Find("old"); err != nil || found {
			t.Errorf("expired session found: %v, %v", found, err)
		}
		all, err := ps.All()
		if err != nil || len(all) != 1 || string(all["tok"]) != "two" {
			t.Errorf("All = %v, %v", all, err)
		}
		if err := ps.Delete("tok"); err != nil {
			t.Fatal(err)
		}
		if _, found, _ := ps.Find("tok"); found {
			t.Error("deleted session found")
		}

		// The cleanup goroutine deletes expired rows.
		cleaner := postgresstore.NewWithCleanupInterval(s.DB, 10*time.Millisecond)
		defer cleaner.StopCleanup()
		deadline := time.Now().Add(5 * time.Second)
		for {
			var n int
			if err := s.DB.QueryRow("SELECT count(*) FROM sessions").Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d expired sessions left after cleanup", n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func TestUpdateUserRetriesConflictWithOutsideWriter(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		t.Parallel()
		ctx := context.Background()
		s := open(t)
		u := mustCreateUser(t, s, &User{Email: "a@example.com"})

		// A writer that bypasses writeTx holds an uncommitted update of the row,
		// so UpdateUser's first attempts fail with "Conflict on tuple deletion!".
		tx, err := s.DB.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE users SET name = 'outside' WHERE id = ?", u.ID); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			v := *u
			v.Name = "store"
			done <- s.UpdateUser(ctx, &v)
		}()
		time.Sleep(30 * time.Millisecond)
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("UpdateUser was not retried past the conflict: %v", err)
		}
		if got, _ := s.GetUserByID(ctx, u.ID); got.Name != "store" {
			t.Errorf("name = %q, want the retried update", got.Name)
		}
	})
}

func BenchmarkCreateUser(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "system.duckdb"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		if err := s.CreateUser(ctx, &User{Email: fmt.Sprintf("u%d@example.com", i)}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGetUserByEmail(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "system.duckdb"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for i := range 1000 {
		if err := s.CreateUser(ctx, &User{Email: fmt.Sprintf("u%d@example.com", i)}); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; b.Loop(); i++ {
		if _, err := s.GetUserByEmail(ctx, fmt.Sprintf("U%d@example.com", i%1000)); err != nil {
			b.Fatal(err)
		}
	}
}
