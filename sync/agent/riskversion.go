package agent

import (
	"bytes"
	"encoding/json"
)

// InstalledRiskVersion is central's version of the risk document doc (the
// bytes of RiskFile a verification decided with) when it is the one
// SyncConfig last installed in dir, which ConfigFile records with its
// version; false when it is not: a document sync did not write, or one
// read after SyncConfig replaced RiskFile and before it recorded the new
// version (watchlists download in between). The version goes into each
// result sealed, so central judges the decision by that version's bands
// whenever it syncs.
func InstalledRiskVersion(dir string, doc []byte) (int64, bool) {
	c, err := LoadConfig(dir)
	if err != nil || c.Version <= 0 || len(c.Risk) == 0 {
		return 0, false
	}
	// ConfigFile is indented, the document inside it with it.
	var a, b bytes.Buffer
	if json.Compact(&a, doc) != nil || json.Compact(&b, c.Risk) != nil || !bytes.Equal(a.Bytes(), b.Bytes()) {
		return 0, false
	}
	return c.Version, true
}
