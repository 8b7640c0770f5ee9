package httpx

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"
)

func TestFailureLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	f := NewFailureLimiter(3, 10*time.Second, func() time.Time { return now })
	for i := range 3 {
		if b, _ := f.Blocked("a"); b {
			t.Fatalf("blocked after %d failures of a budget of 3", i)
		}
		f.Fail("a")
	}
	b, wait := f.Blocked("a")
	if !b || wait <= 0 || wait > 10*time.Second {
		t.Fatalf("after 3 failures: blocked=%v wait=%v", b, wait)
	}
	if b, _ := f.Blocked("b"); b {
		t.Error("another key is blocked")
	}
	now = now.Add(10 * time.Second)
	if b, _ := f.Blocked("a"); b {
		t.Error("still blocked after the interval")
	}
	now = now.Add(time.Minute)
	f.Fail("c") // sweeps keys whose budget is full again
	if _, ok := f.m["a"]; ok {
		t.Error("a key with a full budget is still remembered")
	}
}

func TestKeyedSlots(t *testing.T) {
	k := NewKeyedSlots(2)
	if got := []bool{k.Acquire("d"), k.Acquire("d"), k.Acquire("d")}; !got[0] || !got[1] || got[2] {
		t.Fatalf("a key's three acquisitions: %v, want two slots", got)
	}
	if !k.Acquire("e") {
		t.Fatal("another key has no slot")
	}
	k.Release("d")
	if !k.Acquire("d") {
		t.Fatal("a released slot is not free")
	}
	k.Release("d")
	k.Release("d")
	k.Release("e")
	if len(k.m) != 0 {
		t.Errorf("idle keys remembered: %v", k.m)
	}
}

// TestSlotsWait: Wait takes a free slot, even once its context has ended,
// and with every slot taken gives up when its context ends.
func TestSlotsWait(t *testing.T) {
	s := NewSlots(1)
	if !s.Wait(t.Context()) {
		t.Fatal("Wait did not take the free slot")
	}
	done, cancel := context.WithCancel(t.Context())
	cancel()
	if s.Wait(done) || s.InUse() != 1 {
		t.Errorf("Wait took a slot none was free of (%d in use)", s.InUse())
	}
	s.Release()
	if !s.Wait(done) {
		t.Error("Wait did not take the released slot (its context has ended)")
	}
}

func TestBodyDeadline(t *testing.T) {
	if got := BodyDeadline(0, 15*time.Second, 8<<10); got != 15*time.Second {
		t.Errorf("empty body: %v", got)
	}
	if got := BodyDeadline(1<<20, 15*time.Second, 8<<10); got != 15*time.Second+128*time.Second {
		t.Errorf("1 MiB at 8 KiB/s: %v", got)
	}
}

func TestLimitKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":                  "192.0.2.7",
		"::ffff:192.0.2.7":           "192.0.2.7",
		"2001:db8:1:2::1":            "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff:ffff:0:9": "2001:db8:1:2::/64",
		"fe80::1%eth0":               "fe80::/64",
		"partner_abc":                "partner_abc",
		"flow/s_123":                 "flow/s_123",
	} {
		if got := AddrKey(in); got != want {
			t.Errorf("AddrKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCheckOutboundAddr(t *testing.T) {
	for addr, refused := range map[string]bool{
		"169.254.169.254":        true,
		"::ffff:169.254.169.254": true,
		"fe80::1":                true,
		"0.0.0.0":                true,
		"::":                     true,
		"224.0.0.1":              true,
		"ff02::1":                true,
		"fd00:ec2::254":          true,
		"100.100.100.200":        true,
		"127.0.0.1":              false,
		"::1":                    false,
		"10.1.2.3":               false,
		"192.168.1.10":           false,
		"203.0.113.9":            false,
		"2001:db8::1":            false,
		// IPv6 addresses standing for an IPv4 one: NAT64's well-known
		// prefix, 6to4, IPv4-compatible.
		"64:ff9b::a9fe:a9fe": true,
		"64:ff9b::6464:64c8": true, // 100.100.100.200
		"64:ff9b::cb00:7109": false,
		"2002:a9fe:a9fe::1":  true,
		"2002:cb00:7109::1":  false,
		"::a9fe:a9fe":        true,
		"::e000:1":           true, // 224.0.0.1
		"::ffff:0:a9fe:a9fe": true, // SIIT's IPv4-translated
		// RFC 8215's local-use NAT64 prefix, with RFC 6052's /96, /64
		// and /48 placements of 169.254.169.254 (bits 64-71 skipped).
		"64:ff9b:1::a9fe:a9fe":       true,
		"64:ff9b:1:0:a9:fea9:fe00:0": true,
		"64:ff9b:1:a9fe:a9:fe00::":   true,
		"64:ff9b:1::cb00:7109":       false,
	} {
		err := CheckOutboundAddr(netip.MustParseAddr(addr))
		if refused != errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("%s: %v, want refused %v", addr, err, refused)
		}
	}
}

// TestLimiterForgetsFullBudgets: Take spends a budget as Fail does, and a
// key whose budget is full again is forgotten at the next sweep, so the
// map holds recent spenders only.
func TestLimiterForgetsFullBudgets(t *testing.T) {
	now := time.Date(2026, 12, 3, 23, 0, 0, 0, time.UTC)
	f := NewFailureLimiter(2, time.Second, func() time.Time { return now })
	for i, want := range []bool{true, true, false} {
		if ok, wait := f.Take("a"); ok != want || !ok && wait != time.Second {
			t.Fatalf("take %d: %v, %v; want %v", i+1, ok, wait, want)
		}
	}
	if blocked, _ := f.Blocked("a"); !blocked {
		t.Error("a spent budget is not blocked")
	}
	f.Take("b")
	now = now.Add(time.Hour)
	f.Take("c")
	if _, ok := f.m["a"]; ok || len(f.m) != 1 {
		t.Errorf("after an hour the budgets held are %v, want only c's", f.m)
	}
}
