package redact

import (
	"strings"
	"testing"
)

func TestStringRedactsSecrets(t *testing.T) {
	cases := map[string]string{
		"pat":       `run with DA_TOKEN=da_pat_abcdefgh12345678XYZ please`,
		"jwt":       `{"auth":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"}`,
		"anthropic": `key sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAAAA used`,
		"openai":    `OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwx`,
		"aws":       `AKIAIOSFODNN7EXAMPLE`,
		"github":    `ghp_abcdefghijklmnopqrstuvwxyz0123456789`,
		"password":  `{"password": "hunter2hunter2"}`,
		"escaped":   `{"text":"config: \"password\": \"s3cretpass\""}`,
		"url":       `postgres://app:s3cretpass@db.internal:5432/x`,
		"bearer":    `Authorization: Bearer abcdefghijklmnopqrstuvwxyz`,
	}
	secrets := []string{"da_pat_abcdefgh12345678XYZ", "dozjgNryP4J3jVmNHl0w5N", "sk-ant-api03", "sk-proj-abc",
		"AKIAIOSFODNN7EXAMPLE", "ghp_abc", "hunter2hunter2", "s3cretpass", "abcdefghijklmnopqrstuvwxyz"}
	for name, in := range cases {
		out, n := String(in)
		if n == 0 || !strings.Contains(out, Mask) {
			t.Errorf("%s: nothing redacted in %q", name, out)
		}
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s: %q still contains %q", name, out, s)
			}
		}
	}
}

func TestStringKeepsOrdinaryText(t *testing.T) {
	in := `{"role":"user","content":"SELECT count(*) FROM orders WHERE status = 'paid' -- the token column is a string"}`
	out, n := String(in)
	if n != 0 || out != in {
		t.Fatalf("changed ordinary text: %d %q", n, out)
	}
	// Idempotent: redacting twice changes nothing more.
	once, _ := String(`password=hunter2hunter2`)
	twice, n2 := String(once)
	if twice != once || n2 != 0 {
		t.Fatalf("second pass changed %q to %q", once, twice)
	}
}
