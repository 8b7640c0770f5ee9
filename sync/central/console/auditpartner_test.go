package console

import (
	"strings"
	"testing"

	"github.com/openkyc/kyc/sync/central"
)

// TestAuditPartnersScoped: a user scoped to some branches reads in the
// audit view the events of the partners the partners page would show an
// admin of those branches (every branch of the partner theirs), not
// another branch's partner's configuration (its name, webhook, push and
// reference-image endpoints).
func TestAuditPartnersScoped(t *testing.T) {
	f := newFixture(t)
	f.addUser("northaud", central.RoleAuditor, "north", "north-2")
	south := f.addPartner("Bank Selatan", "south")
	both := f.addPartner("Bank Dua Cabang", "east", "north-2")
	north := f.addPartner("Bank Utara", "north")
	b := f.browser()
	b.signIn("northaud")
	a := b.get("/console/audit?subject=partner:")
	if a.status != 200 {
		t.Fatalf("audit view: %d", a.status)
	}
	for _, p := range []partnerSecrets{south, both} {
		if strings.Contains(a.body, p.id) {
			t.Errorf("a north auditor reads the events of partner %s, which serves another branch", p.id)
		}
	}
	if strings.Contains(a.body, "Bank Selatan") || strings.Contains(a.body, "Bank Dua Cabang") {
		t.Error("a north auditor reads another branch's partner's name")
	}
	if !strings.Contains(a.body, north.id) {
		t.Error("a north auditor does not read north's partner's events")
	}
	root := f.browser()
	f.addUser("allaud", central.RoleAuditor)
	root.signIn("allaud")
	if a := root.get("/console/audit?subject=partner:"); !strings.Contains(a.body, south.id) {
		t.Error("an auditor of every branch does not read south's partner's events")
	}
}
