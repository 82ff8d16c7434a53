package store

import (
	"context"
	"testing"
)

// BenchmarkRequestState is the system-database work of one API request with cold caches, on
// each backend: find the personal access token, load its user, and write one audit row (in
// its own transaction, as a mutating request does). The ratio postgres/duckdb is the
// per-request overhead of PostgreSQL state.
func BenchmarkRequestState(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			ctx := context.Background()
			s := be.open(b)
			u := &User{Email: "bench@example.com", Role: "analyst", Active: true}
			if err := s.CreateUser(ctx, u); err != nil {
				b.Fatal(err)
			}
			_, secret, err := s.CreatePersonalToken(ctx, u.ID, "bench", "full", nil)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				tok, err := s.FindPersonalToken(ctx, secret)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := s.GetUserByID(ctx, tok.UserID); err != nil {
					b.Fatal(err)
				}
				if err := s.LogAudit(ctx, &AuditEntry{UserID: u.ID, Action: "query", Resource: "orders", Result: "ok"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPrincipalLookup is the read half of BenchmarkRequestState alone: a token and its
// user, as every authenticated request does when the principal cache is cold.
func BenchmarkPrincipalLookup(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			ctx := context.Background()
			s := be.open(b)
			u := &User{Email: "bench@example.com", Role: "analyst", Active: true}
			if err := s.CreateUser(ctx, u); err != nil {
				b.Fatal(err)
			}
			_, secret, err := s.CreatePersonalToken(ctx, u.ID, "bench", "full", nil)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				tok, err := s.FindPersonalToken(ctx, secret)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := s.GetUserByID(ctx, tok.UserID); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
