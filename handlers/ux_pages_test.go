package handlers

import (
	"strings"
	"testing"

	"da/auth"
)

// TestUsersPageOwnRow: an admin's own row shows the role, not a select, and offers neither
// Deactivate nor Delete; other rows keep them.
func TestUsersPageOwnRow(t *testing.T) {
	env := newTestEnv(t)
	b := env.signedIn(auth.RoleAdmin)
	page := b.do("GET", "/admin/users", nil).Body.String()
	own := rowOf(page, `data-testid="user-row-admin@example.com"`)
	other := rowOf(page, `data-testid="user-row-viewer@example.com"`)
	if own == "" || other == "" {
		t.Fatalf("rows not found: %s", truncate(page))
	}
	for _, f := range []string{"user-deactivate", "user-delete", "user-role-select"} {
		if strings.Contains(own, f) {
			t.Errorf("own row offers %s", f)
		}
		if !strings.Contains(other, f) {
			t.Errorf("other row lacks %s", f)
		}
	}
	if !strings.Contains(own, "user-role-self") {
		t.Error("own row does not show the role")
	}
}

// rowOf returns the <tr> of page that holds marker.
func rowOf(page, marker string) string {
	i := strings.Index(page, marker)
	if i < 0 {
		return ""
	}
	start := strings.LastIndex(page[:i], "<tr")
	end := strings.Index(page[i:], "</tr>")
	if start < 0 || end < 0 {
		return ""
	}
	return page[start : i+end]
}
