package store

import (
	"context"
	"errors"
	"testing"
)

// TestRegisterUploadKeepsTheOwner checks ownership inside the registration: a new name is
// the uploader's, a re-upload by the owner or an admin keeps owner and grants, and another
// user or another source's table is refused without changing the row.
func TestRegisterUploadKeepsTheOwner(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		st := open(t)
		ctx := context.Background()
		first := &Table{ID: "sales", Name: "Sales", SourceTable: "s.csv", Description: "first", RegisteredBy: "ann@example.com", IsPublic: true}
		if err := st.RegisterUpload(ctx, first, false); err != nil {
			t.Fatal(err)
		}
		if first.SourceType != "upload" || first.RegisteredBy != "ann@example.com" || !first.IsPublic || first.RegisteredAt.IsZero() {
			t.Fatalf("new row = %+v", first)
		}
		rival := &Table{ID: "sales", Name: "sales", Description: "mine now", RegisteredBy: "bob@example.com"}
		if err := st.RegisterUpload(ctx, rival, false); !errors.Is(err, ErrNotOwner) {
			t.Fatalf("another user's registration: %v, want ErrNotOwner", err)
		}
		got, _ := st.GetTable(ctx, "sales")
		if got.Description != "first" || !got.IsPublic || got.RegisteredBy != "ann@example.com" {
			t.Errorf("a refused registration changed the row: %+v", got)
		}
		// The owner replaces it (no description: the old one stays), then an admin does.
		again := &Table{ID: "sales", Name: "Sales", SourceTable: "s2.csv", RegisteredBy: "ANN@example.com"}
		if err := st.RegisterUpload(ctx, again, false); err != nil {
			t.Fatal(err)
		}
		if again.Description != "first" || again.IsPublic || again.SourceTable != "s2.csv" || !again.RegisteredAt.Equal(first.RegisteredAt) {
			t.Errorf("owner's re-upload = %+v", again)
		}
		admin := &Table{ID: "sales", Name: "Sales", Description: "by admin", RegisteredBy: "root@example.com", IsPublic: true}
		if err := st.RegisterUpload(ctx, admin, true); err != nil {
			t.Fatal(err)
		}
		if admin.RegisteredBy != "ann@example.com" || admin.Description != "by admin" {
			t.Errorf("admin's re-upload = %+v", admin)
		}
		if err := st.RegisterTable(ctx, &Table{ID: "orders", Name: "orders", SourceType: "keboola"}); err != nil {
			t.Fatal(err)
		}
		if err := st.RegisterUpload(ctx, &Table{ID: "orders", Name: "orders", RegisteredBy: "ann@example.com"}, true); !errors.Is(err, ErrConflict) {
			t.Errorf("upload over another source's table: %v, want ErrConflict", err)
		}
	})
}
