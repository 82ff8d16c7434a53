package auth

// Allows lists, in words a user understands, what the role may do (each role may also do
// everything the lower roles may).
func (r Role) Allows() []string {
	out := []string{"browse the catalog and table profiles", "read the corporate memory",
		"request access to tables", "manage your own settings and tokens"}
	if r.AtLeast(RoleAnalyst) {
		out = append(out, "query tables (console, da query --remote)", "download tables (da sync)",
			"upload tables", "contribute to and vote in the corporate memory")
	}
	if r.AtLeast(RoleKMAdmin) {
		out = append(out, "review, mandate and revoke corporate memory")
	}
	if r.AtLeast(RoleAdmin) {
		out = append(out, "manage users, roles, tables, grants and access requests")
	}
	return out
}
