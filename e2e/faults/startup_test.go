package faults

import (
	"fmt"
	"testing"
	"time"
)

// freshStartDelays are the moments, counted from exec, at which a fresh start is killed:
// during config and secrets, during migrations, just before and after /readyz.
var freshStartDelays = []time.Duration{0, 20 * time.Millisecond, 60 * time.Millisecond,
	120 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond}

// TestKillAtFreshStart kills fresh instances at several moments of their first start, and
// right after their first /readyz; every restart must come up with a consistent state.
func TestKillAtFreshStart(t *testing.T) {
	t.Parallel()
	bricked := 0
	for i, d := range append(freshStartDelays, -1) {
		name := fmt.Sprintf("after %s", d)
		if d < 0 {
			name = "right after readyz"
		}
		t.Run(name, func(t *testing.T) {
			in := newInstance(t)
			if d < 0 {
				in.StartReady()
			} else {
				in.Start()
				time.Sleep(d)
			}
			in.Kill()
			in.Start()
			if err := in.WaitReady(); err != nil {
				bricked++
				t.Fatalf("round %d: restart after kill -9 failed: %v", i, err)
			}
			checkNoTemp(t, in.DataDir)
			checkConsistent(t, in, &Ledger{})
		})
	}
	t.Logf("fresh starts that did not restart: %d/%d", bricked, len(freshStartDelays)+1)
}
