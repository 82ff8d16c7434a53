// Package redact removes secrets (personal access tokens, JWTs, API keys, passwords) from
// text before it is stored or sent anywhere: agent transcripts and analysts' notes.
package redact

import (
	"regexp"
	"strings"
)

// Mask replaces every secret found.
const Mask = "[REDACTED]"

// patterns find whole secrets; each match is replaced by Mask.
var patterns = []*regexp.Regexp{
	// This platform's personal access tokens.
	regexp.MustCompile(`da_pat_[A-Za-z0-9_\-]{8,}`),
	// JWTs: three base64url parts, the first two JSON objects ("eyJ").
	regexp.MustCompile(`eyJ[A-Za-z0-9_\-]{5,}\.eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}`),
	// Provider API keys.
	regexp.MustCompile(`sk-ant-[A-Za-z0-9_\-]{16,}`),
	regexp.MustCompile(`sk-(?:proj-)?[A-Za-z0-9_\-]{20,}`),
	regexp.MustCompile(`\bAKIA[0-9A-Z]{16}\b`),
	regexp.MustCompile(`\bgh[pousr]_[A-Za-z0-9]{30,}\b`),
	regexp.MustCompile(`\bxox[abprs]-[A-Za-z0-9\-]{10,}`),
	regexp.MustCompile(`\bAIza[0-9A-Za-z_\-]{35}\b`),
	// Keboola storage tokens: <stack number>-<id>-<secret>.
	regexp.MustCompile(`\b\d{1,6}-\d{3,}-[A-Za-z0-9]{30,}\b`),
	// Authorization headers.
	bearerPattern,
	// Private keys.
	regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----`),
}

var bearerPattern = regexp.MustCompile(`(?i)\b(?:bearer|basic)\s+[A-Za-z0-9_\-\.=+/]{16,}`)

// assignment finds "password = value", `"api_key": "value"` and the like; only the value
// (group 2) is replaced, so the text still says what was there.
var assignment = regexp.MustCompile(`(?i)((?:password|passwd|pwd|secret|api[_\-]?key|apikey|access[_\-]?token|auth[_\-]?token|token|client[_\-]?secret|private[_\-]?key)\\?"?\s*[:=]\s*\\?"?)([^\s"\\,;&}]{4,})`)

// URLs with a password: scheme://user:password@host.
var urlPassword = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@]+:)([^\s@/]+)(@)`)

// assignmentWords are the lower-case words one of which an assignment secret contains; text
// without any of them skips the (costly) case-insensitive pattern.
var assignmentWords = []string{"pass", "pwd", "secret", "key", "token"}

// String returns s with every secret replaced by Mask, and how many were replaced.
func String(s string) (string, int) {
	n := 0
	lower := strings.ToLower(s)
	for _, p := range patterns {
		if p == bearerPattern && !strings.Contains(lower, "bearer") && !strings.Contains(lower, "basic") {
			continue
		}
		s = p.ReplaceAllStringFunc(s, func(string) string { n++; return Mask })
	}
	if strings.Contains(s, "://") {
		s = urlPassword.ReplaceAllStringFunc(s, func(m string) string {
			sub := urlPassword.FindStringSubmatch(m)
			if sub[2] == Mask {
				return m
			}
			n++
			return sub[1] + Mask + sub[3]
		})
	}
	hasWord := false
	for _, w := range assignmentWords {
		if strings.Contains(lower, w) {
			hasWord = true
			break
		}
	}
	if !hasWord {
		return s, n
	}
	s = assignment.ReplaceAllStringFunc(s, func(m string) string {
		sub := assignment.FindStringSubmatch(m)
		if sub[2] == Mask || sub[2] == "[REDACTED]" {
			return m
		}
		n++
		return sub[1] + Mask
	})
	return s, n
}

// Bytes is String for a byte slice.
func Bytes(b []byte) ([]byte, int) {
	s, n := String(string(b))
	if n == 0 {
		return b, 0
	}
	return []byte(s), n
}
